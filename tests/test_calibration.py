"""Samples -> curves: synthetic round trips, the colour-aware fit, bad input."""

import numpy as np
import pytest

pytest.importorskip("colour", reason="needs crfkit[charts]")
pytest.importorskip("cv2", reason="needs crfkit[charts]")

import crfkit
from crfkit.calibration import (
    ChartSamples, fit_crf, fit_crf_colour, linearisation_error, samples_from_pair, samples_from_reference,
)
from crfkit.calibration.synthetic import camera_jpeg, render_chart
from crfkit.errors import FitError, ValidationError

#: A 1/3-stop bracket over +-2 stops around the chart's nominal exposure.
BRACKET = 2.0 ** (np.arange(-6, 7) / 3.0)


@pytest.fixture(scope="module")
def chart():
    from crfkit.charts import colorchecker_reference

    ref = colorchecker_reference()
    lin, lay = render_chart(ref)
    return ref, lin, lay


def bracket_samples(chart, curve, exposures=BRACKET):
    ref, lin, lay = chart
    parts = [samples_from_reference(camera_jpeg(lin, curve, e, seed=i), lay, ref, e) for i, e in enumerate(exposures)]
    return ChartSamples.concat(parts, kind="bracket")


@pytest.mark.realdata("emor.txt")
@pytest.mark.parametrize("gamma", [1.8, 2.4])
def test_round_trip_gamma_curves(chart, gamma):
    f = crfkit.Curve.gamma(gamma)
    est = fit_crf(bracket_samples(chart, f), method="emor", k=6)
    err = [c.rmse(f) for c in est.curves]
    assert max(err) < 0.01, err


@pytest.mark.realdata("dorfCurves.txt", "emor.txt", "invemor.txt")
def test_round_trip_dorf_curves_known_and_searched_scale(chart):
    """With the irradiance scale known the shape is recovered to < 0.005 for DoRF curves.  With the
    scale searched (within the clipped/unclipped bracket), the issue's 0.01 bound is NOT met in
    general: a shoulder near saturation hides where E = 1 is inside the bracket's gap, and 1 % of
    scale error costs 0.002-0.01 of RMSE.  The bound below is what holds; the analysis reports the
    distribution over two sets of 30 DoRF curves."""
    dorf = crfkit.load_curves("dorf")
    errs_known, errs = [], []
    for i in (0, 60, 120):
        f = dorf[i]
        s = bracket_samples(chart, f)
        errs_known.append(np.mean([c.rmse(f) for c in fit_crf(s, method="emor", k=6, scale=[1, 1, 1]).curves]))
        errs.append(np.mean([c.rmse(f) for c in fit_crf(s, method="emor", k=6).curves]))
    assert max(errs_known) < 0.005, errs_known
    assert max(errs) < 0.045, errs


@pytest.mark.realdata("emor.txt")
def test_smooth_method_and_scale_recovery(chart):
    f = crfkit.Curve.gamma(2.2)
    s = bracket_samples(chart, f)
    est = fit_crf(s, method="smooth", k=4)
    assert max(c.rmse(f) for c in est.curves) < 0.01
    assert np.allclose(est.scale, 1.0, atol=0.05)
    for c in est.curves:
        assert c.is_monotone() and c.values[0] == 0 and c.values[-1] == pytest.approx(1.0)


@pytest.mark.realdata("emor.txt")
def test_colour_aware_fit_recovers_matrix_and_curve():
    rng = np.random.default_rng(3)
    m_true = np.array([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]]) * 0.9
    f = crfkit.Curve.gamma(2.2)
    # Patches: a neutral row plus random colours, four exposures.
    base = np.vstack([rng.uniform(0.05, 0.7, (18, 3)), np.linspace(0.9, 0.03, 6)[:, None].repeat(3, 1)])
    raw = np.vstack([base * e for e in (0.25, 0.5, 1.0, 1.4)])
    e = raw @ m_true.T
    ok = np.all((e > 0.01) & (e < 1), axis=1)
    jpg = np.clip(f(np.clip(e, 0, 1)), 0, 1)
    s = ChartSamples(raw, jpg, np.repeat(ok[:, None], 3, 1).astype(float), np.repeat(np.arange(4), 24), "linear+jpeg",
                     patch=np.tile(np.arange(24), 4))
    est = fit_crf_colour(s, method="emor", k=6)
    assert np.all(est.rmse < 0.005), est.rmse
    lin = [c.inverse() for c in est.curves]
    assert linearisation_error(lin, jpg, raw, ok) < 0.01
    # The per-channel fit cannot undo the channel mixing.
    per = fit_crf(s, method="emor", k=6, patches="all")
    assert np.all(per.rmse > 2 * est.rmse)


