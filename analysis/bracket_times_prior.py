"""Build the modern-camera times prior shipped in crfkit (``crfkit/bracket/_modern_prior.py``).

With unknown exposure times a bracket cannot tell a curve ``g`` with ratios
``r`` from ``g^gamma`` with ratios ``r^gamma``; the ratios come from a prior on
the curve's shape (``calibrate_bracket(times_prior=...)``).  EMoR (DoRF: film
and early digital cameras) settles them badly on modern cameras (Middlebury:
2.43x OpenCV Debevec with the true ratios).  This script builds the default
prior from modern cameras instead: crfkit's chart calibration
(:mod:`crfkit.dcrf`) of the 10 Middlebury cameras' RAW+JPEG chart pairs, each
illumination separately (20 builds x R, G, B = 60 inverse curves), reduced to
the mean inverse curve and its 8 leading principal components (9 x 1024
numbers).  The times solver uses the mean and the first 3 (``TIMES_K``); the
'modern' curve model (``calibrate_bracket(model='pca', basis='modern')``) uses
up to all 8 (``analysis/bracket_modern_model.py`` measured it).  Only that
small derived basis is shipped, not the images.

Source and licence: the "modified Middlebury" chart pairs of
zyfccc/Representing-camera-response-function (Apache-2.0; see
``$CRFKIT_DATA/middlebury_chart_pairs/PROVENANCE.md``): Zhao, Ferguson, Zhou,
Rafferty, Signal, Image and Video Processing 2022, and Chakrabarti, Scharstein,
Zickler, BMVC 2009.  The Apache-2.0 licence allows redistributing derived data
with attribution, which the generated module carries.

Evaluations on the Middlebury brackets never use the shipped basis (it holds the
scored camera): they rebuild the same recipe without the scored camera
(:func:`leave_out`; ``analysis/bracket_middlebury.py``).

Usage: CRFKIT_DATA=../shared/data python analysis/bracket_times_prior.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import crfkit  # noqa: E402
from crfkit._io import atomic_write_text  # noqa: E402
from crfkit.bracket.calibrate import MODERN_BASIS_K, TIMES_K  # noqa: E402
from crfkit.models.pca import PCABasis  # noqa: E402

TARGET = Path(__file__).parent.parent / "crfkit" / "bracket" / "_modern_prior.py"
SOURCE = "Middlebury chart curves (10 cameras x 2 illuminations, crfkit.dcrf)"


def chart_builds(root=None):
    """{(camera, illumination): inverse CurveSet (R, G, B)} built from that illumination's chart pairs."""
    import bracket_middlebury
    from crfkit.evaluation.real_camera import _middlebury_root

    # bracket_middlebury.chart_curves keys each build by the illumination it is *scored* on (the other one).
    built = bracket_middlebury.chart_curves(_middlebury_root(root))
    return {(cam, 3 - il): cs for (cam, il), cs in built.items()}


def prior_curves(builds, exclude_camera=None):
    """The builds' inverse curves as one CurveSet (optionally without one camera): the times prior's input."""
    vals = [cs.as_kind("inverse").values for (cam, _), cs in sorted(builds.items()) if cam != exclude_camera]
    return crfkit.CurveSet(np.concatenate(vals), "inverse", name="modern cameras' chart curves"
                           + (f" without {exclude_camera}" if exclude_camera else ""))


def leave_out(builds, camera):
    """The times prior of the shipped recipe, built without ``camera`` (for scoring on that camera)."""
    return prior_curves(builds, exclude_camera=camera)


def main():
    builds = chart_builds()
    curves = prior_curves(builds)
    basis = PCABasis.from_curves(curves, n_components=max(MODERN_BASIS_K, TIMES_K), source=SOURCE)

    def arr(a, indent="    "):
        vals = [f"{v:.8g}" for v in a]
        rows = [", ".join(vals[i:i + 6]) for i in range(0, len(vals), 6)]
        return "[\n" + "".join(f"{indent}{r},\n" for r in rows) + indent[:-4] + "]"

    cams = sorted({cam for cam, _ in builds})
    text = ['"""Modern-camera curves: mean inverse CRF and %d principal components (generated, do not edit).'
            % len(basis.components), "",
            f"The times prior uses the mean and the first {TIMES_K} components; the 'modern' curve model up to all.",
            "",
            f"Derived by analysis/bracket_times_prior.py from crfkit's chart calibration of {len(builds)} Middlebury",
            f"brackets ({len(cams)} cameras, {len(curves)} inverse curves; the cameras are in CAMERAS).",
            "Source data: the modified Middlebury chart pairs of zyfccc/Representing-camera-response-function",
            "(Apache-2.0), from Chakrabarti, Scharstein, Zickler, BMVC 2009, and Zhao, Ferguson, Zhou, Rafferty,",
            "Signal, Image and Video Processing 2022.  Only this derived basis is included; it is distributed",
            "under the source's licence, Apache-2.0 (https://www.apache.org/licenses/LICENSE-2.0).",
            '"""', "",
            f"SOURCE = {SOURCE!r}",
            f"N_CURVES = {len(curves)}",
            "CAMERAS = (", *[f"    {c!r}," for c in cams], ")",
            f"EXPLAINED_VARIANCE_RATIO = {arr(basis.explained_variance_ratio)}",
            f"MEAN = {arr(basis.mean)}",
            "COMPONENTS = ["]
    text += [f"    {arr(c, '        ')}," for c in basis.components]
    text += ["]", ""]
    atomic_write_text(TARGET, "\n".join(text))
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes); explained variance {basis.explained_variance_ratio}")


if __name__ == "__main__":
    main()
