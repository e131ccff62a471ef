"""Calibrate once, use on another scene: bracket calibrations carried across the Middlebury illuminations.

A camera's response is a property of the camera: calibrated from one bracket, it should linearise
the camera's other photographs.  Each Middlebury camera has two 4-exposure brackets of the chart
scene under two illuminations (same white balance setting, ``wb1``).  Every tool calibrates each
bracket from its JPEGs (known times: the RAW-measured ratios), and each calibration is then scored
twice with :func:`crfkit.evaluation.real_camera.score_bracket` (the JPEGs against their RAW):

- on its own bracket (as in ``bracket_middlebury.py``);
- on the camera's *other* illumination: the curve reused on photographs it never saw.

Beside them, how far each tool's curves move between the two illuminations (forward RMSE on the
1024 grid, mean over R, G, B): the "the scene changes" part of OpenCV issue 26613.  The camera's
chart curve from the other illumination (``crfkit.dcrf``) and the sRGB inverse are the references.

Writes analysis/results/bracket/transfer.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_transfer.py
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import crfkit  # noqa: E402
from crfkit._io import atomic_write_text  # noqa: E402
from crfkit._stats import paired_bootstrap_interval  # noqa: E402
from crfkit.evaluation.real_camera import load_middlebury_brackets, score_brackets  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
DEFAULT = "crfkit default"


def calibrations(brackets):
    """{tool: {(camera, illumination): inverse CurveSet or None (failed)}} for crfkit's default and the peers."""
    import bracket_peers
    from bracket_prior_weight import calibrate  # warnings silenced, no bootstrap

    tools = {DEFAULT: lambda images, times: calibrate(images, times, {}).inverse(),
             "OpenCV Debevec": bracket_peers.opencv_debevec,
             "OpenCV Robertson": bracket_peers.opencv_robertson}
    available = bracket_peers.available_peers()
    tools.update({name: fn for name, fn in available.items() if name not in tools})
    out = {}
    for name, fn in tools.items():
        out[name] = {}
        for b in brackets:
            try:
                out[name][(b.camera, b.illumination)] = fn(list(b.jpegs), b.raw_ratios)
            except bracket_peers.PeerFailed:
                out[name][(b.camera, b.illumination)] = None
        print(name, "calibrated", flush=True)
    return out, dict(available.missing)


