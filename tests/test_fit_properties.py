"""Property-based tests of ``crfkit.fit`` over every registered model (issue 12).

The invariant, for curve arrays and for sparse samples, valid or malformed:
the call returns a valid result (finite parameters and curves of the
documented shapes; non-decreasing to ``MONOTONE_TOL`` when ``monotone=True``)
or raises a :class:`crfkit.CrfkitError`.  The default hypothesis profile keeps
each test to seconds; ``HYPOTHESIS_PROFILE=thorough`` runs many more examples.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crfkit
from crfkit import GRID, CurveSet, fit
from crfkit.curves.curve import MONOTONE_TOL
from crfkit.models import MODELS, PCABasis, get_model_class
from _helpers import monotone_violation

MODEL_NAMES = sorted(MODELS)


@pytest.fixture(scope="module")
def pca_bases():
    """Small PCA bases (forward and inverse) from synthetic monotone curves."""
    rng = np.random.default_rng(5)
    fwd = GRID[None] ** rng.uniform(0.3, 1.0, (30, 1))
    fwd = np.sort(np.clip(fwd + 0.03 * np.sin(np.pi * GRID * rng.integers(1, 4, (30, 1))) * GRID, 0, 1), axis=1)
    fwd[:, 0], fwd[:, -1] = 0.0, 1.0
    cs = CurveSet(fwd, "forward", name="synth")
    return {"forward": PCABasis.from_curves(cs), "inverse": PCABasis.from_curves(cs.as_kind("inverse"))}


def _model_options(draw, name, kind, emor_dir, pca_bases):
    opts = {}
    if name == "emor":
        opts["path"] = emor_dir
    elif name == "pca":
        opts["basis"] = pca_bases[kind]
    elif name == "polynomial" and draw(st.booleans()):
        opts["pin_zero"] = draw(st.booleans())
    cls = get_model_class(name)
    if cls.linear and draw(st.integers(0, 5)) == 0:
        opts["regularization"] = draw(st.sampled_from([0.0, 1e-6, 1e-2, -1.0, float("nan"), "a"]))
    return opts


def _draw_k(draw, name):
    lo, hi = get_model_class(name).k_range
    hi = min(hi, 40)  # PCA allows up to 1023 components; the test bases have fewer
    return draw(st.one_of(st.none(), st.integers(lo, hi), st.sampled_from([lo, hi, lo - 1, hi + 1])))


def _corrupt(draw, arr):
    """Mostly the array itself; sometimes NaN, inf, complex, out of range, wrong shape."""
    how = draw(st.sampled_from(["none"] * 6 + ["nan", "inf", "complex", "range", "short", "3d", "empty"]))
    arr = np.array(arr, dtype=float)
    if how == "none" or arr.size == 0:
        return arr
    i = draw(st.integers(0, arr.size - 1))
    if how in ("nan", "inf", "range"):
        arr.flat[i] = {"nan": np.nan, "inf": np.inf, "range": 1.5}[how]
        return arr
    if how == "complex":
        return arr + 1e-6j
    if how == "short":
        return arr[..., :-1]
    if how == "3d":
        return arr[None, None]
    return arr[..., :0]


def _curves(draw, n):
    """(n, 1024) curves: power laws, noisy, random monotone with flat runs, or noise."""
    family = draw(st.sampled_from(["power", "noisy", "steps", "random", "flat"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if family == "power":
        return GRID[None] ** rng.uniform(0.2, 5.0, (n, 1))
    if family == "noisy":
        return np.clip(GRID[None] ** rng.uniform(0.3, 3.0, (n, 1)) + rng.normal(0, 0.05, (n, 1024)), 0, 1)
    if family == "steps":
        steps = rng.random((n, 1023)) * (rng.random((n, 1023)) < 0.1)
        c = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
        return c / np.maximum(c[:, -1:], 1e-12)
    if family == "flat":
        return np.full((n, 1024), rng.random())
    return rng.random((n, 1024))


def _check(res, n, single, monotone):
    """A valid FitResult: finite, documented shapes, monotone when asked."""
    vals = np.atleast_2d(res.curves.values)
    params = np.asarray(res.params)
    assert vals.shape == (n, 1024)
    assert params.shape == ((res.n_params,) if single else (n, res.n_params))
    assert np.all(np.isfinite(params)) and np.all(np.isfinite(vals)) and np.all(np.isfinite(res.rmse))
    if monotone:
        assert monotone_violation(vals).max() <= MONOTONE_TOL
        for c in ([res.curve] if single else res.curves):
            c.inverse()  # what users do next: must not raise NotMonotoneError


def _call(**kwargs):
    """Run fit; return the result or None for a CrfkitError (anything else fails the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            return fit(**kwargs)
        except crfkit.CrfkitError:
            return None


@given(data=st.data(), name=st.sampled_from(MODEL_NAMES), kind=st.sampled_from(["forward", "inverse"]),
       monotone=st.booleans())
def test_fit_on_curve_arrays(emor_dir, pca_bases, data, name, kind, monotone):
    draw = data.draw
    n = draw(st.integers(1, 3))
    single = n == 1 and draw(st.booleans())
    y = _curves(draw, n)
    y = _corrupt(draw, y[0] if single else y)
    weights = None
    if draw(st.integers(0, 4)) == 0:
        weights = draw(st.sampled_from([np.ones(1024), (np.arange(1024) % 3 > 0) * 1.0, np.zeros(1024), np.ones(5)]))
    opts = _model_options(draw, name, kind, emor_dir, pca_bases)
    res = _call(data=y, model=name, k=_draw_k(draw, name), kind=kind, weights=weights, monotone=monotone, **opts)
    if res is not None:
        _check(res, n, single, monotone)


def _abscissae(draw):
    m = draw(st.integers(0, 40))
    layout = draw(st.sampled_from(["uniform", "crowded0", "crowded1", "duplicates", "endpoints", "one-x", "ticks"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if layout == "uniform":
        return rng.random(m)
    if layout == "crowded0":
        return np.linspace(0, 1, m) ** draw(st.floats(1, 12))
    if layout == "crowded1":
        return 1 - np.linspace(0, 1, m) ** draw(st.floats(1, 12))
    if layout == "duplicates":
        return np.repeat(rng.random(max(m // 3, 1)), 3)
    if layout == "endpoints":
        return np.r_[0.0, rng.random(m), 1.0, 1.0, 0.0]
    if layout == "one-x":
        return np.full(max(m, 1), draw(st.sampled_from([0.0, 0.5, 1.0])))
    return np.sort(rng.choice(1001, size=min(m, 1001), replace=False)) / 1000.0


@given(data=st.data(), name=st.sampled_from(MODEL_NAMES), kind=st.sampled_from(["forward", "inverse"]),
       monotone=st.booleans())
def test_fit_on_sparse_samples(emor_dir, pca_bases, data, name, kind, monotone):
    draw = data.draw
    x = _abscissae(draw)
    n = draw(st.integers(1, 3))
    single = n == 1 and draw(st.booleans())
    truth = _curves(draw, n)
    y = np.stack([np.interp(x, GRID, c) for c in truth]) if x.size else np.zeros((n, 0))
    if single:
        y = y[0]
    if draw(st.booleans()):
        x = _corrupt(draw, x)
    else:
        y = _corrupt(draw, y)
    sample = (x, y)
    if draw(st.integers(0, 3)) == 0:
        w = draw(st.sampled_from(["random", "zeros", "negative", "nan", "short"]))
        rng = np.random.default_rng(0)
        w = {"random": rng.choice([0.0, 0.5, 1.0, 4.0], size=np.shape(x)), "zeros": np.zeros(np.shape(x)),
             "negative": -np.ones(np.shape(x)), "nan": np.full(np.shape(x), np.nan),
             "short": np.ones(max(np.size(x) - 1, 0))}[w]
        sample = (x, y, w)
    opts = _model_options(draw, name, kind, emor_dir, pca_bases)
    res = _call(data=sample, model=name, k=_draw_k(draw, name), kind=kind, monotone=monotone, **opts)
    if res is not None:
        _check(res, n, single, monotone)


@given(data=st.data())
def test_pcabasis_arrays_are_validated(data):
    """PCABasis from arbitrary arrays: a usable basis, or a ValidationError."""
    draw = data.draw
    k = draw(st.integers(0, 3))
    length = draw(st.sampled_from([1024, 1024, 1023, 1]))
    dtype = draw(st.sampled_from([float, np.float32, int, bool, complex]))
    mean = (GRID if length == 1024 else np.linspace(0, 1, length)).astype(dtype)
    comps = np.eye(max(k, 1), length, dtype=dtype)[:k]
    if k and draw(st.booleans()):
        comps = np.real(comps).astype(float)
        comps[0, draw(st.integers(0, length - 1))] = draw(st.sampled_from([np.nan, np.inf, 0.5]))
    ratio = np.ones(draw(st.integers(0, 3)))
    kind = draw(st.sampled_from(["forward", "inverse", "sideways", 3]))
    try:
        b = PCABasis(mean, comps, ratio, kind)
    except crfkit.ValidationError:
        return
    assert b.mean.shape == (1024,) and b.components.shape == (k, 1024) and b.components.dtype == np.float64
    assert np.all(np.isfinite(b.components)) and b.explained_variance_ratio.shape == (k,)
