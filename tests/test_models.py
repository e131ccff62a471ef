"""Model families: recovery of generated curves, monotone fits, sparse samples, the registry.

EMoR runs on a synthetic basis file (always) and on the official basis (real data).
"""

import json

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import crfkit
from crfkit import GRID, Curve, CurveSet, fit, get_model
from crfkit.models import MODELS, PCABasis
from _helpers import monotone_violation, scale_into_unit_range

LINEAR_TOL = 1e-6  # RMSE for the linear models (polynomial, poly0, emor, pca)
NONLINEAR_TOL = 1e-4  # RMSE for gamma and GGCM
MONOTONE_TOL = 1e-9  # largest decrease allowed in a "monotone" curve (Curve's own tolerance)


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(
    scope="module",
    params=["synthetic", pytest.param("official", marks=pytest.mark.realdata("emor.txt", "invemor.txt"))],
)
def emor_path(request, emor_dir):
    """``path=`` for the EMoR model: the synthetic basis folder, or None (CRFKIT_DATA)."""
    return emor_dir if request.param == "synthetic" else None


def _training_set(n=80, seed=0):
    """A varied set of monotone forward CRFs (gamma, GGCM, polynomial mixtures)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        fam = i % 3
        if fam == 0:
            rows.append(GRID ** rng.uniform(0.2, 3))
        elif fam == 1:
            a = np.array([rng.uniform(0.3, 1.5), rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2)])
            P = a[0] + a[1] * GRID + a[2] * GRID**2
            rows.append(GRID**P)
        else:
            w = rng.dirichlet(np.ones(6))
            rows.append(sum(wi * GRID ** (j + 1) for j, wi in enumerate(w)) ** rng.uniform(0.3, 1))
    return CurveSet(np.array(rows), names=[f"s{i}" for i in range(n)], name="synth")


@pytest.fixture(scope="module")
def synth_set():
    return _training_set()


@pytest.fixture(scope="module")
def pca_bases(synth_set):
    return {
        "forward": PCABasis.from_curves(synth_set, n_components=25),
        "inverse": PCABasis.from_curves(synth_set.inverse(), n_components=25),
    }


# -- generators ----------------------------------------------------------------------------------
def _basis_params(draw, mean, comps, k, n):
    """n coefficient vectors whose curves stay in [0, 1] (a random direction, scaled)."""
    out = []
    for _ in range(n):
        c = np.array(draw(st.lists(st.floats(-1, 1), min_size=k, max_size=k)))
        scale = draw(st.floats(0.05, 1.0))
        t = scale_into_unit_range(mean, c @ comps[:k])
        out.append(c * t * scale)
    return np.array(out)


def _check_recovered(model, params, tol, param_tol=None, **opts):
    truth = model.curves(params)
    assert truth.min() >= -1e-12 and truth.max() <= 1 + 1e-12
    truth = np.clip(truth, 0, 1)
    res = fit(CurveSet(truth, kind=model.kind), model.name, k=model.k, **opts)
    assert res.rmse.shape == (len(params),)
    assert np.all(res.rmse < tol), (res.rmse, params)
    assert np.all(res.curves.rmse(truth) < tol)
    if param_tol is not None:
        np.testing.assert_allclose(res.params, params, atol=param_tol)
    return res


n_curves = st.integers(1, 4)
kinds = st.sampled_from(["forward", "inverse"])


# -- recovery ------------------------------------------------------------------------------------
@given(gammas=st.lists(st.floats(np.log(0.01), np.log(100.0)).map(np.exp), min_size=1, max_size=4), kind=kinds)
def test_gamma_recovery(gammas, kind):
    model = get_model("gamma", kind=kind)
    res = _check_recovered(model, np.array(gammas)[:, None], NONLINEAR_TOL)
    np.testing.assert_allclose(res.params[:, 0], gammas, rtol=1e-6)


@st.composite
def ggcm_params(draw):
    k = draw(st.integers(1, 5))
    n = draw(n_curves)
    rows = []
    for _ in range(n):
        a0 = draw(st.floats(0.1, 5.0))
        rest = draw(st.lists(st.floats(-1.0, 1.0), min_size=k - 1, max_size=k - 1))
        a = np.array([a0] + rest)
        P = a @ GRID[None, :] ** np.arange(k)[:, None]
        assume(P.min() >= 0.05 and P.max() <= 10)  # a valid GGCM: positive, bounded exponent
        rows.append(a)
    return k, np.array(rows)


@given(case=ggcm_params(), kind=kinds)
def test_ggcm_recovery(case, kind):
    k, params = case
    _check_recovered(get_model("ggcm", k=k, kind=kind), params, NONLINEAR_TOL)


@st.composite
def polynomial_params(draw):
    k = draw(st.integers(1, 20))
    pin_zero = draw(st.booleans())
    model = get_model("polynomial", k=k, pin_zero=pin_zero)
    n = draw(n_curves)
    rows = []
    for _ in range(n):
        # A convex combination of the model's monomials: f(1) = 1, monotone, in [0, 1].
        w = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=k + 1, max_size=k + 1)))
        assume(w.sum() > 1e-3)
        rows.append((w / w.sum())[:k])  # the free coefficients; the top one is 1 - sum
    return model, np.array(rows)


@given(case=polynomial_params())
def test_polynomial_recovery(case):
    model, params = case
    res = _check_recovered(
        model, params, LINEAR_TOL, param_tol=1e-6 if model.k <= 11 else None, pin_zero=model.pin_zero
    )
    coef = model.coefficients(res.params)
    np.testing.assert_allclose(coef.sum(axis=1), 1.0, atol=1e-12)  # f(1) = 1
    if model.pin_zero:
        np.testing.assert_allclose(res.curves.values[:, 0], 0.0, atol=1e-12)  # f(0) = 0


@given(data=st.data(), kind=kinds)
def test_emor_recovery(emor_path, data, kind):
    k = data.draw(st.integers(1, 25), label="k")
    model = get_model("emor", k=k, kind=kind, path=emor_path)
    mean, comps = model.basis_arrays()
    params = _basis_params(data.draw, mean, comps, k, data.draw(n_curves, label="n"))
    _check_recovered(model, params, LINEAR_TOL, param_tol=1e-8, path=emor_path)


@given(data=st.data(), kind=kinds)
def test_pca_recovery(pca_bases, data, kind):
    basis = pca_bases[kind]
    k = data.draw(st.integers(1, basis.n_components), label="k")
    model = get_model("pca", k=k, kind=kind, basis=basis)
    params = _basis_params(data.draw, basis.mean, basis.components, k, data.draw(n_curves, label="n"))
    _check_recovered(model, params, LINEAR_TOL, param_tol=1e-8, basis=basis)


# -- monotone option -----------------------------------------------------------------------------
@st.composite
def wiggly_curves(draw):
    """Curves in [0, 1] that are generally not monotone: a gamma curve, a dip and noise."""
    n = draw(n_curves)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        base = GRID ** draw(st.floats(0.2, 4.0))
        dip = draw(st.floats(0.0, 0.2)) * np.exp(-(((GRID - draw(st.floats(0.1, 0.9))) / draw(st.floats(0.01, 0.2))) ** 2))
        noise = draw(st.sampled_from([0.0, 0.003, 0.03])) * rng.standard_normal(GRID.size)
        rows.append(np.clip(base - dip + noise, 0, 1))
    return np.array(rows)


MONO_MODELS = [
    ("gamma", 1, {}),
    ("polynomial", 3, {}),
    ("polynomial", 11, {}),
    ("polynomial", 5, {"pin_zero": True}),
    ("ggcm", 2, {}),
    ("ggcm", 3, {}),
    ("ggcm", 5, {}),
    ("emor", 5, {}),
    ("emor", 25, {}),
    ("pca", 11, {}),
]


@given(y=wiggly_curves(), spec=st.sampled_from(MONO_MODELS), kind=kinds)
def test_monotone_option_gives_non_decreasing_curves(emor_dir, pca_bases, y, spec, kind):
    name, k, opts = spec
    if name == "emor":
        opts = {"path": emor_dir}
    if name == "pca":
        opts = {"basis": pca_bases[kind]}
    data = CurveSet(y, kind=kind)
    free = fit(data, name, k=k, **opts)
    mono = fit(data, name, k=k, monotone=True, **opts)
    assert np.all(monotone_violation(mono.curves.values) <= MONOTONE_TOL)
    for c in mono.curves:
        assert c.is_monotone()
        c.inverse()  # a monotone fit can be inverted
    assert np.all(np.isfinite(mono.params))
    if get_model(name, k=k, kind=kind, **opts).linear:
        # The constrained optimum cannot beat the unconstrained one, and equals it
        # when the unconstrained fit happens to be monotone already.
        assert np.all(mono.rmse >= free.rmse - 1e-12)
        already = monotone_violation(free.curves.values) <= MONOTONE_TOL
        np.testing.assert_allclose(mono.rmse[already], free.rmse[already], rtol=1e-6, atol=1e-12)


@pytest.mark.realdata("dorfCurves.txt", "emor.txt", "invemor.txt")
@pytest.mark.parametrize("name, k, opts", [("polynomial", 11, {}), ("ggcm", 3, {}), ("emor", 25, {}), ("polynomial", 5, {"pin_zero": True})])
def test_monotone_fits_on_dorf(dorf, name, k, opts):
    """On real curves (where unconstrained fits do wiggle) the constrained fits are monotone."""
    for cs in (dorf, dorf.inverse()):
        free = fit(cs, name, k=k, **opts)
        mono = fit(cs, name, k=k, monotone=True, **opts)
        assert np.any(monotone_violation(free.curves.values) > MONOTONE_TOL)  # the constraint has work to do
        assert np.all(monotone_violation(mono.curves.values) <= MONOTONE_TOL)
        # ...at a small price in RMSE
        assert mono.mean_rmse <= 1.25 * free.mean_rmse


# -- sparse samples ------------------------------------------------------------------------------
@st.composite
def sample_abscissae(draw, min_size):
    m = draw(st.integers(min_size, 40))
    ticks = draw(st.lists(st.integers(0, 1000), min_size=m, max_size=m, unique=True))
    return np.sort(np.array(ticks)) / 1000.0  # distinct, at least 1e-3 apart


SPARSE_MODELS = [("gamma", 1), ("ggcm", 2), ("ggcm", 3), ("polynomial", 5), ("poly0", 5), ("emor", 5), ("emor", 11), ("pca", 5)]


@given(data=st.data(), spec=st.sampled_from(SPARSE_MODELS), kind=kinds)
def test_sparse_samples_recover_the_curve(emor_dir, pca_bases, data, spec, kind):
    name, k = spec
    opts = {}
    if name == "poly0":
        name, opts = "polynomial", {"pin_zero": True}
    if name == "emor":
        opts = {"path": emor_dir}
    if name == "pca":
        opts = {"basis": pca_bases[kind]}
    model = get_model(name, k=k, kind=kind, **opts)
    # truth from a well-behaved parameter vector of this model
    if name == "gamma":
        truth = np.array([[data.draw(st.floats(0.2, 5.0))]])
    elif name == "ggcm":
        truth = np.array([[data.draw(st.floats(0.3, 3.0))] + [data.draw(st.floats(-0.1, 0.1)) for _ in range(k - 1)]])
    elif name == "polynomial":
        w = np.array([data.draw(st.floats(0.01, 1.0)) for _ in range(k + 1)])
        truth = (w / w.sum())[None, :k]
    else:
        mean, comps = model.basis_arrays()
        truth = _basis_params(data.draw, mean, comps, k, 1)
    x = data.draw(sample_abscissae(k + 3), label="x")
    y = np.clip(model.evaluate(truth, x)[0], 0, 1)
    w = np.array([data.draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])) for _ in x])
    w[: k + 1] = np.maximum(w[: k + 1], 1.0)  # enough samples with weight
    if model.identifiable_rank(x[w > 0]) < model.n_params:
        # Samples clustered so tightly that the design is singular to rounding do
        # not determine the parameters: crfkit says so rather than return a wild curve.
        with pytest.raises(crfkit.FitError, match="parameters but only"):
            fit((x, y, w), name, k=k, kind=kind, **opts)
        return
    res = fit((x, y, w), name, k=k, kind=kind, **opts)
    assert res.data_kind == "samples"
    assert isinstance(res.curve, Curve) and res.curve.kind == kind
    tol = NONLINEAR_TOL if name in ("gamma", "ggcm") else LINEAR_TOL
    assert res.rmse < tol
    # The whole curve, not only the samples, is recovered where the samples
    # determine the parameters (a linear model's design at the weighted samples
    # is well conditioned; clustered samples may leave directions undetermined).
    grid_err = np.sqrt(np.mean((res.curve.values - np.clip(model.curves(truth)[0], 0, 1)) ** 2))
    if model.linear:
        cond = np.linalg.cond(model.design(x[w > 0])[1])
        if cond < 1e4:
            assert grid_err < 10 * tol, cond
    else:
        assert grid_err < 10 * tol


def test_sparse_samples_several_curves_and_weights():
    x = np.linspace(0.05, 0.95, 12)
    Y = np.stack([x**0.4, x**0.7, x**1.5])
    W = np.ones_like(Y)
    W[1, ::2] = 0.0
    res = fit(crfkit.Samples(x, Y, W, name="chart"), "gamma")
    np.testing.assert_allclose(res.params[:, 0], [0.4, 0.7, 1.5], rtol=1e-6)
    assert isinstance(res.curves, CurveSet) and res.names == ["chart0", "chart1", "chart2"]
    # weights decide: an outlier with zero weight is ignored
    y = x**0.5
    y_bad = y.copy()
    y_bad[3] = 0.99
    w = np.ones_like(x)
    w[3] = 0
    assert fit((x, y_bad, w), "gamma").params[0] == pytest.approx(0.5, rel=1e-6)
    assert fit((x, y_bad), "gamma").params[0] != pytest.approx(0.5, rel=1e-3)


@pytest.mark.parametrize("name, k", [("gamma", 1), ("ggcm", 3), ("polynomial", 5), ("emor", 5), ("emor", 11)])
def test_too_few_samples(emor_dir, name, k):
    opts = {"path": emor_dir} if name == "emor" else {}
    x = np.linspace(0.1, 0.9, k - 1) if k > 1 else np.array([0.5])
    with pytest.raises(crfkit.FitError, match="parameters but only"):
        if k > 1:
            fit((x, x), name, k=k, **opts)
        else:
            fit((x, x, np.zeros_like(x)), name, k=k, **opts)
    x = np.linspace(0.1, 0.9, k + 2)
    w = np.zeros_like(x)
    w[: k - 1] = 1.0
    with pytest.raises(crfkit.FitError):
        fit((x, x, w), name, k=k, **opts)


# -- fit() API -----------------------------------------------------------------------------------
def test_fit_result_shapes():
    one = fit(Curve(GRID**0.5, name="sqrt", metadata={"src": "t"}), "polynomial", k=4)
    assert one.params.shape == (4,) and isinstance(one.rmse, float) and isinstance(one.curves, Curve)
    assert one.curve.name == "sqrt" and one.curve.metadata["src"] == "t"
    assert one.curve.metadata["fit"] == {"model": "polynomial", "label": "Poly-4", "n_params": 4, "monotone": False}
    assert one.label == "Poly-4" and one.n_params == 4 and one.k == 4 and one.model_name == "polynomial"
    json.dumps(one.to_dict())
    assert "Poly-4" in repr(one)
    many = fit(np.stack([GRID**0.5, GRID**0.6]), "gamma")
    assert many.params.shape == (2, 1) and many.rmse.shape == (2,) and isinstance(many.curves, CurveSet)
    assert many.mean_rmse == pytest.approx(np.mean(many.rmse))
    arr = fit(GRID**0.5, "gamma")
    assert arr.params.shape == (1,) and arr.params[0] == pytest.approx(0.5)


def test_batched_fit_equals_one_by_one():
    """The vectorised (batched LM / one QR) fit gives each curve's own answer."""
    cs = _training_set(12, seed=3)
    for name, k in [("gamma", 1), ("ggcm", 3), ("polynomial", 7)]:
        together = fit(cs, name, k=k)
        for i, c in enumerate(cs):
            alone = fit(c, name, k=k)
            assert together.rmse[i] == pytest.approx(alone.rmse, rel=1e-6, abs=1e-12)
            np.testing.assert_allclose(together.params[i], alone.params, rtol=1e-5, atol=1e-8)


