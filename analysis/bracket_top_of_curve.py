"""Top-of-curve candidates for the default bracket calibration, scored against the default.

Found on the D7000 brackets (``bracket_d7000.py``, the development set). Round 1: ``clip=0.99``
(samples up to code 252 instead of 249) and ``prior=0`` (no pull of the curve towards the model's
mean). Round 2: ``top_rule='clipping'`` (the clipping level measured from the saturated samples).
Each is scored here paired with the default, in the same run, on

- the D7000 brackets (development; true times),
- the 60 synthetic DoRF-test brackets of ``bracket_synthetic.py`` (guard; true times),
- the 20 Middlebury brackets (test; known times = RAW-measured ratios, and unknown times with the
  'modern' times prior rebuilt without the scored camera, as in ``bracket_middlebury.py``).

The decision rule was written into docs/results/bracket-calibration.md before this script ran.

Writes analysis/results/bracket/top_of_curve.{md,json} (round 1) or top_of_curve_round2.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_top_of_curve.py [--round 2]
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
from crfkit.bracket import calibrate_bracket  # noqa: E402
from crfkit.evaluation.real_camera import load_middlebury_brackets, score_brackets  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
_PCA = {"model": "pca", "k": 15}
ROUNDS = {1: {"clip=0.99": {"clip": 0.99, **_PCA}, "prior=0": {"prior": 0.0, **_PCA}},
          2: {"clipping level": {"top_rule": "clipping", **_PCA}}}
#: "default": the default model when these rounds were scored, PCA(dorf-train)-15.
CANDIDATES = {"default": dict(_PCA)}  # and the round's candidates (main)


def _calibrate(images, times, opts, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calibrate_bracket(images, times=times, bootstrap=0, **opts, **extra).inverse()


def rendered(cases, truth_of):
    """name -> per-bracket inverse-CRF RMSE (mean over R, G, B) on rendered brackets
    (``bracket_synthetic.score_case``, with true times)."""
    from bracket_synthetic import score_case

    out = {name: [] for name in CANDIDATES}
    for case in cases:
        row = score_case(case["images"], case["times"], truth_of(case), CANDIDATES, {}, {})
        for name in CANDIDATES:
            out[name].append(row[name])
    return out


def middlebury():
    """(name, 'known'|'unknown') -> per-bracket linearisation error on the Middlebury brackets."""
    import bracket_middlebury
    import bracket_times_prior

    brackets = load_middlebury_brackets()
    root = Path(brackets[0].jpeg_paths[0]).parent.parent
    charts = bracket_middlebury.chart_curves(root)
    builds = {(cam, 3 - il): cs for (cam, il), cs in charts.items()}
    out = {}
    for name, opts in CANDIDATES.items():
        known = score_brackets(lambda b: _calibrate(b.jpegs, b.raw_ratios, opts), brackets)
        unknown = score_brackets(lambda b: _calibrate(b.jpegs, None, opts,
                                                      times_prior=bracket_times_prior.leave_out(builds, b.camera)),
                                 brackets)
        out[(name, "known")] = [r["mean"] for r in known["per_bracket"]]
        out[(name, "unknown")] = [r["mean"] for r in unknown["per_bracket"]]
        print(f"Middlebury {name}: known {np.mean(out[(name, 'known')]):.4f}, "
              f"unknown {np.mean(out[(name, 'unknown')]):.4f}", flush=True)
    return out


def main():
    import bracket_d7000
    import bracket_synth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--round", type=int, choices=sorted(ROUNDS), default=1)
    args = ap.parse_args()
    names = list(ROUNDS[args.round])
    CANDIDATES.update(ROUNDS[args.round])
    stem = "top_of_curve" if args.round == 1 else f"top_of_curve_round{args.round}"

    d7000_truth = [c.inverse() for c in bracket_d7000.d7000_forward_curves()]
    d7000 = rendered(({"images": im, "times": t} for _, _, t, im in bracket_d7000.cases(8)),
                     lambda case: d7000_truth)
    print("D7000:", {k: round(float(np.mean(v)), 4) for k, v in d7000.items()}, flush=True)
    synth = rendered(bracket_synth.synthetic_cases(n_images=2),
                     lambda case: [case["inverse_curve"]] * 3)
    print("synthetic:", {k: round(float(np.mean(v)), 4) for k, v in synth.items()}, flush=True)
    mb = middlebury()

    sets = [("D7000 (development), true times", d7000),
            ("synthetic DoRF-test (guard), true times", synth),
            ("Middlebury (test), known times", {k: v for (k, w), v in mb.items() if w == "known"}),
            ("Middlebury (test), unknown times", {k: v for (k, w), v in mb.items() if w == "unknown"})]
    lines = [f"# Top of the curve: {', '.join(names)} against the default", "",
             "Paired with the default in one run (`analysis/bracket_top_of_curve.py`; decision rule in "
             "docs/results/bracket-calibration.md, written before this ran). Rendered sets: inverse-CRF RMSE; "
             "Middlebury: relative linearisation error after the best 3x3 matrix on 8x8 block means. Lower is "
             "better; intervals: 95 % paired bootstrap over brackets of candidate minus default.", "",
             f"Generated by `python analysis/bracket_top_of_curve.py{'' if args.round == 1 else ' --round %d' % args.round}` "
             f"(crfkit {crfkit.__version__}).", "",
             "| set | brackets | default | " + " | ".join(f"{n} (minus default, 95 % CI)" for n in names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    summary = {}
    for label, res in sets:
        base = np.array(res["default"])
        cells = []
        summary[label] = {"default": float(np.mean(base))}
        for name in names:
            v = np.array(res[name])
            lo, hi = paired_bootstrap_interval(v - base)
            summary[label][name] = {"mean": float(np.mean(v)), "ci": [lo, hi]}
            cells.append(f"{np.mean(v):.4f} ({np.mean(v - base):+.4f}, {lo:+.4f} .. {hi:+.4f})")
        lines.append(f"| {label} | {len(base)} | {np.mean(base):.4f} | " + " | ".join(cells) + " |")
    synth_key, known_key, unknown_key = (s[0] for s in sets[1:])
    lines += ["", "Rule: (a) synthetic at most 1.05x the default's, (b) Middlebury known times at most the "
              "default's, (c) Middlebury unknown times at most the default's.", ""]
    passing = []
    for name in names:
        a = summary[synth_key][name]["mean"] <= 1.05 * summary[synth_key]["default"]
        b = summary[known_key][name]["mean"] <= summary[known_key]["default"]
        c = summary[unknown_key][name]["mean"] <= summary[unknown_key]["default"]
        lines.append(f"- {name}: (a) {'yes' if a else 'no'} "
                     f"({summary[synth_key][name]['mean'] / summary[synth_key]['default']:.2f}x), "
                     f"(b) {'yes' if b else 'no'}, (c) {'yes' if c else 'no'}.")
        if a and b and c:
            passing.append(name)
    pick = min(passing, key=lambda n: summary[known_key][n]["mean"]) if passing else None
    lines.append(f"- Outcome: {'adopt ' + pick if pick else 'no candidate passes; the default is unchanged'}.")
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / f"{stem}.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / f"{stem}.json", json.dumps(
        {"summary": summary, "rows": {label: res for label, res in sets}, "pick": pick}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
