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

Two validation sets are rendered from the same exposed crops:

* **matched** (the set above): rendered with gamma 2 and linearised with
  gamma 2, so the linearisation is exact;
* **mismatched**: each exposed crop rendered through two of the 10 DoRF
  *test* curves (:func:`crfkit.synthesis.dorf_split`; never used in training)
  and still linearised with gamma 2, as the test crops are (their real curves
  are unknown; fitted exponents 1.28-2.06).  36 crops.

``--select RUN`` scores the shipped weights and every weight file a fine-tuning
run exported (``RUN/weights_stepNNNNNN.pt``, ``RUN/weights.pt``) on both sets
and applies :data:`SHIPPING_RULE`, written down before the fine-tuning ran;
it writes ``analysis/results/restoration_selection.{md,json}``.

Writes ``analysis/results/restoration_validation.{md,json}``.
Usage: ``CRFKIT_DATA=../shared/data python analysis/restoration_validation.py [--threads 2]``
or ``... python analysis/restoration_validation.py --select RUN_DIR [--threads 1]``
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


#: DoRF test curves per exposed crop in the mismatched set.
CURVES_PER_CROP = 2


def render_crops(images, folder, mismatched=None):
    """Write NAME.png (8-bit) + NAME.exr (linear ground truth) crops; returns their names.

    ``mismatched``: None renders with gamma 2 (the matched set); a forward
    CurveSet (the DoRF test curves) renders each exposed crop through
    :data:`CURVES_PER_CROP` of them, in turn (the mismatched set).
    """
    import cv2

    from crfkit.curves import GRID
    from crfkit.io.hdr import read_hdr, write_exr
    from crfkit.io.images import write_image

    names = []
    k = 0
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
            name = f"{Path(path).stem}_clip{round(100 * frac):02d}"
            shown = np.clip(gt, 0.0, 1.0)
            if mismatched is None:
                renders = [(name, shown ** (1.0 / GAMMA))]
            else:
                renders = []
                for _ in range(CURVES_PER_CROP):
                    c = k % len(mismatched)
                    k += 1
                    f = np.asarray(mismatched.values[c], dtype=np.float64)
                    renders.append((f"{name}_dorftest{c}", np.interp(shown, GRID, f)))
            for crop_name, display in renders:
                write_image(folder / f"{crop_name}.png", np.rint(255.0 * display).astype(np.uint8))
                write_exr(folder / f"{crop_name}.exr", gt)
                names.append(crop_name)
    return names


#: Written down before the fine-tuning run ("train as you test") started; applied by ``--select``.
SHIPPING_RULE = (
    "Candidates: the shipped weights and every weight file the fine-tuning run exported (every 250 steps and "
    "its last step), each scored with the default flips=2. Ship the candidate with the lowest mean log-L1 in the "
    "saturated region on the MISMATCHED set (DoRF test curves, linearised with gamma 2), but only if (a) that "
    "is at least 1 % (relative) below the shipped weights' mismatched score and (b) its MATCHED-set log-L1 is "
    "at most 2 % (relative) above the shipped weights' matched score; if the lowest fails (b), the next lowest "
    "that passes (a) and (b) is taken; if none passes, the shipped weights stay. The Santos test crops play no "
    "part; they are scored once, after the choice."
)
MIN_MISMATCHED_GAIN = 0.01
MAX_MATCHED_LOSS = 0.02


def apply_rule(scores, reference):
    """The candidate chosen by SHIPPING_RULE: ``(name, reason)``.

    ``scores``: name -> {'mismatched': float, 'matched': float}; ``reference``: the shipped weights' name.
    """
    ref = scores[reference]
    ok = [n for n in scores if n != reference
          and scores[n]["mismatched"] <= (1.0 - MIN_MISMATCHED_GAIN) * ref["mismatched"]
          and scores[n]["matched"] <= (1.0 + MAX_MATCHED_LOSS) * ref["matched"]]
    if not ok:
        return reference, "no candidate passed both conditions: the shipped weights stay"
    best = min(ok, key=lambda n: scores[n]["mismatched"])
    return best, "lowest mismatched log-L1 among the candidates that pass both conditions"