def main():
    import bracket_stability as bs
    from bracket_middlebury import chart_curves

    brackets = load_middlebury_brackets()
    cals, missing = calibrations(brackets)
    root = Path(brackets[0].jpeg_paths[0]).parent.parent
    charts = chart_curves(root)  # (camera, L) -> curves built from illumination 3 - L

    scores = {}
    for name, by in cals.items():
        scores[name] = {
            "same bracket": score_brackets(lambda b, by=by: by[(b.camera, b.illumination)], brackets),
            "other illumination": score_brackets(lambda b, by=by: by[(b.camera, 3 - b.illumination)], brackets),
        }
    scores["chart curve (other illumination)"] = {
        "other illumination": score_brackets(lambda b: charts.get((b.camera, b.illumination)), brackets)}
    scores["sRGB inverse"] = {"other illumination": score_brackets(lambda b: crfkit.Curve.srgb().inverse(),
                                                                     brackets)}

    def per_bracket(name, part):
        return np.array([r["mean"] for r in scores[name][part]["per_bracket"]], float)

    cameras = sorted({b.camera for b in brackets})
    moves = {}
    for name, by in cals.items():
        values = []
        for cam in cameras:
            a, b = by.get((cam, 1)), by.get((cam, 2))
            values.append(np.nan if a is None or b is None else bs.curves_rmse(bs.forward(a), bs.forward(b)))
        moves[name] = values
    chart_moves = [bs.curves_rmse(bs.forward(charts[(cam, 1)]), bs.forward(charts[(cam, 2)]))
                   if (cam, 1) in charts and (cam, 2) in charts else np.nan for cam in cameras]

    peers = [n for n in cals if n != DEFAULT]
    transfer = {n: per_bracket(n, "other illumination") for n in scores}
    finite_peers = [n for n in peers if np.all(np.isfinite(transfer[n]))]
    best = min(finite_peers, key=lambda n: float(np.mean(transfer[n])))
    diff = transfer[DEFAULT] - transfer[best]
    lo, hi = paired_bootstrap_interval(diff)

    def cell(values):
        values = np.asarray(values, float)
        ok = np.isfinite(values)
        if not ok.any():
            return "-"
        return f"{np.mean(values[ok]):.4f}" + ("" if ok.all() else f" ({(~ok).sum()} failed)")

    lines = ["# Calibrate once, use on another scene (Middlebury, 10 cameras x 2 illuminations)", "",
             "Every tool calibrates each bracket from its 4 JPEGs (known times: the RAW-measured ratios). The "
             "calibration is scored on its own bracket and on the same camera's bracket under the other "
             "illumination, which it never saw: the linearised JPEGs against their RAW "
             "(`crfkit.evaluation.real_camera.score_bracket`; relative error after the best 3x3 matrix on 8x8-pixel "
             "block means). The last column is how far the tool's forward curves move between the two "
             "illuminations (RMSE on the 1024 grid, mean over R, G, B, then over the 10 cameras). Lower is better.",
             "", f"Generated by `python analysis/bracket_transfer.py` (crfkit {crfkit.__version__}).", "",
             "| method | own bracket | other illumination | other minus own | curves move between illuminations |",
             "|---|---|---|---|---|"]
    summary = {}
    for name in scores:
        own = per_bracket(name, "same bracket") if "same bracket" in scores[name] else None
        other = transfer[name]
        move = moves.get(name, chart_moves if name.startswith("chart") else None)
        both = None if own is None else np.isfinite(own) & np.isfinite(other)
        gap = None if own is None or not both.any() else float(np.mean(other[both] - own[both]))
        summary[name] = {"own": None if own is None else cell(own), "other": cell(other), "gap": gap,
                         "move": None if move is None else cell(move)}
        lines.append(f"| {name} | {summary[name]['own'] or '-'} | {summary[name]['other']} | "
                     f"{'-' if gap is None else f'{gap:+.4f}'} | {summary[name]['move'] or '-'} |")
    lines += ["", f"crfkit default on the other illumination minus the best peer there ({best}): {np.mean(diff):+.4f}, "
              f"95 % paired-bootstrap interval {lo:+.4f} .. {hi:+.4f}, lower on {int(np.sum(diff < 0))} of "
              f"{len(diff)} brackets.",
              "- The chart curve is built from the other illumination's RAW+JPEG pairs (`crfkit.dcrf`): it never sees "
              "the JPEGs it is scored on either. Its 'move' is between the chart curves of the two illuminations.",
              "- crfkit's calibration carries its colour mixing matrix along (`cal.inverse()`); the 'move' column "
              "compares the curves only."]
    lines += [f"- {name}: not run ({note})." for name, note in missing.items()]
    lines += ["", "## Per bracket (other illumination)", "",
              "| camera | illum | " + " | ".join(scores) + " |", "|---|---|" + "---|" * len(scores)]
    for i, b in enumerate(brackets):
        cells = ["fail" if not np.isfinite(transfer[n][i]) else f"{transfer[n][i]:.4f}" for n in scores]
        lines.append(f"| {b.camera} | {b.illumination} | " + " | ".join(cells) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "transfer.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "transfer.json", json.dumps({
        "summary": summary, "best_peer": best, "diff_vs_best_peer": float(np.mean(diff)), "ci95": [lo, hi],
        "per_bracket": {n: {part: [r["mean"] for r in res["per_bracket"]] for part, res in scores[n].items()}
                        for n in scores},
        "moves": {**{n: list(map(float, v)) for n, v in moves.items()},
                  "chart curve (other illumination)": list(map(float, chart_moves))},
        "cameras": cameras, "brackets": [[b.camera, b.illumination] for b in brackets]}, indent=1))
    print("\n".join(lines[:20]))


if __name__ == "__main__":
    main()
