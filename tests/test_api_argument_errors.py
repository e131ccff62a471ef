"""Public functions given bad arguments raise crfkit's own exceptions with one-line messages
naming the parameter (compare_models, restore/estimate, get_model/fit, calibrate_bracket)."""

from pathlib import Path

import numpy as np
import pytest

import crfkit
from crfkit import GRID, CurveSet
from crfkit.bracket import calibrate_bracket
from crfkit.errors import UnknownNameError, ValidationError
from crfkit.restoration.baselines import HighlightExpansionRestorer


@pytest.fixture(scope="module")
def curves():
    """A tiny synthetic curve set (no data files needed)."""
    rng = np.random.default_rng(3)
    rows = [np.clip(GRID ** rng.uniform(0.3, 2.5), 0, 1) for _ in range(8)]
    return CurveSet(np.maximum.accumulate(np.array(rows), axis=1), names=[f"c{i}" for i in range(8)], name="tiny")


def _table(cs, **kw):
    args = dict(curves=[cs], columns=["Gamma"], pca_from=(), include_inverse=False)
    args.update(kw)
    return crfkit.compare_models(**args)


# -- compare_models ------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    (dict(curves=5), r"^curves must be .*got 5$"),
    (dict(curves=[5]), r"^curves\[0\] must be .*got 5$"),
    (dict(pca_from=5), r"^pca_from must be .*got 5$"),
    (dict(pca_k="a"), r"^pca_k must be an integer >= 1 or a list of them, got 'a'$"),
    (dict(pca_k=(2, "a")), r"^pca_k\[1\] must be an integer, got 'a'$"),
    (dict(pca_k=0), r"^pca_k must be >= 1, got 0$"),
    (dict(cv_folds="a"), r"^cv_folds must be an integer, got 'a'$"),
    (dict(cv_folds=-1), r"^cv_folds must be 0 \(off\) or at least 2, got -1$"),
    (dict(cv_folds=1), r"^cv_folds must be 0 \(off\) or at least 2, got 1$"),
    (dict(cv_folds=2.0), r"^cv_folds must be an integer"),
    (dict(seed="a"), r"^seed must be an integer, got 'a'$"),
    (dict(seed=-1), r"^seed must be >= 0, got -1$"),
    (dict(columns=[]), r"^columns must name at least one column"),
    (dict(columns=5), r"^columns must be a column label"),
    (dict(columns=["Gamma", 3]), r"^columns\[1\] must be a column label"),
    (dict(include_inverse="yes"), r"^include_inverse must be True or False, got 'yes'$"),
])
def test_compare_models_bad_arguments(curves, kw, match):
    # checked before any work: the PCA source is a valid set, so only the named argument is wrong
    kw = {"pca_from": [curves], "pca_k": (2,), **kw}
    with pytest.raises(ValidationError, match=match):
        _table(curves, **kw)


def test_compare_models_single_strings_are_one_name(curves):
    with pytest.raises(UnknownNameError, match=r"unknown curve set 'nope'"):
        _table(curves, curves="nope")
    with pytest.raises(UnknownNameError, match=r"unknown table column 'Gammma'"):
        _table(curves, columns="Gammma")
    t = _table(curves, columns="Gamma")
    assert t.columns == ["Gamma"]
    # a single CurveSet is one row, a single int one PCA size
    t = _table(curves, curves=curves, pca_from=curves, pca_k=2, cv_folds=0)
    assert t.rows == ["tiny"] and t.columns == ["Gamma", "PCA(tiny)-2"]
    # numpy integers and bools are fine; cv_folds=0 and >= 2 too
    t = _table(curves, pca_from=[curves], pca_k=np.array([2]), cv_folds=np.int64(2), seed=np.int64(1),
               include_inverse=np.bool_(False))
    assert t.columns == ["Gamma", "PCA(tiny)-2", "PCA(tiny)-2 (cv)"]


# -- restore: size parameters of highlight-expansion -----------------------------------------------
def _white(h=16, w=24):
    return np.ones((h, w, 3), np.float32)


@pytest.mark.parametrize("kw, match", [
    (dict(smooth=1e9), r"smooth=1000000000\.0 with scale=0\.02.*expected smooth <= 50"),
    (dict(smooth=51), r"smooth=51\.0 with scale=0\.02"),
    (dict(scale=0.5, smooth=3), r"smooth=3\.0 with scale=0\.5"),
    (dict(scale=1e9), r"invalid scale=1000000000\.0; expected a finite number in \(0, 1\]"),
    (dict(scale=2, smooth=0), r"invalid scale=2"),
    (dict(smooth=float("inf")), r"invalid smooth=inf"),
])
def test_highlight_expansion_size_bounds(kw, match):
    with pytest.raises(ValidationError, match=r"^highlight-expansion: .*" + match):
        crfkit.restore(_white(), method="highlight-expansion", **kw)
    with pytest.raises(ValidationError, match=match):
        HighlightExpansionRestorer(**kw)