def test_fit_kind_selects_basis(emor_dir):
    """Inverse curves are fitted with the inverse EMoR basis (g0, hinv)."""
    g0 = get_model("emor", k=3, kind="inverse", path=emor_dir).basis_arrays()[0]
    f0 = get_model("emor", k=3, kind="forward", path=emor_dir).basis_arrays()[0]
    assert not np.allclose(f0, g0)
    inv = fit(g0, "emor", k=3, kind="inverse", path=emor_dir)
    assert inv.rmse < 1e-12 and np.allclose(inv.params, 0, atol=1e-12)
    assert inv.curve.kind == "inverse"
    assert fit(Curve(g0, kind="inverse"), "emor", k=3, path=emor_dir).rmse < 1e-12
    assert fit(g0, "emor", k=3, path=emor_dir).rmse > 1e-3  # as a forward curve it is not the mean
    # an explicit path to the wrong file is caught, not silently used
    with pytest.raises(crfkit.ValidationError, match="basis"):
        fit(g0, "emor", k=3, kind="inverse", path=emor_dir / "emor.txt")


def test_fit_options():
    y = GRID**0.5
    assert fit(y, "polynomial", k=3, pin_zero=True).curve.values[0] == pytest.approx(0.0, abs=1e-15)
    free = fit(y, "polynomial", k=6)
    reg = fit(y, "polynomial", k=6, regularization=1e-2)
    assert np.linalg.norm(reg.params) < np.linalg.norm(free.params)
    assert reg.rmse > free.rmse
    with pytest.raises(crfkit.ValidationError, match="valid: .*pin_zero"):
        fit(y, "polynomial", k=3, basis="dorf")
    with pytest.raises(crfkit.ValidationError, match="unknown option"):
        fit(y, "gamma", smoothing=3)
    model = get_model("polynomial", k=4)
    assert fit(y, model).label == "Poly-4"  # a model instance is accepted