def test_linearisation_error_is_scale_free_and_detects_a_wrong_curve():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.02, 0.8, (40, 3))
    f = crfkit.Curve.srgb()
    jpg = f(raw)
    right = linearisation_error([f.inverse()] * 3, jpg, raw * 7.0)
    wrong = linearisation_error([crfkit.Curve.gamma(1.0).inverse()] * 3, jpg, raw)
    assert right < 1e-3 and wrong > 0.05


def test_bad_samples(chart):
    ref, lin, lay = chart
    jpg = camera_jpeg(lin, crfkit.Curve.gamma(2.2), 1.0)
    with pytest.raises(ValidationError, match="a.jpg.*sizes differ"):
        samples_from_pair(jpg, lin[:-2], lay, name="a.jpg")
    with pytest.raises(ValidationError, match="exposure"):
        samples_from_reference(jpg, lay, ref, exposure=0.0, name="b.jpg")
    white = np.full_like(jpg, 255)
    s = samples_from_reference(white, lay, ref, 1.0)
    assert s.rejected["saturated (kept as f=1)"] > 0
    with pytest.raises(FitError, match="cam: all usable patches are clipped"):
        fit_crf(s, name="cam")
    one = samples_from_reference(jpg, lay, ref, 1.0)
    with pytest.raises(FitError, match="needs at least"):
        fit_crf(one, method="emor", k=10, name="cam")


def test_bracket_without_exposure_times_names_the_file(tmp_path, chart):
    from crfkit.calibration import samples_from_bracket_files
    from crfkit.io.images import write_image

    ref, lin, lay = chart
    p = tmp_path / "noexif.png"
    write_image(p, camera_jpeg(lin, crfkit.Curve.gamma(2.2), 1.0))
    with pytest.raises(ValidationError, match="noexif.png: no exposure time"):
        samples_from_bracket_files([(p, None)], lay)


@pytest.mark.realdata("emor.txt", "invemor.txt")
def test_inverse_colour_fit_linearises_mixed_channels():
    """Fitted on the linearisation criterion, the inverse curves undo curve + channel mixing."""
    from crfkit.calibration import fit_inverse_colour

    rng = np.random.default_rng(5)
    m_true = np.array([[1.5, -0.3, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.4, 1.4]]) * 0.8
    f = crfkit.Curve.srgb()
    base = np.vstack([rng.uniform(0.05, 0.7, (18, 3)), np.linspace(0.9, 0.03, 6)[:, None].repeat(3, 1)])
    raw = np.vstack([base * e for e in (0.3, 0.6, 1.0)])
    e = raw @ m_true.T
    ok = np.all((e > 0.01) & (e < 1), axis=1)
    jpg = np.clip(f(np.clip(e, 0, 1)), 0, 1)
    s = ChartSamples(raw, jpg, np.repeat(ok[:, None], 3, 1).astype(float), np.repeat(np.arange(3), 24), "linear+jpeg",
                     patch=np.tile(np.arange(24), 3))
    est = fit_inverse_colour(s, k=4)
    assert linearisation_error([c.inverse() for c in est.curves], jpg, raw, ok) < 0.01
    # Only the linearisation is the target: where E = 1 lies is fixed by g(1) = 1 alone.
    assert all(c.is_monotone() for c in est.curves)
    with pytest.raises(FitError, match="needs"):
        fit_inverse_colour(ChartSamples(raw[:10], jpg[:10], np.ones((10, 3)), np.zeros(10, int), "linear+jpeg"), k=4)


def test_identifiability_recovery_with_assumed_onsets_known_answers():
    """f(E) = E clips at E_c = 254.5/255: assuming that onset recovers it exactly; assuming
    E_hat = 1 stretches it to f_hat(E) = E * E_c, whose RMSE is (1 - E_c) * rms(E) on the grid."""
    from crfkit.calibration.identifiability import CLIP_LEVEL, clipping_onset, onset_rmse, rescaled_curve
    from crfkit.curves import GRID

    lin = GRID.copy()
    assert clipping_onset(lin) == pytest.approx(CLIP_LEVEL, abs=1e-12)
    assert np.allclose(rescaled_curve(lin, CLIP_LEVEL), lin, atol=1e-12)
    assert np.allclose(rescaled_curve(lin, 1.0), GRID * CLIP_LEVEL, atol=1e-12)
    plateau = np.minimum(GRID / 0.9, 1.0)  # clips at 0.9 * CLIP_LEVEL
    r = onset_rmse(np.vstack([lin, plateau]), [CLIP_LEVEL, 1.0])
    assert r[0, 0] < 1e-12
    assert r[0, 1] == pytest.approx((1 - CLIP_LEVEL) * np.sqrt(np.mean(GRID ** 2)), rel=1e-9)
    assert r[1, 0] > 0.02 and clipping_onset(np.vstack([lin, plateau]))[1] == pytest.approx(0.9 * CLIP_LEVEL)
    with pytest.raises(ValidationError):
        rescaled_curve(lin, 1.5)
    with pytest.raises(ValidationError):
        clipping_onset(GRID * 0.5)
