"""HDR merge accuracy against the scene's radiance: crfkit against OpenCV and colour-hdri.

The bracket-calibration analyses score curves; this one scores the merged HDR image itself. The
synthetic brackets of ``bracket_synthetic.py`` (2 HDR scenes x the 10 DoRF test curves x 3, 5 and
7 exposures one stop apart; noise, 8 bits, JPEG 90-100) are rendered from a known radiance, so
every merge can be compared with it:

- **merge only**: every tool merges with the true curve and the true times (crfkit's default
  weights, noise-aware with a highlight taper, its untapered noise-aware and its hat weights,
  OpenCV's ``MergeDebevec``, colour-hdri's ``image_stack_to_HDRI`` with its Debevec 1997 weights);
- **end to end**: every tool calibrates with its own method and then merges (crfkit's
  ``merge_bracket`` calibrating with its default; OpenCV ``CalibrateDebevec`` + ``MergeDebevec`` and
  ``CalibrateRobertson`` + ``MergeRobertson``; colour-hdri's Debevec 1997 + ``image_stack_to_HDRI``).
  These cameras do not mix colours after the tone curve, so crfkit's default is also run with
  ``mixing=False``: what a falsely detected mixing costs the merge.

Score per bracket: the relative error ``|m / s - E| / E`` of the merged value ``m`` against the
radiance ``E`` over the pixel channels the bracket observed (noise-free code below 0.98 in the
shortest exposure and above 0.02 in the longest; no merge can know the others), after the
per-channel scale ``s`` (the median of ``m / E``: an HDR image's units are arbitrary); a value that
is not positive counts as 100 %; its mean and 95th percentile.

Writes analysis/results/bracket/merge.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_merge.py [--images N]
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import crfkit  # noqa: E402
from crfkit._io import atomic_write_text  # noqa: E402
from crfkit._stats import paired_bootstrap_interval  # noqa: E402
from crfkit.bracket import merge_bracket  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
LEVELS = np.arange(256) / 255.0


def merge_errors(merged, case):
    """(mean, 95th percentile) relative error after the per-channel median scale.

    Scored: the pixel channels the bracket observed, i.e. whose noise-free code (the true curve at
    the radiance) is below 0.98 in the shortest exposure and above 0.02 in the longest. A merged
    value that is not a positive number there counts as an error of 1 (100 %).
    """
    radiance, times = case["radiance"].astype(np.float64), case["times"]
    forward = case["forward_curve"].values

    def code(t):
        return np.interp(np.clip(radiance * t, 0.0, 1.0), crfkit.GRID, forward)

    known = (code(times[0]) < 0.98) & (code(times[-1]) > 0.02)
    merged = np.asarray(merged, np.float64)
    errs = []
    for c in range(3):
        m, e = merged[..., c][known[..., c]], radiance[..., c][known[..., c]]
        ok = np.isfinite(m) & (m > 0)
        s = np.median(m[ok] / e[ok]) if ok.any() else 1.0
        errs.append(np.where(ok, np.abs(np.where(ok, m, 0.0) / s - e) / e, 1.0))
    errs = np.concatenate(errs)
    return float(np.mean(errs)), float(np.percentile(errs, 95))


def opencv_merge(images, times, response=None, robertson=False):
    """OpenCV's merge with ``response`` ((256, 3) RGB, linear) or its own calibration when None."""
    import bracket_peers
    import cv2

    if response is None:  # the calibration of bracket_peers, with OpenCV's defaults
        response = (bracket_peers.opencv_robertson if robertson else bracket_peers.opencv_debevec)(
            images, times, raw=True)
    t = np.asarray(times, np.float32)
    resp = np.ascontiguousarray(response[:, None, ::-1], dtype=np.float32)
    merge = cv2.createMergeRobertson() if robertson else cv2.createMergeDebevec()
    return merge.process(bracket_peers._bgr(images), t, resp)[:, :, ::-1]


def colour_hdri_merge(images, times, response=None):
    """colour-hdri's ``image_stack_to_HDRI`` (Debevec 1997 weights) with ``response`` ((N, 3) on
    ``linspace(0, 1, N)``) or its own Debevec 1997 calibration when None."""
    from bracket_peers import colour_hdri_stack
    from colour_hdri import camera_response_functions_Debevec1997, image_stack_to_HDRI

    def stack():  # image_stack_to_HDRI empties the stack's data as it goes: a fresh one per call
        return colour_hdri_stack(images, times)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if response is None:
            response = camera_response_functions_Debevec1997(stack())
        return image_stack_to_HDRI(stack(), camera_response_functions=response)


