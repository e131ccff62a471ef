"""Validation of masked-unet inference options on images the network never trained on.

The test set (``analysis/evaluate_restoration.py``, the Santos et al. crops) is
scored once per choice; inference options are chosen here instead, on crops
rendered from the HDR images that ``crfkit train restoration`` held out (listed
in the weights' provenance as ``held_out_images``).

Each held-out image is downscaled to a 512-pixel short side, its centre
512x512 crop exposed so that 3 %, 8 % and 15 % of the pixels clip (their
largest channel reaches 1), passed through gamma 2 (the evaluation's assumed
curve) and quantised to 8 bits; the exposed linear crop is the ground truth.
The crops go through :func:`crfkit.restoration.evaluation.run_evaluation`,
the same protocol as the test set.

Writes ``analysis/results/restoration_validation.{md,json}``.
Usage: ``CRFKIT_DATA=../shared/data python analysis/restoration_validation.py [--threads 2]``
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CLIPPED_FRACTIONS = (0.03, 0.08, 0.15)
SIZE = 512
GAMMA = 2.0


def render_crops(images, folder):
    """Write NAME.png (gamma-2 8-bit) + NAME.exr (linear ground truth) crops; returns their names."""
    import cv2

    from crfkit.io.hdr import read_hdr, write_exr
    from crfkit.io.images import write_image

    names = []
    for path in images:
        hdr = np.maximum(read_hdr(path).astype(np.float32), 0.0)
        h, w = hdr.shape[:2]
        f = SIZE / min(h, w)
        if f < 1:
            hdr = cv2.resize(hdr, (max(SIZE, round(w * f)), max(SIZE, round(h * f))), interpolation=cv2.INTER_AREA)
        h, w = hdr.shape[:2]
        y0, x0 = (h - SIZE) // 2, (w - SIZE) // 2
        crop = hdr[y0:y0 + SIZE, x0:x0 + SIZE]
        peak = crop.max(axis=2)
        for frac in CLIPPED_FRACTIONS:
            gt = crop / np.float32(np.quantile(peak, 1.0 - frac))
            ldr = np.rint(255.0 * np.clip(gt, 0.0, 1.0) ** (1.0 / GAMMA)).astype(np.uint8)
            name = f"{Path(path).stem}_clip{round(100 * frac):02d}"
            write_image(folder / f"{name}.png", ldr)
            write_exr(folder / f"{name}.exr", gt)
            names.append(name)
    return names


#: Relative validation gain that pays for doubling the inference time.
MIN_GAIN = 0.005


def choose_flips(scores):
    """Fewest views unless more lower the score by at least MIN_GAIN (relative), in order 1, 2, 4."""
    best = None
    for k in sorted(scores):
        if best is None or scores[k] < (1.0 - MIN_GAIN) * scores[best]:
            best = k
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--weights", default=None, help="masked-unet weights (default: shipped)")
    p.add_argument("--flips", type=int, nargs="+", default=[1, 2, 4], help="flip-averaging variants to compare")
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args(argv)

    from crfkit._io import atomic_write_text
    from crfkit.restoration.evaluation import run_evaluation

    weights = Path(args.weights) if args.weights else HERE.parent / "crfkit" / "weights" / "masked_unet.pt"
    prov = json.loads(weights.with_suffix(".json").read_text())
    held_out = prov.get("held_out_images") or []
    root = Path(os.environ.get("CRFKIT_DATA", "")) / "hdr_training"
    images = [root / n for n in held_out]
    missing = [str(x) for x in images if not x.is_file()]
    if not held_out or missing:
        sys.exit(f"held-out HDR images not found (set CRFKIT_DATA): {missing or 'none listed in ' + str(weights)}")

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        crops = render_crops(images, folder)
        base = run_evaluation(folder, crf=f"gamma:{GAMMA:g}", methods=["clip", "highlight-expansion"])
        for m in base.methods:
            rows[m] = base.scores[m]
        for k in args.flips:
            opts = {"masked-unet": {"threads": args.threads, "device": "cpu", "flips": k,
                                    **({"weights": args.weights} if args.weights else {})}}
            ev = run_evaluation(folder, crf=f"gamma:{GAMMA:g}", methods=["masked-unet"], method_options=opts,
                                progress=True)
            rows[f"masked-unet, flips={k}"] = ev.scores["masked-unet"]
            rows[f"masked-unet, flips={k}"]["seconds"] = np.asarray(ev.seconds["masked-unet"])

    def mean(m, key):
        return float(np.mean(rows[m][key]))

    metrics = [k for k in base.scores[base.methods[0]]]
    res = {"weights": weights.name, "held_out_images": held_out, "crops": crops,
           "clipped_fractions": list(CLIPPED_FRACTIONS), "gamma": GAMMA,
           "scores": {m: {k: np.asarray(v).tolist() for k, v in s.items()} for m, s in rows.items()}}
    lines = ["# masked-unet inference options, validated on held-out training images", "",
             f"Generated by `python analysis/restoration_validation.py`. {len(crops)} crops: the {len(held_out)} HDR "
             f"images `crfkit train restoration` held out ({', '.join(held_out)}), centre 512x512 at a 512-pixel "
             "short side, exposed so that 3, 8 and 15 % of the pixels clip, gamma 2, 8 bits. Same protocol and "
             "metrics as `restoration.md`; the test crops play no part in choosing the options.", "",
             "| method | " + " | ".join(metrics) + " | seconds per crop |", "|---|" + "---|" * (len(metrics) + 1)]
    for m in rows:
        secs = f"{mean(m, 'seconds'):.2f}" if "seconds" in rows[m] else ""
        lines.append(f"| {m} | " + " | ".join(f"{mean(m, k):.4f}" for k in metrics) + f" | {secs} |")
    choice = choose_flips({k: mean(f"masked-unet, flips={k}", "log_l1_sat") for k in args.flips})
    res["chosen_flips"] = choice
    lines += ["", f"Rule (fixed before the run): more views only when they lower the validation log-L1 in the "
              f"saturated region by at least {100 * MIN_GAIN:g} % against the fewer views chosen so far. "
              f"Chosen: **flips={choice}**."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "restoration_validation.json", json.dumps(res, indent=1))
    atomic_write_text(out / "restoration_validation.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
