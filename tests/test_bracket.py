"""Exposure-bracket calibration and HDR merging (crfkit.bracket) on synthetic brackets.

Every synthetic bracket is rendered here from a known radiance image and a known
camera curve, so the recovered inverse curves, exposure ratios and merged HDR
images can be compared with the truth.  The tolerances were measured (over four
scene seeds and two curves) and then set with a margin; the measured worst case
is given next to each.  Data-free tests pick models that need no data files
(polynomial, gamma, GGCM; Debevec, Robertson, Mitsunaga-Nayar) and, for unknown
exposure times, a synthetic ``times_prior``; the default model (PCA of the DoRF
training curves) and the default times prior (EMoR) are tested under
``@pytest.mark.realdata``, as are the real brackets (frobisher, Memorial).
"""

import functools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crfkit
from crfkit import GRID, Curve, CurveSet
from crfkit.bracket import (
    SOLVERS,
    Bracket,
    BracketCalibration,
    BracketSolver,
    get_solver,
    merge_bracket,
    read_bracket,
    register_solver,
    sample_bracket,
)
from crfkit.bracket.solvers import SolverResult
from crfkit.errors import (
    CrfkitError,
    DataNotFoundError,
    FitError,
    ParseError,
    UnknownNameError,
    ValidationError,
)
from crfkit.io.images import write_image

try:  # the lead exports them lazily from crfkit itself
    from crfkit import calibrate_bracket
except ImportError:  # pragma: no cover - before the export exists
    from crfkit.bracket import calibrate_bracket

from conftest import require_real_data

H, W = 96, 128
#: Five exposures one stop apart.
TIMES = (1.0, 2.0, 4.0, 8.0, 16.0)
CURVES = {"srgb": Curve.srgb(), "gamma2.2": Curve.gamma(2.2)}
#: A synthetic "times prior": gamma curves 1.8 .. 2.6, standing in for EMoR where no data is needed.
GAMMA_PRIOR = CurveSet(np.stack([Curve.gamma(g).values for g in np.linspace(1.8, 2.6, 9)]), "forward",
                       name="gammas")


# ----------------------------------------------------------------------------- synthetic brackets
def scene(h=H, w=W, stops=6, seed=0, peak=0.9):
    """Linear radiance (h, w, 3): a horizontal gradient over ``stops`` stops times a smooth
    random texture (0.5 .. 1, bilinear over 16-pixel cells, independent per channel).

    Scaled so that the brightest pixel is ``peak`` (times 1 keeps everything unclipped).
    """
    rng = np.random.default_rng(seed)
    cell = 16
    coarse = rng.uniform(0.5, 1.0, size=(h // cell + 2, w // cell + 2, 3))
    yi, xi = np.arange(h) / cell, np.arange(w) / cell
    y0, x0 = yi.astype(int), xi.astype(int)
    fy, fx = (yi - y0)[:, None, None], (xi - x0)[None, :, None]
    tex = (coarse[y0][:, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1][:, x0] * fy * (1 - fx)
           + coarse[y0][:, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1][:, x0 + 1] * fy * fx)
    grad = 2.0 ** (stops * (np.linspace(0.0, 1.0, w) - 1.0))
    radiance = grad[None, :, None] * tex
    return radiance / radiance.max() * peak


def render(radiance, curve, times=TIMES, bits=8):
    """The bracket a camera with forward ``curve`` takes: f(clip(E t)), quantised."""
    top = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return [np.round(np.interp(np.clip(radiance * t, 0, 1), GRID, curve.values) * top).astype(dtype)
            for t in times]


@functools.lru_cache(maxsize=None)
def _bracket(curve_name, seed, times, bits):
    return tuple(render(scene(seed=seed), CURVES[curve_name], times, bits))


def bracket(curve_name="srgb", seed=0, times=TIMES, bits=8):
    """A (cached) synthetic bracket as a fresh list of arrays."""
    return [im.copy() for im in _bracket(curve_name, seed, tuple(times), bits)]


def assert_valid_calibration(cal, n_images):
    assert isinstance(cal, BracketCalibration)
    v = cal.curves.values
    assert v.shape == (3, GRID.size) and cal.curves.kind == "forward"
    assert np.all(np.isfinite(v)) and np.all(np.diff(v, axis=1) >= -1e-9)
    assert cal.times.shape == (n_images,) and np.all(np.isfinite(cal.times)) and np.all(cal.times > 0)
    assert cal.rmse.shape == (3,)
    inv = cal.inverse()
    assert inv.kind == "inverse" and np.all(np.isfinite(inv.values))


def step_errors(times):
    """Relative error of each consecutive exposure ratio against one stop (2x)."""
    t = np.sort(np.asarray(times, float))
    return np.abs(t[1:] / t[:-1] / 2.0 - 1.0)


# ----------------------------------------------------------------------------- the registry
def test_solver_registry():
    assert {"model", "debevec", "robertson", "mitsunaga-nayar"} <= set(SOLVERS)
    for name in ("model", "debevec", "robertson", "mitsunaga-nayar"):
        solver = get_solver(name)
        assert isinstance(solver, BracketSolver) and solver.name == name
    assert get_solver("mn").name == "mitsunaga-nayar"  # aliases
    assert get_solver("Mitsunaga_Nayar").name == "mitsunaga-nayar"
    assert get_solver("self-calibration").name == "model"
    inst = get_solver("debevec", smoothness=2.0)
    assert inst.smoothness == 2.0 and get_solver(inst) is inst
    with pytest.raises(ValidationError, match="solver instance"):
        get_solver(inst, smoothness=1.0)
    with pytest.raises(UnknownNameError, match="valid methods: .*debevec"):
        get_solver("nope")
    with pytest.raises(ValidationError, match=r"unknown option\(s\) \['smoothnes'\].*valid: levels, smoothness"):
        get_solver("debevec", smoothnes=1)


def test_register_solver_is_usable_by_name(monkeypatch):
    """A registered solver is a method of calibrate_bracket (here: the identity curve)."""

    class LinearSolver(BracketSolver):
        name = "linear-test"
        label = "linear (test)"

        def solve(self, z, valid, log_times, code_max=255, start=None):
            n, _, j = z.shape
            lt = np.zeros((n, j)) if log_times is None else np.asarray(log_times, float)
            return SolverResult(np.tile(GRID, (n, 1)), lt - lt[:, :1], {})

    monkeypatch.setitem(SOLVERS, "linear-test", LinearSolver)  # removed again after the test
    assert register_solver(LinearSolver) is LinearSolver
    assert SOLVERS["linear-test"] is LinearSolver
    cal = calibrate_bracket(bracket(), TIMES, method="linear-test", bootstrap=0)
    assert_valid_calibration(cal, len(TIMES))
    np.testing.assert_allclose(cal.curves.values, np.tile(GRID, (3, 1)), atol=1e-9)
    assert cal.method == "linear (test)"


# ----------------------------------------------------------------------------- round trips
#: (method, options) -> largest per-channel RMSE of the recovered inverse curve (data-free).
#: Measured worst case over scene seeds 0-3 and both curves in brackets.
KNOWN_TIMES_TOL = {
    ("model", "polynomial"): 0.005,  # 0.0011
    ("model", "ggcm"): 0.01,  # 0.0038
    ("model", "gamma"): 0.01,  # 0.0046 (sRGB is no gamma curve)
    ("debevec", None): 0.02,  # 0.0104
    ("robertson", None): 0.045,  # 0.028
    ("mitsunaga-nayar", None): 0.01,  # 0.0033
}


@pytest.mark.parametrize("curve_name", sorted(CURVES))
@pytest.mark.parametrize("method, model", list(KNOWN_TIMES_TOL), ids=lambda v: str(v))
def test_solver_recovers_inverse_curve(method, model, curve_name):
    kw = {"model": model} if model else {}
    cal = calibrate_bracket(bracket(curve_name), TIMES, method=method, bootstrap=0, **kw)
    assert_valid_calibration(cal, len(TIMES))
    err = cal.inverse().rmse(CURVES[curve_name].inverse().values)
    assert err.max() < KNOWN_TIMES_TOL[(method, model)], err
    # The fit residual (code units) is small for a noise-free bracket.
    assert np.all(cal.rmse < 0.02), cal.rmse
    assert cal.times_source == "given"
    np.testing.assert_array_equal(cal.times, TIMES)
    assert cal.band is None and np.all(np.isnan(cal.band_width))


@pytest.mark.realdata("dorfCurves.txt", "emor.txt", "invemor.txt")
@pytest.mark.parametrize("curve_name", sorted(CURVES))
@pytest.mark.parametrize("model", [None, "emor"])
def test_default_and_emor_models_recover_inverse_curve(model, curve_name):
    """The default model (PCA of the DoRF training curves) and EMoR; measured worst 0.0027 and 0.0029."""
    kw = {"model": model} if model else {}
    cal = calibrate_bracket(bracket(curve_name), TIMES, bootstrap=0, **kw)
    assert_valid_calibration(cal, len(TIMES))
    err = cal.inverse().rmse(CURVES[curve_name].inverse().values)
    assert err.max() < 0.01, err
    assert cal.method.startswith("self-calibration")


def test_prior_weight_default_depends_on_the_model():
    """None resolves to 0.001 for the polynomial (pulled towards sRGB's inverse), 0.003 for basis models."""
    from crfkit.bracket.solvers.model import MODEL_PRIOR_WEIGHTS, PRIOR_WEIGHT, ModelSolver

    assert ModelSolver(model="polynomial")._prior_weight() == MODEL_PRIOR_WEIGHTS["polynomial"] == 0.001
    assert ModelSolver(model="emor")._prior_weight() == ModelSolver(model="pca")._prior_weight() == PRIOR_WEIGHT
    assert ModelSolver(model="polynomial", prior=0.01)._prior_weight() == 0.01
    for bad in (-1.0, "strong", float("nan")):
        with pytest.raises(ValidationError, match="prior"):
            calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=0, prior=bad)


def test_default_polynomial_follows_a_shouldered_curve_on_a_two_stop_bracket():
    """Exposures two stops apart tie the top of the curve loosely: the default's pull towards sRGB's
    inverse must not bend it there.  A camera with a strong highlight shoulder, 1, 4, 16: measured
    0.0249 and 0.0237 (seeds 0, 1) with the default weight, 0.0425 and 0.0418 with the old 0.003."""
    f = (1 - np.exp(-3.0 * GRID)) / (1 - np.exp(-3.0))
    curve = Curve(f, "forward")
    times = (1.0, 4.0, 16.0)
    for seed in (0, 1):
        images = render(scene(seed=seed, stops=8), curve, times)
        errors = {}
        for weight in (None, 0.003):
            kw = {} if weight is None else {"prior": weight}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the old weight's blue channel creeps on past 300 iterations (seed 0)
                cal = calibrate_bracket(images, times, bootstrap=0, **kw)
            errors[weight] = float(cal.inverse().rmse(curve.inverse().values).mean())
        assert errors[None] < 0.03 and errors[None] < 0.7 * errors[0.003], errors


def test_16_bit_and_float_brackets_round_trip():
    """16-bit and float-in-[0, 1] brackets of the same scene give the same curve as 8-bit ones."""
    truth = CURVES["srgb"].inverse().values
    b16 = bracket(bits=16)
    cal16 = calibrate_bracket(b16, TIMES, model="polynomial", bootstrap=0)
    assert_valid_calibration(cal16, len(TIMES))
    assert cal16.inverse().rmse(truth).max() < 0.02
    as_float = [im.astype(np.float64) / 65535 for im in b16]
    calf = calibrate_bracket(as_float, TIMES, model="polynomial", bootstrap=0)
    np.testing.assert_allclose(calf.curves.values, cal16.curves.values, atol=1e-6)
    # float16 too (65535 is not a float16 number: the scaling must not overflow)
    cal_h = calibrate_bracket([im.astype(np.float16) for im in as_float], TIMES, model="polynomial", bootstrap=0)
    assert cal_h.inverse().rmse(truth).max() < 0.02


def test_times_are_reported_in_the_order_given():
    imgs, times = bracket(), list(TIMES)
    perm = [3, 0, 4, 2, 1]
    cal = calibrate_bracket([imgs[i] for i in perm], [times[i] for i in perm], model="polynomial", bootstrap=0)
    np.testing.assert_array_equal(cal.times, [times[i] for i in perm])
    ref = calibrate_bracket(imgs, times, model="polynomial", bootstrap=0)
    np.testing.assert_allclose(cal.curves.values, ref.curves.values, atol=1e-9)
    # Unknown times: estimated in the given order too (the shortest is 1).
    est = calibrate_bracket([imgs[i] for i in perm], None, model="polynomial", bootstrap=0, times_prior=GAMMA_PRIOR)
    assert est.times_source.startswith("estimated")
    np.testing.assert_allclose(est.times, [times[i] for i in perm], rtol=0.15)
    assert est.times.min() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- unknown exposure times
#: method -> largest RMSE of the inverse curve with estimated times (measured worst 0.0054 / 0.0048 / 0.0143).
UNKNOWN_TIMES_TOL = {"model": 0.015, "mitsunaga-nayar": 0.015, "debevec": 0.03}


@pytest.mark.parametrize("curve_name", sorted(CURVES))
@pytest.mark.parametrize("method", sorted(UNKNOWN_TIMES_TOL))
def test_unknown_times_are_estimated(method, curve_name):
    """times=None: ratios within 5 % per stop (measured <= 1.7 %) and 15 % over four stops (measured <= 6.3 %)."""
    kw = {"model": "polynomial"} if method == "model" else {}
    cal = calibrate_bracket(bracket(curve_name), None, method=method, bootstrap=0, times_prior=GAMMA_PRIOR, **kw)
    assert_valid_calibration(cal, len(TIMES))
    assert cal.times_source.startswith("estimated")
    assert cal.times[0] == pytest.approx(1.0)
    assert np.all(step_errors(cal.times) < 0.05), cal.times
    assert cal.times[-1] / cal.times[0] == pytest.approx(16.0, rel=0.15)
    err = cal.inverse().rmse(CURVES[curve_name].inverse().values)
    assert err.max() < UNKNOWN_TIMES_TOL[method], err


def emor_mean_curve():
    from crfkit.data import load_emor

    return Curve(load_emor(inverse=False).mean, "forward", "EMoR f0")


@pytest.mark.realdata("dorfCurves.txt", "emor.txt", "invemor.txt")
@pytest.mark.parametrize("method", ["model", "mitsunaga-nayar"])
def test_unknown_times_with_the_emor_prior(method):
    """A camera with a typical (EMoR mean) curve: ratios within 10 % per stop and 30 % over four stops.

    Measured (scene seeds 0-3): 6.7 % and 23 % (with commit b465143 it was 1.5 % and 4.6 %).
    """
    curve = emor_mean_curve()
    imgs = render(scene(), curve)
    # The EMoR prior was the default before the modern-camera prior ('modern'): named explicitly.
    cal = calibrate_bracket(imgs, None, method=method, bootstrap=0, times_prior="emor")
    assert_valid_calibration(cal, len(TIMES))
    assert np.all(step_errors(cal.times) < 0.10), cal.times
    assert cal.times[-1] == pytest.approx(16.0, rel=0.30)
    assert cal.inverse().rmse(curve.inverse().values).max() < 0.05  # measured 0.033


@pytest.mark.realdata("dorfCurves.txt", "emor.txt", "invemor.txt")
@pytest.mark.xfail(strict=False, raises=AssertionError,
                   reason="known limitation: the default times prior (the modern cameras' chart curves) "
                   "settles the exponential ambiguity towards its own mean curve, so this synthetic sRGB camera's "
                   "one-stop ratios come out about 1.69x instead of 2x (measured; 16x total estimated as 8.3x; "
                   "with times_prior='emor' 1.65x, 7.4x); times_prior= a curve set of similar cameras fixes it")
def test_unknown_times_of_an_srgb_camera_with_the_default_prior():
    cal = calibrate_bracket(bracket("srgb"), None, bootstrap=0)
    assert np.all(step_errors(cal.times) < 0.15), cal.times


# ----------------------------------------------------------------------------- merging
def relative_errors(hdr, radiance):
    """|hdr / E / s - 1| after the one global scale s (median ratio) that best matches them."""
    ratio = hdr.astype(np.float64) / radiance
    return np.abs(ratio / np.median(ratio) - 1.0)


def calibrated_polynomial():
    return calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=0)


