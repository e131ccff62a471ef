"""Linearising images and applying curves: LUT paths (uint8, uint16), float path, channels."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crfkit
from crfkit import GRID, Curve, CurveSet, apply_curve, linearize

F = Curve(GRID ** (1 / 2.2), "forward", "g22")
PER_CHANNEL = CurveSet(np.stack([GRID**0.4, GRID**0.5, GRID**0.6]), names=["R", "G", "B"])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_uint8_lut_matches_float_path(rng):
    img = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    lut = linearize(img, F)
    flt = linearize(img.astype(np.float64) / 255.0, F)
    assert lut.dtype == np.float32 and lut.shape == img.shape
    np.testing.assert_allclose(lut, flt, atol=1e-6)
    # the 8-bit LUT is the inverse curve at the 256 code values
    g = F.inverse()
    np.testing.assert_allclose(lut, g.to_lut(256)[img], atol=1e-7)
    # linearising B = E^(1/2.2) gives back E (to the grid's resolution)
    np.testing.assert_allclose(lut, (img / 255.0) ** 2.2, atol=2e-3)


def test_uint16_lut(rng):
    img = rng.integers(0, 65536, (5, 6), dtype=np.uint16)
    out = linearize(img, F, dtype=np.float64)
    assert out.dtype == np.float64 and out.shape == img.shape
    np.testing.assert_allclose(out, F.inverse()(img / 65535.0), atol=1e-12)
    ends = linearize(np.array([[0, 65535]], dtype=np.uint16), F)
    np.testing.assert_array_equal(ends, [[0.0, 1.0]])


def test_float_path_clips_and_rejects_nan(rng):
    img = rng.uniform(-0.5, 1.5, (4, 4))
    out = linearize(img, F)
    np.testing.assert_allclose(out, linearize(np.clip(img, 0, 1), F))
    assert out.min() >= 0 and out.max() <= 1
    for bad in (np.nan, np.inf, -np.inf):
        img2 = img.copy()
        img2[1, 1] = bad
        with pytest.raises(crfkit.ValidationError, match="NaN or inf"):
            linearize(img2, F)
        with pytest.raises(crfkit.ValidationError, match="NaN or inf"):
            apply_curve(img2, F)


def test_inverse_curve_used_as_is():
    g = F.inverse()
    img = np.linspace(0, 1, 12).reshape(3, 4)
    np.testing.assert_allclose(linearize(img, g), linearize(img, F))
    np.testing.assert_allclose(linearize(img, g, dtype=np.float64), g(img))
    # and a forward curve given to apply_curve is used as is, an inverse one inverted
    np.testing.assert_allclose(apply_curve(img, F, dtype=np.float64), F(img))
    np.testing.assert_allclose(apply_curve(img, g), apply_curve(img, F), atol=1e-6)


def test_per_channel_curves(rng):
    img = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    for curves in (PER_CHANNEL, list(PER_CHANNEL)):
        out = linearize(img, curves, dtype=np.float64)
        for c, p in enumerate([0.4, 0.5, 0.6]):
            expected = Curve(GRID**p).inverse()(img[..., c] / 255.0)
            np.testing.assert_allclose(out[..., c], expected, atol=1e-12)
            # close to the analytic inverse
            np.testing.assert_allclose(out[..., c], (img[..., c] / 255.0) ** (1 / p), atol=1e-3)
    # channels really are treated differently
    same = np.full((1, 1, 3), 128, dtype=np.uint8)
    v = linearize(same, PER_CHANNEL)[0, 0]
    assert v[0] < v[1] < v[2]  # g(B) = B^(1/p) with B ~ 0.5 grows with p
    # one curve in a set or list serves every channel
    np.testing.assert_array_equal(linearize(img, PER_CHANNEL[:1]), linearize(img, PER_CHANNEL[0]))
    np.testing.assert_array_equal(linearize(img, [F]), linearize(img, F))


def test_per_channel_float_and_4_channels(rng):
    img = rng.random((3, 4, 4))
    curves = [Curve(GRID ** (0.3 + 0.2 * i)) for i in range(4)]
    out = apply_curve(img, curves, dtype=np.float64)
    for c in range(4):
        np.testing.assert_allclose(out[..., c], curves[c](img[..., c]))
    single = apply_curve(img[..., :1], curves[:1])
    assert single.shape == (3, 4, 1)


@pytest.mark.parametrize(
    "image, curves, match",
    [
        (np.zeros((4, 4, 3), np.uint8), PER_CHANNEL[:2], "2 curves for an image with 3 channel"),
        (np.zeros((4, 4, 4), np.uint8), PER_CHANNEL, "3 curves for an image with 4 channel"),
        (np.zeros((4, 4), np.uint8), PER_CHANNEL, "3 curves for an image with 1 channel"),
        (np.zeros((4, 4, 2), np.float32), [F, F, F], "3 curves for an image with 2 channel"),
        (np.zeros((2, 4, 4, 3), np.uint8), F, "shape"),
        (np.zeros(5, np.uint8), F, "shape"),
        (np.zeros((4, 4), np.int32), F, "dtype"),
        (np.zeros((4, 4), bool), F, "dtype"),
    ],
)
def test_bad_images(image, curves, match):
    for func in (linearize, apply_curve):
        with pytest.raises(crfkit.ValidationError, match=match):
            func(image, curves)


def test_non_monotone_curve_cannot_linearise():
    bumpy = Curve(np.r_[GRID[:500], GRID[500:] - 0.01])
    with pytest.raises(crfkit.NotMonotoneError):
        linearize(np.zeros((2, 2), np.uint8), bumpy)
    linearize(np.zeros((2, 2), np.uint8), bumpy.monotonized())


def test_apply_curve_quantisation(rng):
    lin = rng.random((8, 8, 3))
    q8 = apply_curve(lin, F, bits=8)
    q16 = apply_curve(lin, F, bits=16)
    assert q8.dtype == np.uint8 and q16.dtype == np.uint16
    np.testing.assert_array_equal(q8, np.round(np.clip(F(lin), 0, 1) * 255).astype(np.uint8))
    np.testing.assert_array_equal(q16, np.round(np.clip(F(lin), 0, 1) * 65535).astype(np.uint16))
    with pytest.raises(crfkit.ValidationError, match="bits"):
        apply_curve(lin, F, bits=12)
    # uint8 input through the LUT path
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_allclose(apply_curve(codes, F), F.to_lut(256)[codes], atol=1e-7)


@given(p=st.floats(0.1, 10.0), seed=st.integers(0, 2**32 - 1))
def test_linearize_then_apply_round_trip(p, seed):
    """Brightness -> linear -> brightness is f(g(B)).

    Exact (1e-4) at the grid's brightness values; between them both curves are
    linear interpolations of 1024 samples, which bounds the error by one grid step
    (measured up to ~7e-4 for E^10, ~1.3e-4 for E^(1/2.2)).  The other way round,
    g(f(E)), is limited by the grid where f is flat.
    """
    rng = np.random.default_rng(seed)
    f = Curve(GRID**p)
    on_grid = GRID[rng.integers(0, 1024, (5, 7, 3))]
    back = apply_curve(linearize(on_grid, f, dtype=np.float64), f, dtype=np.float64)
    np.testing.assert_allclose(back, on_grid, atol=1e-4)
    bright = rng.random((5, 7, 3))
    back = apply_curve(linearize(bright, f, dtype=np.float64), f, dtype=np.float64)
    np.testing.assert_allclose(back, bright, atol=1 / 1023)


def test_curve_methods_delegate(rng):
    img = rng.integers(0, 256, (3, 3), dtype=np.uint8)
    np.testing.assert_array_equal(F.linearize(img), linearize(img, F))
    np.testing.assert_array_equal(F.apply(img / 255.0), apply_curve(img / 255.0, F))
