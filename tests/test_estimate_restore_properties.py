"""``crfkit.estimate`` and ``crfkit.restore`` under random options and odd images (issue 12).

The invariant: a valid result (an inverse curve, monotone with g(0) = 0 and g(1) = 1; or a finite,
non-negative float32 (H, W, 3) image) or a :class:`crfkit.CrfkitError`; an invalid option always
gives a CrfkitError, also for an image with nothing saturated.  Images are tiny and the network
tests run a third of the profile's examples so that CI stays fast; ``HYPOTHESIS_PROFILE=thorough``
is the larger run by hand.  The network tests use the weights shipped in ``crfkit/weights``.
"""

import functools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crfkit
from crfkit.errors import CrfkitError

NET_EXAMPLES = max(5, settings().max_examples // 3)
net_settings = settings(max_examples=NET_EXAMPLES, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])

# option -> [(value, valid?)]; validity for the shipped weights (crf-net patches of 128 pixels)
EST_OPTIONS = {
    "device": [(None, True), ("cpu", True), ("auto", True), ("foo", False), (3, False), ("", False)],
    "threads": [(None, True), (1, True), (0, False), (-1, False), ("2", False), (1.5, False), (True, False),
                (10**9, False)],
    "n_patches": [(1, True), (4, True), (0, False), (-1, False), ("a", False), (2.5, False)],
    "min_patches": [(1, True), (0, False), (-1, False), (1000, False), ("x", False)],
    "coverage": [(0, True), (220, True), (-5, False), (10**6, False), (float("nan"), False)],
    "short_side": [(128, True), (160, True), (0, False), (-1, False), (1.5, False), ("x", False)],
    "weights": [(None, True), (5, False), ("/nonexistent/w.pt", False)],
    "bogus": [(1, False)],
}
LIN_ONLY = {"short_side": [(None, True), (32, True), (64, True), (16, False), (0, False)]}