@pytest.mark.parametrize("crf, tol_p99, tol_max", [
    (CURVES["srgb"], 0.015, 0.025),  # measured 0.0065 / 0.0127 (8-bit quantisation of dark codes)
    ("srgb", 0.015, 0.025),
    ("calibration", 0.02, 0.03),  # measured 0.0066 / 0.0118
    (None, 0.02, 0.03),  # calibrates first
], ids=["Curve", "name", "calibration", "calibrates"])
def test_merge_is_proportional_to_radiance(crf, tol_p99, tol_max):
    imgs, radiance = bracket(), scene()
    if crf == "calibration":
        crf = calibrated_polynomial()
    kw = {"model": "polynomial", "bootstrap": 0} if crf is None else {}
    hdr = merge_bracket(imgs, TIMES, crf=crf, **kw)
    assert isinstance(hdr, np.ndarray) and hdr.dtype == np.float32 and hdr.shape == (H, W, 3)
    assert np.all(np.isfinite(hdr)) and np.all(hdr > 0)
    rel = relative_errors(hdr, radiance)
    assert np.percentile(rel, 99) < tol_p99 and rel.max() < tol_max, (np.percentile(rel, 99), rel.max())
    assert rel.mean() < 0.005  # measured 0.0021


@pytest.mark.parametrize("weighting", ["noise", "hat", "uniform"])
def test_merge_weightings(weighting):
    hdr, info = merge_bracket(bracket(), TIMES, crf="srgb", weighting=weighting, return_info=True)
    assert hdr.dtype == np.float32 and hdr.shape == (H, W, 3)
    rel = relative_errors(hdr, scene())
    assert np.percentile(rel, 99) < 0.03 and rel.mean() < 0.01
    assert info["weighting"] and info["times"] == list(TIMES) and info["times_source"] == "given"
    assert info["clipped_in_all_share"] == 0.0


