"""Benchmark: Linearization-Net's soft-histogram features, in place against the plain expression.

Run from the repository root::

    python benchmarks/bench_soft_histogram.py [--threads 2] [--repeats 4]

``crfkit.estimators.functional.soft_histogram`` computes ``relu(1 - |x - i/B| * B)`` in one
buffer at inference.  The baseline is the same expression written out (five temporaries), patched
into the estimator for the comparison.  Timed: ``estimate`` of a 4000x3000 uint8 image (random
content; no file read) with linearization-net, shared and per channel, the two versions
alternating in one process, median of ``--repeats`` after a warm-up.  Also checks that both give
the same curve bit for bit.
"""

import argparse
import statistics
import time

import numpy as np


def plain_soft_histogram(image, bins):
    import torch
    import torch.nn.functional as F

    centres = torch.arange(bins + 1, dtype=image.dtype, device=image.device) / bins
    return F.relu(1.0 - (image.unsqueeze(2) - centres.view(1, 1, -1, 1, 1)).abs() * bins).flatten(1, 2)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=4)
    args = p.parse_args()

    import torch

    import crfkit.estimators.linearization_net as lin
    from crfkit.estimators import get_estimator

    torch.set_num_threads(args.threads)
    image = (np.random.default_rng(0).random((3000, 4000, 3)) * 255).astype(np.uint8)
    in_place = lin.soft_histogram
    versions = {"plain (baseline)": plain_soft_histogram, "in place": in_place}
    print(f"torch {torch.__version__}, {args.threads} thread(s); linearization-net estimate of a 4000x3000 image, "
          f"median of {args.repeats}")
    try:
        for per_channel in (False, True):
            est = get_estimator("linearization-net", per_channel=per_channel)
            times, curves = {k: [] for k in versions}, {}
            for name, fn in versions.items():  # warm-up
                lin.soft_histogram = fn
                curves[name] = est.estimate(image).values
            for _ in range(args.repeats):
                for name, fn in versions.items():
                    lin.soft_histogram = fn
                    t = time.perf_counter()
                    est.estimate(image)
                    times[name].append(time.perf_counter() - t)
            base, new = (statistics.median(times[k]) for k in versions)
            same = np.array_equal(*curves.values())
            label = "per channel" if per_channel else "shared"
            print(f"  {label:12s} plain {base:.3f} s   in place {new:.3f} s   ratio {new / base:.2f}   "
                  f"same curve: {same}")
    finally:
        lin.soft_histogram = in_place


if __name__ == "__main__":
    main()
