"""Top of the curve, round 3: ``top_rule='combined'`` scored against the default, paired, in one run.

The candidate sets the scale (``g(1) = 1`` at the clipping level) from the mean, in log, of two
estimates of the clipping level: the straight extrapolation of the curve's top and the level
measured from the saturated samples.  It was found on the stability study's synthetic brackets of
one scene; the decision rule is in docs/results/bracket-calibration.md ("Top of the curve, round
3"), written before this script ran.  Scored, default and candidate alike:

- accuracy: the 60 synthetic DoRF-test brackets one stop apart and the 40 two stops apart (true
  times; inverse-CRF RMSE), the 20 Middlebury brackets (known times = RAW-measured ratios, and
  unknown times; relative linearisation error against the RAW), the 24 D7000 renderings;
- stability (largest pairwise RMSE over ``bracket_stability.variants``): Memorial Church, the 20
  Middlebury brackets, the 20 synthetic brackets of the stability study.

Writes analysis/results/bracket/top_combined.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_top_combined.py
"""

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
from crfkit.evaluation.real_camera import load_middlebury_brackets, score_bracket  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
CANDIDATES = {"default": {}, "combined": {"top_rule": "combined"}}


def calibrate(images, times, opts, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calibrate_bracket(images, times=times, bootstrap=0, **opts, **kw)


def synthetic(stop, n_exposures):
    import bracket_synth
    from bracket_synthetic import score

    out = {name: [] for name in CANDIDATES}
    for case in bracket_synth.synthetic_cases(n_images=2, n_exposures=n_exposures, stop=stop):
        for name, opts in CANDIDATES.items():
            out[name].append(score(calibrate(case["images"], case["times"], opts).inverse(), case["inverse_curve"]))
    return out


def d7000():
    from bracket_d7000 import cases, d7000_forward_curves
    from bracket_synthetic import score

    truth = [c.inverse() for c in d7000_forward_curves()]
    out = {name: [] for name in CANDIDATES}
    for _, _, times, images in cases(8):
        for name, opts in CANDIDATES.items():
            out[name].append(score(calibrate(images, times, opts).inverse(), truth))
    return out


def middlebury(known):
    out = {name: [] for name in CANDIDATES}
    for b in load_middlebury_brackets():
        for name, opts in CANDIDATES.items():
            cal = calibrate(list(b.jpegs), b.raw_ratios if known else None, opts)
            out[name].append(float(np.mean(score_bracket(cal.inverse(), b))))
    return out


def tools():
    import bracket_stability as bs

    return {name: (lambda im, t, n, m, opts=opts: bs.forward(calibrate(im, t, opts, n_samples=n).inverse()))
            for name, opts in CANDIDATES.items()}


def memorial_stability():
    import bracket_stability as bs

    images, times = bs.load_memorial()
    out = {}
    for name, fn in tools().items():
        curves, failed = bs.run_variants(fn, images, times)
        value, pair = bs.worst_pair(curves)
        out[name] = {"max_pairwise_rmse": value, "worst_pair": list(pair), "failed": failed}
    return out


def per_bracket_stability(rows):
    return {name: [r[name]["max_pairwise_rmse"] for r in rows] for name in CANDIDATES}


def main():
    import bracket_stability as bs

    accuracy = {
        "synthetic, 1 stop apart (60)": synthetic(1.0, (3, 5, 7)),
        "synthetic, 2 stops apart (40)": synthetic(2.0, (3, 5)),
        "Middlebury, known times (20)": middlebury(True),
        "Middlebury, unknown times (20)": middlebury(False),
        "D7000 renderings (24)": d7000(),
    }
    for k, v in accuracy.items():
        print(k, {n: round(float(np.mean(x)), 4) for n, x in v.items()}, flush=True)
    memorial = memorial_stability()
    print("Memorial", {n: round(v["max_pairwise_rmse"], 4) for n, v in memorial.items()}, flush=True)
    stability = {"Middlebury (20)": per_bracket_stability(bs.middlebury_stability(tools())),
                 "synthetic (20; includes the development brackets)":
                     per_bracket_stability(bs.synthetic_stability(tools()))}

    def row(label, values, factor=1.0):
        d, c = np.asarray(values["default"], float), np.asarray(values["combined"], float)
        lo, hi = paired_bootstrap_interval(c - d)
        holds = np.mean(c) <= factor * np.mean(d)
        return (f"| {label} | {np.mean(d):.4f} | {np.mean(c):.4f} | {np.mean(c - d):+.4f} ({lo:+.4f} .. {hi:+.4f}) "
                f"| {np.sum(c < d)} of {len(d)} |"), bool(holds)

    lines = ["# Top of the curve, round 3: `top_rule='combined'` against the default", "",
             "Paired with the default in one run (`analysis/bracket_top_combined.py`; decision rule in "
             "docs/results/bracket-calibration.md, written before this ran). Accuracy: inverse-CRF RMSE on the "
             "rendered sets, relative linearisation error against the RAW on Middlebury. Stability: largest "
             "pairwise RMSE of forward curves over the variants of `bracket_stability.py`. Lower is better; "
             "intervals: 95 % paired bootstrap over brackets of combined minus default.", "",
             f"Generated by `python analysis/bracket_top_combined.py` (crfkit {crfkit.__version__}).", "",
             "| set | default | combined | combined minus default (95 % CI) | combined lower on |",
             "|---|---|---|---|---|"]
    verdict = {}
    for label, values in accuracy.items():
        text, holds = row(label, values, 1.01 if label.startswith("Middlebury") else 1.0)
        lines.append(text)
        verdict[label] = holds
    lines.append(f"| stability, Memorial Church (1) | {memorial['default']['max_pairwise_rmse']:.4f} | "
                 f"{memorial['combined']['max_pairwise_rmse']:.4f} | "
                 f"{memorial['combined']['max_pairwise_rmse'] - memorial['default']['max_pairwise_rmse']:+.4f} | - |")
    verdict["stability, Memorial Church"] = (memorial["combined"]["max_pairwise_rmse"]
                                             <= memorial["default"]["max_pairwise_rmse"])
    for label, values in stability.items():
        text, holds = row(f"stability, {label}", values)
        lines.append(text)
        if label.startswith("Middlebury"):
            verdict[f"stability, {label}"] = holds
    rules = {"(a)": ["synthetic, 1 stop apart (60)"], "(b)": ["synthetic, 2 stops apart (40)"],
             "(c)": ["Middlebury, known times (20)", "Middlebury, unknown times (20)"],
             "(d)": ["D7000 renderings (24)"], "(e)": ["stability, Memorial Church", "stability, Middlebury (20)"]}
    lines += ["", "Rule: (a) synthetic 1 stop, (b) synthetic 2 stops, (d) D7000: mean at most the default's; (c) "
              "Middlebury known and unknown times: at most 1.01x the default's; (e) stability on Memorial Church and "
              "the mean over Middlebury: at most the default's. The synthetic stability is not part of the rule.", ""]
    for key, labels in rules.items():
        lines.append(f"- {key} " + "; ".join(f"{label}: {'holds' if verdict[label] else 'fails'}" for label in labels))
    passed = all(verdict[label] for labels in rules.values() for label in labels)
    lines += ["", f"Outcome: {'the candidate passes every part of the rule' if passed else 'the rule fails'}."]
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "top_combined.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "top_combined.json", json.dumps(
        {"accuracy": accuracy, "memorial": memorial, "stability": stability, "verdict": verdict, "passed": passed},
        indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
