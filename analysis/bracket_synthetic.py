"""Bracket calibration on synthetic brackets with known curves: crfkit against the peer tools.

Brackets are rendered (``bracket_synth``) from real HDR photographs through the
10 DoRF test curves of Liu et al.'s split (noise, 8 bits, JPEG quality 90-100),
with 3, 5 and 7 exposures one stop apart (``--stop 2``: 3 and 5 exposures two stops apart, the
common -2/0/+2 EV auto-bracket).  Every method gets the same images
and the true times; crfkit also runs with unknown times.  Score: RMSE of the
recovered inverse CRF against the true one on the 1024 grid, mean over R, G, B
(all curves normalised to g(1) = 1 at the clipping level).

crfkit's default model is a degree-6 monotone polynomial (no curve data); the
default before it, a PCA basis of the 191 DoRF *training* curves (no test curve
seen), and EMoR (learned from all of DoRF, the 10 test curves included) are
reported beside it.  Peers run in this script: OpenCV Debevec and
Robertson, pfstools' Robertson and Mitsunaga-Nayar (Debian ``pfstools``) and
colour-hdri's Debevec 1997 (``pip install colour-hdri``), when installed (see
``analysis/README_peers.md``); a peer that is missing is listed as such.

Writes analysis/results/bracket/synthetic.{md,json} (``--stop 2``: synthetic_stop2.{md,json}).
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_synthetic.py [--images N] [--stop 2]
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

OUT = Path(__file__).parent / "results" / "bracket"

CRFKIT = {
    "crfkit default": {},
    "crfkit default without colour mixing (the default before)": {"mixing": False},
    "crfkit default, prior weight 0.003 (the default before)": {"prior": 0.003},
    "crfkit default, unknown times": {"times": None},
    "crfkit default, unknown times, EMoR times prior": {"times": None, "times_prior": "emor"},
    "crfkit PCA(dorf-train)-15 (the default before)": {"model": "pca", "k": 15},
    "crfkit EMoR-15 (test curves in its basis)": {"model": "emor", "k": 15},
    "crfkit EMoR-5": {"model": "emor", "k": 5},
    "crfkit Debevec": {"method": "debevec"},
    "crfkit Robertson": {"method": "robertson"},
    "crfkit Mitsunaga-Nayar": {"method": "mitsunaga-nayar"},
}


def score(inverse, truth):
    """Inverse-CRF RMSE, mean over R, G, B; ``truth``: one inverse Curve, or one per channel."""
    truth = truth if isinstance(truth, (list, tuple)) else [truth] * 3
    return float(np.mean([inverse[c].rmse(truth[c]) for c in range(3)]))


def score_case(images, times, truth, methods, peers, timing):
    """One bracket through every crfkit method (name -> calibrate_bracket options; ``times: None``
    marks unknown times) and every peer: name -> score (NaN and ``name + ' error'`` on failure)."""
    import bracket_peers

    row = {}
    for name, opts in methods.items():
        opts = dict(opts)
        given = times if opts.pop("times", 0) is not None else None
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                row[name] = score(calibrate_bracket(images, times=given, bootstrap=0, **opts).inverse(), truth)
            except crfkit.CrfkitError as exc:
                row[name], row[name + " error"] = float("nan"), str(exc)
        timing.setdefault(name, []).append(time.perf_counter() - t0)
    for name, fn in peers.items():
        t0 = time.perf_counter()
        try:
            row[name] = score(fn(images, times), truth)
        except bracket_peers.PeerFailed as exc:
            row[name], row[name + " error"] = float("nan"), str(exc)
        timing.setdefault(name, []).append(time.perf_counter() - t0)
    return row


def summarise(rows, methods, peers, timing):
    """Per method: mean, median, failures, means by bracket size, seconds; and the best peer (or None)."""
    summary = {}
    sizes = sorted({r["n"] for r in rows})
    for m in methods:
        v = np.array([r[m] for r in rows])
        summary[m] = {"mean": float(np.nanmean(v)), "median": float(np.nanmedian(v)), "failed": int(np.isnan(v).sum()),
                      "by_n": {str(n): float(np.nanmean([r[m] for r in rows if r["n"] == n])) for n in sizes},
                      "seconds": float(np.mean(timing[m]))}
    peer_means = {m: summary[m]["mean"] for m in peers if summary[m]["failed"] < len(rows)}
    best_peer = min(peer_means, key=peer_means.get) if peer_means else None
    return summary, best_peer


def method_table(summary, best_peer, n_rows, seconds=True):
    """The markdown table of :func:`summarise`'s figures (a seconds column when ``seconds``)."""
    sizes = list(next(iter(summary.values()))["by_n"]) if summary else []
    lines = ["| method | mean RMSE | median | " + " | ".join(f"{n} exp." for n in sizes) + " | ratio to best peer | "
             "failed |" + (" s per bracket |" if seconds else ""),
             "|---|---|---|" + "---|" * len(sizes) + "---|---|" + ("---|" if seconds else "")]
    for m, s in summary.items():
        ratio = s["mean"] / summary[best_peer]["mean"] if best_peer else float("nan")
        lines.append(f"| {m} | {s['mean']:.4f} | {s['median']:.4f} | "
                     + " | ".join(f"{s['by_n'][n]:.4f}" for n in sizes)
                     + f" | {ratio:.2f} | {s['failed']}/{n_rows} |" + (f" {s['seconds']:.2f} |" if seconds else ""))
    return lines


