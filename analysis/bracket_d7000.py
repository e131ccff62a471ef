"""Bracket calibration on an 11th camera: brackets rendered through the Nikon D7000's measured response.

The synthetic set of ``bracket_synthetic.py`` renders through DoRF test curves (mostly film and
early digital); the Middlebury brackets are the real cameras, and crfkit's default times prior was
built from their chart curves. This script checks a modern camera that neither holds: the NUS
in-camera model of a Nikon D7000 (Lin, Kim, Brown et al., TPAMI 2012;
``$CRFKIT_DATA/nus_incamera_model_nikon_d7000``) gives its JPEG response per channel, and brackets
of the HDR photographs in ``$CRFKIT_DATA/hdr_training`` are rendered through those three curves
with ``bracket_synth.render_bracket`` (noise drawn once per bracket, 8 bits, JPEG 90-100), 3, 5 and
7 exposures one stop apart. The model's colour matrix and gamut mapping are not applied (the
scenes are already linear RGB; the curves are what a calibration has to recover).

Score: inverse-CRF RMSE on the 1024 grid against the camera's curve of each channel, mean over R,
G, B (``g(1) = 1`` at clipping). Every method gets the true times unless marked; the peers run in
the same script on the same images (``bracket_peers``; a missing peer is listed as such).

Writes analysis/results/bracket/d7000.{md,json}.
Usage: CRFKIT_DATA=../shared/data python analysis/bracket_d7000.py [--images N]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import crfkit  # noqa: E402
from crfkit._io import atomic_write_text  # noqa: E402
from crfkit._stats import paired_bootstrap_interval  # noqa: E402

OUT = Path(__file__).parent / "results" / "bracket"
SEED = 7000

CRFKIT = {
    "crfkit default": {},
    "crfkit default, unknown times": {"times": None},
    "crfkit default, EMoR continuation above the top sample": {"top_rule": "model"},
    "crfkit PCA(dorf-train)-15 (the default before)": {"model": "pca", "k": 15},
    "crfkit default, clipping level above the top sample": {"top_rule": "clipping"},
    "crfkit EMoR-5": {"model": "emor", "k": 5},
    "crfkit Debevec": {"method": "debevec"},
    "crfkit Robertson": {"method": "robertson"},
    "crfkit Mitsunaga-Nayar": {"method": "mitsunaga-nayar"},
}


#: Highest JPEG level of the model's valid range (``raw2jpg_validRange.txt``: 5 252).
VALID_TOP = 252 / 255


def d7000_forward_curves():
    """The D7000's three forward curves (R, G, B) as crfkit Curves, over the model's valid range.

    The NUS table is fitted on levels 5 to 252; its last three levels are an extrapolation whose
    steps are three times those below (252 -> 255 spans 18 % of the irradiance range). A camera
    rendered through them would put a sixth of its highlights on levels 253 and 254, which every
    tool that distrusts near-clipped codes ignores, and the score (``g(1) = 1``) would measure
    that extrapolation. The measured part is used instead, stretched to the full code range:
    ``g'(z) = g(z * 252/255) / g(252/255)``.
    """
    from estimators_d7000 import d7000_inverse_curves

    curves = []
    for values, ch in zip(d7000_inverse_curves(), "RGB"):
        measured = np.interp(crfkit.GRID * VALID_TOP, crfkit.GRID, values)
        curves.append(crfkit.Curve(measured / measured[-1], kind="inverse", name=f"Nikon D7000 {ch}")
                      .as_kind("forward"))
    return curves


def cases(n_images, n_exposures=(3, 5, 7), size=(384, 512)):
    """Brackets of the first ``n_images`` default scenes through the D7000's curves."""
    import bracket_synth

    forward = d7000_forward_curves()
    for i, name in enumerate(bracket_synth.DEFAULT_IMAGES[:n_images]):
        scene = bracket_synth.load_scene(name, size)
        for n in n_exposures:
            rng = np.random.default_rng(np.random.SeedSequence([SEED, i, n]))
            times = bracket_synth.bracket_times(n, 1.0, rng)
            linear = bracket_synth.normalise_exposure(scene, float(np.sqrt(times[0] * times[-1])))
            yield name, n, times, bracket_synth.render_bracket(linear, forward, times, rng)


def main():
    import bracket_peers
    from bracket_synthetic import method_table, score_case, summarise

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8, help="how many of bracket_synth.DEFAULT_IMAGES (default 8)")
    args = ap.parse_args()
    truth = [c.inverse() for c in d7000_forward_curves()]
    peers = bracket_peers.available_peers()
    missing = {name: bracket_peers._missing_note(name) for name in bracket_peers.PEERS if name not in peers}
    rows, timing = [], {}
    for name, n, times, images in cases(args.images):
        rows.append({"image": name, "n": n, **score_case(images, times, truth, CRFKIT, peers, timing)})
        print(f"{name:>26s} n={n}  " + "  ".join(f"{m} {rows[-1][m]:.4f}" for m in list(CRFKIT)[:2] + list(peers)),
              flush=True)
    summary, best_peer = summarise(rows, list(CRFKIT) + list(peers), peers, timing)
    lines = ["# Bracket calibration on an 11th camera: the Nikon D7000's measured response", "",
             f"{len(rows)} brackets: {args.images} HDR scenes x 3/5/7 exposures one stop apart, rendered through the "
             "D7000's per-channel JPEG response (NUS in-camera model, Lin, Kim, Brown et al. 2012; its measured "
             "levels 0 to 252 stretched to the full range, as the model's last three levels are an extrapolation) "
             "with noise, 8 bits and JPEG 90-100 (`analysis/bracket_d7000.py`). The D7000 is in neither DoRF "
             "(crfkit's default basis) nor the Middlebury set (the default times prior). Score: inverse-CRF RMSE "
             "on the 1024 grid against each channel's curve, mean over R, G, B; every method gets the true times "
             "unless marked. Lower is better.", "",
             f"Generated by `python analysis/bracket_d7000.py --images {args.images}` (crfkit {crfkit.__version__}).",
             ""] + method_table(summary, best_peer, len(rows), seconds=False)
    if best_peer:
        lines.append("")
        for m in ("crfkit default", "crfkit default, unknown times"):
            d = np.array([r[m] - r[best_peer] for r in rows])
            ok = np.isfinite(d)
            lo, hi = paired_bootstrap_interval(d[ok])
            lines.append(f"- {m} minus the best peer ({best_peer}, true times): mean {np.mean(d[ok]):+.4f}, 95 % "
                         f"paired-bootstrap interval {lo:+.4f} .. {hi:+.4f} over {ok.sum()} brackets.")
    for name, note in missing.items():
        lines.append(f"- {name}: not run ({note}).")
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "d7000.md", "\n".join(lines) + "\n")
    atomic_write_text(OUT / "d7000.json", json.dumps({"summary": summary, "rows": rows, "missing": missing}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
