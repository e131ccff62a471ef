"""Regression tests for issue 12, the fitting layer (defects 1, 5, 7, 13, 14).

Each test reproduces a report of the issue; before the fix each one failed
(a decreasing "monotone" fit, a NumPy error, a silent 1e30 curve, a file
accepted whatever it held, a bare ValueError, a ComplexWarning).
"""

import json

import numpy as np
import pytest

import crfkit
from crfkit import GRID, Curve, CurveSet, fit
from crfkit.curves.curve import MONOTONE_TOL
from crfkit.errors import FitError, ParseError, ValidationError
from crfkit.models import PCABasis, get_model
from _helpers import monotone_violation


def _ggcm_case(case):
    """The noisy sparse samples on which the old GGCM penalty loop gave up (drops, P(0) < 0)."""
    rng = np.random.default_rng(0)
    for _ in range(case + 1):
        x = np.sort(rng.random(12))
        y = np.clip(x**0.45 + rng.normal(0, 0.08, 12), 0, 1)
    return x, y


# -- defect 1: monotone=True must give monotone curves (or a FitError) --------------------------
@pytest.mark.realdata("dorfCurves.txt")
@pytest.mark.parametrize("k", [16, 18, 20])
def test_high_degree_polynomial_monotone_fit_is_invertible(dorf, k):
    # The reproduction: k >= 14 left drops up to 7e-5; inverse() refused crfkit's own result.
    try:
        res = fit(dorf[50], model="polynomial", k=k, monotone=True)
    except FitError as exc:  # allowed, when it says why
        assert "monotone" in str(exc)
        return
    assert res.curve.is_monotone()
    res.curve.inverse()


@pytest.mark.realdata("dorfCurves.txt")
def test_polynomial_monotone_fit_of_every_dorf_curve(dorf):
    # Batch of 201 curves, k = 16: one curve used to drop by 1.8e-9 > MONOTONE_TOL.
    res = fit(dorf, model="polynomial", k=16, monotone=True)
    assert monotone_violation(res.curves.values).max() <= MONOTONE_TOL


@pytest.mark.parametrize("name", ["emor", "pca"])
def test_crowded_samples_monotone_basis_fit_never_explodes(emor_dir, name):
    # x crowded at 0: EMoR-25 / PCA-25 "monotone" fits dropped by 1e7 and more.
    x = np.linspace(0, 1, 30) ** 6
    if name == "emor":
        opts = {"path": emor_dir}
    else:
        rng = np.random.default_rng(1)
        train = np.sort(rng.random((40, 1024)) ** 3, axis=1)
        train[:, 0], train[:, -1] = 0, 1
        opts = {"basis": PCABasis.from_curves(CurveSet(train, "inverse", name="t"))}
    try:
        res = fit((x, x**2.2), model=name, k=25, kind="inverse", monotone=True, **opts)
    except FitError as exc:
        assert "parameters but only" in str(exc) or "monotone" in str(exc)
        return
    assert res.curve.is_monotone()
    assert np.abs(res.curve.values).max() < 10


@pytest.mark.parametrize("case, k", [(1, 8), (7, 5), (18, 8), (22, 8)])
def test_ggcm_monotone_fit_is_monotone_with_positive_exponent_at_zero(case, k):
    x, y = _ggcm_case(case)
    res = fit((x, y), model="ggcm", k=k, monotone=True)
    assert res.params[0] > 0  # P(0) > 0: f(0) = 0
    assert monotone_violation(res.curve.values)[0] <= MONOTONE_TOL
    assert res.curve.values[0] == 0.0 and res.curve.values[-1] == pytest.approx(1.0)
    # Not a degenerate answer: about as close to the samples as the unconstrained fit allows.
    free = fit((x, y), model="ggcm", k=1)
    assert res.rmse <= free.rmse + 1e-9


def test_monotone_lstsq_result_satisfies_the_constraints():
    from crfkit.models.base import monotone_lstsq

    rng = np.random.default_rng(3)
    model = get_model("polynomial", k=12)
    G, h = model.monotone_constraints()
    x = np.linspace(0, 1, 40) ** 3
    a, B = model.design(x)
    y = np.clip(np.sort(rng.random((6, 40)), axis=1) + rng.normal(0, 0.05, (6, 40)), 0, 1)
    c = monotone_lstsq(np.broadcast_to(B, (6,) + B.shape), y - a, G, h)
    assert (c @ G.T - h).min() >= -1e-12


# -- defect 5: rank-deficient samples ------------------------------------------------------------
def test_samples_all_at_zero_raise_fit_error(emor_dir):
    # Was numpy.linalg.LinAlgError.
    with pytest.raises(FitError, match="parameters but only 0"):
        fit((np.zeros(10), np.zeros(10)), model="emor", k=5, path=emor_dir)


def test_polynomial_samples_including_one_raise_fit_error():
    # x = 1 carries no information (f(1) = 1 is built in): was LinAlgError.
    x = np.array([0.2, 0.5, 1.0, 1.0, 1.0])
    with pytest.raises(FitError, match="Poly-4 has 4 parameters but only 2"):
        fit((x, np.sqrt(x)), model="polynomial", k=4)


@pytest.mark.parametrize("name", ["polynomial", "emor", "ggcm"])
def test_fewer_distinct_x_than_parameters_raise_not_1e30(emor_dir, name):
    # Ten samples at two distinct x: the count (10) passed, the fit returned 1e14..1e30 curves.
    x = np.repeat([0.3, 0.6], 5)
    opts = {"path": emor_dir} if name == "emor" else {}
    with pytest.raises(FitError, match="but only 2 are determined"):
        fit((x, x**0.5), model=name, k=5, **opts)


