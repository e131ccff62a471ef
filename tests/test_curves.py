"""Curve and CurveSet: construction, checks, evaluation, inversion, save/load."""

import itertools
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crfkit
from crfkit import GRID, Curve, CurveSet
from _helpers import monotone_curve

_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("curves")


# -- Curve ---------------------------------------------------------------------------------------
def test_grid():
    assert crfkit.GRID_SIZE == 1024
    np.testing.assert_array_equal(GRID, np.linspace(0, 1, 1024))
    with pytest.raises(ValueError):
        GRID[3] = 0.5  # the shared grid is read-only


def test_curve_copies_and_freezes_values():
    src = GRID**0.5
    c = Curve(src, name="a", metadata={"iso": 100})
    src[10] = 0.0
    assert c.values[10] == GRID[10] ** 0.5
    with pytest.raises(ValueError):
        c.values[0] = 1.0
    assert len(c) == 1024
    np.testing.assert_array_equal(np.asarray(c), c.values)
    d = c.copy(name="b")
    assert d.name == "b" and d.metadata == {"iso": 100} and d != c
    assert c.copy() == c


def test_curve_evaluation():
    c = Curve(GRID**2)
    np.testing.assert_array_equal(c(GRID), GRID**2)
    x = np.array([[0.25, 0.5], [0.75, 1.0]])
    y = c(x)
    assert y.shape == (2, 2)
    np.testing.assert_allclose(y, x**2, atol=1e-6)
    # outside the domain: clamped
    assert c(-1.0) == 0.0 and c(2.0) == 1.0
    np.testing.assert_allclose(c.to_lut(256), (np.arange(256) / 255) ** 2, atol=1e-6)


def test_curve_rmse():
    a, b = Curve(GRID), Curve(np.clip(GRID + 0.01, 0, 1))
    assert a.rmse(a) == 0.0
    assert a.rmse(b) == pytest.approx(np.sqrt(np.mean((a.values - b.values) ** 2)))
    assert a.rmse(b.values) == a.rmse(b)


def test_strict_validation():
    Curve(GRID**0.5, validate="strict")  # a valid CRF passes
    dip = GRID**0.5 - 0.05 * np.exp(-(((GRID - 0.5) / 0.02) ** 2))
    dip[[0, -1]] = 0.0, 1.0  # only the interior is wrong
    with pytest.raises(crfkit.NotMonotoneError, match="not monotone"):
        Curve(dip, validate="strict")
    Curve(dip)  # basic validation accepts it
    with pytest.raises(crfkit.ValidationError, match="outside"):
        Curve(GRID * 1.5, validate="strict")
    with pytest.raises(crfkit.ValidationError, match="starts at"):
        Curve(0.1 + 0.9 * GRID, validate="strict")
    with pytest.raises(crfkit.ValidationError, match="ends at"):
        Curve(0.9 * GRID, validate="strict")
    with pytest.raises(crfkit.ValidationError, match="validate"):
        Curve(GRID, validate="paranoid")
    with pytest.raises(crfkit.ValidationError, match="kind"):
        Curve(GRID, kind="sideways")
    assert Curve(dip).problems() and not Curve(GRID).problems()
    assert not Curve(dip).is_monotone() and Curve(GRID).is_monotone()