def methods(have_colour_hdri):
    """name -> (part, function of a case returning the merged image)."""
    def true_levels(case):
        return np.tile(np.maximum(np.interp(LEVELS, crfkit.GRID, case["inverse"].values), 1e-6)[:, None], (1, 3))

    def true_grid(case):
        return np.tile(case["inverse"].values[:, None], (1, 3))

    out = {
        "crfkit merge, default weights (noise-aware, highlight taper)": ("true curve", lambda c: merge_bracket(
            c["images"], c["times"], crf=c["inverse"], weighting="noise")),
        "crfkit merge, untapered noise-aware weights (the default before)": ("true curve", lambda c: merge_bracket(
            c["images"], c["times"], crf=c["inverse"], weighting="noise", highlight_taper=None)),
        "crfkit merge, hat weights": ("true curve", lambda c: merge_bracket(
            c["images"], c["times"], crf=c["inverse"], weighting="hat")),
        "OpenCV MergeDebevec": ("true curve", lambda c: opencv_merge(c["images"], c["times"], true_levels(c))),
        "OpenCV MergeRobertson": ("true curve", lambda c: opencv_merge(c["images"], c["times"], true_levels(c),
                                                                        robertson=True)),
        "crfkit calibrate + merge (defaults)": ("end to end", lambda c: merge_bracket(
            c["images"], c["times"], bootstrap=0)),
        "crfkit calibrate + merge, untapered noise-aware weights (the default before)": ("end to end",
            lambda c: merge_bracket(c["images"], c["times"], bootstrap=0, highlight_taper=None)),
        # These cameras do not mix colours after the tone curve: what the default's mixing costs here.
        "crfkit calibrate + merge, mixing=False": ("end to end", lambda c: merge_bracket(
            c["images"], c["times"], bootstrap=0, mixing=False)),
        "OpenCV CalibrateDebevec + MergeDebevec": ("end to end", lambda c: opencv_merge(c["images"], c["times"])),
        "OpenCV CalibrateRobertson + MergeRobertson": ("end to end", lambda c: opencv_merge(
            c["images"], c["times"], robertson=True)),
    }
    if have_colour_hdri:
        out["colour-hdri image_stack_to_HDRI"] = ("true curve", lambda c: colour_hdri_merge(
            c["images"], c["times"], true_grid(c)))
        out["colour-hdri Debevec 1997 + image_stack_to_HDRI"] = ("end to end", lambda c: colour_hdri_merge(
            c["images"], c["times"]))
    return out


def main():
    import importlib.util

    import bracket_synth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2, help="how many of bracket_synth.DEFAULT_IMAGES (default 2)")
    args = ap.parse_args()
    have_colour_hdri = importlib.util.find_spec("colour_hdri") is not None
    table = methods(have_colour_hdri)
    rows = []
    for case in bracket_synth.synthetic_cases(n_images=args.images):
        case["inverse"] = case["inverse_curve"]
        row = {"image": case["image_name"], "curve": case["curve_name"], "n": case["n_exposures"]}
        for name, (_, fn) in table.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    row[name], row[name + " p95"] = merge_errors(fn(case), case)
                except crfkit.CrfkitError as exc:
                    row[name], row[name + " p95"], row[name + " error"] = float("nan"), float("nan"), str(exc)
        rows.append(row)
        print(f"{row['image']:>14s} {row['curve'][:22]:22s} n={row['n']}  "
              + "  ".join(f"{k.split(',')[0][:24]} {row[k]:.4f}" for k in table), flush=True)
    summary = {}
    for name, (part, _) in table.items():
        v, p = np.array([r[name] for r in rows]), np.array([r[name + " p95"] for r in rows])
        summary[name] = {"part": part, "mean": float(np.nanmean(v)), "p95": float(np.nanmean(p)),
                         "failed": int(np.isnan(v).sum()),
                         "by_n": {str(n): float(np.nanmean([r[name] for r in rows if r["n"] == n])) for n in (3, 5, 7)}}
    lines = ["# HDR merge accuracy against the scene's radiance", "",
             f"{len(rows)} synthetic brackets ({args.images} HDR scenes x the 10 DoRF test curves x 3/5/7 exposures "
             "one stop apart, noise, 8 bits, JPEG 90-100; the brackets of `synthetic.md`), true times. Score: "
             "relative error of the merged value against the radiance after a per-channel scale (median ratio), "
             "over the pixel channels the bracket observed (noise-free code below 0.98 in the shortest exposure "
             "and above 0.02 in the longest; a merged value that is not positive counts as 100 %); mean over "
             "those pixels (and their 95th percentile), then over brackets. Lower is better.",
             "", f"Generated by `python analysis/bracket_merge.py --images {args.images}` "
             f"(crfkit {crfkit.__version__}).", ""]
    for part, title in (("true curve", "Merge only: every tool given the true curve"),
                        ("end to end", "End to end: every tool calibrates with its own method, then merges")):
        names = [n for n in table if table[n][0] == part]
        lines += [f"## {title}", "", "| method | mean relative error | 95th percentile | 3 exp. | 5 exp. | 7 exp. | "
                  "failed |", "|---|---|---|---|---|---|---|"]
        for name in names:
            s = summary[name]
            lines.append(f"| {name} | {s['mean']:.4f} | {s['p95']:.4f} | {s['by_n']['3']:.4f} | "
                         f"{s['by_n']['5']:.4f} | {s['by_n']['7']:.4f} | {s['failed']}/{len(rows)} |")
        crfkit_name = names[0]
        peers = [n for n in names if not n.startswith("crfkit")]
        best = min(peers, key=lambda n: summary[n]["mean"])
        d = np.array([r[crfkit_name] - r[best] for r in rows])
        ok = np.isfinite(d)
        lo, hi = paired_bootstrap_interval(d[ok])
        lines += ["", f"{crfkit_name} minus the best peer ({best}): {np.mean(d[ok]):+.4f}, 95 % paired-bootstrap "
                  f"interval {lo:+.4f} .. {hi:+.4f}, lower on {int((d[ok] < 0).sum())} of {ok.sum()} brackets.", ""]
    if not have_colour_hdri:
        lines.append("- colour-hdri: not run (pip install colour-hdri).")
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "merge.md", "\n".join(lines).rstrip() + "\n")
    atomic_write_text(OUT / "merge.json", json.dumps({"summary": summary, "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
