"""HDR merges on real cameras: the Middlebury brackets merged and scored against their RAW files.

Each Middlebury bracket (10 cameras x 2 illuminations, 4 camera JPEGs) is merged into one HDR
image by every tool; the bracket's four linear RAW renderings, merged at their measured ratios,
give the scene's radiance per 8x8 block (``crfkit.evaluation.real_camera.raw_reference_blocks``).
Score: ``hdr_error_blocks``, relative error after the best 3x3 matrix (the reference predicted from
the HDR's block means, each block weighted by the inverse of its radiance), over the blocks the
RAWs observe above 8/255 that are not clipped in the shortest JPEG. Times: the RAW-measured
ratios unless marked "unknown times".

Parts: end to end (each tool calibrates from the JPEGs with its own method, then merges), the same
curve for every merge (crfkit's default calibration of the bracket without colour mixing, which
the peers' merges cannot apply: the merges alone differ), and
references (the RAWs merged by crfkit with a linear curve, a check of the measure; the sRGB
inverse; the camera's chart curve from the other illumination). The merge weights' default was
chosen on illumination 1 and confirmed on illumination 2 (docs/results/bracket-calibration.md,
"Merging on real cameras"): the table reports the two halves apart.

Writes analysis/results/bracket/merge_middlebury.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_merge_middlebury.py
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import crfkit  # noqa: E402
from crfkit import GRID  # noqa: E402
from crfkit._io import atomic_write_text  # noqa: E402
from crfkit._stats import paired_bootstrap_interval  # noqa: E402
from crfkit.bracket import calibrate_bracket, merge_bracket  # noqa: E402
from crfkit.evaluation.real_camera import load_middlebury_brackets, score_merges  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
DEFAULT = "crfkit calibrate + merge (defaults)"
LEVELS = np.arange(256) / 255.0


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def main():
    import bracket_merge
    import bracket_peers
    import bracket_times_prior
    from bracket_middlebury import chart_curves

    brackets = load_middlebury_brackets()
    root = Path(brackets[0].jpeg_paths[0]).parent.parent
    charts = chart_curves(root)
    builds = {(cam, 3 - il): cs for (cam, il), cs in charts.items()}
    have_colour_hdri = "colour-hdri Debevec 1997" in bracket_peers.available_peers()
    cals = {}

    def calibration(b):
        """crfkit's default calibration of the bracket (known times) without colour mixing, shared by the
        same-curve rows: the peers' merges take per-channel curves only, so every merge gets the same."""
        key = (b.camera, b.illumination)
        if key not in cals:
            cals[key] = quiet(calibrate_bracket, b.jpegs, b.raw_ratios, bootstrap=0, mixing=False)
        return cals[key]

    def levels(b):  # the default calibration at the 256 codes, for OpenCV's merges (> 0: they take logs)
        inv = calibration(b).inverse().values
        return np.stack([np.maximum(np.interp(LEVELS, GRID, inv[c]), 1e-6) for c in range(3)], axis=1)

    def grid(b):  # the same curves on crfkit's grid, for colour-hdri
        return calibration(b).inverse().values.T

    def unknown_times(b):
        prior = bracket_times_prior.leave_out(builds, b.camera)  # the default prior without the scored camera
        return quiet(merge_bracket, b.jpegs, None, bootstrap=0, times_prior=prior)

    def peer(fn):
        def run(b):
            try:
                return quiet(fn, b)
            except bracket_peers.PeerFailed:
                return None
        return run

    methods = {  # name -> (part, merge of a bracket)
        DEFAULT: ("end to end", lambda b: quiet(merge_bracket, b.jpegs, b.raw_ratios, bootstrap=0)),
        "crfkit, untapered noise-aware weights (the default before)": ("end to end", lambda b: quiet(
            merge_bracket, b.jpegs, b.raw_ratios, bootstrap=0, highlight_taper=None)),
        "crfkit, hat weights": ("end to end", lambda b: quiet(
            merge_bracket, b.jpegs, b.raw_ratios, bootstrap=0, weighting="hat")),
        "crfkit, unknown times (times prior without the scored camera)": ("end to end", unknown_times),
        "OpenCV CalibrateDebevec + MergeDebevec": ("end to end", peer(
            lambda b: bracket_merge.opencv_merge(b.jpegs, b.raw_ratios))),
        "OpenCV CalibrateRobertson + MergeRobertson": ("end to end", peer(
            lambda b: bracket_merge.opencv_merge(b.jpegs, b.raw_ratios, robertson=True))),
        "crfkit merge (default weights)": ("same curve", lambda b: quiet(
            merge_bracket, b.jpegs, b.raw_ratios, crf=calibration(b))),
        "crfkit merge, untapered noise-aware weights": ("same curve", lambda b: quiet(
            merge_bracket, b.jpegs, b.raw_ratios, crf=calibration(b), highlight_taper=None)),
        "crfkit merge, curve_error=0.05 (an option)": ("same curve", lambda b: quiet(
            merge_bracket, b.jpegs, b.raw_ratios, crf=calibration(b), curve_error=0.05)),
        "OpenCV MergeDebevec": ("same curve", peer(
            lambda b: bracket_merge.opencv_merge(b.jpegs, b.raw_ratios, levels(b)))),
        "OpenCV MergeRobertson": ("same curve", peer(
            lambda b: bracket_merge.opencv_merge(b.jpegs, b.raw_ratios, levels(b), robertson=True))),
        "the RAWs merged by crfkit, linear curve (check of the measure)": ("reference", lambda b: quiet(
            merge_bracket, b.raws, b.raw_ratios, crf=crfkit.Curve.identity())),
        "sRGB inverse + crfkit merge": ("reference", lambda b: quiet(
            merge_bracket, b.jpegs, b.raw_ratios, crf="srgb")),
        "chart curve (other illumination) + crfkit merge": ("reference", lambda b: quiet(
            merge_bracket, b.jpegs, b.raw_ratios, crf=charts[(b.camera, b.illumination)])),
    }
    if have_colour_hdri:
        methods["colour-hdri Debevec 1997 + image_stack_to_HDRI"] = ("end to end", peer(
            lambda b: bracket_merge.colour_hdri_merge(b.jpegs, b.raw_ratios)))
        methods["colour-hdri image_stack_to_HDRI"] = ("same curve", peer(
            lambda b: bracket_merge.colour_hdri_merge(b.jpegs, b.raw_ratios, grid(b))))

    results = {}
    for name, (_, fn) in methods.items():
        results[name] = score_merges(fn, brackets)
        print(f"{name:70s} {results[name]['mean']:.4f}  failed {results[name]['n_failed']}", flush=True)

    def per(name, illum=None):
        return np.array([r["error"] for r in results[name]["per_bracket"]
                         if illum is None or r["illumination"] == illum])

    summary = {}
    for name, (part, _) in methods.items():
        summary[name] = {"part": part, "mean": results[name]["mean"], "n_failed": results[name]["n_failed"],
                         "illumination_1": float(np.nanmean(per(name, 1))) if np.isfinite(per(name, 1)).any()
                         else None,
                         "illumination_2": float(np.nanmean(per(name, 2))) if np.isfinite(per(name, 2)).any()
                         else None}
    lines = ["# HDR merges on real cameras (Middlebury, 10 cameras x 2 illuminations)", "",
             "Each tool merges the 4 camera JPEGs of a bracket into one HDR image; the bracket's 4 linear RAW "
             "renderings, merged at their measured ratios, are the reference radiance per 8x8 block. Score: "
             "relative error after the best 3x3 matrix, each block weighted by the inverse of its radiance, over "
             "the blocks the RAWs observe (above 8/255) that are not clipped in the shortest JPEG "
             "(`crfkit.evaluation.real_camera.hdr_error_blocks`). Times: the RAW-measured ratios unless marked. "
             "Lower is better. The merge weights' default was chosen on illumination 1 and confirmed on "
             "illumination 2 (not used to choose it).", "",
             f"Generated by `python analysis/bracket_merge_middlebury.py` (crfkit {crfkit.__version__}).", ""]
    titles = {"end to end": "End to end: each tool calibrates with its own method, then merges",
              "same curve": "The same curve for every merge (crfkit's default calibration of the bracket, "
                            "without colour mixing: the peers' merges take per-channel curves only)",
              "reference": "References"}
    for part, title in titles.items():
        names = [n for n in methods if methods[n][0] == part]
        lines += [f"## {title}", "", "| method | mean error (20) | illumination 1 | illumination 2 | failed |",
                  "|---|---|---|---|---|"]
        for n in names:
            s = summary[n]
            lines.append(f"| {n} | {s['mean']:.4f} | " + " | ".join(
                "-" if s[k] is None else f"{s[k]:.4f}" for k in ("illumination_1", "illumination_2"))
                + f" | {s['n_failed']}/{len(brackets)} |")
        first = names[0]
        peers = [n for n in names if not n.startswith("crfkit")]
        if peers and part != "reference":
            best = min(peers, key=lambda n: summary[n]["mean"])
            d = per(first) - per(best)
            ok = np.isfinite(d)
            lo, hi = paired_bootstrap_interval(d[ok])
            summary[first][f"diff_vs_{best}_ci95"] = [lo, hi]
            lines += ["", f"{first} minus the best peer ({best}): {np.mean(d[ok]):+.4f}, 95 % paired-bootstrap "
                      f"interval {lo:+.4f} .. {hi:+.4f}, lower on {int((d[ok] < 0).sum())} of {int(ok.sum())} "
                      "brackets."]
        lines.append("")
    before = "crfkit, untapered noise-aware weights (the default before)"
    d = per(DEFAULT) - per(before)
    lo, hi = paired_bootstrap_interval(d)
    lines += [f"- {DEFAULT} minus {before}: {np.mean(d):+.4f} (95 % CI {lo:+.4f} .. {hi:+.4f}), lower on "
              f"{int((d < 0).sum())} of {len(d)} brackets.",
              "- The RAW check merges the reference's own images (with crfkit's weights, not the reference's), so "
              "it shows the measure's floor on this data, not a method."]
    if not have_colour_hdri:
        lines.append("- colour-hdri: not run (pip install colour-hdri).")
    lines += ["", "## Per bracket", "", "| camera | illum | " + " | ".join(methods) + " |",
              "|---|---|" + "---|" * len(methods)]
    for i, b in enumerate(brackets):
        cells = [results[n]["per_bracket"][i]["error"] for n in methods]
        lines.append(f"| {b.camera} | {b.illumination} | "
                     + " | ".join("fail" if not np.isfinite(v) else f"{v:.4f}" for v in cells) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "merge_middlebury.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "merge_middlebury.json", json.dumps({"summary": summary, "results": results}, indent=1))
    print("\n".join(lines[:60]))


if __name__ == "__main__":
    main()