def test_merge_noise_weights_beat_hat_and_uniform_weights_on_a_noisy_bracket():
    """With photon and read noise (the default noise model's), inverse-variance weights are the best.

    Measured mean relative error, darkest 20 % / all pixels: noise (the default, with the highlight
    taper) 0.0127 / 0.0100, untapered 0.0126 / 0.0090, hat 0.0152 / 0.0120, uniform 0.0221 / 0.0126.
    The taper costs 11 % here, where the curve is exact and noise is all there is; on real cameras
    it gains 13 % (docs/results/bracket-calibration.md, "Merging on real cameras").  (Before the fix of the per-exposure normalisation that
    cancelled the t^2 of var(g(z)/t), 'noise' was the worst: 0.047 / 0.023.)
    """
    radiance = scene()
    rng = np.random.default_rng(0)
    imgs = []
    for t in TIMES:
        x = radiance * t
        x = x + rng.normal(size=x.shape) * np.sqrt(1e-4 * x + 1e-6)
        imgs.append(np.round(np.interp(np.clip(x, 0, 1), GRID, CURVES["srgb"].values) * 255).astype(np.uint8))
    dark = radiance.mean(axis=2) < np.percentile(radiance.mean(axis=2), 20)
    errs = {}
    for w in ("noise", "hat", "uniform"):
        rel = relative_errors(merge_bracket(imgs, TIMES, crf="srgb", weighting=w), radiance)
        errs[w] = (rel[dark].mean(), rel.mean())
    assert errs["noise"][0] < 0.9 * min(errs["hat"][0], errs["uniform"][0]), errs
    assert errs["noise"][1] < 0.9 * min(errs["hat"][1], errs["uniform"][1]), errs


def test_merge_noise_weights_favour_long_exposures():
    """var(g(z)/t) falls with t: of two exposures that see a pixel at the same code, the longer counts more."""
    from crfkit.bracket.merge import _weight_lut

    inv = CURVES["srgb"].inverse().values
    short = _weight_lut(inv, 256, 0.25, "noise", 0.98, (1e-4, 1e-7), 0.004)
    long_ = _weight_lut(inv, 256, 1.0, "noise", 0.98, (1e-4, 1e-7), 0.004)
    np.testing.assert_allclose(short[1:250], long_[1:250] / 16, rtol=1e-5)
    assert long_.max() <= 1.0 and short[0] == 0 and long_[250:].max() == 0


def test_merge_highlight_taper_weights():
    """The taper leaves codes up to its start alone and falls linearly to 0 at the clipping level."""
    from crfkit.bracket.merge import _weight_lut

    inv = CURVES["srgb"].inverse().values
    plain = _weight_lut(inv, 256, 1.0, "noise", 0.98, (1e-4, 1e-7), 0.004)
    tapered = _weight_lut(inv, 256, 1.0, "noise", 0.98, (1e-4, 1e-7), 0.004, highlight_taper=0.5)
    z = np.arange(256) / 255
    ramp = np.clip((0.98 - z) / 0.48, 0, 1)
    # Both are normalised to a maximum of 1, which the taper moves: compare shapes.
    np.testing.assert_allclose(tapered / tapered.max(), plain * ramp / (plain * ramp).max(), rtol=1e-5)
    assert tapered[z >= 0.98].max() == 0 and np.all(tapered[240:250] < 0.1 * plain[240:250] / plain.max())


def test_merge_highlight_taper_helps_when_the_near_white_codes_lie():
    """A camera whose highlight shoulder the given curve misses: the taper trusts those codes less.

    Measured mean relative error with the sRGB curve given: 0.0117 untapered, 0.0075 tapered (auto).
    """
    radiance = scene()
    srgb = CURVES["srgb"].values
    # Codes above 0.7 pulled down by up to 6 codes (at 0.9), still 1 at clipping: a shoulder sRGB does not have.
    camera = Curve(srgb - 0.5 * np.clip((srgb - 0.7) / 0.3, 0, 1) ** 2 * (1 - srgb), kind="forward",
                   name="sRGB with a highlight shoulder")
    imgs = render(radiance, camera)
    errs = {}
    for taper in (None, "auto"):
        hdr, info = merge_bracket(imgs, TIMES, crf="srgb", highlight_taper=taper, return_info=True)
        errs[taper] = relative_errors(hdr, radiance).mean()
        assert ("tapered" in info["weighting"]) == (taper == "auto")
    assert errs["auto"] < 0.75 * errs[None], errs


def test_merge_curve_error_caps_the_long_exposures_weight():
    """A relative curve error is the same in every exposure for one radiance: with it, a long exposure
    outweighs a short one that sees the same radiance far less than photon noise alone would make it."""
    from crfkit.bracket.merge import _weight_lut

    inv = CURVES["srgb"].inverse().values
    codes = np.interp(np.array([0.05, 0.2]), inv, GRID)  # radiance 0.2 seen at t = 1/4 and t = 1 (measured 3.65, 1.64)
    idx = np.round(codes * 255).astype(int)
    ratios = {}
    for eps in (0.0, 0.05):
        short = _weight_lut(inv, 256, 0.25, "noise", 0.98, (1e-4, 1e-7), 0.004, curve_error=eps)[idx[0]]
        long_ = _weight_lut(inv, 256, 1.0, "noise", 0.98, (1e-4, 1e-7), 0.004, curve_error=eps)[idx[1]]
        ratios[eps] = long_ / short
    assert ratios[0.0] > 3 and ratios[0.05] < 0.5 * ratios[0.0], ratios
    _, info = merge_bracket(bracket(), TIMES, crf="srgb", curve_error=0.05, return_info=True)
    assert "relative curve error of 0.05" in info["weighting"]
    for bad in (-0.1, "x", float("nan"), True):
        with pytest.raises(ValidationError, match="curve_error"):
            merge_bracket(bracket(), TIMES, crf="srgb", curve_error=bad)


def test_merge_highlight_taper_auto_and_bad_values():
    from crfkit.bracket.inputs import Bracket

    radiance = scene()
    raw = Bracket([np.clip(radiance * t / 16, 0, 1) for t in TIMES], np.asarray(TIMES), raw=True, bits=16)
    _, info = merge_bracket(raw, return_info=True)
    assert "tapered" not in info["weighting"] and "RAW" in info["crf"]
    _, info = merge_bracket(bracket(), TIMES, crf="srgb", return_info=True)
    assert "tapered linearly to 0 from code 0.5" in info["weighting"]
    _, info = merge_bracket(bracket(), TIMES, crf="srgb", clip=0.5, return_info=True)  # no room for a taper
    assert "tapered" not in info["weighting"]
    _, info = merge_bracket(bracket(), TIMES, crf="srgb", weighting="hat", highlight_taper=0.3, return_info=True)
    assert "tapered" not in info["weighting"]
    for bad in (0.98, 1.5, -0.1, "x", float("nan"), [0.5]):
        with pytest.raises(ValidationError, match="highlight_taper"):
            merge_bracket(bracket(), TIMES, crf="srgb", highlight_taper=bad)


def test_merge_info_and_times_from_the_calibration():
    cal = calibrate_bracket(bracket(), None, model="polynomial", bootstrap=0, times_prior=GAMMA_PRIOR)
    hdr, info = merge_bracket(bracket(), crf=cal, return_info=True)
    assert set(info) >= {"crf", "times", "times_source", "weighting", "clipped_in_all_share"}
    np.testing.assert_allclose(info["times"], cal.times)
    assert info["times_source"] == cal.times_source
    assert np.percentile(relative_errors(hdr, scene()), 99) < 0.06
    # Times neither given nor in the calibration: estimated with the curve.
    hdr2, info2 = merge_bracket(bracket(), crf="srgb", return_info=True)
    assert info2["times_source"].startswith("estimated")
    np.testing.assert_allclose(info2["times"], TIMES, rtol=0.02)
    with pytest.raises(ValidationError, match="apply only when merge calibrates"):
        merge_bracket(bracket(), TIMES, crf="srgb", model="polynomial")


def test_merge_pixels_clipped_in_every_exposure():
    """A highlight beyond the shortest exposure: finite, at least the shortest exposure's value, reported."""
    radiance = scene()
    radiance[:8, -8:] = 5.0  # clipped even at times 1
    imgs = render(radiance, CURVES["srgb"])
    hdr, info = merge_bracket(imgs, TIMES, crf="srgb", return_info=True)
    assert np.all(np.isfinite(hdr))
    assert info["clipped_in_all_share"] == pytest.approx(64 / (H * W), rel=0.01)
    assert np.all(hdr[:8, -8:] >= hdr[8:, :].max() * 0.99)


def test_merge_16_bit_bracket():
    hdr = merge_bracket(bracket(bits=16), TIMES, crf="srgb")
    assert hdr.dtype == np.float32 and hdr.shape == (H, W, 3)
    assert np.percentile(relative_errors(hdr, scene()), 99) < 0.01


