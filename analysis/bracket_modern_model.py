"""Does a curve *model* built from modern cameras calibrate brackets better than the DoRF-train default?

The default bracket model is a PCA basis of the 191 DoRF training curves, 15
components (PCA(dorf-train)-15).  The default *times prior* ('modern') already
comes from modern cameras: the chart curves of the 10 Middlebury cameras.  This
script asks whether the curve model itself should: candidates are

- 'modern-k': a PCA basis of the Middlebury cameras' chart curves (crfkit.dcrf,
  both illuminations, R, G, B), k = 3, 4, 5, 6, 8 components;
- 'modern+dorf-train-k': a PCA basis of those curves pooled with the 191 DoRF
  training curves, k = 8, 15.

Middlebury (``bracket_middlebury``'s measure, RAW-measured times or unknown
times): every candidate basis is rebuilt for each bracket WITHOUT the scored
camera (leave one camera out: the other nine cameras, both illuminations), and
so is the times prior for unknown times (as in ``bracket_middlebury.py``).
Synthetic (``bracket_synth``: the 10 DoRF test curves x 2 scenes x 3/5/7
exposures, as ``bracket_synthetic.py``): the candidates are built from all 10
cameras (none of the rendered curves is in them).  The current default runs in
the same script on the same brackets, so every difference is paired.

The decision rule was written into docs/results/bracket-calibration.md before
this script scored any candidate.

Writes analysis/results/bracket/modern_model.{md,json} (the parts to
modern_model_middlebury.json and modern_model_synthetic.json).
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_modern_model.py [--part middlebury|synthetic|report]
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import crfkit  # noqa: E402
from crfkit._io import atomic_write_text  # noqa: E402
from crfkit._stats import paired_bootstrap_interval  # noqa: E402
from crfkit.bracket import calibrate_bracket  # noqa: E402
from crfkit.models.pca import PCABasis  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
DEFAULT = "default PCA(dorf-train)-15"
MODERN_K = (3, 4, 5, 6, 8)
MIX_K = (8, 15)
CANDIDATES = [f"modern-{k}" for k in MODERN_K] + [f"modern+dorf-train-{k}" for k in MIX_K]
METHODS = [DEFAULT] + CANDIDATES


def _dorf_train_inverse():
    from crfkit.data import load_curves

    return load_curves("dorf-train").as_kind("inverse").values


def bases(modern_inverse, dorf_train_inverse):
    """method -> PCABasis (None for the default) from the modern cameras' inverse curves (N, 1024)."""
    out = {DEFAULT: None}
    pm = PCABasis.from_curves(crfkit.CurveSet(modern_inverse, "inverse"), n_components=max(MODERN_K), source="modern")
    for k in MODERN_K:
        out[f"modern-{k}"] = (pm, k)
    pooled = crfkit.CurveSet(np.concatenate([modern_inverse, dorf_train_inverse]), "inverse")
    px = PCABasis.from_curves(pooled, n_components=max(MIX_K), source="modern+dorf-train")
    for k in MIX_K:
        out[f"modern+dorf-train-{k}"] = (px, k)
    return out


