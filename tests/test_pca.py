"""PCA bases: learning, save/load, fitting with them, cross-validation; EMoR rebuilt from DoRF."""

import numpy as np
import pytest

import crfkit
from crfkit import GRID, CurveSet, fit, get_model
from crfkit.evaluation import cross_validated_pca
from crfkit.models import PCABasis


def _family(n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        p = rng.uniform(0.3, 2.5)
        a = rng.uniform(-0.3, 0.3)
        rows.append(np.clip(GRID**p + a * GRID * (1 - GRID) * (1 - GRID**p), 0, 1))
    return CurveSet(np.array(rows), names=[f"f{i}" for i in range(n)], name="fam")


@pytest.fixture(scope="module")
def fam():
    return _family()


@pytest.fixture(scope="module")
def fam_basis(fam):
    return PCABasis.from_curves(fam, n_components=10)


def test_basis_properties(fam, fam_basis):
    b = fam_basis
    assert b.n_components == 10 and b.components.shape == (10, 1024) and b.mean.shape == (1024,)
    assert b.kind == "forward" and b.source == "fam" and b.attrs == {"n_curves": 40}
    np.testing.assert_allclose(b.components @ b.components.T, np.eye(10), atol=1e-10)
    np.testing.assert_allclose(b.mean, fam.values.mean(axis=0), atol=1e-12)
    evr = b.explained_variance_ratio
    assert np.all(np.diff(evr) <= 1e-15) and 0 < evr.sum() <= 1 + 1e-12
    # default: as many components as N - 1
    assert PCABasis.from_curves(fam[:6]).n_components == 5
    inv = PCABasis.from_curves(fam.inverse(), n_components=3)
    assert inv.kind == "inverse" and inv.source == "invfam"
    arr = PCABasis.from_curves(fam.values[:5], n_components=2, source="arr")
    assert arr.kind == "forward" and arr.source == "arr"


def test_basis_bad_arguments(fam):
    with pytest.raises(crfkit.ValidationError, match="at least 2 curves"):
        PCABasis.from_curves(fam[:1])
    with pytest.raises(crfkit.ValidationError, match="n_components"):
        PCABasis.from_curves(fam[:5], n_components=5)
    with pytest.raises(crfkit.ValidationError, match="n_components"):
        PCABasis.from_curves(fam, n_components=0)


def test_fit_with_basis_is_projection(fam, fam_basis):
    """Orthonormal components: the fit of a full curve is the projection."""
    for k in (1, 3, 10):
        res = fit(fam, "pca", k=k, basis=fam_basis)
        coef = (fam.values - fam_basis.mean) @ fam_basis.components[:k].T
        np.testing.assert_allclose(res.params, coef, atol=1e-10)
        assert res.label == f"PCA(fam)-{k}" and res.n_params == k
    # more components never fit worse (in-sample)
    r = [fit(fam, "pca", k=k, basis=fam_basis).mean_rmse for k in range(1, 11)]
    assert all(a >= b - 1e-15 for a, b in zip(r, r[1:]))


def test_basis_save_load_round_trip(tmp_path, fam_basis):
    path = fam_basis.save(tmp_path / "fam-basis.npz")
    assert path == tmp_path / "fam-basis.npz"
    back = PCABasis.load(path)
    for attr in ("mean", "components", "explained_variance_ratio"):
        assert getattr(back, attr).tobytes() == getattr(fam_basis, attr).tobytes()
    assert (back.kind, back.source, back.attrs) == (fam_basis.kind, fam_basis.source, fam_basis.attrs)
    # a basis file is a valid basis= argument, giving the same fit
    a = fit(GRID**0.6, "pca", k=4, basis=str(path))
    b = fit(GRID**0.6, "pca", k=4, basis=fam_basis)
    np.testing.assert_array_equal(a.params, b.params)
    assert [p.name for p in tmp_path.iterdir()] == ["fam-basis.npz"]  # written atomically, no leftovers


def test_basis_load_errors(tmp_path):
    with pytest.raises(crfkit.DataNotFoundError):
        PCABasis.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(crfkit.ParseError, match="cannot read PCA basis") as exc:
        PCABasis.load(junk)
    assert str(junk) in str(exc.value)
    cs_file = CurveSet(GRID[None]).save(tmp_path / "set.npz")  # a curve set is not a basis
    with pytest.raises(crfkit.ParseError):
        PCABasis.load(cs_file)
    other = tmp_path / "other.npz"
    np.savez(other, mean=GRID, components=GRID[None], explained_variance_ratio=[1.0], **{"meta.json": np.array('{"format": "x"}')})
    with pytest.raises(crfkit.ParseError, match="not a crfkit PCA basis"):
        PCABasis.load(other)


def test_basis_argument_forms(tmp_path, fam, fam_basis):
    # a CurveSet: learned on the fly, inverted for inverse curves
    res = fit(fam.inverse()[:3], "pca", k=3, basis=fam)
    assert res.model.basis.kind == "inverse" and res.curves.kind == "inverse"
    # a saved curve set by path
    p = fam.save(tmp_path / "fam.crfs")
    by_path = fit(fam[:3], "pca", k=3, basis=str(p))
    by_set = fit(fam[:3], "pca", k=3, basis=fam)
    np.testing.assert_allclose(by_path.params, by_set.params, atol=1e-10)
    assert by_path.model.basis.source == "fam"
    with pytest.raises(crfkit.ValidationError, match="needs basis"):
        get_model("pca", k=3)
    with pytest.raises(crfkit.ValidationError, match="inverse curves|forward curves"):
        fit(fam.inverse()[:2], "pca", k=3, basis=fam_basis)  # forward basis, inverse data
    with pytest.raises(crfkit.ValidationError, match="exceeds the 10 components"):
        get_model("pca", k=11, basis=fam_basis)
    with pytest.raises(crfkit.UnknownNameError):
        get_model("pca", k=3, basis="no-such-set")


def test_cross_validation_synthetic(fam):
    ks = [1, 3, 8]
    held = cross_validated_pca(fam, ks, folds=5, seed=1)
    assert sorted(held) == ks
    for k in ks:
        in_sample = fit(fam, "pca", k=k, basis=PCABasis.from_curves(fam, n_components=k)).rmse
        assert held[k].shape == (40,) and np.all(np.isfinite(held[k]))
        assert held[k].mean() >= in_sample.mean()
    one = cross_validated_pca(fam, 3, folds=5, seed=1)
    np.testing.assert_array_equal(one, held[3])  # same folds for the same seed
    assert not np.array_equal(cross_validated_pca(fam, 3, folds=5, seed=2), one)
    # leave-one-out works too
    loo = cross_validated_pca(fam[:8], 2, folds=8)
    assert loo.shape == (8,) and np.all(loo > 0)
    with pytest.raises(crfkit.ValidationError, match="at least 2"):
        cross_validated_pca(fam[:1], 2)
    with pytest.raises(crfkit.ValidationError, match="at least 2"):
        cross_validated_pca(fam, 2, folds=1)


@pytest.mark.realdata("dorfCurves.txt", "emor.txt", "invemor.txt")
def test_pca_from_dorf_rebuilds_emor(dorf):
    """PCA over DoRF is EMoR's construction: same mean, same subspace, same in-sample RMSE."""
    basis = PCABasis.from_curves(dorf, n_components=25)
    emor = crfkit.load_emor()
    assert np.max(np.abs(basis.mean - emor.mean)) < 0.01
    for k in (3, 5, 11):
        cosines = np.linalg.svd(basis.components[:k] @ emor.components[:k].T, compute_uv=False)
        assert cosines.min() > 0.98, (k, cosines)
    for k, expected in ((5, 0.00232), (25, 0.000074)):
        pca = fit(dorf, "pca", k=k, basis=basis).mean_rmse
        em = fit(dorf, "emor", k=k).mean_rmse
        assert pca == pytest.approx(em, rel=0.05)
        assert pca == pytest.approx(expected, rel=0.05)
    inv = dorf.inverse()
    inv_basis = PCABasis.from_curves(inv, n_components=5)
    assert fit(inv, "pca", k=5, basis=inv_basis).mean_rmse == pytest.approx(fit(inv, "emor", k=5).mean_rmse, rel=0.10)


@pytest.mark.realdata("dorfCurves.txt")
def test_cross_validation_dorf(dorf):
    ks = [3, 5, 11, 25]
    held = cross_validated_pca(dorf, ks, folds=5)
    basis = PCABasis.from_curves(dorf, n_components=25)
    for k in ks:
        in_sample = fit(dorf, "pca", k=k, basis=basis).mean_rmse
        assert held[k].mean() >= in_sample
        assert held[k].mean() < 3 * in_sample  # DoRF's bases generalise: held-out is not far off


def test_bases_learned_from_a_curve_set_are_memoised_but_independent(fam):
    # A named set or CurveSet is learned once (bracket calibration resolves it on every call);
    # each caller still gets its own copy, and other curves give another basis.
    from crfkit.models.pca import resolve_basis

    a = resolve_basis(fam, "inverse", 5)
    b = resolve_basis(fam, "inverse", 5)
    fresh = PCABasis.from_curves(fam.as_kind("inverse"), source=fam.name)
    np.testing.assert_array_equal(a.components, fresh.components)
    np.testing.assert_array_equal(b.mean, fresh.mean)
    a.mean[:] = 0.0
    assert not np.array_equal(resolve_basis(fam, "inverse", 5).mean, a.mean)
    other = _family(seed=1)
    assert not np.array_equal(resolve_basis(other, "inverse", 5).mean, b.mean)
    assert resolve_basis(fam, "forward", 5).kind == "forward"