def photo(h, w, seed=0, clip=False):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w, 1)
    base = np.stack([x, y, (x + y) / 2], -1) + 0.1 * rng.standard_normal((h, w, 3))
    if clip:
        base[: max(1, h // 3), : max(1, w // 3)] = 1.5
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


@st.composite
def option_sets(draw, table):
    keys = draw(st.lists(st.sampled_from(sorted(table)), max_size=3, unique=True))
    opts, valid = {}, True
    for k in keys:
        value, ok = draw(st.sampled_from(table[k]))
        opts[k] = value
        valid &= ok
    return opts, valid


@st.composite
def odd_images(draw, max_side=40):
    dtype = np.dtype(draw(st.sampled_from([np.uint8, np.uint8, np.uint16, np.float32, np.float64, np.float16,
                                           np.bool_, np.int32, np.complex64])))
    h, w = draw(st.sampled_from([0, 1, 3, 17, max_side])), draw(st.sampled_from([0, 1, 5, 23, max_side]))
    shape = draw(st.sampled_from([(h, w), (h, w, 1), (h, w, 2), (h, w, 3), (h, w, 3), (h, w, 4), (h, w, 0), (h,)]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if dtype.kind == "b":
        arr = rng.random(shape) < 0.5
    elif dtype.kind in "ui":
        arr = rng.integers(0, 256 if dtype != np.uint16 else 65536, shape).astype(dtype)
    else:
        scale = draw(st.sampled_from([1.0, 1.0, 3.0]))
        arr = (rng.random(shape) * scale).astype(dtype)
        if arr.size and draw(st.booleans()):
            arr.flat[0] = draw(st.sampled_from([np.nan, np.inf, -1.0]))
    return arr


def check_curve(g):
    curves = list(g) if isinstance(g, crfkit.CurveSet) else [g]
    for c in curves:
        assert isinstance(c, crfkit.Curve) and c.kind == "inverse"
        v = c.values
        assert np.isfinite(v).all() and c.is_monotone() and v[0] == 0.0 and v[-1] == 1.0


def check_hdr(out, image):
    h, w = np.shape(image)[:2]
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (h, w, 3)
    assert np.isfinite(out).all() and (out.size == 0 or out.min() >= 0.0)


def one_line(exc):
    assert str(exc) and "\n" not in str(exc), str(exc)


def quiet_call(fn, *args, **kwargs):
    """``(result, None)``, or ``(None, error)`` for the one-line CrfkitError ``fn`` raised; warnings silenced."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs), None
    except CrfkitError as exc:
        one_line(exc)
        return None, exc


@functools.lru_cache(maxsize=None)
def shipped_estimator(method):
    from crfkit.estimators import get_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_estimator(method, device="cpu", **({"n_patches": 4} if method == "crf-net" else {}))


@functools.lru_cache(maxsize=None)
def shipped_restorer():
    from crfkit.restoration import get_restorer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_restorer("masked-unet", device="cpu", flips=1)


# -- estimate -----------------------------------------------------------------------------------
@pytest.mark.torch
@net_settings
@given(method=st.sampled_from(["crf-net", "linearization-net"]), data=st.data())
def test_estimate_options_valid_result_or_crfkit_error(method, data):
    pytest.importorskip("torch")
    table = dict(EST_OPTIONS, **(LIN_ONLY if method == "linearization-net" else {}))
    if method == "linearization-net":
        for k in ("n_patches", "min_patches", "coverage"):
            table[k] = [(v, False) for v, _ in table[k]]  # not options of linearization-net
    opts, valid = data.draw(option_sets(table))
    if method == "crf-net" and "n_patches" not in opts:
        opts["n_patches"] = 2  # small and fast (the valid min_patches values do not exceed it)
    img = photo(136, 150, seed=data.draw(st.integers(0, 99)))
    g, exc = quiet_call(crfkit.estimate, img, method=method, **opts)
    if exc is not None:
        assert not valid, f"valid options {opts} refused: {exc}"
        return
    assert valid, f"invalid options accepted: {opts}"
    check_curve(g)


@pytest.mark.torch
@net_settings
@given(method=st.sampled_from(["crf-net", "linearization-net"]), image=odd_images(max_side=140))
def test_estimate_odd_images_valid_result_or_crfkit_error(method, image):
    pytest.importorskip("torch")
    est = shipped_estimator(method)
    g, exc = quiet_call(crfkit.estimate, image, method=est)
    if exc is None:
        check_curve(g)


# -- restore ------------------------------------------------------------------------------------
RESTORE_OPTIONS = {
    "masked-unet": {
        "device": [(None, True), ("cpu", True), ("foo", False)],
        "tile": [(None, True), (128, True), (0, False), (-1, False), ("x", False)],
        "overlap": [(None, True), (0, True), (-1, False), (1000, False)],
        "flips": [(1, True), (2, True), (3, False), ("2", False)],
        "progress": [(None, True), (False, True), ("x", False)],
        "weights": [(None, True), (5, False)],
        "bogus": [(1, False)],
    },
    "clip": {"bogus": [(1, False)], "gain": [(2, False)]},
    "highlight-expansion": {"gain": [(1, True), (4, True), (0.5, False), ("x", False), (float("nan"), False)],
                            "scale": [(0.02, True), (0, False)], "smooth": [(0, True), (-1, False)],
                            "bogus": [(1, False)]},
}
PIPELINE = {"tau": [(0.95, True), (0.5, True), (0, False), (1, False), ("x", False), (None, False)],
            "threads": [(None, True), (1, True), (0, False), ("1", False)],
            "crf": [("gamma:2.2", True), ("srgb", True), ("linear", True), ("gamma:-1", False), (None, False),
                    (2.2, False), ("nope", False)]}


@given(method=st.sampled_from(["clip", "highlight-expansion"]), data=st.data())
def test_restore_baselines_options_and_images(method, data):
    opts, valid = data.draw(option_sets(RESTORE_OPTIONS[method]))
    popts, pvalid = data.draw(option_sets(PIPELINE))
    image = data.draw(st.one_of(odd_images(), st.builds(photo, st.integers(1, 30), st.integers(1, 30),
                                                         st.integers(0, 9), st.booleans())))
    out, exc = quiet_call(crfkit.restore, image, method=method, **popts, **opts)
    if exc is not None:
        return
    assert valid and pvalid, f"invalid options accepted: {opts} {popts}"
    check_hdr(out, image)


@pytest.mark.torch
@net_settings
@given(data=st.data(), clipped=st.booleans())
def test_restore_masked_unet_options_checked_always(data, clipped):
    pytest.importorskip("torch")
    opts, valid = data.draw(option_sets(RESTORE_OPTIONS["masked-unet"]))
    opts.setdefault("flips", 1)
    image = photo(24, 40, clip=clipped)
    out, exc = quiet_call(crfkit.restore, image, method="masked-unet", **opts)
    if exc is not None:
        assert not valid, f"valid options {opts} refused: {exc}"
        return
    assert valid, f"invalid options accepted with {'a clipped' if clipped else 'an unclipped'} image: {opts}"
    check_hdr(out, image)


@pytest.mark.torch
@net_settings
@given(image=st.one_of(odd_images(), st.builds(photo, st.integers(1, 40), st.integers(1, 40), st.integers(0, 9),
                                                  st.just(True))))
def test_restore_masked_unet_odd_images(image):
    pytest.importorskip("torch")
    out, exc = quiet_call(crfkit.restore, image, method=shipped_restorer())
    if exc is None:
        check_hdr(out, image)