def _calibrate(images, times, spec, **extra):
    opts = {"model": "pca", "k": 15} if spec is None else {"model": "pca", "basis": spec[0], "k": spec[1]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calibrate_bracket(images, times=times, bootstrap=0, **opts, **extra)


def part_middlebury():
    import bracket_times_prior
    from crfkit.evaluation.real_camera import load_middlebury_brackets, score_brackets

    brackets = load_middlebury_brackets()
    builds = bracket_times_prior.chart_builds()
    dorf = _dorf_train_inverse()
    per_camera = {}
    for cam in sorted({b.camera for b in brackets}):
        loco = bracket_times_prior.leave_out(builds, cam)
        per_camera[cam] = (loco, bases(loco.values, dorf))
    res = {}
    for unknown in (False, True):
        for name in METHODS:
            timings = []

            def run(b):
                loco, bs = per_camera[b.camera]
                t0 = time.perf_counter()
                extra = {"times_prior": loco} if unknown else {}
                cal = _calibrate(b.jpegs, None if unknown else b.raw_ratios, bs[name], **extra)
                timings.append(time.perf_counter() - t0)
                return cal.inverse()

            r = score_brackets(run, brackets)
            key = f"{name} | {'unknown' if unknown else 'known'}"
            res[key] = {"per_bracket": [x["mean"] for x in r["per_bracket"]], "n_failed": r["n_failed"],
                        "seconds": float(np.mean(timings)) if timings else None}
            print(f"{key:45s} {r['mean']:.4f}", flush=True)
    out = {"brackets": [[b.camera, b.illumination] for b in brackets], "results": res}
    atomic_write_text(OUT / "modern_model_middlebury.json", json.dumps(out, indent=1))


def part_synthetic(n_images=2):
    import bracket_synth
    import bracket_times_prior

    builds = bracket_times_prior.chart_builds()
    modern = bracket_times_prior.prior_curves(builds)
    bs = bases(modern.values, _dorf_train_inverse())
    rows = []
    for case in bracket_synth.synthetic_cases(n_images=n_images):
        truth = case["inverse_curve"]
        row = {"image": case["image_name"], "curve": case["curve_name"], "n": case["n_exposures"]}
        for unknown in (False, True):
            for name in METHODS:
                key = f"{name} | {'unknown' if unknown else 'known'}"
                try:
                    cal = _calibrate(case["images"], None if unknown else case["times"], bs[name])
                    inv = cal.inverse()
                    row[key] = float(np.mean([inv[c].rmse(truth) for c in range(3)]))
                except crfkit.CrfkitError as exc:
                    row[key] = float("nan")
                    row[key + " error"] = str(exc)
        rows.append(row)
        print(f"{row['image'][:20]:20s} {row['curve'][:20]:20s} n={row['n']} default {row[DEFAULT + ' | known']:.4f} "
              f"modern-5 {row['modern-5 | known']:.4f}", flush=True)
    atomic_write_text(OUT / "modern_model_synthetic.json", json.dumps({"n_images": n_images, "rows": rows}, indent=1))


def _ci(d):
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    lo, hi = paired_bootstrap_interval(d)
    return float(np.mean(d)), lo, hi


def report():
    mb = json.loads((OUT / "modern_model_middlebury.json").read_text())
    sy = json.loads((OUT / "modern_model_synthetic.json").read_text())
    ref_mb = json.loads((OUT / "middlebury.json").read_text())
    ocv = np.array([r["mean"] for r in ref_mb["results"]["OpenCV Debevec"]["per_bracket"]])
    R = mb["results"]
    rows = sy["rows"]
    summary = {}
    for times in ("known", "unknown"):
        d0 = np.array(R[f"{DEFAULT} | {times}"]["per_bracket"])
        s0 = np.array([r[f"{DEFAULT} | {times}"] for r in rows])
        for name in METHODS:
            key = f"{name} | {times}"
            v = np.array(R[key]["per_bracket"])
            s = np.array([r[key] for r in rows])
            e = {"middlebury_mean": float(np.nanmean(v)), "middlebury_failed": int(R[key]["n_failed"]),
                 "ratio_to_opencv_debevec": float(np.nanmean(v) / np.mean(ocv)),
                 "synthetic_mean": float(np.nanmean(s)), "synthetic_median": float(np.nanmedian(s)),
                 "synthetic_failed": int(np.isnan(s).sum()),
                 "synthetic_ratio_to_default": float(np.nanmean(s) / np.nanmean(s0))}
            e["ratio_ci_opencv"] = list(_ci(v - ocv)[1:])
            if name != DEFAULT:
                e["middlebury_diff_vs_default"] = _ci(v - d0)
                e["synthetic_diff_vs_default"] = _ci(s - s0)
            summary[key] = e
    # The decision rule (docs/results/bracket-calibration.md, written before scoring).
    known = {n: summary[f"{n} | known"]["middlebury_mean"] for n in CANDIDATES}
    pick = min(known, key=known.get)
    a = summary[f"{pick} | known"]["middlebury_diff_vs_default"][2] < 0
    b = summary[f"{pick} | unknown"]["middlebury_mean"] <= summary[f"{DEFAULT} | unknown"]["middlebury_mean"]
    c = summary[f"{pick} | known"]["synthetic_ratio_to_default"] <= 1.10
    best_modern = min((n for n in CANDIDATES if n.startswith("modern-")), key=known.get)
    decision = {"pick": pick, "a_known_ci_below_0": bool(a), "b_unknown_not_worse": bool(b),
                "c_synthetic_within_10pct": bool(c), "change_default": bool(a and b and c),
                "best_modern_only": best_modern}
    L = ["# A curve model from modern cameras against the DoRF-train default", "",
         "Candidates: PCA bases of the 10 Middlebury cameras' chart curves ('modern-k') and of those curves pooled "
         "with the 191 DoRF training curves ('modern+dorf-train-k'), against the default PCA(dorf-train)-15. "
         "Middlebury: every candidate basis (and, for unknown times, the 'modern' times prior) is rebuilt for each "
         "bracket without the scored camera (leave one camera out); measure as in `middlebury.md` (relative error "
         "after the best 3x3 matrix, 8x8 block means; lower is better). Synthetic: the 60 DoRF-test-curve brackets "
         f"of `synthetic.md` ({sy['n_images']} scenes x 10 curves x 3/5/7 exposures), candidates built from all 10 "
         "cameras; score: inverse-CRF RMSE. Intervals: 95 % paired bootstrap over brackets of (method minus the "
         "default) with the same times.", "",
         f"Generated by `python analysis/bracket_modern_model.py` (crfkit {crfkit.__version__}).", ""]
    for times, what in (("known", "known times (RAW-measured ratios on Middlebury, true times on the synthetic set)"),
                        ("unknown", "unknown times (ratios estimated with the default 'modern' times prior; "
                         "leave-one-camera-out on Middlebury)")):
        L += [f"## With {what}", "",
              "| model | Middlebury mean | ratio to OpenCV Debevec | minus default (95 % CI) | synthetic mean RMSE | "
              "ratio to default | minus default (95 % CI) | failed (Mb / synth) |", "|---|---|---|---|---|---|---|---|"]
        for name in METHODS:
            e = summary[f"{name} | {times}"]
            md = e.get("middlebury_diff_vs_default")
            sd = e.get("synthetic_diff_vs_default")
            L.append(f"| {name} | {e['middlebury_mean']:.4f} | {e['ratio_to_opencv_debevec']:.3f} | "
                     + (f"{md[0]:+.4f} ({md[1]:+.4f} .. {md[2]:+.4f})" if md else "-") + " | "
                     + f"{e['synthetic_mean']:.4f} | {e['synthetic_ratio_to_default']:.2f} | "
                     + (f"{sd[0]:+.4f} ({sd[1]:+.4f} .. {sd[2]:+.4f})" if sd else "-")
                     + f" | {e['middlebury_failed']}/20 / {e['synthetic_failed']}/{len(rows)} |")
        L.append("")
    L += ["## The decision rule applied", "",
          f"- Candidate with the lowest Middlebury mean with known times: **{pick}**.",
          f"- (a) known times, Middlebury, 95 % CI of ({pick} minus default) entirely below 0: "
          f"{'yes' if a else 'no'} ({summary[f'{pick} | known']['middlebury_diff_vs_default'][1]:+.4f} .. "
          f"{summary[f'{pick} | known']['middlebury_diff_vs_default'][2]:+.4f}).",
          f"- (b) unknown times, Middlebury mean not above the default's: {'yes' if b else 'no'} "
          f"({summary[f'{pick} | unknown']['middlebury_mean']:.4f} against "
          f"{summary[f'{DEFAULT} | unknown']['middlebury_mean']:.4f}).",
          f"- (c) synthetic mean at most 1.10x the default's: {'yes' if c else 'no'} "
          f"({summary[f'{pick} | known']['synthetic_ratio_to_default']:.2f}x).",
          f"- Decision: {'the default model changes to ' + pick if decision['change_default'] else 'the default stays PCA(dorf-train)-15; the modern basis is an option'}"
          f" (best modern-only basis on Middlebury with known times: {best_modern}).", "",
          "## Per Middlebury bracket, known times", "",
          "| camera | illum | OpenCV Debevec | " + " | ".join(METHODS) + " |", "|---|---|---|" + "---|" * len(METHODS)]
    for i, (cam, il) in enumerate(mb["brackets"]):
        L.append(f"| {cam} | {il} | {ocv[i]:.4f} | "
                 + " | ".join(f"{R[f'{n} | known']['per_bracket'][i]:.4f}" for n in METHODS) + " |")
    L += ["", "## Synthetic, by curve (mean over scenes and bracket sizes), known times", "",
          "| curve | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for cv in dict.fromkeys(r["curve"] for r in rows):
        L.append(f"| {cv} | " + " | ".join(f"{np.nanmean([r[f'{n} | known'] for r in rows if r['curve'] == cv]):.4f}"
                                           for n in METHODS) + " |")
    L.append("")
    atomic_write_text(OUT / "modern_model.md", "\n".join(L))
    atomic_write_text(OUT / "modern_model.json", json.dumps({"summary": summary, "decision": decision}, indent=1))
    print("\n".join(L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("middlebury", "synthetic", "report", "all"), default="all")
    ap.add_argument("--images", type=int, default=2)
    args = ap.parse_args()
    if args.part in ("middlebury", "all"):
        part_middlebury()
    if args.part in ("synthetic", "all"):
        part_synthetic(args.images)
    if args.part in ("report", "all"):
        report()


if __name__ == "__main__":
    main()