def test_builtin_curves():
    g = Curve.gamma(2.2)
    np.testing.assert_allclose(g.values, GRID ** (1 / 2.2))
    np.testing.assert_allclose(Curve.gamma(2.2, kind="inverse").values, GRID**2.2, atol=2e-3)
    s = Curve.srgb()
    s.check()
    lin = Curve.srgb(kind="inverse")
    assert lin.kind == "inverse"
    B = np.linspace(0, 1, 101)
    exact = np.where(B <= 0.04045, B / 12.92, ((B + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(lin(B), exact, atol=1e-4)
    np.testing.assert_array_equal(Curve.identity().values, GRID)
    for bad in (0, -1, np.nan, np.inf):
        with pytest.raises(crfkit.ValidationError):
            Curve.gamma(bad)


def test_from_samples():
    x = np.array([0.0, 0.1, 0.3, 0.6, 1.0])
    y = x**0.5
    c = Curve.from_samples(x[::-1], y[::-1])  # any order
    np.testing.assert_allclose(c(x), y, atol=1e-5)  # x off the grid: linear between samples
    assert c.is_monotone()
    lin = Curve.from_samples([0.2, 0.8], [0.3, 0.9], method="linear")
    assert lin(0.5) == pytest.approx(0.6) and lin(0.0) == 0.3 and lin(1.0) == 0.9  # held at the ends
    with pytest.raises(crfkit.ValidationError, match="duplicate"):
        Curve.from_samples([0.1, 0.1, 0.5], [0.1, 0.2, 0.5])
    with pytest.raises(crfkit.ValidationError, match="same length"):
        Curve.from_samples([0.1, 0.5], [0.1])
    with pytest.raises(crfkit.ValidationError, match="at least 2"):
        Curve.from_samples([0.5], [0.5])
    with pytest.raises(crfkit.ValidationError, match="method"):
        Curve.from_samples(x, y, method="cubic")


@given(seed=st.integers(0, 2**32 - 1), flat=st.sampled_from([0.0, 0.5, 0.95, 0.999]), power=st.sampled_from([1, 4, 12]))
def test_inverse_round_trip_on_grid(seed, flat, power):
    """f(g(B)) = B within 1e-4 for monotone curves, flat runs and jumps included."""
    f = Curve(monotone_curve(seed, flat_fraction=flat, power=power), name="c", metadata={"k": 1})
    g = f.inverse()
    assert g.kind == "inverse" and g.name == "c" and g.metadata == {"k": 1}
    assert g.is_monotone()
    assert g.values[0] == 0.0 and g.values[-1] == 1.0
    assert np.max(np.abs(f(g.values) - GRID)) < 1e-4
    back = g.inverse()
    assert back.kind == "forward"
    assert np.max(np.abs(g(back.values) - GRID)) < 1e-4


@given(p=st.floats(0.05, 20.0), b=st.floats(0.0, 1.0))
def test_inverse_round_trip_off_grid(p, b):
    """Between grid points the curves are linear interpolations of their 1024
    samples, so f(g(B)) is exact only to about one grid step there (measured:
    1.3e-4 for E^(1/2.2), 8e-4 for E^20); the 1e-4 round trip holds on the grid."""
    f = Curve(GRID**p)
    g = f.inverse()
    assert abs(float(f(g(b))) - b) < 1 / 1023


def test_inverse_of_clipped_curve():
    """A curve that saturates before E = 1 (flat run at 1) still round-trips."""
    f = Curve(np.minimum(1.5 * GRID, 1.0))
    g = f.inverse()
    np.testing.assert_allclose(f(g.values), GRID, atol=1e-12)
    np.testing.assert_allclose(g.values[:-1], GRID[:-1] / 1.5, atol=1e-12)
    assert g.values[-1] == 1.0  # g(1) = 1 is pinned (middle of the saturated run otherwise)


def test_non_monotone_curve_inverse():
    dip = np.r_[GRID[:500], GRID[500:] - 0.01]
    with pytest.raises(crfkit.NotMonotoneError, match="monotonized"):
        Curve(dip).inverse()
    m = Curve(dip).monotonized()
    assert m.is_monotone() and m.values.min() >= 0 and m.values.max() <= 1
    # isotonic regression: the least-squares monotone curve is at least as close as any other
    assert m.rmse(dip) <= Curve(np.maximum.accumulate(dip)).rmse(dip)
    m.inverse()


# -- CurveSet ------------------------------------------------------------------------------------
def _set(n=3, **kw):
    vals = np.stack([GRID ** (0.3 + 0.2 * i) for i in range(n)])
    return CurveSet(vals, names=[f"c{i}" for i in range(n)], metadata=[{"i": i} for i in range(n)], **kw)


def test_curveset_basics():
    cs = _set(3, attrs={"source": "test"}, name="T")
    assert len(cs) == 3 and cs.kind == "forward" and cs.name == "T"
    assert cs.values.shape == (3, 1024) and not cs.values.flags.writeable
    c = cs[1]
    assert isinstance(c, Curve) and c.name == "c1" and c.metadata == {"i": 1}
    assert cs[-1].name == "c2" and cs["c2"] == cs[2]
    sub = cs[1:]
    assert isinstance(sub, CurveSet) and sub.names == ["c1", "c2"] and sub.attrs == cs.attrs
    assert cs[[2, 0]].names == ["c2", "c0"]
    assert [c.name for c in cs] == cs.names
    with pytest.raises(IndexError):
        cs[3]
    with pytest.raises(crfkit.UnknownNameError, match="nope"):
        cs["nope"]
    assert CurveSet(GRID[None]).names == ["0"]
    assert CurveSet.from_curves(list(cs), attrs=cs.attrs, name="T") == cs
    both = cs.concat(cs[:1])
    assert len(both) == 4 and both.names[-1] == "c0"
    np.testing.assert_allclose(cs.mean_curve().values, cs.values.mean(axis=0))
    np.testing.assert_allclose(cs.rmse(cs), 0.0)
    assert cs.problems() == {} and cs.check() is cs


def test_curveset_bad_construction():
    with pytest.raises(crfkit.ValidationError, match="names"):
        CurveSet(np.stack([GRID, GRID]), names=["a"])
    with pytest.raises(crfkit.ValidationError, match="metadata"):
        CurveSet(np.stack([GRID, GRID]), metadata=[{}])
    with pytest.raises(crfkit.ValidationError, match="shape"):
        CurveSet(np.zeros((2, 10)))
    with pytest.raises(crfkit.ValidationError, match="dimension"):
        CurveSet(GRID)
    with pytest.raises(crfkit.ValidationError, match="kinds"):
        CurveSet.from_curves([Curve(GRID), Curve(GRID, kind="inverse")])
    with pytest.raises(crfkit.ValidationError):
        _set().concat(_set().inverse())


def test_curveset_inverse():
    cs = _set(3, name="Set")
    inv = cs.inverse()
    assert inv.kind == "inverse" and inv.name == "invSet" and inv.names == cs.names
    assert inv.inverse().name == "Set"
    assert cs.inverse() is inv  # cached
    for f, g in zip(cs, inv):
        np.testing.assert_allclose(g.values, f.inverse().values)
        assert np.max(np.abs(f(g.values) - GRID)) < 1e-4
    bad = CurveSet(np.stack([GRID, np.r_[GRID[:500], GRID[500:] - 0.01]]), names=["ok", "dip"])
    with pytest.raises(crfkit.NotMonotoneError, match="dip"):
        bad.inverse()
    assert list(bad.problems()) == ["dip"]
    with pytest.raises(crfkit.ValidationError, match="dip"):
        bad.check()


# -- save / load ---------------------------------------------------------------------------------
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
json_dicts = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@st.composite
def curve_sets(draw):
    n = draw(st.integers(1, 4))
    values = draw(
        hnp.arrays(np.float64, (n, 1024), elements=st.floats(allow_nan=False, allow_infinity=False, width=64))
    )
    names = draw(st.lists(st.text(max_size=10), min_size=n, max_size=n))
    metadata = draw(st.lists(json_dicts, min_size=n, max_size=n))
    return CurveSet(
        values,
        draw(st.sampled_from(["forward", "inverse"])),
        names,
        metadata,
        draw(json_dicts),
        draw(st.text(max_size=10)),
    )


@given(cs=curve_sets(), suffix=st.sampled_from([".crfs", ".npz"]))
def test_save_load_round_trip(workdir, cs, suffix):
    path = workdir / f"set{next(_counter)}{suffix}"
    assert cs.save(path) == path
    back = CurveSet.load(path)
    assert back == cs
    assert back.values.tobytes() == cs.values.tobytes()  # bit-identical (signed zeros, subnormals)
    assert back.values.dtype == np.float64 and not back.values.flags.writeable
    assert back.names == cs.names and back.metadata == cs.metadata and back.attrs == cs.attrs
    assert back.kind == cs.kind and back.name == cs.name
    loaded = crfkit.load_curves(path)
    assert loaded == cs
    # no temporary files left beside the output
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []


def test_saved_format_is_documented_layout(tmp_path):
    cs = _set(2, attrs={"source": "x"}, name="S")
    path = cs.save(tmp_path / "s.crfs")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["meta.json.npy", "values.npy"]
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta.json"]))
        np.testing.assert_array_equal(z["values"], cs.values)
    assert meta["format"] == "crfkit-curveset" and meta["version"] == 1
    assert meta["kind"] == "forward" and meta["names"] == ["c0", "c1"]
    assert meta["metadata"] == [{"i": 0}, {"i": 1}] and meta["attrs"] == {"source": "x"}


def test_save_rejects_non_json_metadata(tmp_path):
    for bad in ({"x": float("nan")}, {"x": {1, 2}}, {"x": object()}):
        cs = CurveSet(GRID[None], metadata=[bad])
        with pytest.raises(crfkit.ValidationError, match="JSON"):
            cs.save(tmp_path / "bad.crfs")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(crfkit.ValidationError, match="does not exist"):
        _set().save(tmp_path / "no" / "such" / "dir" / "s.crfs")


def _write_npz(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.write_bytes(b"not a zip at all"), "cannot read curve set"),
        (lambda p: _write_npz(p, values=np.zeros((1, 1024))), "not a crfkit curve set"),
        (lambda p: _write_npz(p, values=np.zeros((1, 1024)), **{"meta.json": np.array('{"format": "other"}')}), "format"),
        (
            lambda p: _write_npz(
                p, values=np.zeros((1, 1024)), **{"meta.json": np.array('{"format": "crfkit-curveset", "version": 99}')}
            ),
            "newer",
        ),
        (
            lambda p: _write_npz(
                p,
                values=np.zeros((1, 1024)),
                **{"meta.json": np.array(json.dumps({"format": "crfkit-curveset", "version": 1, "kind": "forward", "names": ["a", "b"], "metadata": [{}]}))},
            ),
            "invalid curve set contents",
        ),
        (lambda p: _write_npz(p, values=np.zeros((1, 1024)), **{"meta.json": np.array("{not json")}), "cannot read"),
    ],
)
def test_load_malformed(tmp_path, make, match):
    path = tmp_path / "x.crfs"
    make(path)
    with pytest.raises(crfkit.ParseError, match=match) as exc:
        CurveSet.load(path)
    assert str(path) in str(exc.value)


def test_load_missing(tmp_path):
    with pytest.raises(crfkit.DataNotFoundError):
        CurveSet.load(tmp_path / "missing.crfs")
    with pytest.raises(crfkit.CrfkitError):
        crfkit.load_curves(tmp_path / "missing.crfs")
