"""How far the irradiance scale is identifiable from 8-bit data, with ideal observations.

For each of the 201 DoRF curves the observation is idealised: the curve's shape
known exactly up to its unknown irradiance scale, seen through 8-bit clipping
(everything up to the onset E_c where f first reaches 254.5/255; above it the
camera writes 255).  A scale rule places the onset at E_hat and the curve is
recovered as f(E * E_c / E_hat) (crfkit.calibration.identifiability).  The rule's
parameter is always chosen WITHOUT the scored curve:

* fixed onset (one E_hat for every curve): chosen leave-one-film-out (the R, G,
  B curves of one film or camera setting are left out together, since they are
  near-duplicates), to maximise the number of curves under 0.01 (ties: lowest
  mean RMSE) or to minimise the worst RMSE; the in-sample optimum over all 201
  curves is reported as the most any fixed onset can achieve;
* shape-aware (E_hat = median onset of the k nearest curves in observed shape,
  u -> f(u E_c), max-abs distance), leave-one-film-out;
* the test sets of analysis/dcrf_synthetic.py (set A: seed 2024, set B: seed 7):
  the smallest worst case any fixed onset achieves on the set itself (in-sample,
  a lower bound) and with the onset chosen on the curves outside the set.

Also: whether two curves with equal observed shapes (to within a few 8-bit codes)
need incompatible onsets, which would make 0.01 unreachable for any rule.

Writes analysis/results/dcrf/identifiability.{json,md}.
Usage: CRFKIT_DATA=../shared/data python analysis/dcrf_identifiability.py
"""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np

import crfkit
from crfkit._io import atomic_write_text
from crfkit.calibration.identifiability import CLIP_LEVEL, clipping_onset, onset_rmse
from crfkit.curves import GRID

sys.path.insert(0, str(Path(__file__).parent))
from dcrf_synthetic import curve_sets, stats  # noqa: E402  (the same test sets)

OUT = Path(__file__).parent / "results" / "dcrf"
BOUND = 0.01
CANDIDATES = np.round(np.arange(0.85, 1.0 + 1e-9, 0.0005), 6)


def film(name):
    """Group key: the curve's name without its channel (…Red/Green/Blue, …R1/G1/B1, …ZR)."""
    name = re.sub(r"(Red|Green|Blue)$", "", name)
    return re.sub(r"([RGB])(\d*)$", r"_\2", name)


def best_fixed(r, objective):
    """Index of the candidate onset best for the curves in ``r`` (rows) under ``objective``."""
    if objective == "most_pass":
        return int(np.lexsort((r.mean(0), -(r < BOUND).sum(0)))[0])
    return int(np.argmin(r.max(0)))