def unet_options(threads, flips, weights=None):
    """``method_options`` of :func:`run_evaluation` for masked-unet on the CPU."""
    return {"masked-unet": {"threads": threads, "device": "cpu", "flips": flips,
                            **({"weights": str(weights)} if weights else {})}}


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
    p.add_argument("--select", default=None, metavar="RUN",
                   help="score the shipped weights and RUN's exported weights on both sets and apply SHIPPING_RULE")
    p.add_argument("--cache", default=None, metavar="JSON",
                   help="--select: keep each candidate's scores here (keyed by sha256) and skip those already scored")
    p.add_argument("--no-write", action="store_true", help="--select: print only, write no result files")
    args = p.parse_args(argv)
    if args.select:
        return select(args)

    from crfkit._io import atomic_write_text
    from crfkit.restoration.evaluation import run_evaluation

    weights = Path(args.weights) if args.weights else HERE.parent / "crfkit" / "weights" / "masked_unet.pt"
    held_out, images = held_out_images(weights)

    rows, mis_rows = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        (folder, crops), (mfolder, mcrops) = render_sets(images, Path(tmp))
        crops, mcrops = sorted(crops), sorted(mcrops)  # the order run_evaluation scores them in
        base = run_evaluation(folder, crf=f"gamma:{GAMMA:g}", methods=["clip", "highlight-expansion"])
        for m in base.methods:
            rows[m] = base.scores[m]
        mbase = run_evaluation(mfolder, crf=f"gamma:{GAMMA:g}", methods=["clip", "highlight-expansion"])
        for m in mbase.methods:
            mis_rows[m] = mbase.scores[m]
        for k in args.flips:
            opts = unet_options(args.threads, k, args.weights)
            ev = run_evaluation(folder, crf=f"gamma:{GAMMA:g}", methods=["masked-unet"], method_options=opts,
                                progress=True)
            rows[f"masked-unet, flips={k}"] = ev.scores["masked-unet"]
            rows[f"masked-unet, flips={k}"]["seconds"] = np.asarray(ev.seconds["masked-unet"])
        from crfkit.restoration.masked_unet import DEFAULT_FLIPS

        opts = unet_options(args.threads, DEFAULT_FLIPS, args.weights)
        ev = run_evaluation(mfolder, crf=f"gamma:{GAMMA:g}", methods=["masked-unet"], method_options=opts,
                            progress=True)
        mis_rows[f"masked-unet, flips={DEFAULT_FLIPS}"] = ev.scores["masked-unet"]

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
    res["mismatched"] = {"crops": mcrops, "curves": "DoRF test split (10 curves)", "curves_per_crop": CURVES_PER_CROP,
                         "scores": {m: {k: np.asarray(v).tolist() for k, v in s.items()} for m, s in mis_rows.items()}}
    lines += ["", f"## Mismatched curves: {len(mcrops)} crops", "",
              f"The same exposed crops rendered through {CURVES_PER_CROP} of the 10 DoRF test curves each (curves "
              "never used in training) and linearised with gamma 2, like the test crops whose curves are unknown "
              "(the ground truth is aligned on the unsaturated pixels, as in `restoration.md`).", "",
              "| method | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for m, sc in mis_rows.items():
        lines.append(f"| {m} | " + " | ".join(f"{float(np.mean(sc[k])):.4f}" for k in metrics) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "restoration_validation.json", json.dumps(res, indent=1))
    atomic_write_text(out / "restoration_validation.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def render_sets(images, root):
    """Render the matched and mismatched sets under ``root``; returns ``(folder, crop names)`` of each."""
    from crfkit.synthesis import dorf_split

    folder, mfolder = root / "matched", root / "mismatched"
    folder.mkdir()
    mfolder.mkdir()
    return (folder, render_crops(images, folder)), (mfolder, render_crops(images, mfolder, mismatched=dorf_split()[1]))


def held_out_images(weights):
    prov = json.loads(Path(weights).with_suffix(".json").read_text())
    held_out = prov.get("held_out_images") or []
    root = Path(os.environ.get("CRFKIT_DATA", "")) / "hdr_training"
    images = [root / n for n in held_out]
    missing = [str(x) for x in images if not x.is_file()]
    if not held_out or missing:
        sys.exit(f"held-out HDR images not found (set CRFKIT_DATA): {missing or 'none listed in ' + str(weights)}")
    return held_out, images


def select(args):
    """``--select RUN``: score the candidates on both sets, apply SHIPPING_RULE."""
    from crfkit._io import atomic_write_text
    from crfkit.data import sha256_of
    from crfkit.restoration.evaluation import run_evaluation
    from crfkit.restoration.masked_unet import DEFAULT_FLIPS

    shipped = HERE.parent / "crfkit" / "weights" / "masked_unet.pt"
    run = Path(args.select)
    cands = [("shipped", shipped)] + [(p.stem, p) for p in sorted(run.glob("weights_step*.pt"))]
    if (run / "weights.pt").is_file():
        cands.append(("weights (last step)", run / "weights.pt"))
    held_out, images = held_out_images(shipped)
    cache_path = Path(args.cache) if args.cache else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        (folder, matched), (mfolder, mismatched) = render_sets(images, Path(tmp))
        n_matched, n_mismatched = len(matched), len(mismatched)
        for name, path in cands:
            sha = sha256_of(path)
            if sha not in cache:
                opts = unet_options(args.threads, DEFAULT_FLIPS, path)
                entry = {}
                for key, f in (("matched", folder), ("mismatched", mfolder)):
                    ev = run_evaluation(f, crf=f"gamma:{GAMMA:g}", methods=["masked-unet"], method_options=opts)
                    entry[key] = ev.mean("masked-unet", "log_l1_sat")
                    entry[key + "_psnr"] = ev.mean("masked-unet", "psnr_sat")
                cache[sha] = entry
                if cache_path:
                    atomic_write_text(cache_path, json.dumps(cache, indent=1))
            prov = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").is_file() else {}
            scores[name] = dict(cache[sha], path=str(path), sha256=sha, steps_done=prov.get("steps_done"))
            print(f"{name}: matched {scores[name]['matched']:.4f}, mismatched {scores[name]['mismatched']:.4f}",
                  file=sys.stderr)
    choice, why = apply_rule(scores, "shipped")
    ref = scores["shipped"]
    lines = ["# masked-unet fine-tuning: choice of the shipped step on the validation sets", "",
             f"Generated by `python analysis/restoration_validation.py --select {run}`. Validation sets of "
             "`restoration_validation.md` (held-out training images only; matched: gamma 2 rendering and "
             f"linearisation, {n_matched} crops; mismatched: DoRF test curves, gamma-2 "
             f"linearisation, {n_mismatched} crops); masked-unet with flips={DEFAULT_FLIPS}; "
             "mean log-L1 and mu-PSNR in the saturated region.", "",
             f"Rule (written down before the fine-tuning started): {SHIPPING_RULE}", "",
             "| candidate | steps done | matched log-L1 | vs shipped | matched mu-PSNR | mismatched log-L1 | vs shipped "
             "| mismatched mu-PSNR |", "|---|---|---|---|---|---|---|---|"]
    for n, sc in scores.items():
        rel = lambda key: 100 * (sc[key] - ref[key]) / ref[key]  # noqa: E731
        lines.append(f"| {n} | {sc['steps_done']} | {sc['matched']:.4f} | {rel('matched'):+.1f}% | "
                     f"{sc['matched_psnr']:.2f} | {sc['mismatched']:.4f} | {rel('mismatched'):+.1f}% | "
                     f"{sc['mismatched_psnr']:.2f} |")
    lines += ["", f"Chosen: **{choice}** ({why})."]
    print("\n".join(lines))
    if not args.no_write:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "restoration_selection.json", json.dumps(
            {"rule": SHIPPING_RULE, "run": str(run), "scores": scores, "chosen": choice, "reason": why}, indent=1) + "\n")
        atomic_write_text(out / "restoration_selection.md", "\n".join(lines) + "\n")
    return choice


if __name__ == "__main__":
    main()