def _smooth_field(rng, h, w, cell):
    coarse = rng.normal(size=(h // cell + 2, w // cell + 2))
    yi, xi = np.arange(h) / cell, np.arange(w) / cell
    y0, x0 = yi.astype(int), xi.astype(int)
    fy, fx = (yi - y0)[:, None], (xi - x0)[None, :]
    return (coarse[y0][:, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1][:, x0] * fy * (1 - fx)
            + coarse[y0][:, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1][:, x0 + 1] * fy * fx)


def textured_bracket(h=192, w=256, times=TIMES[:4], seed=3):
    """A bracket of a natural-looking (fractal, 5 stops) scene: what AlignMTB needs to lock on.

    (On the smooth gradient scene, or with the median code clipped or near black, OpenCV's
    AlignMTB returns spurious shifts: see test_align_images_keeps_a_small_static_bracket.)
    """
    rng = np.random.default_rng(seed)
    log_e = sum(_smooth_field(rng, h, w, c) * c ** 0.5 for c in (2, 4, 8, 16, 32, 64))
    log_e = (log_e - log_e.min()) / (log_e.max() - log_e.min()) * 5.0
    radiance = 2.0 ** (log_e - 5.0)[:, :, None] * np.array([1.0, 0.9, 0.8]) * 0.9 / 4
    return render(radiance, CURVES["srgb"], times), radiance


def test_align_images_undoes_shifts():
    pytest.importorskip("cv2")
    from crfkit.bracket.merge import align_images

    imgs, radiance = textured_bracket()
    moved = list(imgs)
    moved[0] = np.roll(imgs[0], (3, -4), axis=(0, 1))
    moved[3] = np.roll(imgs[3], (-2, 5), axis=(0, 1))
    aligned = align_images(moved)
    inner = (slice(8, -8), slice(8, -8))
    for a, b in zip(aligned, imgs):
        np.testing.assert_array_equal(a[inner], b[inner])
    hdr = merge_bracket(moved, TIMES[:4], crf="srgb", align=True)
    assert np.percentile(relative_errors(hdr[inner], radiance[inner]), 99) < 0.02


def test_align_images_reads_files_and_checks_the_reference(tmp_path):
    """align_images takes what calibrate and merge take (paths, a folder); a reference index out of range, or
    not an index, is a one-line ValidationError (an IndexError once escaped)."""
    pytest.importorskip("cv2")
    from crfkit.bracket.merge import align_images
    from crfkit.io.images import write_image

    imgs, _ = textured_bracket()
    moved = list(imgs)
    moved[0] = np.roll(imgs[0], (3, -4), axis=(0, 1))
    paths = []
    for i, im in enumerate(moved):
        paths.append(tmp_path / f"e{i}.png")
        write_image(paths[-1], im)
    inner = (slice(8, -8), slice(8, -8))
    for source in (paths, tmp_path):
        aligned = align_images(source, reference=2)
        for a, b in zip(aligned, imgs):
            np.testing.assert_array_equal(a[inner], b[inner])
    for bad in (99, -1, 1.5, "a", True):
        with pytest.raises(ValidationError, match=r"reference must be an image index 0\.\.3 or None"):
            align_images(moved, reference=bad)


def test_a_shifted_bracket_warns_that_the_curves_fit_poorly():
    """A hand-held bracket shifted by a few pixels passes the moving-pixel test (its pixels rarely get
    darker in a longer exposure) but not the fit residual: the calibration says so and suggests
    aligning; aligned, the same bracket calibrates without the warning."""
    pytest.importorskip("cv2")
    imgs, _ = textured_bracket()
    moved = [np.roll(im, (5 * i, 6 * i), axis=(0, 1)) for i, im in enumerate(imgs)]  # within align's range
    with pytest.warns(UserWarning, match=r"fit this bracket poorly \(RMS code error 0\.\d+.*--align") as rec:
        cal = calibrate_bracket(moved, TIMES[:4], model="polynomial", bootstrap=0)
    assert np.median(cal.rmse) > 0.04
    assert not any("darker in a longer exposure" in str(w.message) for w in rec)  # the moving test misses it
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        cal = calibrate_bracket(moved, TIMES[:4], model="polynomial", bootstrap=0, align=True)
    assert not any("poorly" in str(w.message) for w in rec), [str(w.message) for w in rec]
    assert np.median(cal.rmse) < 0.02


def test_align_images_keeps_a_small_static_bracket():
    """OpenCV's AlignMTB alone finds shifts of up to 63 px between identical smooth 96x128 images (its
    search drifts when the bitmaps carry little information); align_images must not move them."""
    pytest.importorskip("cv2")
    from crfkit.bracket.merge import align_images

    imgs = bracket()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not aligned" warnings are fine
        aligned = align_images(imgs)
        tiny = align_images([np.full((8, 8, 3), v, np.uint8) for v in (60, 120)])  # no OpenCV error either
    for a, b in zip(aligned, imgs):
        np.testing.assert_array_equal(a, b)
    assert [t.shape for t in tiny] == [(8, 8, 3)] * 2


# ----------------------------------------------------------------------------- results and determinism
def test_same_seed_same_result_other_seed_other_sample():
    kw = {"model": "polynomial", "bootstrap": 3}
    a = calibrate_bracket(bracket(), TIMES, seed=7, **kw)
    b = calibrate_bracket(bracket(), TIMES, seed=7, **kw)
    np.testing.assert_array_equal(a.curves.values, b.curves.values)
    np.testing.assert_array_equal(a.band, b.band)
    np.testing.assert_array_equal(a.rmse, b.rmse)
    c = calibrate_bracket(bracket(), TIMES, seed=8, **kw)
    assert not np.array_equal(a.curves.values, c.curves.values)
    assert np.abs(a.curves.values - c.curves.values).max() < 0.05  # another sample, about the same curve
    # sample_bracket alone: a deterministic function of the images and the seed
    br = crfkit.bracket.inputs.as_bracket(bracket(), TIMES)
    s1, s2 = sample_bracket(br, n_samples=500, seed=3), sample_bracket(br, n_samples=500, seed=3)
    np.testing.assert_array_equal(s1.positions, s2.positions)
    np.testing.assert_array_equal(s1.z, s2.z)
    # ...and unknown times too
    u1 = calibrate_bracket(bracket(), None, model="polynomial", bootstrap=0, times_prior=GAMMA_PRIOR, seed=5)
    u2 = calibrate_bracket(bracket(), None, model="polynomial", bootstrap=0, times_prior=GAMMA_PRIOR, seed=5)
    np.testing.assert_array_equal(u1.times, u2.times)


def test_sample_bracket_samples():
    br = crfkit.bracket.inputs.as_bracket(bracket(), TIMES)
    s = sample_bracket(br, n_samples=800, seed=0)
    p = s.n_pixels
    assert 0 < p <= 800 and s.n_exposures == len(TIMES)
    assert s.z.shape == (p, len(TIMES), 3) and s.valid.shape == s.z.shape and s.valid.dtype == bool
    assert s.z.min() >= 0 and s.z.max() <= 1 and s.code_max == 255
    np.testing.assert_array_equal(s.order, np.arange(len(TIMES)))
    np.testing.assert_array_equal(s.times, TIMES)
    assert np.all((s.valid.sum(axis=1) >= 2).any(axis=1))  # every sample is usable
    # the codes are the image values at the positions
    r, c = s.positions.T
    np.testing.assert_allclose(s.z[:, 2, :], br.images[2][r, c] / 255.0)
    # stratified over brightness: dark and bright pixels are both present
    assert s.z[:, 0].mean(axis=1).min() < 0.15 and s.z[:, -1].mean(axis=1).max() > 0.9
    sub = s.subset(np.arange(10))
    assert sub.n_pixels == 10 and sub.code_max == s.code_max


def test_shared_curve():
    cal = calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=4, shared=True)
    v = cal.curves.values
    np.testing.assert_array_equal(v[0], v[1])
    np.testing.assert_array_equal(v[0], v[2])
    assert cal.rmse[0] == cal.rmse[1] == cal.rmse[2]
    np.testing.assert_array_equal(cal.band[0], cal.band[2])
    assert cal.inverse().rmse(CURVES["srgb"].inverse().values).max() < 0.02


def test_save_and_load_back(tmp_path):
    cal = calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=4)
    path = tmp_path / "camera.crfs"
    cal.save(path)
    assert path.is_file()
    cs = crfkit.load_curves(path)
    assert isinstance(cs, CurveSet) and cs.kind == "forward" and len(cs) == 3
    np.testing.assert_allclose(cs.values, cal.curves.values, atol=1e-6)
    meta = cs.attrs["bracket"]
    assert meta["times"] == list(TIMES) and meta["times_source"] == "given"
    assert meta["method"] == cal.method
    np.testing.assert_allclose(meta["rmse"], cal.rmse, atol=1e-6)
    np.testing.assert_allclose(np.array(meta["band"]), cal.band, atol=1e-5)
    # a saved calibration is a crf for merge_bracket
    hdr = merge_bracket(bracket(), TIMES, crf=str(path))
    assert np.percentile(relative_errors(hdr, scene()), 99) < 0.05
    assert "BracketCalibration(" in repr(cal)


def test_bootstrap_band_brackets_the_curve():
    cal = calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=20)
    band = cal.band
    assert band.shape == (3, 2, GRID.size) and np.all(np.isfinite(band))
    lo, hi = band[:, 0], band[:, 1]
    assert np.all(lo <= hi + 1e-12)
    v = cal.curves.values
    inside = (v >= lo - 2e-3) & (v <= hi + 2e-3)
    assert inside.mean() > 0.98, inside.mean()
    width = cal.band_width
    assert width.shape == (3,) and np.all(width > 0) and np.all(width < 0.05), width
    # more samples, narrower band
    wide = calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=20, n_samples=300).band_width
    assert np.all(wide > width), (wide, width)
    assert cal.to_dict()["band_width"] == [round(float(x), 6) for x in width]


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    cal = calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=3)
    fig = cal.plot(tmp_path / "crf.png")
    assert (tmp_path / "crf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "band" in fig.axes[0].get_title()
    plt.close(fig)
    shared = calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=0, shared=True)
    fig = shared.plot(tmp_path / "shared.svg", title="one curve")
    assert (tmp_path / "shared.svg").read_text().lstrip().startswith("<?xml")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["shared"]
    plt.close(fig)
    with pytest.raises(ValidationError, match="xyz"):
        cal.plot(tmp_path / "crf.xyz")
    with pytest.raises(ValidationError, match="does not exist"):
        cal.plot(tmp_path / "missing" / "crf.png")


def test_inverse_and_linearize():
    cal = calibrated_polynomial()
    inv = cal.inverse()
    assert inv.kind == "inverse" and len(inv) == 3
    img = bracket()[2]
    lin = cal.linearize(img)
    assert lin.dtype == np.float32 and lin.shape == img.shape
    expected = np.clip(scene() * TIMES[2], 0, 1)
    unclipped = (img < 245).all(axis=2) & (img > 10).all(axis=2)
    assert np.abs(lin - expected)[unclipped].mean() < 0.02


