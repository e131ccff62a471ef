"""The lin2004 estimator (Lin, Gu, Yamazaki & Shum 2004: colour mixtures at edges)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.ndimage import gaussian_filter

import crfkit
from crfkit import CrfkitError, Curve, CurveSet
from crfkit.errors import UnknownNameError, ValidationError
from crfkit.estimators import UnreliableEstimateWarning, get_estimator
from crfkit.estimators.lin2004 import Lin2004Estimator, edge_triples

pytestmark = pytest.mark.realdata("dorfCurves.txt", "invemor.txt")


def edge_scene(h=192, w=256, n=30, seed=0, blur=1.2):
    """Linear irradiance: random flat-coloured rectangles and discs, blurred (so edge pixels blend linearly)."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3))
    img[:] = rng.uniform(0.05, 0.9, 3)
    yy, xx = np.mgrid[:h, :w]
    for _ in range(n):
        col = rng.uniform(0.02, 0.95, 3) * rng.uniform(0.3, 1.0)
        if rng.random() < 0.5:
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            m = (yy >= y0) & (yy < y0 + rng.integers(15, 90)) & (xx >= x0) & (xx < x0 + rng.integers(15, 90))
        else:
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(8, 45)
            m = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[m] = col
    img = np.stack([gaussian_filter(img[..., c], blur) for c in range(3)], -1)
    return np.clip(img + rng.normal(0, 0.002, img.shape), 0, 1)


def render(lin, forward_values):
    """8-bit image of ``lin`` through a forward curve sampled on the 1024 grid."""
    out = np.interp(lin, np.linspace(0, 1, 1024), forward_values)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


@pytest.fixture(scope="module")
def est():
    return Lin2004Estimator()


@pytest.fixture(scope="module")
def test_curves():
    return crfkit.load_curves("dorf-test")