def main():
    t0 = time.time()
    dorf = crfkit.load_curves("dorf")
    f = np.array([c.values for c in dorf])
    n = len(f)
    names = list(dorf.names)
    groups = np.array([film(x) for x in names])
    same = groups[:, None] == groups[None, :]
    ec = clipping_onset(f)
    r = onset_rmse(f, CANDIDATES)
    oracle = np.array([onset_rmse(f[i], [ec[i]])[0, 0] for i in range(n)])
    ok = r < BOUND
    lo = np.array([CANDIDATES[o].min() for o in ok])
    hi = np.array([CANDIDATES[o].max() for o in ok])
    contiguous = all(o.sum() == np.ptp(np.flatnonzero(o)) + 1 for o in ok)

    res = {"setup": {"clip_level": CLIP_LEVEL, "bound": BOUND, "candidates": [CANDIDATES[0], CANDIDATES[-1], 0.0005],
                     "n_curves": n, "n_films": int(len(set(groups))),
                     "recovery": "f_hat(E) = f(E E_c / E_hat) for E <= E_hat, straight fill to 1 above"},
           "onset": stats(ec) | {"min": float(ec.min()), "p5": float(np.percentile(ec, 5))},
           "oracle": stats(oracle),
           "pass_interval": {"every_curve_has_one": bool(ok.any(1).all()), "contiguous": bool(contiguous),
                             "relative_width": stats((hi - lo) / ec) | {"min": float(((hi - lo) / ec).min())},
                             "common_to_all": bool(lo.max() <= hi.min())}}

    # In-sample optimum of a fixed onset: the most any single E_hat can do on DoRF.
    k_pass, k_mm = best_fixed(r, "most_pass"), best_fixed(r, "minimax")
    res["fixed_in_sample"] = {
        "most_pass": {"onset": float(CANDIDATES[k_pass]), **stats(r[:, k_pass]),
                      "failing": [names[i] for i in np.flatnonzero(~ok[:, k_pass])]},
        "minimax": {"onset": float(CANDIDATES[k_mm]), **stats(r[:, k_mm])}}

    # Leave-one-film-out choices of the fixed onset, and the shape-aware rule.
    u = np.linspace(0.0, 1.0, 257)
    shape = np.array([np.interp(u * ec[i], GRID, f[i]) for i in range(n)])
    dist = np.abs(shape[:, None, :] - shape[None, :, :]).max(-1)
    loo = {"fixed_most_pass": [], "fixed_minimax": [], "knn1": [], "knn3": [], "knn5": []}
    chosen = {"fixed_most_pass": [], "fixed_minimax": []}
    for i in range(n):
        keep = ~same[i]
        for key, obj in (("fixed_most_pass", "most_pass"), ("fixed_minimax", "minimax")):
            k = best_fixed(r[keep], obj)
            chosen[key].append(CANDIDATES[k])
            loo[key].append(r[i, k])
        order = np.argsort(np.where(keep, dist[i], np.inf))
        for kn in (1, 3, 5):
            loo[f"knn{kn}"].append(onset_rmse(f[i], [np.median(ec[order[:kn]])])[0, 0])
    res["leave_one_film_out"] = {
        key: {**stats(v), "failing": [names[i] for i in np.flatnonzero(np.asarray(v) >= BOUND)],
              **({"onsets_chosen": [float(min(chosen[key])), float(max(chosen[key]))]} if key in chosen else {})}
        for key, v in loo.items()}

    # Pairs that look alike but need incompatible onsets would defeat every rule.
    disjoint = (lo[:, None] > hi[None, :]) | (lo[None, :] > hi[:, None])
    res["conflicts"] = {"min_shape_distance_codes_between_incompatible_pairs": float(dist[disjoint].min() * 255),
                        **{f"pairs_within_{t}_codes": int(((dist < t / 255) & disjoint).sum() // 2) for t in (0.5, 1, 2, 8)}}

    # The 30-curve test sets of analysis/dcrf_synthetic.py.
    sets = {}
    for label, idx in zip(("A", "B"), curve_sets(dorf, 30)):
        inside = np.zeros(n, bool)
        inside[idx] = True
        outside = ~np.isin(groups, groups[idx])          # no film of the set
        k_in, k_out = best_fixed(r[idx], "minimax"), best_fixed(r[outside], "minimax")
        k_out_pass = best_fixed(r[outside], "most_pass")
        sets[label] = {"in_sample_minimax": {"onset": float(CANDIDATES[k_in]), "worst": float(r[idx, k_in].max())},
                       "chosen_outside_minimax": {"onset": float(CANDIDATES[k_out]), "n_outside": int(outside.sum()),
                                                  **stats(r[idx, k_out])},
                       "chosen_outside_most_pass": {"onset": float(CANDIDATES[k_out_pass]), **stats(r[idx, k_out_pass])},
                       "knn3_loo": stats(np.asarray(loo["knn3"])[idx])}
    res["test_sets"] = sets
    res["seconds"] = round(time.time() - t0, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "identifiability.json", json.dumps(res, indent=1))
    atomic_write_text(OUT / "identifiability.md", markdown(res))
    print(markdown(res))


def markdown(res):
    fi, lf, cf, ts = res["fixed_in_sample"], res["leave_one_film_out"], res["conflicts"], res["test_sets"]
    pi = res["pass_interval"]
    row = lambda label, s: (f"| {label} | {s['median']:.4f} | {s['p90']:.4f} | {s['max']:.4f} | "
                            f"{s['frac_below_0.01']:.3f} | {round((1 - s['frac_below_0.01']) * s['n'])} |")
    lines = [
        "# Identifiability of the irradiance scale (ideal 8-bit observations of DoRF)", "",
        f"Each of the {res['setup']['n_curves']} DoRF curves is observed ideally: its shape exactly, up to an "
        "unknown irradiance scale, and only up to the clipping onset E_c (first f >= 254.5/255). A scale rule "
        "places the onset at E_hat; the curve is recovered as f(E E_c / E_hat) (straight fill to 1 above). "
        "RMSE on the 1024 grid. Rules are chosen without the scored curve (leave-one-film-out: "
        f"{res['setup']['n_films']} films/settings).", "",
        f"Onsets E_c: min {res['onset']['min']:.3f}, 5th pct {res['onset']['p5']:.3f}, median {res['onset']['median']:.3f}. "
        f"Oracle (E_hat = E_c, scale known): max RMSE {res['oracle']['max']:.1e} (the fill above the onset only).", "",
        f"Every curve has an interval of E_hat meeting 0.01 (contiguous: {pi['contiguous']}); its width relative to "
        f"E_c is median {pi['relative_width']['median'] * 100:.1f} %, min {pi['relative_width']['min'] * 100:.1f} %. "
        f"One E_hat common to all curves: {'exists' if pi['common_to_all'] else 'does NOT exist'}.", "",
        "| rule (parameter chosen without the curve) | median | p90 | max | fraction < 0.01 | curves >= 0.01 |",
        "|---|---|---|---|---|---|",
        row(f"fixed onset, in-sample best count (E_hat={fi['most_pass']['onset']:.4f}; upper bound for fixed rules)",
            fi["most_pass"]),
        row(f"fixed onset, in-sample minimax (E_hat={fi['minimax']['onset']:.4f})", fi["minimax"]),
        row("fixed onset, leave-one-film-out, most under 0.01", lf["fixed_most_pass"]),
        row("fixed onset, leave-one-film-out, minimax", lf["fixed_minimax"]),
        row("shape-aware: onset of the nearest film (1-NN)", lf["knn1"]),
        row("shape-aware: median onset of 3 nearest", lf["knn3"]),
        row("shape-aware: median onset of 5 nearest", lf["knn5"]),
        "| oracle (scale known) | 0 | 0 | "
        f"{res['oracle']['max']:.1e} | 1.000 | 0 |", "",
        "Fixed onset: no single E_hat meets 0.01 for every DoRF curve; the best one leaves "
        f"{len(fi['most_pass']['failing'])} curves above it ({', '.join(fi['most_pass']['failing'])}).",
        f"Shape-aware (3-NN) failures: {', '.join(lf['knn3']['failing']) or 'none'}.", "",
        "Can any rule do it? Two curves whose observed shapes are equal would get the same E_hat from any rule; "
        "if their pass intervals are disjoint one of them must fail. Pairs with disjoint intervals differ in "
        f"observed shape by at least {cf['min_shape_distance_codes_between_incompatible_pairs']:.0f} codes "
        f"(pairs within 8 codes: {cf['pairs_within_8_codes']}). So with ideal data the limit is NOT a proof "
        "of non-identifiability: the observed shape carries information the fixed onset ignores, and the "
        "best held-out shape-aware rule tried here still misses a few curves. Real chart data do not "
        "give the ideal observation: the clipping point itself is bracketed only between the brightest "
        "unclipped and dimmest clipped sample (1/3 stop with the synthetic bracket), and the shape near "
        "the top is extrapolated by the curve model.", "",
        "## The 30-curve test sets of analysis/dcrf_synthetic.py", "",
        "| set | smallest worst case of any fixed onset (in-sample) | worst / fraction < 0.01, onset chosen on "
        "other films (minimax) | same, most under 0.01 | 3-NN shape rule worst / fraction |",
        "|---|---|---|---|---|"]
    for k, s in ts.items():
        lines.append(
            f"| {k} | {s['in_sample_minimax']['worst']:.4f} (E_hat={s['in_sample_minimax']['onset']:.4f}) | "
            f"{s['chosen_outside_minimax']['max']:.4f} / {s['chosen_outside_minimax']['frac_below_0.01']:.2f} "
            f"(E_hat={s['chosen_outside_minimax']['onset']:.4f}) | "
            f"{s['chosen_outside_most_pass']['max']:.4f} / {s['chosen_outside_most_pass']['frac_below_0.01']:.2f} "
            f"(E_hat={s['chosen_outside_most_pass']['onset']:.4f}) | "
            f"{s['knn3_loo']['max']:.4f} / {s['knn3_loo']['frac_below_0.01']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