# ----------------------------------------------------------------------------- files
def write_bracket(folder, imgs, suffix=".png", names=None):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(imgs):
        p = folder / (names[i] if names else f"shot{i}{suffix}")
        write_image(p, im)
        paths.append(p)
    return paths


def test_read_bracket_from_folder_and_files(tmp_path):
    imgs = bracket()
    paths = write_bracket(tmp_path / "b", imgs)
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    (tmp_path / "b" / ".hidden.png").write_bytes(b"junk")
    br = read_bracket(tmp_path / "b", times=["1", "2", "4", "8", "16"])
    assert isinstance(br, Bracket) and len(br) == 5 and br.bits == 8 and not br.raw
    assert br.names == [p.name for p in paths] and br.times_source == "given"
    np.testing.assert_array_equal(br.times, TIMES)
    for a, b in zip(br.images, imgs):
        np.testing.assert_array_equal(a, b)
    assert br.shape == (H, W, 3)
    br2 = read_bracket([str(p) for p in paths], unknown_times=True)  # no warning: asked for
    assert br2.times is None and br2.times_source == "unknown"
    br3 = read_bracket(paths[:2], times=["1/60", "1/30"])
    np.testing.assert_allclose(br3.times, [1 / 60, 1 / 30])


def test_no_exif_and_no_times_warns_and_estimates(tmp_path):
    paths = write_bracket(tmp_path, bracket())
    with pytest.warns(UserWarning, match="no EXIF exposure time"):
        br = read_bracket(paths)
    assert br.times is None and br.times_source == "unknown"
    with pytest.warns(UserWarning, match="no EXIF exposure time"):
        cal = calibrate_bracket(paths, model="polynomial", bootstrap=0, times_prior=GAMMA_PRIOR)
    assert cal.times_source.startswith("estimated")
    assert np.all(step_errors(cal.times) < 0.10)
    with pytest.warns(UserWarning, match="no EXIF"):
        hdr = merge_bracket(tmp_path, crf="srgb")
    assert hdr.shape == (H, W, 3) and np.all(np.isfinite(hdr))


def test_exif_times_are_read(tmp_path):
    from PIL import Image

    imgs = bracket()[:3]
    paths = []
    for i, (im, t) in enumerate(zip(imgs, TIMES)):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x829A] = t / 100  # ExposureTime in the Exif sub-IFD
        p = tmp_path / f"e{i}.jpg"
        Image.fromarray(im).save(p, quality=95, exif=exif)
        paths.append(p)
    br = read_bracket(paths)
    assert br.times_source == "exif"
    np.testing.assert_allclose(br.times, np.array(TIMES[:3]) / 100)
    cal = calibrate_bracket(paths, model="polynomial", bootstrap=0)
    assert cal.times_source == "exif"
    np.testing.assert_allclose(cal.times, np.array(TIMES[:3]) / 100)
    # given times win over EXIF
    assert read_bracket(paths, times=[1, 2, 3]).times_source == "given"


# ----------------------------------------------------------------------------- bad input
def _two(shape=(16, 16, 3), dtype=np.uint8, values=(60, 120)):
    return [np.full(shape, v, dtype) for v in values]


def _moving_bracket():
    imgs = bracket()
    imgs[2] = np.ascontiguousarray(imgs[2][:, ::-1])  # the middle shot of a turned scene
    return imgs


