"""Bracket calibration on real cameras: the Middlebury brackets scored against their RAW files.

Each of the 10 camera folders in ``$CRFKIT_DATA/middlebury_chart_pairs`` holds
two 4-exposure brackets (illuminations 1 and 2) of camera JPEGs with their
linear RAW renderings.  Every method calibrates from the 4 JPEGs alone; each
JPEG is then linearised with the result and scored with
:func:`crfkit.evaluation.real_camera.linearisation_error_blocks` (relative error
after the best 3x3 matrix on 8x8-pixel block means; the same measure every
real-camera evaluation in crfkit uses).  The PNGs carry no EXIF: "known times"
are the exposure ratios measured from the RAW files (so they are the true
ratios, not nominal shutter speeds); "unknown times" means the method gets none.

Methods, all run in this script: every crfkit bracket solver, OpenCV's
``CalibrateDebevec`` and ``CalibrateRobertson``, pfstools' Robertson and
Mitsunaga-Nayar and colour-hdri's Debevec 1997 (when installed; see
``analysis/README_peers.md``) with the same times, the sRGB inverse, and the camera's chart curve built by crfkit from the *other*
illumination's RAW+JPEG pairs of the same camera (a chart calibration of that camera).

Writes analysis/results/bracket/middlebury.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_middlebury.py
"""

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
from crfkit.evaluation.real_camera import load_middlebury_brackets, score_brackets  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
DEFAULT = "crfkit default"
DEFAULT_UNKNOWN = "crfkit default, unknown times (modern times prior rebuilt without the scored camera)"
UNKNOWN_EMOR = "crfkit default, unknown times, EMoR times prior"
PCA_BEFORE = "crfkit PCA(dorf-train)-15 (the default before)"


def crfkit_methods():
    """name -> calibrate_bracket options; times=None marks the unknown-times runs."""
    return {
        DEFAULT: {},
        DEFAULT_UNKNOWN: {"times": None},
        UNKNOWN_EMOR: {"times": None, "times_prior": "emor"},
        "crfkit EMoR-5": {"model": "emor", "k": 5},
        "crfkit EMoR-15": {"model": "emor", "k": 15},
        "crfkit GGCM-3": {"model": "ggcm", "k": 3},
        PCA_BEFORE: {"model": "pca", "k": 15},
        "crfkit Debevec": {"method": "debevec"},
        "crfkit Robertson": {"method": "robertson"},
        "crfkit Mitsunaga-Nayar": {"method": "mitsunaga-nayar"},
        "crfkit Mitsunaga-Nayar, unknown times (modern prior without the scored camera)":
            {"method": "mitsunaga-nayar", "times": None},
    }


def chart_curves(root):
    """Per camera and illumination: the camera's chart curves (3 inverse) built from the other illumination."""
    from crfkit.dcrf import build_dataset, middlebury_recipe
    import tempfile

    out = {}
    for illum in (1, 2):
        attrs, cams = middlebury_recipe(root, illum)
        with tempfile.TemporaryDirectory() as tmp:
            curves, failed = build_dataset(cams, Path(tmp) / "mb.crfs", progress=False, attrs=attrs)
        for i in range(0, len(curves), 3):
            cam = curves.names[i].split("/")[0]
            out[(cam, 3 - illum)] = curves[[i, i + 1, i + 2]].inverse()
    return out