def test_registered_and_torch_free():
    assert "lin2004" in crfkit.estimators.available_estimators()
    code = ("import sys; sys.modules['torch'] = None\n"  # any torch import now fails
            "import numpy as np, crfkit\n"
            "rng = np.random.default_rng(0)\n"
            "img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)\n"
            "import warnings; warnings.simplefilter('ignore')\n"
            "g = crfkit.estimate(img, method='lin2004')\n"
            "assert g.kind == 'inverse' and g.values[0] == 0 and g.values[-1] == 1\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                          timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_beats_gamma_on_blended_edges(est, test_curves):
    """Held-out DoRF test curves (never in the prior) on synthetic blended edges."""
    inv = test_curves.inverse().values
    g22 = Curve.gamma(2.2, kind="inverse").values
    ours, gam = [], []
    for i in range(len(test_curves)):
        img = render(edge_scene(seed=i), test_curves.values[i])
        g = est.estimate(img)
        assert est.last_n_triples >= est.min_triples
        ours.append(rmse(g.values, inv[i]))
        gam.append(rmse(g22, inv[i]))
    assert np.mean(ours) < 0.6 * np.mean(gam), (ours, gam)
    assert np.mean(np.array(ours) < np.array(gam)) >= 0.7


def test_recovers_a_curve_well_inside_the_prior(est):
    """A DoRF training curve through edges: the edge term moves the estimate from the prior mean toward it."""
    train = crfkit.load_curves("dorf-train")
    inv = train.inverse().values
    prior_mean = est._finish(est._curves(est._mu)[0])
    for i in (4, 52, 117):
        g = est.estimate(render(edge_scene(seed=100 + i), train.values[i]))
        assert rmse(g.values, inv[i]) < 0.5 * rmse(prior_mean, inv[i])


def test_edge_triples_are_blends():
    lin = edge_scene(seed=3)
    img = render(lin, np.linspace(0, 1, 1024)).astype(np.float32) / 255
    t = edge_triples(img)
    assert t.shape[1:] == (3, 3) and len(t) > 100
    lo, hi = np.minimum(t[:, 0], t[:, 1]), np.maximum(t[:, 0], t[:, 1])
    assert np.all((t[:, 2] >= lo - 0.011) & (t[:, 2] <= hi + 0.011))
    # a linear image: the triples are collinear up to quantisation
    u, v = t[:, 0] - t[:, 1], t[:, 2] - t[:, 1]
    d = np.linalg.norm(np.cross(u, v), axis=1) / np.einsum("ij,ij->i", u, u)
    assert np.median(d) < 0.03


def test_hard_step_edges_give_no_triples(est):
    """Edges without any blended pixel (e.g. nearest-neighbour resampling) carry no information."""
    lin = edge_scene(seed=4, blur=0.0)
    t = edge_triples(render(lin, np.linspace(0, 1, 1024)).astype(np.float32) / 255)
    assert len(t) < 30
    with pytest.warns(UnreliableEstimateWarning, match="prior mean"):
        g = est.estimate(render(lin, np.linspace(0, 1, 1024)))
    np.testing.assert_allclose(g.values, est._finish(est._curves(est._mu)[0]))


def test_per_channel_returns_three_curves(test_curves):
    e = Lin2004Estimator(per_channel=True)
    img = render(edge_scene(seed=7), test_curves.values[0])
    cs = e.estimate(img)
    assert isinstance(cs, CurveSet) and len(cs) == 3 and cs.kind == "inverse"
    assert np.all(np.diff(cs.values, axis=1) >= 0)
    assert rmse(cs.values, test_curves.inverse().values[0]) < rmse(Curve.gamma(2.2, kind="inverse").values,
                                                                     test_curves.inverse().values[0])


def test_deterministic(est, test_curves):
    img = render(edge_scene(seed=9), test_curves.values[1])
    np.testing.assert_array_equal(est.estimate(img).values, est.estimate(img).values)


@pytest.mark.parametrize("opts, match", [
    ({"k": 0}, "k"), ({"k": 26}, "k"), ({"per_channel": "yes"}, "per_channel"),
    ({"prior_weight": 0}, "prior_weight"), ({"prior_weight": float("nan")}, "prior_weight"),
    ({"prior_weight": "a"}, "prior_weight"), ({"max_triples": 0}, "max_triples"), ({"seed": -1}, "seed"),
    ({"threads": 0}, "threads"),
])
def test_bad_options(opts, match):
    with pytest.raises(ValidationError, match=match):
        get_estimator("lin2004", **opts)


def test_unknown_option():
    with pytest.raises(UnknownNameError):
        get_estimator("lin2004", weights="x.pt")


@pytest.mark.parametrize("img, match", [
    (np.full((64, 64, 3), 128, np.uint8), "constant"),
    (np.zeros((8, 64, 3), np.uint8) + np.arange(64, dtype=np.uint8)[None, :, None], "too small"),
    (np.full((64, 64, 3), np.nan, np.float32), "NaN"),
    (np.full((64, 64, 3), 2.0), r"\[0, 1\]"),
    (np.zeros((64, 64, 5), np.uint8), "shape|channels"),
    (np.zeros((64, 64, 3), np.int64), "dtype"),
])
def test_bad_images(est, img, match):
    with pytest.raises(CrfkitError, match=match):
        est.estimate(img)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays(np.uint8, st.tuples(st.integers(1, 48), st.integers(1, 48), st.sampled_from([1, 3, 4]))),
       st.booleans())
def test_property_valid_curve_or_crfkit_error(img, blocky):
    if blocky and min(img.shape[:2]) >= 2:  # large flat areas with hard and blended edges
        img = np.repeat(np.repeat(img[:6, :6], 8, 0), 8, 1)
        img = gaussian_filter(img.astype(float), (1.0, 1.0, 0)).astype(np.uint8)
    est = Lin2004Estimator(max_triples=300)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = est.estimate(img)
    except CrfkitError:
        return
    assert isinstance(g, Curve) and g.kind == "inverse"
    v = g.values
    assert v.shape == (1024,) and np.all(np.isfinite(v))
    assert v[0] == 0.0 and v[-1] == 1.0 and np.all(np.diff(v) >= 0)


def test_large_images_are_searched_in_random_crops(test_curves, monkeypatch):
    e = Lin2004Estimator()
    monkeypatch.setattr(e, "max_search_pixels", 2 * 128 * 128)
    monkeypatch.setattr(e, "tile", 128)
    img = render(edge_scene(h=384, w=512, n=60, seed=11), test_curves.values[3])
    tiles = e._tiles(img)
    assert len(tiles) == 2 and all(t.shape == (128, 128, 3) for t in tiles)
    assert all(any(np.array_equal(t, img[y:y + 128, x:x + 128]) for y in range(0, 384, 128)
                   for x in range(0, 512, 128)) for t in tiles)  # crops, not resized
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = e.estimate(img)
    assert g.values[0] == 0 and g.values[-1] == 1 and np.all(np.diff(g.values) >= 0)
    assert len(Lin2004Estimator()._tiles(img)) == 1  # below the default limit: the whole image