# -- registry ------------------------------------------------------------------------------------
def test_registry():
    assert {"gamma", "polynomial", "ggcm", "emor", "pca"} <= set(MODELS)
    assert crfkit.MODELS is MODELS
    assert type(get_model("poly", k=3)).__name__ == "PolynomialModel"
    assert get_model("EMoR", k=7).label == "EMoR-7"
    assert get_model("ggcm", k=3).label == "GGCM-3" and get_model("gamma").label == "Gamma"
    assert get_model("polynomial", k=5, pin_zero=True).label == "Poly0-5"
    assert get_model("polynomial", k=5).degree == 5 and get_model("polynomial", k=5, pin_zero=True).degree == 6
    assert get_model("gamma").n_params == 1 and get_model("ggcm").k == 2 and get_model("emor").k == 5


def test_unknown_model_lists_valid_names():
    with pytest.raises(crfkit.UnknownNameError) as exc:
        fit(GRID, "spline")
    msg = str(exc.value)
    assert "'spline'" in msg
    for name in ("emor", "gamma", "ggcm", "pca", "polynomial"):
        assert name in msg
    with pytest.raises(crfkit.UnknownNameError):
        get_model("spline")


def test_register_custom_model():
    from crfkit.models import LinearModel, register_model
    from crfkit.models.registry import MODELS as REG

    @register_model
    class Affine(LinearModel):
        """f(x) = c x + (1 - c) x^2."""

        name = "affine-test"
        default_k = 1

        def design(self, x):
            x = np.asarray(x, float)
            return x**2, (x - x**2)[:, None]

    try:
        y = 0.3 * GRID + 0.7 * GRID**2
        res = fit(y, "affine-test")
        assert res.params[0] == pytest.approx(0.3) and res.rmse < 1e-12
    finally:
        REG.pop("affine-test")