BAD_CALLS = [
    ("different sizes", lambda: calibrate_bracket([np.zeros((16, 16, 3), np.uint8), np.zeros((16, 17, 3), np.uint8)],
                                                  [1, 2]), ValidationError, "differ in size"),
    ("one image", lambda: calibrate_bracket([bracket()[0]], [1]), ValidationError, "at least 2 images, got 1"),
    ("no image", lambda: calibrate_bracket([], None), ValidationError, "at least 2 images, got 0"),
    ("same exposure twice", lambda: calibrate_bracket(bracket(), [1, 2, 2, 8, 16]), ValidationError,
     "same exposure 2 is given twice"),
    ("same image twice", lambda: calibrate_bracket([bracket()[1], bracket()[1]], None),
     ValidationError, "image0 and image1 are identical images"),
    ("same brightness, unknown times", lambda: calibrate_bracket([bracket()[1], bracket()[1][:, ::-1]], None),
     ValidationError, "same brightness"),
    ("noise everywhere", lambda: calibrate_bracket(
        [np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8) // d for d in (2, 1)], [1, 2]),
     FitError, r"differ from a neighbour by more than 0.1 of full scale"),
    ("too few times", lambda: calibrate_bracket(bracket(), [1, 2, 4]), ValidationError,
     r"got 3 exposure time\(s\) for 5 image\(s\)"),
    ("too many times", lambda: merge_bracket(bracket()[:2], [1, 2, 4], crf="srgb"), ValidationError,
     r"got 3 exposure time\(s\) for 2 image\(s\)"),
    ("zero time", lambda: calibrate_bracket(_two(), [0, 1]), ValidationError, "positive"),
    ("negative time", lambda: calibrate_bracket(_two(), [-1, 1]), ValidationError, "positive"),
    ("nan time", lambda: calibrate_bracket(_two(), [np.nan, 1]), ValidationError, "positive and finite"),
    ("text time", lambda: calibrate_bracket(_two(), ["fast", "1"]), ValidationError, "not a number"),
    ("times as one string", lambda: calibrate_bracket(_two(), "1 2"), ValidationError, "string"),
    ("times as a number", lambda: calibrate_bracket(_two(), 2.0), ValidationError, "sequence"),
    ("all saturated", lambda: calibrate_bracket(_two(values=(255, 255)), [1, 2]), FitError, "clipped in every"),
    ("all black", lambda: calibrate_bracket(_two(values=(0, 0)), [1, 2]), FitError, "black in every"),
    ("unknown method", lambda: calibrate_bracket(bracket(), TIMES, method="grossberg"), UnknownNameError,
     "unknown bracket method 'grossberg'; valid methods: debevec, mitsunaga-nayar, model, robertson"),
    ("unknown model", lambda: calibrate_bracket(bracket(), TIMES, model="spline"), UnknownNameError, "spline"),
    ("unknown debevec option", lambda: calibrate_bracket(bracket(), TIMES, method="debevec", lambda_=3),
     ValidationError, r"unknown option\(s\) \['lambda_'\]"),
    ("unknown model option", lambda: calibrate_bracket(bracket(), TIMES, model="polynomial", smooth=1, bootstrap=0),
     ValidationError, r"unknown option\(s\) \['smooth'\]"),
    ("solver option of the wrong type", lambda: calibrate_bracket(bracket(), TIMES, method="robertson",
                                                                  max_iter="many"), ValidationError, "max_iter"),
    ("k for debevec", lambda: calibrate_bracket(bracket(), TIMES, method="debevec", k=3), ValidationError, "k applies"),
    ("model for robertson", lambda: calibrate_bracket(bracket(), TIMES, method="robertson", model="gamma"),
     ValidationError, "applies to method 'model' only"),
    ("bad k", lambda: calibrate_bracket(bracket(), TIMES, model="polynomial", k=0), ValidationError, "k"),
    ("bad bootstrap", lambda: calibrate_bracket(bracket(), TIMES, bootstrap=-1), ValidationError, "bootstrap"),
    ("bad n_samples", lambda: calibrate_bracket(bracket(), TIMES, n_samples=2), ValidationError, "n_samples"),
    ("bad clip", lambda: calibrate_bracket(bracket(), TIMES, clip="high"), ValidationError, "clip"),
    ("floor above clip", lambda: calibrate_bracket(bracket(), TIMES, floor=0.9, clip=0.5), ValidationError, "floor"),
    ("int32 images", lambda: calibrate_bracket(_two(dtype=np.int32), [1, 2]), ValidationError, "int32"),
    ("NaN float images", lambda: calibrate_bracket([np.full((8, 8, 3), np.nan), np.zeros((8, 8, 3))], [1, 2]),
     ValidationError, "NaN"),
    ("float images above 1", lambda: calibrate_bracket(_two(dtype=np.float64), [1, 2]), ValidationError,
     r"outside \[0, 1\]"),
    ("RGBA images", lambda: calibrate_bracket(_two(shape=(8, 8, 4)), [1, 2]), ValidationError, r"\(H, W, 3\)"),
    ("1x1 images", lambda: calibrate_bracket(_two(shape=(1, 1, 3)), [1, 2]), ValidationError, "too small"),
    ("ragged image", lambda: calibrate_bracket([np.zeros((4, 4, 3)), [[1, 2], [3]]], [1, 2]), ValidationError,
     "image 1"),
    ("images None", lambda: calibrate_bracket(None), ValidationError, "images must be"),
    ("read_bracket(None)", lambda: read_bracket(None), ValidationError, "images must be"),
    ("read_bracket(3)", lambda: read_bracket(3), ValidationError, "images must be"),
    ("bad weighting", lambda: merge_bracket(bracket(), TIMES, crf="srgb", weighting="max"), ValidationError,
     "weighting must be one of noise, hat, uniform"),
    ("bad crf", lambda: merge_bracket(bracket(), TIMES, crf="curvy"), UnknownNameError, "unknown crf 'curvy'"),
    ("bad noise", lambda: merge_bracket(bracket(), TIMES, crf="srgb", noise=(1, -1)), ValidationError, "noise"),
    ("bad merge clip", lambda: merge_bracket(bracket(), TIMES, crf="srgb", clip=0), ValidationError, "clip"),
    ("NaN code_noise", lambda: merge_bracket(bracket(), TIMES, crf="srgb", code_noise=float("nan")),
     ValidationError, "code_noise"),
    ("times too small for float32", lambda: merge_bracket(bracket()[:3], [1.0, 1e-147, 2.0], crf="srgb"),
     ValidationError, "outside 1e-30 .. 1e30"),
]


def test_the_same_file_twice_or_a_copy_is_refused(tmp_path):
    img = bracket()[1]
    write_image(tmp_path / "a.png", img)
    write_image(tmp_path / "b.png", img)
    with pytest.raises(ValidationError, match=r"a.png is given twice"):
        read_bracket([tmp_path / "a.png", tmp_path / "b.png", tmp_path / "a.png"], times=[1, 2, 4])
    with pytest.raises(ValidationError, match=r"a.png and b.png are identical images"):
        calibrate_bracket([tmp_path / "a.png", tmp_path / "b.png"], [1, 2])


def test_images_equal_on_the_sparse_probe_but_different_are_a_bracket():
    # check_distinct compares a sparse probe first; images that agree there must still pass.
    from crfkit.bracket.inputs import check_distinct

    a = bracket()[2]
    b = a.copy()
    b.reshape(-1)[1] ^= 1  # one code differs, between two probed positions
    check_distinct([a, b])
    with pytest.raises(ValidationError, match="image 0 and image 1 are identical"):
        check_distinct([a, a.copy()])
    check_distinct([np.zeros_like(a), np.zeros_like(a)])  # black frames: the sampler reports those


@pytest.mark.parametrize("call, exc_type, match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input(call, exc_type, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc_type, match=match) as exc:
            call()
    assert isinstance(exc.value, CrfkitError)
    assert "\n" not in str(exc.value)


def test_moving_scene_warns_with_the_share_rejected():
    with pytest.warns(UserWarning, match=r"\d+% of sampled pixels get darker in a longer exposure") as rec:
        cal = calibrate_bracket(_moving_bracket(), TIMES, model="polynomial", bootstrap=0)
    share = cal.stats["moving_share"]
    assert 0.1 < share < 1
    assert any(f"{share:.0%}" in str(w.message) for w in rec)
    assert_valid_calibration(cal, len(TIMES))


def test_everything_moving_is_a_fit_error():
    imgs = bracket()[:2]
    with pytest.raises(FitError, match="no usable pixels"):
        calibrate_bracket(imgs[::-1], TIMES[:2], model="polynomial")  # the brighter shot given the shorter time


@pytest.mark.filterwarnings("ignore:The legacy `DICOM` plugin:DeprecationWarning")  # imageio probing
def test_bad_files(tmp_path):
    good = write_bracket(tmp_path / "ok", bracket()[:2])
    rng = np.random.default_rng(0)
    junk = tmp_path / "junk.png"
    junk.write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good[0].read_bytes()[:60])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.tif"
    text.write_text("hello")
    for bad in (junk, trunc, empty, text):
        with pytest.raises(ParseError, match=bad.name):
            read_bracket([good[0], bad], times=[1, 2])
        with pytest.raises(ParseError):
            calibrate_bracket([str(good[0]), str(bad)], [1, 2])
    with pytest.raises(DataNotFoundError, match="missing.png"):
        read_bracket([good[0], tmp_path / "missing.png"])
    (tmp_path / "nothing-here").mkdir()
    with pytest.raises(ValidationError, match="holds no images"):
        read_bracket(tmp_path / "nothing-here")
    for i in range(2):
        (tmp_path / "nothing-here" / f"IMG_000{i}.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    with pytest.raises(ValidationError, match="its 2 HEIC/HEIF files are not supported"):
        read_bracket(tmp_path / "nothing-here")
    with pytest.raises(ValidationError, match="at least 2 images, got 1"):
        read_bracket([good[0]])
    other = tmp_path / "small.png"
    write_image(other, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValidationError, match="differ in size"):
        read_bracket([good[0], other], times=[1, 2])
    from crfkit.io.hdr import write_exr

    hdr_file = tmp_path / "x.exr"
    write_exr(hdr_file, np.ones((4, 4, 3), np.float32))
    with pytest.raises(CrfkitError):
        read_bracket([good[0], hdr_file], times=[1, 2])


# ----------------------------------------------------------------------------- real data
def real_folder(name, files):
    """CRFKIT_DATA/name, skipping when CRFKIT_DATA is unset and failing when it lacks ``files``."""
    env = require_real_data(())
    folder = env / name
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        pytest.fail(f"CRFKIT_DATA={str(env)!r} is set but {folder} lacks {', '.join(missing)}", pytrace=False)
    return folder


FROBISHER = ("IMG_2600.jpg", "IMG_2601.jpg", "IMG_2602.jpg")
MEMORIAL = tuple(f"memorial{n:04d}.png" for n in range(61, 77)) + ("shutter_times.txt",)


@pytest.mark.realdata("dorfCurves.txt")
def test_frobisher_calibrates_with_exif_times():
    folder = real_folder("colour_hdri_frobisher_001", FROBISHER)
    paths = [folder / f for f in FROBISHER]
    br = read_bracket(paths)
    assert br.times_source == "exif"
    np.testing.assert_allclose(br.times, [1 / 8, 1, 8])
    cal = calibrate_bracket(br, bootstrap=0)
    assert_valid_calibration(cal, 3)
    assert cal.times_source == "exif"
    np.testing.assert_allclose(cal.times, [1 / 8, 1, 8])
    v = cal.curves.values
    assert np.all(v[:, -1] > v[:, 0] + 0.9)  # a rising curve over the whole range
    assert np.all(cal.rmse < 0.03), cal.rmse
    hdr = merge_bracket(br, crf=cal)
    assert hdr.dtype == np.float32 and hdr.shape == (426, 640, 3) and np.all(np.isfinite(hdr))


def test_frobisher_shifted_by_hand_is_realigned_and_calibrates_as_the_original():
    """Frobisher's shortest exposure is dark (median grey code 6): its median bitmap is noise, and it
    was once left unaligned with a warning.  Shifted as a hand-held shot would be, every frame now
    returns exactly (a shared-percentile bitmap), and the calibration comes close to the tripod
    one's residual; without --align the same shifted bracket warns that the curves fit poorly."""
    pytest.importorskip("cv2")
    from crfkit.bracket.merge import align_images
    from crfkit.io.images import read_image

    folder = real_folder("colour_hdri_frobisher_001", FROBISHER)
    imgs = [read_image(folder / f) for f in FROBISHER]
    assert float(np.median(imgs[0].mean(axis=2))) < 12  # the case the median cannot align
    shifts = [(3, -5), (0, 0), (-4, 6)]
    moved = [np.roll(im, sh, axis=(0, 1)) for im, sh in zip(imgs, shifts)]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        aligned = align_images(moved)
    assert not any("not aligned" in str(w.message) for w in rec), [str(w.message) for w in rec]
    inner = (slice(20, -20), slice(20, -20))
    for a, b in zip(aligned, imgs):
        np.testing.assert_array_equal(a[inner], b[inner])
    tripod = calibrate_bracket(imgs, [1 / 8, 1, 8], bootstrap=0, model="polynomial")
    realigned = calibrate_bracket(moved, [1 / 8, 1, 8], bootstrap=0, model="polynomial", align=True)
    # Near the tripod calibration's residual (0.004-0.006); the borders the shifts wrapped around add a little.
    assert np.all(realigned.rmse < 0.01) and np.all(tripod.rmse < 0.007), (realigned.rmse, tripod.rmse)
    with pytest.warns(UserWarning, match="fit this bracket poorly"):
        calibrate_bracket(moved, [1 / 8, 1, 8], bootstrap=0, model="polynomial")


def test_shared_quantile_keeps_both_levels_in_the_structured_range():
    from crfkit.bracket.merge import MTB_CODES, _shared_quantile

    pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    bright = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    dark = (bright // 20).astype(np.uint8)  # median near 6: no structure at the median
    q = _shared_quantile(dark, bright)
    assert q is not None and q > 0.5
    for g in (dark, bright):
        assert MTB_CODES[0] <= np.quantile(g, q) <= MTB_CODES[1]
    assert _shared_quantile(np.full((8, 8), 3, np.uint8), bright) is None  # black: no percentile shows structure


def test_a_merge_with_the_wrong_curve_or_a_shifted_bracket_warns_that_the_exposures_disagree():
    """A curve given to the merge was never tested against the bracket: frobisher with sRGB's curve
    (not its camera's), or shifted by hand, makes consecutive exposures disagree, and the merge says
    so; with its own calibration and aligned, it does not.  The measure is in the merge's info."""
    from crfkit.io.images import read_image

    folder = real_folder("colour_hdri_frobisher_001", FROBISHER)
    imgs = [read_image(folder / f) for f in FROBISHER]
    times = [1 / 8, 1, 8]
    own = calibrate_bracket(imgs, times, bootstrap=0, model="polynomial")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _, info = merge_bracket(imgs, times, crf=own, return_info=True)
    assert not [str(w.message) for w in rec], [str(w.message) for w in rec]
    assert info["exposure_disagreement"] < 0.05
    with pytest.warns(UserWarning, match=r"the exposures disagree.*\d+% apart.*calibrate it"):
        _, info = merge_bracket(imgs, times, crf="srgb", return_info=True)
    assert info["exposure_disagreement"] > 0.3
    shifted = [np.roll(imgs[0], (3, -5), axis=(0, 1)), imgs[1], np.roll(imgs[2], (-4, 6), axis=(0, 1))]
    with pytest.warns(UserWarning, match="the exposures disagree.*--align"):
        merge_bracket(shifted, times, crf=own)


def test_exposure_disagreement_grows_with_wrong_times():
    imgs = bracket()
    b = crfkit.bracket.inputs.as_bracket(imgs, TIMES)
    inv = np.tile(CURVES["srgb"].as_kind("inverse").values, (3, 1))
    from crfkit.bracket import exposure_disagreement

    right = exposure_disagreement(b, inv, TIMES)
    wrong = exposure_disagreement(b, inv, [t ** 1.3 for t in TIMES])
    assert right < 0.02 < 0.2 < wrong


def memorial():
    folder = real_folder("debevec_memorial_bracket", MEMORIAL)
    from crfkit.bracket.inputs import parse_time
    from crfkit.io.images import read_image

    # shutter_times.txt: one exposure time in seconds per file, memorial0061 (32 s) .. memorial0076 (1/1024 s)
    times = [parse_time(s) for s in (folder / "shutter_times.txt").read_text().split()]
    imgs = [read_image(folder / f)[::4, ::4] for f in MEMORIAL[:-1]]  # every 4th pixel: no mixing of values
    return imgs, times


@pytest.mark.realdata("dorfCurves.txt")
def test_memorial_calibrates_and_merges():
    imgs, times = memorial()
    assert len(times) == len(imgs) == 16
    assert times[0] == 32 and times[-1] == pytest.approx(1 / 1024)
    means = [float(im.mean()) for im in imgs]
    assert means[0] > means[5] > means[10]  # the file's times fall with the images' brightness
    cal = calibrate_bracket(imgs, times, bootstrap=0)
    assert_valid_calibration(cal, 16)
    np.testing.assert_allclose(cal.times, times)
    hdr, info = merge_bracket(imgs, times, crf=cal, return_info=True)
    assert hdr.dtype == np.float32 and hdr.shape == imgs[0].shape
    assert np.all(np.isfinite(hdr)) and np.all(hdr > 0)
    assert hdr.max() / hdr.min() > 1e4  # a high dynamic range scene
    # read as inverse times (1/32 s first), the brightest shot would be the shortest: every pixel "moves"
    with pytest.raises(FitError, match="100% of pixels get darker in a longer exposure"):
        sample_bracket(crfkit.bracket.inputs.as_bracket(imgs, [1 / t for t in times]))


@pytest.mark.realdata("dorfCurves.txt")
def test_memorial_align_keeps_an_aligned_bracket():
    """The tripod bracket stays put.  (Before commit 88ba6d7 the eight darkest frames were shifted by 17 px
    left and 9 px up: AlignMTB's step between memorial0068 and memorial0069, median codes 20 and 17, was a
    spurious (17, 9) that passed the guards and was chained to every darker frame.)"""
    pytest.importorskip("cv2")
    from crfkit.bracket.merge import align_images

    folder = real_folder("debevec_memorial_bracket", MEMORIAL)
    from crfkit.io.images import read_image

    imgs = [read_image(folder / f) for f in MEMORIAL[:-1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not aligned" warnings are fine
        aligned = align_images(imgs)
    inner = (slice(40, -40), slice(40, -40))
    for i, (a, b) in enumerate(zip(aligned, imgs)):  # the tripod shots differ by a pixel at most
        assert any(np.array_equal(a[inner], np.roll(b, (dy, dx), axis=(0, 1))[inner])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)), f"{MEMORIAL[i]} moved by more than 1 px"


# ------------------------------------------------------------------------ black level (film scans, offsets)
def _fogged_bracket(offset=16, n=10, seed=3):
    """A bracket like a film scan: every code lifted by a black level ``offset`` (fog, scanner),
    with noise; the short exposures are mostly that level, a few bright patches above it.
    Shortest exposure first, one stop apart."""
    rng = np.random.default_rng(seed)
    radiance = scene(stops=12, seed=seed, peak=1.0)
    srgb = CURVES["srgb"].values
    out = []
    for i in range(n):
        x = np.interp(np.clip(radiance * 2.0 ** (i - n + 1), 0, 1), GRID, srgb)
        codes = offset + (255 - offset) * x + rng.normal(0, 1.2, x.shape)
        out.append(np.clip(np.round(codes), 0, 255).astype(np.uint8))
    return out, [2.0 ** (i - n + 1) for i in range(n)]


def test_a_black_level_raises_the_noise_floor_only_where_there_is_one():
    from crfkit.bracket.samples import FLOOR, black_floor, exposure_order

    fog, times = _fogged_bracket()
    order = exposure_order(fog, times)
    floor = black_floor(fog, order)
    assert 16 / 255 < floor < 0.12  # above the fog and its noise, well below the scene's codes
    plain = bracket()
    assert black_floor(plain, exposure_order(plain, TIMES)) == FLOOR
    # A pile-up at black itself (a dark shot of an ordinary camera) is the ordinary floor.
    dark = [np.zeros((64, 64, 3), np.uint8) + (np.arange(64) % 3).astype(np.uint8)[:, None, None], plain[-1]]
    assert black_floor(dark, [0, 1]) == FLOOR
    s = crfkit.bracket.sample_bracket(crfkit.bracket.inputs.as_bracket(fog, times))
    assert s.stats["floor"] == pytest.approx(floor)


def test_unknown_times_of_a_fogged_bracket_are_ordered_and_estimated():
    from crfkit.bracket.samples import exposure_order

    fog, times = _fogged_bracket()
    # Mean brightness cannot order the shortest shots (fog plus noise); pixel-wise comparison can.
    assert list(exposure_order(fog, None)) == list(range(len(fog)))
    shuffled = [fog[i] for i in (3, 0, 9, 5, 1, 8, 2, 7, 4, 6)]
    assert [int(i) for i in exposure_order(shuffled, None)] == [1, 4, 6, 0, 8, 3, 9, 7, 5, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_bracket(fog, None, bootstrap=0)
    steps = np.diff(np.log2(cal.times))
    # The exponential ambiguity leaves a common scale of the steps to the times prior (about 0.6
    # stop here for a 1-stop sRGB bracket, see the xfail above); the pattern must be even, as
    # shot.  Measured: the shortest pair's step is still about half the others (0.28 against
    # 0.57 to 0.66): the offset also bends the codes just above the floor, which g(0) = 0 at
    # code 0 cannot follow.
    assert np.all(steps > 0.2) and np.all(steps < 1.5), steps
    assert steps[1:].max() / steps[1:].min() < 1.3, steps
    # With the floor held at the default, the fog's codes are data and shrink the short shots'
    # steps (measured 0.24, 0.38, 0.49, then 0.55 to 0.66).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        low = calibrate_bracket(fog, None, bootstrap=0, floor=0.02)
    low_steps = np.diff(np.log2(low.times))
    assert low_steps[1:].max() / low_steps[1:].min() > 1.5, low_steps


def test_weakly_tied_exposures_cannot_run_away_with_unknown_times():
    from crfkit.bracket.solvers.model import STEP_BOUNDS, bounded_log_times

    lt = np.array([[0.0, 1e3, 1e3 + 0.001, -5.0, 2.0]])
    b = bounded_log_times(lt)
    steps = np.diff(b, axis=1)
    assert np.all(steps >= STEP_BOUNDS[0] - 1e-12) and np.all(steps <= STEP_BOUNDS[1] + 1e-12)
    # A bracket whose shortest shot holds almost nothing above the floor: finite, bounded ratios.
    fog, _ = _fogged_bracket(n=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_bracket(fog, None, bootstrap=0, floor=0.09)
    ratios = np.diff(np.log(np.sort(cal.times)))
    assert np.all(np.isfinite(cal.times)) and ratios.max() <= STEP_BOUNDS[1] + 1e-9


def test_flat_scene_warns_that_the_curve_is_mostly_extrapolated():
    """Three flat grey frames hold two usable levels per channel: the calibration still returns a
    valid curve, and says that it is the model's extrapolation; a real scene draws no such warning."""
    flat = [np.full((40, 50, 3), v, np.uint8) for v in (40, 80, 120)]
    with pytest.warns(UserWarning, match=r"cover little of the code range \(R 0\.31\.\.0\.47 \(2 levels\)"):
        cal = calibrate_bracket(flat, [1, 2, 3], model="polynomial", bootstrap=0)
    assert_valid_calibration(cal, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        calibrate_bracket(bracket(), TIMES, model="polynomial", bootstrap=0)


@pytest.mark.realdata
@pytest.mark.parametrize("model", ["polynomial", "ggcm"])
def test_each_channel_stops_on_its_own(model):
    """Channels are solved as one batch but each converges (and backtracks) on its own: a channel
    solved alone gives the same curve and the same iteration count.  On frobisher's JPEGs the
    channels take different numbers of iterations (GGCM: 14, 11 and 19, measured)."""
    from crfkit.bracket import read_bracket
    from crfkit.bracket.samples import sample_bracket

    s = sample_bracket(read_bracket([real_folder("colour_hdri_frobisher_001", FROBISHER)]), n_samples=1500)
    z, valid = s.z.transpose(2, 0, 1), s.valid.transpose(2, 0, 1)
    log_times = np.log(s.times)
    solver = get_solver("model", model=model)
    batch = solver.solve(z, valid, log_times, s.code_max)
    assert batch.info["converged"].all()
    for c in range(3):
        alone = solver.solve(z[c:c + 1], valid[c:c + 1], log_times, s.code_max)
        np.testing.assert_allclose(alone.inverse[0], batch.inverse[c], rtol=0, atol=1e-9)
        assert alone.info["iterations"][0] == batch.info["iterations"][c]


@pytest.mark.realdata("dorfCurves.txt")
def test_frobisher_with_unknown_times_converges():
    """Issue 11's `crfkit calibrate DIR/ --unknown-times` on frobisher: the red channel's robust
    reweighting creeps (180 iterations, measured) and must still converge, without a warning."""
    from crfkit.bracket import read_bracket

    bracket = read_bracket([real_folder("colour_hdri_frobisher_001", FROBISHER)], unknown_times=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = calibrate_bracket(bracket, bootstrap=0)
    assert not [w for w in caught if "converge" in str(w.message)], [str(w.message) for w in caught]
    assert_valid_calibration(cal, 3)
    assert cal.times_source.startswith("estimated")


def test_merge_bracket_calibrates_with_its_own_clip():
    """merge_bracket's clip is the clipping level of the calibration it runs, too (it once calibrated
    at the default whatever clip was given)."""
    from crfkit.bracket import calibrate_bracket, merge_bracket

    images, times = bracket(times=(1.0, 2.0, 4.0, 8.0)), (1.0, 2.0, 4.0, 8.0)
    opts = dict(model="polynomial", bootstrap=0)
    at_09 = calibrate_bracket(images, times, clip=0.9, **opts)
    default = calibrate_bracket(images, times, **opts)
    assert not np.allclose(at_09.inverse().values, default.inverse().values)
    merged = merge_bracket(images, times, clip=0.9, **opts)
    np.testing.assert_array_equal(merged, merge_bracket(images, times, crf=at_09, clip=0.9))


# ----------------------------------------------------------------------------- the top of the curve
#: A camera with a highlight shoulder: the inverse curve rises by a quarter over the last 2.4 % of
#: codes (log 0.24 from code 0.976 to 1), more than a straight extrapolation from below gives.
SHOULDER_INVERSE = GRID ** 2.2 * (1 + 0.5 * GRID ** 30) / 1.5


@pytest.mark.parametrize("seed", [0, 1])
def test_clipping_top_rule_measures_the_scale_of_a_shoulder(seed):
    # Measured: straight 0.067 .. 0.069, clipping 0.020 (polynomial model, seeds 0 .. 3).
    forward = Curve(SHOULDER_INVERSE, kind="inverse").as_kind("forward")
    images = render(scene(seed=seed), forward)
    err = {}
    for rule in ("straight", "clipping"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = calibrate_bracket(images, times=TIMES, model="polynomial", top_rule=rule, bootstrap=3)
        assert_valid_calibration(cal, len(TIMES))
        err[rule] = np.sqrt(np.mean((cal.inverse().values - SHOULDER_INVERSE) ** 2))
    assert err["clipping"] < 0.03
    assert err["clipping"] < 0.5 * err["straight"]


def test_clipping_top_rule_is_the_straight_one_when_nothing_saturates():
    images = render(scene(peak=0.05), CURVES["srgb"])  # brightest pixel 0.8 in the longest exposure
    assert max(im.max() for im in images) < 250
    cals = [calibrate_bracket(images, times=TIMES, model="polynomial", top_rule=rule, bootstrap=0)
            for rule in ("straight", "clipping", "combined")]
    np.testing.assert_array_equal(cals[0].curves.values, cals[1].curves.values)
    np.testing.assert_array_equal(cals[0].curves.values, cals[2].curves.values)


def test_combined_top_rule_rises_to_the_mean_log_level_of_the_straight_and_measured_ones():
    from crfkit.bracket.solvers.base import normalise_top

    inverse = np.tile(GRID ** 2.2 * 0.8, (3, 1))  # any scale: normalise_top sets g(1) = 1
    z_top = np.full(3, 0.9)
    straight = normalise_top(inverse, z_top, rule="straight")
    ic = int(np.rint(0.9 * (GRID.size - 1)))
    straight_level = np.log(inverse[0, ic] / straight[0, ic])  # log g(1) in the input's units
    measured = np.array([straight_level + 0.2, straight_level - 0.1, np.nan])
    clipping = normalise_top(inverse, z_top, rule="clipping", clip_level=measured)
    combined = normalise_top(inverse, z_top, rule="combined", clip_level=measured)
    levels = {name: np.log(inverse[:, ic] / c[:, ic]) for name, c in (("clipping", clipping), ("combined", combined))}
    np.testing.assert_allclose(levels["clipping"][0], measured[0], atol=1e-9)
    np.testing.assert_allclose(levels["combined"][0], straight_level + 0.1, atol=1e-9)
    np.testing.assert_allclose(levels["combined"][1], straight_level - 0.05, atol=1e-9)
    np.testing.assert_allclose(combined[2], straight[2])  # nothing measured: straight
    assert np.all(combined[:, -1] == 1.0) and np.all(np.diff(combined, axis=1) >= 0)


def test_clipping_log_level_sees_through_pixels_of_saturated_areas_read_below_the_top():
    from crfkit.bracket.solvers.base import clipping_log_level

    # Gamma-2.2 camera, 4 exposures one stop apart, irradiances over 8 stops; the clipping level
    # is log g(1) = 0.  JPEG ringing is mimicked: 60 % of the saturated entries read 0.985, so that
    # most samples above the clipping level are not saturated (the fewest-misclassified threshold fails).
    rng = np.random.default_rng(5)
    log_e = rng.uniform(-6.0, 1.5, size=4000) * np.log(2.0)
    log_t = np.log(2.0) * np.arange(4)
    exposure = np.exp(log_e[:, None] + log_t[None, :])
    z = np.round(np.clip(exposure, 0, 1) ** (1 / 2.2) * 255) / 255
    saturated = z >= 1.0
    z[saturated & (rng.random(z.shape) < 0.6)] = 0.985
    valid = (z > 0.02) & (z < 0.98)
    level = clipping_log_level(GRID[None] ** 2.2, z[None], valid[None], log_t[None])
    assert abs(level[0]) < 0.03
    # Too few saturated samples: NaN (the caller falls back to the straight extrapolation).
    few = clipping_log_level(GRID[None] ** 2.2, np.minimum(z, 0.97)[None], valid[None], log_t[None])
    assert np.isnan(few[0])


def test_unknown_top_rule_is_refused_naming_the_valid_ones():
    with pytest.raises(ValidationError, match="top_rule must be one of.*'clipping'.*got 'bogus'"):
        calibrate_bracket(bracket(), times=TIMES, model="polynomial", top_rule="bogus", bootstrap=0)
    with pytest.raises(ValidationError, match=r"unknown option\(s\) \['top_rule'\] for bracket method 'debevec'"):
        calibrate_bracket(bracket(), times=TIMES, method="debevec", top_rule="clipping", bootstrap=0)


def test_debevec_continues_straight_above_the_highest_valid_code():
    """Above the highest valid code (no data) Debevec's levels are set by a smoothness term whose
    hat weights vanish there, which made the scale (g(1) = 1) noisy; the curve is continued
    straight in the log domain, as the model solver does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_bracket(bracket(), times=TIMES, method="debevec", bootstrap=0)
    # The highest valid code of this bracket is 249/255 in every channel (0.98 and above is clipped).
    ic = int(np.rint(249 / 255 * (GRID.size - 1)))
    il = int(np.rint((249 / 255 - 0.05) * (GRID.size - 1)))
    for g in cal.inverse().values:
        assert g[-1] == pytest.approx(1.0)
        below = (np.log(g[ic]) - np.log(g[il])) / (ic - il)  # mean log-slope of the last 5 % per grid step
        np.testing.assert_allclose(np.diff(np.log(g[ic:])), below, rtol=2e-3)


def test_a_pixel_darker_than_any_shorter_exposure_is_rejected_as_moving():
    """The ordering test compares each exposure with the brightest shorter one, not only its neighbour, and
    a clipped code followed by a dark one is a change, not highlight desaturation (a film scan's frame reads
    255, 16, 136, 255, 16 across Memorial's exposures)."""
    rng = np.random.default_rng(3)
    base = rng.uniform(0.05, 1.0, (40, 60, 3))
    times = [1.0, 2.0, 4.0, 8.0, 16.0]
    imgs = [np.round(np.clip(base * t / 16.0, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8) for t in times]
    imgs[1][:10] = 136  # a frame that flashes bright in one exposure ...
    imgs[2][:10] = 255  # ... clips in the next ...
    for im in imgs[3:]:
        im[:10] = 16  # ... and is dark after
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = sample_bracket(crfkit.bracket.inputs.as_bracket(imgs, times), n_samples=500, edge_tol=None)
    assert s.stats["samples"] > 0 and not np.any(s.positions[:, 0] < 10)
    assert 0.1 < s.stats["moving_share"] < 0.3  # the 10 rows of 40, and only they


@settings(deadline=None, max_examples=60)
@given(z=hnp.arrays(np.float64, st.tuples(st.integers(0, 30), st.integers(2, 6), st.integers(1, 3)),
                    elements=st.floats(0, 1)),
       tol=st.floats(0, 0.2))
def test_ordering_test_matches_its_definition(z, tol):
    """The vectorised ordering test flags exactly the pixels with a judged code (0.1 < z < clip) in some
    exposure above a later code by more than the tolerance, or a clipped code followed by one below 0.5."""
    from crfkit.bracket.samples import _darker_than_before

    clip = 0.98
    n, n_exp, _ = z.shape
    expected = np.zeros(n, bool)
    for p in range(n):
        for j in range(n_exp):
            for k in range(j + 1, n_exp):
                judged = (z[p, j] > 0.1) & (z[p, j] < clip)
                expected[p] |= np.any(judged & (z[p, j] - z[p, k] > tol))
                expected[p] |= np.any((z[p, j] >= clip) & (z[p, k] < 0.5))
    np.testing.assert_array_equal(_darker_than_before(z, clip, tol), expected)