def test_highlight_expansion_bounds_keep_valid_values():
    img = np.full((12, 20, 3), 0.5, np.float32)
    img[3:9, 5:15] = 1.0
    for kw in ({}, dict(smooth=0), dict(smooth=50), dict(scale=1, smooth=1), dict(scale=1, smooth=0)):
        out = crfkit.restore(img, method="highlight-expansion", **kw)
        assert out.shape == img.shape and np.isfinite(out).all()


# -- estimate / restore given a file name ------------------------------------------------------------
@pytest.mark.parametrize("path", ["photo.png", Path("photo.png")])
def test_restore_path_instead_of_array(path):
    with pytest.raises(ValidationError, match=r"^restore: expected an image array, got a file name.*read_image"):
        crfkit.restore(path, method="clip")


@pytest.mark.parametrize("path", ["photo.png", Path("photo.png"), ["a.png", "b.png"]])
def test_estimate_path_instead_of_array(path):
    with pytest.raises(ValidationError, match=r"^estimate: expected an image array, got a .*read_image\(path\)"):
        crfkit.estimate(path)


def test_prepare_image_path_instead_of_array():
    from crfkit.estimators import prepare_image

    with pytest.raises(ValidationError, match=r"expected an image array, got a file name"):
        prepare_image("photo.png", who="lin2004")


# -- get_model / fit ---------------------------------------------------------------------------------
def test_get_model_unknown_option():
    with pytest.raises(ValidationError, match=r"^unknown option\(s\) \['foo'\] for model 'gamma'; valid: k, kind$"):
        crfkit.get_model("gamma", foo=2)
    with pytest.raises(ValidationError, match=r"unknown option\(s\) \['pin_zer'\] for model 'polynomial'.*pin_zero"):
        crfkit.get_model("polynomial", k=3, pin_zer=True)
    assert crfkit.get_model("polynomial", k=3, pin_zero=True).k == 3


@pytest.mark.parametrize("name", [None, 5, 2.2, ["gamma"]])
def test_get_model_not_a_name(name):
    with pytest.raises(ValidationError, match=r"^model must be a name among .*emor.*gamma.*, got "):
        crfkit.get_model(name)


def test_get_model_instance_passes_through():
    m = crfkit.get_model("gamma")
    assert crfkit.get_model(m) is m
    with pytest.raises(UnknownNameError, match="unknown model 'spline'"):
        crfkit.get_model("spline")


@pytest.mark.parametrize("kind", ["nope", "Forward", 1, True])
def test_fit_bad_kind(kind):
    curve = crfkit.Curve(GRID ** 0.5)
    with pytest.raises(ValidationError, match=r"^kind must be 'forward' or 'inverse' \(or None: the data's own kind\), got "):
        crfkit.fit(curve, "gamma", kind=kind)
    with pytest.raises(ValidationError, match=r"^kind must be "):
        crfkit.fit(GRID ** 0.5, "gamma", kind=kind)


def test_fit_kind_accepted_values():
    for kind in (None, "forward", "inverse"):
        assert crfkit.fit(GRID ** 0.5, "gamma", kind=kind).rmse < 1e-6


# -- calibrate_bracket ---------------------------------------------------------------------------------
def _bracket():
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    e = np.stack([0.05 + 0.95 * (0.5 * xx + 0.5 * yy)] * 3, axis=2)  # a smooth ramp: usable pixels
    return [np.round(np.clip(e * t, 0, 1) ** 0.5 * 255).astype(np.uint8) for t in (0.25, 1.0)]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 5, 3), (4, 0, 3), (0, 0)])
def test_calibrate_bracket_empty_images(shape, dtype):
    ims = [np.zeros(shape, dtype), np.zeros(shape, dtype)]
    with pytest.raises(ValidationError, match=r"^image 0 is empty \(shape .*\); a bracket needs images with pixels$"):
        calibrate_bracket(ims, [1, 2])


@pytest.mark.parametrize("name", ["align", "shared"])
@pytest.mark.parametrize("value", ["yes", 1, 0, None])
def test_calibrate_bracket_flags_must_be_bool(name, value):
    with pytest.raises(ValidationError, match=rf"^{name} must be True or False, got {value!r}$"):
        calibrate_bracket(_bracket(), [0.25, 1.0], **{name: value})


def test_calibrate_bracket_numpy_bool_flags():
    cal = calibrate_bracket(_bracket(), [0.25, 1.0], method="debevec", shared=np.bool_(True), align=np.bool_(False),
                            bootstrap=0, n_samples=300)
    assert cal.curves is not None