def test_rank_deficient_samples_fit_with_regularization(emor_dir):
    x = np.repeat([0.3, 0.6], 5)
    res = fit((x, x**0.5), model="emor", k=5, path=emor_dir, regularization=1e-3)
    assert np.all(np.isfinite(res.params)) and np.abs(res.curve.values).max() < 10


def test_zero_weights_leave_too_few_points():
    x = np.linspace(0.1, 0.9, 8)
    w = np.r_[np.ones(2), np.zeros(6)]
    with pytest.raises(FitError, match="curve 1"):
        fit((x, np.stack([x**0.5, x**0.6]), np.stack([np.ones(8), w])), model="polynomial", k=4)


# -- defect 7: PCABasis.load validates what the file holds ---------------------------------------
def _write_basis(path, meta=None, **arrays):
    rng = np.random.default_rng(0)
    comps = np.linalg.qr(rng.normal(size=(1024, 3)))[0].T
    base = dict(mean=GRID**0.5, components=comps, explained_variance_ratio=np.array([0.5, 0.3, 0.1]))
    base.update(arrays)
    base = {k: v for k, v in base.items() if v is not None}
    meta = {"format": "crfkit-pcabasis", "version": 1, "kind": "forward", "source": "t", "attrs": {}} if meta is None else meta
    np.savez(path, **base, **{"meta.json": np.array(json.dumps(meta))})
    return path


@pytest.mark.parametrize(
    "arrays, meta",
    [
        ({"mean": np.ones(100)}, None),
        ({"components": np.ones((3, 7))}, None),
        ({"components": np.ones(1024)}, None),
        ({"components": np.full((3, 1024), np.nan)}, None),
        ({"mean": np.r_[np.inf, np.zeros(1023)]}, None),
        ({"components": np.ones((3, 1024), dtype=complex)}, None),
        ({"explained_variance_ratio": np.ones(2)}, None),
        ({"mean": np.array(["x"] * 1024)}, None),
        ({"components": None}, None),
        ({}, {"format": "crfkit-pcabasis", "kind": ["forward"], "source": "t"}),
        ({}, {"format": "crfkit-pcabasis", "kind": "sideways", "source": "t"}),
        ({}, {"format": "crfkit-pcabasis", "kind": "forward", "source": 3}),
        ({}, {"format": "crfkit-pcabasis", "kind": "forward", "source": "t", "attrs": "x"}),
        ({}, {"format": "crfkit-pcabasis", "source": "t"}),
        ({}, ["not", "a", "dict"]),
    ],
)
def test_pcabasis_load_rejects_malformed_files(tmp_path, arrays, meta):
    path = _write_basis(tmp_path / "b.npz", meta, **arrays)
    with pytest.raises(ParseError, match="b.npz"):
        PCABasis.load(path)


def test_pcabasis_load_round_trip_and_fit(tmp_path):
    b = PCABasis.load(_write_basis(tmp_path / "b.npz"))
    assert b.components.shape == (3, 1024) and b.components.dtype == np.float64
    res = fit(GRID**0.45, model="pca", k=3, basis=b)
    assert np.all(np.isfinite(res.curve.values))


def test_pcabasis_constructor_and_modified_instance_are_checked():
    with pytest.raises(ValidationError, match="mean"):
        PCABasis(np.ones(5), np.ones((1, 1024)), np.ones(1))
    b = PCABasis(GRID.copy(), np.ones((1, 1024)) / 32, np.ones(1))
    b.components = np.full((1, 1024), np.nan)
    with pytest.raises(ValidationError, match="components"):
        fit(GRID**0.5, model="pca", k=1, basis=b)


# -- defect 13: regularization is checked ---------------------------------------------------------
@pytest.mark.parametrize("value", ["a", -1.0, np.nan, np.inf, None, [1e-3]])
def test_bad_regularization_is_a_validation_error(emor_dir, value):
    with pytest.raises(ValidationError, match="regularization"):
        fit(GRID**0.5, model="emor", k=3, path=emor_dir, regularization=value)


# -- defect 14: complex arrays are rejected, not silently made real -------------------------------
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    "call",
    [
        lambda: fit(GRID.astype(complex) ** 0.5, model="gamma"),
        lambda: fit((np.linspace(0, 1, 9) + 0j, np.linspace(0, 1, 9)), model="gamma"),
        lambda: fit((np.linspace(0, 1, 9), np.linspace(0, 1, 9) + 1e-9j), model="gamma"),
        lambda: fit((np.linspace(0, 1, 9), np.linspace(0, 1, 9), np.ones(9, complex)), model="gamma"),
        lambda: fit(GRID**0.5, model="gamma", weights=np.ones(1024, complex)),
        lambda: Curve(GRID + 0j),
        lambda: CurveSet(np.stack([GRID, GRID]) + 0j),
        lambda: PCABasis(GRID + 0j, np.ones((1, 1024)), np.ones(1)),
        lambda: crfkit.models.pca.PCABasis.from_curves(np.stack([GRID, GRID**2, GRID**3]) + 0j),
    ],
)
def test_complex_arrays_are_rejected(call):
    with pytest.raises(ValidationError, match="complex"):
        call()


def test_as_rgb_rejects_complex_images():
    from crfkit._validation import as_rgb

    with pytest.raises(ValidationError, match="complex"):
        as_rgb(np.zeros((4, 4, 3), complex), "test", UserWarning)


# -- arguments of fit ------------------------------------------------------------------------------
def test_fit_argument_checks(emor_dir):
    with pytest.raises(ValidationError, match="monotone"):
        fit(GRID**0.5, model="gamma", monotone="yes")
    with pytest.raises(ValidationError, match="model must be"):
        fit(GRID**0.5, model=3)
    with pytest.raises(ValidationError, match="unknown option"):
        fit(GRID**0.5, model=get_model("gamma"), bogus=1)