def main():
    import bracket_peers
    import bracket_synth

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--stop", type=float, default=1.0, choices=(1.0, 2.0),
                    help="exposure spacing in stops (2: 3 and 5 exposures)")
    args = ap.parse_args()
    sizes = (3, 5, 7) if args.stop == 1 else (3, 5)
    stem = "synthetic" if args.stop == 1 else "synthetic_stop2"
    peers = bracket_peers.available_peers()
    missing = {name: bracket_peers._missing_note(name) for name in bracket_peers.PEERS if name not in peers}
    rows = []
    timing = {}
    for case in bracket_synth.synthetic_cases(n_images=args.images, n_exposures=sizes, stop=args.stop):
        row = {"image": case["image_name"], "curve": case["curve_name"], "n": case["n_exposures"]}
        row.update(score_case(case["images"], case["times"], case["inverse_curve"], CRFKIT, peers, timing))
        rows.append(row)
        print(f"{row['image']:>26s} {row['curve'][:24]:24s} n={row['n']}  default {row['crfkit default']:.4f}  "
              + "  ".join(f"{k.split(' ')[0]} {row[k]:.4f}" for k in peers), flush=True)
    methods = list(CRFKIT) + list(peers)
    summary, best_peer = summarise(rows, methods, peers, timing)
    lines = ["# Bracket calibration on synthetic brackets with known curves"
             + ("" if args.stop == 1 else ", two stops apart"), "",
             f"{len(rows)} brackets: the 10 DoRF test curves x {args.images} HDR scenes x "
             f"{'/'.join(map(str, sizes))} exposures {args.stop:g} stop{'s' if args.stop != 1 else ''} "
             "apart, noise, 8 bits, JPEG 90-100 (`analysis/bracket_synth.py`). Score: inverse-CRF RMSE on the 1024 "
             "grid (mean over R, G, B); every method gets the true times unless marked. Lower is better.", "",
             f"Generated by `python analysis/bracket_synthetic.py --images {args.images}"
             f"{' --stop 2' if args.stop != 1 else ''}` (crfkit {crfkit.__version__}).",
             ""] + method_table(summary, best_peer, len(rows))
    if best_peer:
        d = np.array([r["crfkit default"] - r[best_peer] for r in rows])
        ok = np.isfinite(d)
        lo, hi = paired_bootstrap_interval(d[ok])
        lines += ["", f"Best peer: {best_peer} (mean {summary[best_peer]['mean']:.4f}). crfkit default minus it: mean "
                  f"{np.mean(d[ok]):+.4f}, 95% paired-bootstrap interval {lo:+.4f} .. {hi:+.4f} over {ok.sum()} brackets."]
        d = np.array([r["crfkit default, unknown times"] - r[best_peer] for r in rows])
        ok = np.isfinite(d)
        lo, hi = paired_bootstrap_interval(d[ok])
        lines += [f"crfkit default with unknown times minus the best peer with the true times: mean {np.mean(d[ok]):+.4f}, "
                  f"95% paired-bootstrap interval {lo:+.4f} .. {hi:+.4f}."]
    for name, note in missing.items():
        lines.append(f"- {name}: not run ({note}).")
    lines += ["- Unknown times: ratios estimated with the times prior, then the default curve fitted at those "
              "ratios. A bracket alone cannot separate a curve g with ratios r from g^gamma with r^gamma; curves "
              "far from the prior's typical shape get wrong ratios. The default times prior ('modern') is the mean "
              "and 3 components of 10 Middlebury cameras' chart curves (`analysis/bracket_times_prior.py`; none of "
              "the DoRF curves rendered here); the EMoR-3 prior (`times_prior='emor'`, from all of DoRF, test "
              "curves included) was the default before."]
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / f"{stem}.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / f"{stem}.json", json.dumps({"summary": summary, "rows": rows, "missing": missing},
                                                         indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
