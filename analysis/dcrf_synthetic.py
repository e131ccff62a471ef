"""Synthetic round trips: charts rendered through known DoRF curves, then recovered.

1. A ColorChecker (colour-science reference values) rendered through each test
   curve over a 1/3-stop bracket of 13 exposures (+-2 stops), with Gaussian
   noise (sigma 0.004), 8-bit quantisation and JPEG compression (quality 90),
   then recovered with ``fit_crf`` (EMoR-6 and smooth), with the irradiance scale
   searched (the real situation) and known (isolates the shape error).  Two
   disjoint sets of 30 DoRF curves: set A (seed 2024, the set the method was
   developed on) and set B (seed 7, drawn from the other curves, checked after).
2. The full-photo path: ``HDRMark_small.hdr`` (a real HDR photograph with a
   chart) rendered through known curves at 9 exposures (1/2 stop), the chart
   detected in one rendered JPEG with colour-checker-detection, the HDR itself
   used as the linear reference of every JPEG (a RAW+JPEG pair), and the curve
   recovered.

Writes analysis/results/dcrf/synthetic_roundtrip.{json,md}.
Usage: CRFKIT_DATA=../shared/data python analysis/dcrf_synthetic.py [N_CURVES]
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import crfkit
from crfkit._io import atomic_write_text
from crfkit.calibration import ChartSamples, fit_crf, samples_from_pair, samples_from_reference
from crfkit.calibration.synthetic import camera_jpeg, render_chart
from crfkit.charts import colorchecker_reference, detect_chart

OUT = Path(__file__).parent / "results" / "dcrf"
BRACKET = 2.0 ** (np.arange(-6, 7) / 3.0)


def stats(v):
    v = np.asarray(v)
    return {"n": int(v.size), "median": float(np.median(v)), "mean": float(v.mean()),
            "p90": float(np.percentile(v, 90)), "max": float(v.max()), "frac_below_0.01": float(np.mean(v < 0.01))}


def bracket_samples(dorf, idx):
    """Yield ``(n, j, curve, samples)``: a ColorChecker bracket rendered through each curve ``dorf[j]``."""
    ref = colorchecker_reference()
    lin, lay = render_chart(ref)
    for n, j in enumerate(idx):
        f = dorf[int(j)]
        s = ChartSamples.concat([samples_from_reference(camera_jpeg(lin, f, e, seed=100 * n + i), lay, ref, e)
                                 for i, e in enumerate(BRACKET)], kind="bracket")
        yield n, int(j), f, s


def chart_round_trip(dorf, idx):
    rows = []
    for n, j, f, s in bracket_samples(dorf, idx):
        row = {"curve": dorf.names[int(j)]}
        for label, kw in [("emor6", dict(method="emor", k=6)), ("emor6_known_scale", dict(method="emor", k=6, scale=[1, 1, 1])),
                          ("smooth", dict(method="smooth", k=4))]:
            est = fit_crf(s, **kw)
            row[label] = float(np.mean([c.rmse(f) for c in est.curves]))
            if "scale" not in kw:
                row[label + "_scale_error"] = float(np.abs(est.scale - 1).max())
                # Width of the clipped/unclipped bracket (hi / lo), widest channel.
                row["bracket_ratio"] = float(np.nanmax(est.scale_bounds[:, 1] / est.scale_bounds[:, 0]))
        rows.append(row)
        print(f"{n + 1}/{len(idx)} {row['curve']}: emor6 {row['emor6']:.4f} known {row['emor6_known_scale']:.4f} "
              f"smooth {row['smooth']:.4f}", flush=True)
    return rows


def hdrmark_round_trip(dorf, idx):
    import cv2

    p = Path(os.environ["CRFKIT_DATA"]) / "hdr_radiance_colour_hdri_examples" / "HDRMark_small.hdr"
    hdr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if hdr is None:
        raise SystemExit(f"cannot read {p}")
    hdr = hdr[..., ::-1].astype(np.float64) / 40.0  # the chart's white at about 0.5 at exposure 1
    exposures = 2.0 ** (np.arange(-4, 5) / 2.0)
    rows = []
    for j in idx:
        f = dorf[int(j)] if j is not None else crfkit.Curve.srgb()
        name = dorf.names[int(j)] if j is not None else "sRGB"
        jpgs = [camera_jpeg(hdr, f, e, seed=i) for i, e in enumerate(exposures)]
        lay = detect_chart(jpgs[4], name=f"HDRMark rendered through {name}")
        parts = [samples_from_pair(jp, np.clip(hdr * e / exposures.max(), 0, 1), lay, name=name, linear_clip=1.1)
                 for jp, e in zip(jpgs, exposures)]
        s = ChartSamples.concat(parts)
        row = {"curve": name, "corners": np.round(lay.corners, 1).tolist()}
        for label, kw in [("emor6", dict(method="emor", k=6)), ("smooth", dict(method="smooth", k=4))]:
            est = fit_crf(s, **kw)
            row[label] = float(np.mean([c.rmse(f) for c in est.curves]))
        rows.append(row)
        print(f"HDRMark {name}: emor6 {row['emor6']:.4f} smooth {row['smooth']:.4f}", flush=True)
    return rows


def curve_sets(dorf, n):
    """Set A (seed 2024) and set B (seed 7, disjoint from A), n curves each."""
    a = np.sort(np.random.default_rng(2024).choice(len(dorf), n, replace=False))
    rest = np.setdiff1d(np.arange(len(dorf)), a)
    b = np.sort(np.random.default_rng(7).choice(rest, n, replace=False))
    return a, b


KEYS = ("emor6", "emor6_known_scale", "smooth", "smooth_scale_error", "bracket_ratio")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    t0 = time.time()
    dorf = crfkit.load_curves("dorf")
    idx_a, idx_b = curve_sets(dorf, n)
    chart_a = chart_round_trip(dorf, idx_a)
    chart_b = chart_round_trip(dorf, idx_b)
    hdr = hdrmark_round_trip(dorf, [None, *idx_a[:5]])
    res = {
        "setup": {"bracket": BRACKET.tolist(), "noise_sigma": 0.004, "jpeg_quality": 90,
                  "curves": "set A: random sample of DoRF (seed 2024); set B: disjoint sample of the rest (seed 7)",
                  "patches": "neutral row (fit_crf default)"},
        "chart": {"rows": chart_a, **{k: stats([r[k] for r in chart_a]) for k in KEYS}},
        "chart_set_b": {"rows": chart_b, **{k: stats([r[k] for r in chart_b]) for k in KEYS}},
        "hdrmark": {"rows": hdr, **{k: stats([r[k] for r in hdr]) for k in ("emor6", "smooth")}},
        "seconds": round(time.time() - t0, 1),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "synthetic_roundtrip.json", json.dumps(res, indent=1))
    lines = ["# Synthetic round trips (chart rendered through known DoRF curves, recovered)", "",
             f"Two disjoint sets of {n} DoRF curves (A: seed 2024; B: seed 7 from the rest); 13 exposures "
             "1/3 stop apart; noise 0.004; 8 bit; JPEG q90; neutral row. RMSE on the 1024 grid, mean over R, G, B. "
             "The issue's target is < 0.01 for every curve: NOT met with the scale searched.", ""]
    for key_set, title in [("chart", "Set A"), ("chart_set_b", "Set B")]:
        lines += [f"### {title}", "", "| fit | median | mean | p90 | max | fraction < 0.01 |", "|---|---|---|---|---|---|"]
        for key, label in [("emor6", "EMoR-6, scale searched"), ("smooth", "smooth, scale searched (EMoR-4)"),
                           ("emor6_known_scale", "EMoR-6, scale known")]:
            st = res[key_set][key]
            lines.append(f"| {label} | {st['median']:.4f} | {st['mean']:.4f} | {st['p90']:.4f} | {st['max']:.4f} | "
                         f"{st['frac_below_0.01']:.2f} |")
        br, se = res[key_set]["bracket_ratio"], res[key_set]["smooth_scale_error"]
        lines += ["", f"Scale bracket from clipped/unclipped samples, hi/lo: median {br['median']:.3f}, "
                  f"max {br['max']:.3f}; scale error (smooth, worst channel): median {se['median']:.3f}, "
                  f"p90 {se['p90']:.3f}, max {se['max']:.3f}.", ""]
    lines += ["", "## Full photograph: HDRMark_small.hdr", "",
              "Rendered at 9 exposures (1/2 stop), chart detected in the middle JPEG, the HDR as linear reference.", "",
              "| curve | EMoR-6 | smooth |", "|---|---|---|"]
    lines += [f"| {r['curve']} | {r['emor6']:.4f} | {r['smooth']:.4f} |" for r in hdr]
    atomic_write_text(OUT / "synthetic_roundtrip.md", "\n".join(lines) + "\n")
    print(f"wrote {OUT}/synthetic_roundtrip.md in {res['seconds']} s")


if __name__ == "__main__":
    main()
