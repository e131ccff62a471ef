"""Single-image estimators on an 11th camera: the Nikon D7000's measured per-channel response.

The Middlebury cameras are the only real set with RAW truth, and some choices (the per-channel
mode) were made on them. This is an independent check on a camera none of them is: the
NUS in-camera model of a Nikon D7000 (Lin, Kim, Brown et al., TPAMI 2012;
``$CRFKIT_DATA/nus_incamera_model_nikon_d7000``) gives its JPEG response per channel. The held-out
linear images of ``analysis/evaluate_estimators.py`` (never seen in training) are exposed, given
sensor noise, rendered through the D7000's three curves, quantised to 8 bits and saved as JPEG
(quality 95). Each estimator sees one rendering at a time; the score is the inverse-CRF RMSE on the
1024 grid against the camera's curve of each channel (mean over R, G, B; a shared estimate is
compared with all three). The colour matrix and gamut mapping of the model are not applied: the
inputs are already in linear sRGB, and the curves are what an estimator has to recover.

Usage (repository root)::

    CRFKIT_DATA=../shared/data python analysis/estimators_d7000.py [--exposures 3]

Writes ``analysis/results/estimators_d7000.md`` and ``.json``.

Scoring candidate weights (e.g. a fine-tuning run)::

    python analysis/estimators_d7000.py --methods crf-net --weights-crf-net RUN/weights.pt --out DIR

adds ``crf-net (candidate)`` beside the shipped crf-net (the same renderings) and the paired
comparison "candidate minus shipped"; ``--methods`` restricts the estimators scored (default: all).
"""

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

import crfkit
from crfkit._stats import paired_bootstrap_interval
from crfkit.curves import GRID, Curve

OUT = Path(__file__).resolve().parent / "results"
CODES = np.arange(256) / 255.0
MIX_WEIGHT = 0.75  # the unshipped auto candidate of docs/results/estimators.md: 0.75 crf-net + 0.25 linearization-net


def d7000_inverse_curves():
    """The D7000's inverse response per channel on the grid, (3, 1024), from ``raw2jpg_respFcns.txt``."""
    root = os.environ.get("CRFKIT_DATA")
    if not root:
        raise SystemExit("set CRFKIT_DATA to the folder that holds nus_incamera_model_nikon_d7000/")
    path = Path(root) / "nus_incamera_model_nikon_d7000" / "raw2jpg_respFcns.txt"
    table = np.loadtxt(path, skiprows=1)  # the first line holds the raw saturation level
    if table.shape != (256, 3):
        raise SystemExit(f"{path}: expected 256 rows of 3 values after the first line, got {table.shape}")
    inv = np.maximum.accumulate(np.clip(table.T, 0.0, 1.0), axis=1)
    inv[:, 0], inv[:, -1] = 0.0, 1.0
    return np.stack([np.interp(GRID, CODES, c) for c in inv])


