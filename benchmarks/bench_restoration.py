"""Benchmark single-image HDR restoration (issue 5 targets).

Times ``crfkit.restore`` on a 512x512 uint8 image with saturated regions for
each method (restorer built once, outside the timing; one warm-up call; best
and median of ``--repeats``), torch limited to ``--threads`` (default 2) on the
CPU.  The reference measured in the same run is ``clip``: the full pipeline
(checks, linearisation, mask) with no restoration, so each ratio is the cost of
the method on top of the pipeline.  Also times the no-saturation fast path
(the same image darkened so that nothing exceeds tau) against plain
``crfkit.linearize``.

Target: masked-unet under 5 s for 512x512 on 2 CPU cores.

Usage (repository root)::

    python benchmarks/bench_restoration.py [--threads 2] [--repeats 5] [--methods clip,highlight-expansion,masked-unet]
        [--device cpu|cuda] [--json FILE]

The image is ``$CRFKIT_DATA/santos2020_hdr_crops/0001.png`` (13% saturated)
when present, else a deterministic synthetic image with a clipped blob.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def test_image(size=512):
    root = os.environ.get("CRFKIT_DATA")
    p = Path(root, "santos2020_hdr_crops", "0001.png") if root else None
    if p is not None and p.is_file():
        from crfkit.io.images import read_image

        img = read_image(p)
        if min(img.shape[:2]) >= size:
            return np.ascontiguousarray(img[:size, :size]), "santos2020 crop 0001.png"
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    blob = np.exp(-(((y - 0.3) / 0.12) ** 2 + ((x - 0.6) / 0.15) ** 2))
    img = np.stack([x, y, (x + y) / 2], -1) * 0.6 + 0.1 * rng.random((size, size, 3)) + 1.5 * blob[..., None]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), "synthetic"


def timed(fn, repeats):
    fn()  # warm-up: allocations, first-call overheads, torch kernels
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--methods", default="clip,highlight-expansion,masked-unet")
    p.add_argument("--device", default="cpu", help="device of masked-unet (cpu, cuda)")
    p.add_argument("--weights", default=None, help="masked-unet weights (default: shipped)")
    p.add_argument("--untrained-width", type=float, default=None, metavar="W",
                   help="time masked-unet with an untrained model of width W instead of weights (the cost does "
                   "not depend on the weights' values; for timing before weights exist)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)

    try:
        import torch

        torch.set_num_threads(args.threads)
        torch_info = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_info = "no torch"
    import crfkit
    from crfkit.errors import DataNotFoundError, MissingDependencyError
    from crfkit.restoration import get_restorer
    from crfkit.restoration.pipeline import resolve_inverse_crf, restore_with_info

    img, source = test_image()
    g = resolve_inverse_crf("gamma:2.2")
    _, info = restore_with_info(img, crf=g, method="clip")
    print(f"# restoration benchmark: {img.shape[1]}x{img.shape[0]} uint8 ({source}, "
          f"{100 * info['saturated_fraction']:.1f}% saturated), {torch_info}, device {args.device}, "
          f"{platform.machine()} {os.cpu_count()} CPUs, best/median of {args.repeats}")
    results = []
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "clip" in methods:
        methods.remove("clip")
    methods.insert(0, "clip")  # the reference comes first
    ref = None
    for m in methods:
        opts = {}
        if m == "masked-unet":
            opts = {"device": args.device, "threads": args.threads}
            if args.weights:
                opts["weights"] = args.weights
            if args.untrained_width is not None:
                from crfkit.restoration.masked_unet import build_model

                opts["model"] = build_model({"width": args.untrained_width})
        try:
            r = get_restorer(m, **opts)
        except (DataNotFoundError, MissingDependencyError) as exc:
            print(f"{m:22s} skipped: {' '.join(str(exc).split())}")
            continue
        best, med = timed(lambda: restore_with_info(img, crf=g, method=r), args.repeats)
        label = m
        if m == "masked-unet":
            label = (f"masked-unet (untrained width {args.untrained_width:g})" if args.untrained_width is not None
                     else f"masked-unet ({Path(getattr(r, 'weights_path', '') or '').name})")
        if m == "clip":
            ref = best
        ratio = best / ref
        flag = ""
        if m == "masked-unet":
            flag = "  (target < 5 s: " + ("met" if best < 5.0 else "NOT met") + ")"
        print(f"{label:22s} best {best:8.4f} s  median {med:8.4f} s  x{ratio:8.1f} vs clip{flag}")
        results.append({"method": label, "best_s": best, "median_s": med, "ratio_vs_clip": ratio})

    dark = (img // 2).astype(np.uint8)  # max 127: no pixel above tau
    fast_best, fast_med = timed(lambda: restore_with_info(dark, crf=g, method="masked-unet"), args.repeats)
    lin_best, lin_med = timed(lambda: crfkit.linearize(dark, g), args.repeats)
    _, finfo = restore_with_info(dark, crf=g, method="masked-unet")
    assert finfo["fast_path"]
    print(f"{'no-saturation fast path':22s} best {fast_best:8.4f} s  median {fast_med:8.4f} s  "
          f"x{fast_best / lin_best:8.2f} vs crfkit.linearize ({lin_best:.4f} s); masked-unet not run")
    results.append({"method": "fast-path (masked-unet, nothing saturated)", "best_s": fast_best, "median_s": fast_med,
                    "ratio_vs_linearize": fast_best / lin_best, "linearize_best_s": lin_best})
    if args.json:
        from crfkit._io import atomic_write_text

        atomic_write_text(args.json, json.dumps({"image": source, "threads": args.threads, "device": args.device,
                                                 "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
