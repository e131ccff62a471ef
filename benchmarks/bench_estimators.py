"""Benchmark the single-image CRF estimators (issue 4 targets).

1. Inference: ``crfkit.estimate`` on a 512x512 uint8 image with the shipped
   weights (or ``--weights-*``), torch limited to ``--threads`` (default 2),
   after one warm-up call; best and median of ``--repeats``.  Target: < 1 s.
   ``--megapixels 12`` adds the issue-14 case: a 4000x3000 JPEG file read and
   estimated end to end by every registered estimator (and its per-channel
   variant, ``NAME:per-channel``), against the JPEG decode
   alone (the baseline, measured in the same run).  Target: < 1 s.
2. Training throughput: optimisation steps per second (and samples per second)
   of each net's training step (forward, loss, backward, Adam) at the given
   batch and patch sizes on synthetic batches, after warm-up steps; on the CPU
   and, where one is available, on CUDA.

Usage (repository root)::

    python benchmarks/bench_estimators.py [--threads 2] [--repeats 7] [--train-steps 5] [--json FILE]

The 512x512 test image is a crop of a real photo when ``CRFKIT_DATA`` holds
``photos_training/kodim05.png``, else a deterministic synthetic image.  Inference
time does not depend on the image content except through CRF-net's patch
selection, which always runs the same number of candidate patches.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def test_image(size=512):
    root = os.environ.get("CRFKIT_DATA")
    if root and (Path(root) / "photos_training" / "kodim05.png").is_file():
        from crfkit.io.images import read_image

        img = read_image(Path(root) / "photos_training" / "kodim05.png")
        if min(img.shape[:2]) >= size:
            return img[:size, :size].copy(), "kodim05.png crop"
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([x, y, (x + y) / 2], -1) * 0.8 + 0.1 * rng.random((size, size, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), "synthetic"


def bench_inference(method, image, repeats, weights=None):
    from crfkit.estimators import get_estimator

    opts = {"device": "cpu"}
    if weights:
        opts["weights"] = weights
    est = get_estimator(method, **opts)
    est.estimate(image)  # warm-up (allocations, first-call overheads)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        g = est.estimate(image)
        times.append(time.perf_counter() - t)
    assert g.is_monotone() and g.values[0] == 0 and g.values[-1] == 1
    return {"method": method, "best_s": min(times), "median_s": statistics.median(times), "repeats": repeats,
            "config": est.config}


def bench_large_jpeg(methods, repeats, megapixels, tmpdir):
    """Read + estimate a large JPEG file, against reading it alone (same run)."""
    import cv2

    from crfkit.estimators import get_estimator
    from crfkit.io.images import read_image

    small, what = test_image()
    width = int(round(np.sqrt(megapixels * 1e6 * 4 / 3)))
    height = width * 3 // 4
    big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    path = Path(tmpdir) / "bench_large.jpg"
    cv2.imwrite(str(path), big[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), 95])

    from bench_restoration import timed  # best and median after a warm-up call (benchmarks/ is on sys.path)

    decode = timed(lambda: read_image(path), repeats)
    rows = [{"method": "read only (baseline)", "best_s": decode[0], "median_s": decode[1]}]
    for method in methods:
        est = get_estimator(method)  # default device: the CPU here
        best, med = timed(lambda est=est: est.estimate(read_image(path)), repeats)
        rows.append({"method": method, "best_s": best, "median_s": med, "ratio_to_read": med / decode[1]})
    return {"size": f"{width}x{height}", "source": what, "rows": rows}


def bench_train_step(method, batch, patch, steps, device, width=1.0, warmup=2):
    import torch

    from crfkit.estimators import crf_net, linearization_net

    mod = crf_net if method == "crf-net" else linearization_net
    grid = np.linspace(0, 1, 1024)
    basis = (grid, np.zeros((11, 1024)))  # the basis values do not change the cost
    model = mod.build_model({"width": width, "patch": patch}, basis=basis).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    b = {
        "ldr": torch.rand(batch, 3, patch, patch, generator=g),
        "target": torch.rand(batch, 3, patch, patch, generator=g),
        "forward": torch.linspace(0, 1, 1024).expand(batch, -1).contiguous(),
        "inverse": torch.linspace(0, 1, 1024).expand(batch, -1).contiguous(),
        "label": torch.zeros(batch, dtype=torch.int64),
    }
    b = {k: v.to(device) for k, v in b.items()}

    def step():
        loss, _ = mod.training_loss(model, b, "regress")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    return {"method": method, "device": str(device), "batch": batch, "patch": patch, "width": width,
            "s_per_step": dt, "steps_per_s": 1 / dt, "samples_per_s": batch / dt}


def bench_synthesis(n=64, patch=128):
    """Samples per second of the NumPy synthesis pipeline (one process)."""
    from crfkit import Curve, CurveSet
    from crfkit.synthesis import SynthesisConfig, synthesize_sample

    rng = np.random.default_rng(0)
    images = [rng.gamma(1.0, 0.3, (384, 576, 3)).astype(np.float32) for _ in range(4)]
    curves = CurveSet.from_curves([Curve.gamma(2.2)])
    cfg = SynthesisConfig(patch=patch)
    t = time.perf_counter()
    for i in range(n):
        synthesize_sample(images, curves, np.random.default_rng([0, i]), cfg)
    return {"patch": patch, "samples_per_s": n / (time.perf_counter() - t)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--weights-crf-net")
    p.add_argument("--weights-linearization-net")
    p.add_argument("--megapixels", type=float, default=0,
                   help="also time read + estimate of a JPEG of this many megapixels (issue 14: 12)")
    p.add_argument("--json")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    image, what = test_image()
    out = {"threads": args.threads, "torch": str(torch.__version__), "cpu_count": os.cpu_count(), "image": what,
           "inference": [], "train": []}
    print(f"torch {torch.__version__}, {args.threads} thread(s), os.cpu_count()={os.cpu_count()}, 512x512 image: {what}")
    ok = True
    for method, w in (("crf-net", args.weights_crf_net), ("linearization-net", args.weights_linearization_net)):
        r = bench_inference(method, image, args.repeats, w)
        out["inference"].append(r)
        ok &= r["median_s"] < 1.0
        print(f"inference {method:18s} best {r['best_s']:.3f} s  median {r['median_s']:.3f} s  "
              f"(target < 1 s: {'met' if r['median_s'] < 1.0 else 'NOT met'})")
    if args.megapixels > 0:
        import tempfile

        from crfkit.estimators import available_estimators

        methods = sorted(available_estimators())
        methods += [f"{m}:per-channel" for m in methods]  # three curves; the networks run three times
        with tempfile.TemporaryDirectory() as tmp:
            big = bench_large_jpeg(methods, args.repeats, args.megapixels, tmp)
        out["large_jpeg"] = big
        print(f"{big['size']} JPEG ({big['source']}, upscaled), read + estimate, median of {args.repeats}:")
        for r in big["rows"]:
            extra = ""
            if "ratio_to_read" in r:
                ok &= r["median_s"] < 1.0
                extra = (f"  {r['ratio_to_read']:.2f}x the read alone  "
                         f"(target < 1 s: {'met' if r['median_s'] < 1.0 else 'NOT met'})")
            print(f"  {r['method']:22s} best {r['best_s']:.3f} s  median {r['median_s']:.3f} s{extra}")
    s = bench_synthesis()
    out["synthesis"] = s
    print(f"synthesis (NumPy, 1 process, patch {s['patch']}): {s['samples_per_s']:.0f} samples/s")
    if not args.skip_train:
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
        configs = [("crf-net", 8, 128), ("crf-net", 8, 227), ("linearization-net", 8, 96), ("linearization-net", 8, 128)]
        for dev in devices:
            for method, batch, patch in configs:
                r = bench_train_step(method, batch, patch, args.train_steps if dev.type == "cpu" else 20, dev)
                out["train"].append(r)
                print(f"train step {method:18s} {dev.type:4s} batch {batch} patch {patch:3d}: {r['s_per_step']:.3f} s/step, "
                      f"{r['samples_per_s']:.1f} samples/s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