def render(linear, inverse, rng):
    """One JPEG through the camera's curves: exposure, noise, clipping, per-channel curve, 8 bits, JPEG 95."""
    import cv2

    lum = linear @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    exposure = 0.1 / max(float(np.median(lum)), 1e-6) * 2.0 ** rng.uniform(-2.0, 2.0)
    exposed = linear * np.float32(exposure)
    std = np.sqrt(0.005**2 * np.maximum(exposed, 0) + 0.002**2).astype(np.float32)
    sensor = np.clip(exposed + std * rng.standard_normal(exposed.shape, dtype=np.float32), 0.0, 1.0)
    # forward curve of each channel: invert the (non-decreasing) inverse with a tiny ramp for ties
    ramp = np.linspace(0.0, 1e-9, GRID.size)
    coded = np.stack([np.interp(sensor[..., c], inverse[c] + ramp, GRID) for c in range(3)], axis=-1)
    img8 = np.round(coded * 255.0).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img8[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), 95])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def curve_error(values, truth):
    """RMSE of an inverse estimate ((1024,) shared or (3, 1024) per channel) to the truth, mean over channels."""
    values = np.broadcast_to(np.asarray(values, dtype=np.float64), truth.shape)
    return float(np.mean(np.sqrt(np.mean((values - truth) ** 2, axis=1))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exposures", type=int, default=3, help="renderings per held-out image (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=None,
                   help="comma-separated estimators to score (default: crf-net, linearization-net and lin2004, "
                   "shared and per-channel, and the unshipped mix)")
    p.add_argument("--weights-crf-net", default=None, metavar="PATH",
                   help="also score crf-net with these weights, as 'crf-net (candidate)'")
    p.add_argument("--weights", action="append", default=[], metavar="METHOD=PATH",
                   help="also score METHOD with the weights at PATH, as 'METHOD (candidate)' (repeatable)")
    p.add_argument("--out", default=str(OUT), help="folder for estimators_d7000.md/.json (default analysis/results)")
    args = p.parse_args(argv)

    from crfkit.estimators.evaluation import default_image_dirs
    from crfkit.synthesis import find_training_images, load_linear_images, split_images

    truth = d7000_inverse_curves()
    _, test_paths = split_images(find_training_images(default_image_dirs()), 0.15)
    images = load_linear_images(test_paths, short_side=384, min_size=128)
    methods = ["crf-net", "crf-net:per-channel", "linearization-net", "linearization-net:per-channel",
               "lin2004", "lin2004:per-channel"]
    if args.methods:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    estimators = {m: crfkit.estimators.get_estimator(m) for m in methods}
    if any("=" not in spec for spec in args.weights):
        p.error("--weights expects METHOD=PATH")
    candidates = dict(spec.split("=", 1) for spec in args.weights)
    if args.weights_crf_net:
        candidates["crf-net"] = args.weights_crf_net
    for m, path in candidates.items():
        estimators[f"{m} (candidate)"] = crfkit.estimators.get_estimator(m, weights=path)
    fixed = {"sRGB inverse": Curve.srgb(kind="inverse").values, "gamma 2.2": Curve.gamma(2.2, kind="inverse").values}
    mix = f"(unshipped) {MIX_WEIGHT:g} crf-net + {1 - MIX_WEIGHT:g} linearization-net"
    has_mix = "crf-net" in estimators and "linearization-net" in estimators
    names = list(estimators) + ([mix] if has_mix else []) + list(fixed)
    scores = {n: np.zeros((len(images), args.exposures)) for n in names}
    for i, im in enumerate(images):
        for e in range(args.exposures):
            rng = np.random.default_rng([args.seed, i, e])
            jpeg = render(im.pixels, truth, rng)
            curves = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. few usable edges: the estimate is still scored
                for m, est in estimators.items():
                    curves[m] = est.estimate(jpeg).values
            if has_mix:
                curves[mix] = MIX_WEIGHT * curves["crf-net"] + (1 - MIX_WEIGHT) * curves["linearization-net"]
            curves.update(fixed)
            for n in names:
                scores[n][i, e] = curve_error(curves[n], truth)
        print(f"{i + 1}/{len(images)} {im.name}", file=sys.stderr, flush=True)

    per_image = {n: s.mean(axis=1) for n, s in scores.items()}
    ref = "sRGB inverse"
    rows = []
    for n in names:
        d = per_image[n] - per_image[ref]
        lo, hi = paired_bootstrap_interval(d) if n != ref else (0.0, 0.0)
        rows.append({"method": n, "rmse": float(per_image[n].mean()), "vs_srgb": float(d.mean()),
                     "interval": [float(lo), float(hi)]})
    pairs = [("crf-net:per-channel", "crf-net"), ("linearization-net:per-channel", "linearization-net"),
             (mix, "crf-net"), (mix, "linearization-net")] + [(f"{m} (candidate)", m) for m in candidates]
    pairs = [(a, b) for a, b in pairs if a in per_image and b in per_image]
    diffs = []
    for a, b in pairs:
        d = per_image[a] - per_image[b]
        lo, hi = paired_bootstrap_interval(d)
        diffs.append({"a": a, "b": b, "difference": float(d.mean()), "interval": [float(lo), float(hi)],
                      "a_better_on": int((d < 0).sum()), "images": len(d)})
    spread = float(np.sqrt(np.mean((truth - truth.mean(axis=0)) ** 2)))

    lines = ["# Single-image estimators on a Nikon D7000 (measured per-channel response)", "",
             "Generated by `python analysis/estimators_d7000.py` "
             f"(crfkit {crfkit.__version__}); see the script's docstring for the rendering.", "",
             f"{len(images)} held-out images x {args.exposures} exposures (seed {args.seed}), JPEG 95, through the "
             "D7000's three curves (NUS in-camera model, Lin et al. TPAMI 2012). Score: inverse-CRF RMSE on the 1024 "
             "grid against each channel's curve, mean over R, G, B, then over the exposures of an image and the "
             "images. Intervals: paired percentile bootstrap over images (2000 draws, seed 0). Lower is better.", "",
             f"The D7000's channels differ by {spread:.4f} RMS from their mean curve.", "",
             "| method | inverse-CRF RMSE | difference to the sRGB inverse (95% interval) |", "|---|---|---|"]
    for r in rows:
        ci = "-" if r["method"] == ref else (f"{r['vs_srgb']:+.4f} ({r['interval'][0]:+.4f} .. "
                                              f"{r['interval'][1]:+.4f})")
        lines.append(f"| {r['method']} | {r['rmse']:.4f} | {ci} |")
    lines += ["", "| comparison | difference (95% interval) | first better on |", "|---|---|---|"]
    for d in diffs:
        lines.append(f"| {d['a']} minus {d['b']} | {d['difference']:+.4f} ({d['interval'][0]:+.4f} .. "
                     f"{d['interval'][1]:+.4f}) | {d['a_better_on']}/{d['images']} images |")
    for m, path in candidates.items():
        lines += ["", f"{m} (candidate): weights `{path}`."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "estimators_d7000.md").write_text("\n".join(lines) + "\n")
    (out / "estimators_d7000.json").write_text(json.dumps(
        {"images": [im.name for im in images], "exposures": args.exposures, "seed": args.seed,
         "weights_crf_net": args.weights_crf_net, "candidates": candidates, "per_image": {n: v.tolist() for n, v in per_image.items()},
         "rows": rows, "comparisons": diffs, "channel_spread": spread}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