def main():
    import bracket_peers
    import bracket_times_prior

    brackets = load_middlebury_brackets()
    root = Path(brackets[0].jpeg_paths[0]).parent.parent
    methods = {}
    timings = {}
    cache = {}

    def crfkit_method(name, opts):
        opts = dict(opts)
        unknown = "times" in opts and opts.pop("times") is None

        def run(b):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                extra = {}
                if unknown and "times_prior" not in opts:
                    # The default times prior holds the scored camera: rebuild it without it.
                    extra["times_prior"] = bracket_times_prior.leave_out(builds, b.camera)
                cal = calibrate_bracket(b.jpegs, times=None if unknown else b.raw_ratios, bootstrap=0, **opts,
                                        **extra)
            timings.setdefault(name, []).append(time.perf_counter() - t0)
            cache[(name, b.camera, b.illumination)] = cal
            return cal.inverse()
        return run

    for name, opts in crfkit_methods().items():
        methods[name] = crfkit_method(name, opts)
    charts = chart_curves(root)

    # The default times prior ('modern') is built from these very cameras' chart curves: scoring it here
    # would use the scored camera.  Its recipe is rebuilt without the scored camera instead (both
    # illuminations of the other nine cameras: bracket_times_prior.leave_out).
    builds = {(cam, 3 - il): cs for (cam, il), cs in charts.items()}

    def peer(fn, name):
        def run(b):
            t0 = time.perf_counter()
            try:
                curves = fn(b.jpegs, b.raw_ratios)
            except bracket_peers.PeerFailed:
                return None
            finally:
                timings.setdefault(name, []).append(time.perf_counter() - t0)
            return curves
        return run

    methods["OpenCV Debevec"] = peer(bracket_peers.opencv_debevec, "OpenCV Debevec")
    methods["OpenCV Robertson"] = peer(bracket_peers.opencv_robertson, "OpenCV Robertson")
    # The other peers (pfstools, colour-hdri) when installed, with the same times (analysis/README_peers.md).
    available = bracket_peers.available_peers()
    for name, fn in available.items():
        if name not in methods:
            methods[name] = peer(fn, name)
    methods["sRGB inverse"] = lambda b: crfkit.Curve.srgb().inverse()
    methods["chart curve (other illumination)"] = lambda b: charts.get((b.camera, b.illumination))

    results = {name: score_brackets(fn, brackets) for name, fn in methods.items()}
    ref = np.array([r["mean"] for r in results["OpenCV Debevec"]["per_bracket"]])
    summary = {}
    for name, res in results.items():
        per = np.array([r["mean"] for r in res["per_bracket"]])
        ok = np.isfinite(per) & np.isfinite(ref)
        row = {"mean": res["mean"], "n_failed": res["n_failed"], "n": len(per),
               "ratio_to_opencv_debevec": float(np.mean(per[ok]) / np.mean(ref[ok])) if ok.any() else None,
               "mean_seconds": float(np.mean(timings[name])) if name in timings else None}
        if ok.sum() >= 3 and name != "OpenCV Debevec":
            lo, hi = paired_bootstrap_interval(per[ok] - ref[ok])
            row["diff_vs_opencv_debevec_ci95"] = [lo, hi]
        summary[name] = row
    lines = ["# Bracket calibration on real cameras (Middlebury, 10 cameras x 2 illuminations)", "",
             "Each method calibrates from the 4 camera JPEGs of a bracket; every JPEG is linearised and scored "
             "against its RAW: relative error after the best 3x3 matrix on 8x8-pixel block means (blocks with no "
             "clipped JPEG pixel and a RAW mean above 8/255; `crfkit.evaluation.real_camera`). Known times are the "
             "exposure ratios measured from the RAW files (the PNGs have no EXIF). Lower is better.",
             "", f"Generated by `python analysis/bracket_middlebury.py` (crfkit {crfkit.__version__}).", "",
             "| method | mean error | ratio to OpenCV Debevec (same brackets) | 95% CI of the difference | failed | s per bracket |",
             "|---|---|---|---|---|---|"]
    for name, row in summary.items():
        ci = row.get("diff_vs_opencv_debevec_ci95")
        lines.append(f"| {name} | {row['mean']:.4f} | "
                     + (f"{row['ratio_to_opencv_debevec']:.3f}" if row["ratio_to_opencv_debevec"] else "-")
                     + f" | {f'{ci[0]:+.4f} .. {ci[1]:+.4f}' if ci else '-'} | {row['n_failed']}/{row['n']} | "
                     + (f"{row['mean_seconds']:.2f}" if row["mean_seconds"] else "-") + " |")
    lines += ["", "The chart curve of illumination L is built from the camera's illumination-(3-L) chart pairs "
              "(`crfkit.dcrf`), so it never sees the JPEGs it is scored on. OpenCV Robertson fails where it "
              "leaves response levels undefined (non-finite values; see `analysis/bracket_peers.py`)."]
    lines += [f"{name}: not run ({note})." for name, note in available.missing.items()]
    lines += ["",
              "## Per bracket (mean over the 4 JPEGs)", "",
              "| camera | illum | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for i, b in enumerate(brackets):
        cells = []
        for name in methods:
            v = results[name]["per_bracket"][i]["mean"]
            cells.append("fail" if not np.isfinite(v) else f"{v:.4f}")
        lines.append(f"| {b.camera} | {b.illumination} | " + " | ".join(cells) + " |")
    lines.append("")
    for label in (DEFAULT_UNKNOWN, UNKNOWN_EMOR):
        est = [(k[1], k[2], cal.times) for k, cal in cache.items() if k[0] == label]
        errs = []
        for cam, il, t in est:
            b = next(x for x in brackets if x.camera == cam and x.illumination == il)
            errs.append(np.abs(np.log(t / t[0]) - np.log(b.raw_ratios / b.raw_ratios[0]))[1:])
        if errs:
            lines.append(f"- {label}: the estimated exposure ratios differ from the RAW-measured ones by "
                         f"{np.mean(np.concatenate(errs)):.3f} in log (mean absolute over {len(est)} brackets).")
    nonfinite = 0
    for b in brackets:
        resp = bracket_peers.opencv_robertson(b.jpegs, b.raw_ratios, raw=True)
        nonfinite += int(not np.all(np.isfinite(resp)))
    summary["OpenCV Robertson"]["brackets_with_nonfinite_levels"] = nonfinite
    lines.append(f"- OpenCV Robertson returned NaN or infinite response levels on {nonfinite} of {len(brackets)} "
                 "brackets; the table fills them by interpolation when they are at most 20 % of the levels "
                 "(`bracket_peers.inverse_from_levels`) and counts the rest as failed. crfkit's solvers define "
                 "every level.")
    lines.append("- The unknown-times rows show the exponential ambiguity: a bracket alone cannot tell a curve g "
                 "with ratios r from g^gamma with r^gamma, so the ratios come from the times prior's typical curve "
                 "shape. DoRF/EMoR curves (film and early digital) are flatter than these cameras' JPEG curves. "
                 "crfkit's default times prior ('modern') is the mean and 3 components of the chart curves of "
                 "these 10 cameras (`analysis/bracket_times_prior.py`); here it is rebuilt for each bracket from "
                 "the other nine cameras only (both illuminations), so the camera scored is never seen.")
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "middlebury.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "middlebury.json", json.dumps({"summary": summary, "results": results}, indent=1))
    print("\n".join(lines[:8 + len(summary)]))


if __name__ == "__main__":
    main()
