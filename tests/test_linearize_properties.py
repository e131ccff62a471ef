"""linearize / apply_curve / Curve.apply under odd images and curve arguments (issue 12, defect 9), and
the per-channel curve resolver ``channel_curves`` (issue 13).

The invariant: a valid result (an array of the image's shape and the requested dtype, finite, in
[0, 1]) or a :class:`crfkit.CrfkitError`.  ``HYPOTHESIS_PROFILE=thorough`` runs many more examples.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crfkit
from crfkit import GRID, Curve, CurveSet, apply_curve, linearize
from crfkit.curves.image import channel_curves
from crfkit.errors import CrfkitError, NotMonotoneError, UnknownNameError, ValidationError

F = Curve(GRID ** (1 / 2.2), "forward", "g22")
RGB = CurveSet(np.stack([GRID**0.4, GRID**0.5, GRID**0.6]), names=["R", "G", "B"])


def camera_set(cameras=("CamA", "CamB"), kind="forward"):
    """A chart-dataset-like set: names CAMERA/R, G, B and per-curve metadata."""
    values, names, meta = [], [], []
    for i, cam in enumerate(cameras):
        for j, ch in enumerate("RGB"):
            values.append(GRID ** (0.3 + 0.1 * i + 0.05 * j))
            names.append(f"{cam}/{ch}")
            meta.append({"camera": cam, "channel": ch})
    return CurveSet(np.stack(values), kind, names, meta, name="cameras")


@pytest.fixture(scope="module")
def set_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sets") / "two-cameras.crfs"
    camera_set().save(path)
    return path


# -- the defects, one by one ----------------------------------------------------------------------
@pytest.mark.parametrize("func", [linearize, apply_curve])
def test_bad_images_and_arguments_are_validation_errors(func, set_file):
    img4 = np.zeros((4, 4, 4), np.uint8)
    cases = [
        ((np.zeros((4, 4, 0), np.uint8), F), {}, "no channels"),
        ((np.zeros((4, 4, 3), np.uint8), F), {"dtype": "foo"}, "dtype='foo'"),
        ((np.zeros((4, 4, 3), np.uint8), None), {}, "NoneType"),
        ((np.zeros((4, 4, 3), np.uint8), 2.2), {}, "gamma:2.2"),
        ((img4, str(set_file)), {}, "6 curves for an image with 4 channel"),
        ((np.zeros((4, 4, 3), np.uint8), [F, None, F]), {}, "item 1"),
        ((np.zeros((4, 4, 3), np.uint8), []), {}, "empty"),
        ((np.zeros((4, 4, 3), np.complex64), F), {}, "dtype complex64"),
        ((np.zeros((4, 4), np.float32), F), {"dtype": np.uint8}, "not a floating-point type"),
        ((np.zeros((4, 4), np.float32), F), {"dtype": int}, "not a floating-point type"),
        ((np.zeros((4, 4), np.float32), F), {"dtype": bool}, "not a floating-point type"),
    ]
    for args, kwargs, match in cases:
        with pytest.raises(ValidationError, match=match) as exc:
            func(*args, **kwargs)
        assert "\n" not in str(exc.value)
    with pytest.raises(UnknownNameError, match="unknown curve 'foo'"):
        func(np.zeros((4, 4, 3), np.uint8), "foo")


def test_integer_dtype_is_refused_not_truncated():
    img = np.full((2, 2), 128, np.uint8)
    with pytest.raises(ValidationError, match="bits=8 or bits=16"):
        apply_curve(img / 255.0, F, dtype=np.uint8)
    with pytest.raises(ValidationError, match="bits"):
        apply_curve(img / 255.0, F, bits="8")
    assert apply_curve(img / 255.0, F, bits=8).dtype == np.uint8  # integer output is asked for with bits
    for dt in (np.float16, np.float32, np.float64):
        assert linearize(img, F, dtype=dt).dtype == dt


def test_names_and_paths_as_curve_arguments(set_file):
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    np.testing.assert_allclose(linearize(img, "gamma:2.2"), (img / 255.0) ** 2.2, atol=1e-6)
    rgba = np.concatenate([img, img[..., :1]], axis=2)
    assert linearize(rgba, "linear").shape == (4, 4, 4)  # one curve serves every channel
    by_camera = linearize(img, set_file, name="CamB", dtype=np.float64)
    for c in range(3):
        expected = Curve(GRID ** (0.4 + 0.05 * c)).inverse()(img[..., c] / 255.0)
        np.testing.assert_allclose(by_camera[..., c], expected, atol=1e-12)
    one = linearize(img, str(set_file), index=1)
    np.testing.assert_array_equal(one, linearize(img, camera_set()[1]))
    assert Curve.apply(F, img / 255.0).shape == img.shape


# -- the resolver -------------------------------------------------------------------------------
def test_channel_curves_takes_one_camera_rgb_per_channel():
    cams = camera_set()
    got = channel_curves(cams, name="CamA")
    assert isinstance(got, CurveSet) and got.names == ["CamA/R", "CamA/G", "CamA/B"] and got.kind == "inverse"
    got = channel_curves(cams[[5, 3, 4]], kind=None)  # B, R, G of one camera: put in R, G, B order
    assert got.names == ["CamB/R", "CamB/G", "CamB/B"] and got.kind == "forward"
    assert channel_curves(cams, index=4, kind=None).name == "CamB/G"
    assert channel_curves(cams, name="CamA/B", kind="forward").name == "CamA/B"
    assert channel_curves(RGB).names == ["R", "G", "B"]  # bracket calibration's names
    plain = CurveSet.from_curves([Curve(GRID**k, name=f"c{k}") for k in (1.5, 2.0, 2.5)])
    assert channel_curves(plain, kind=None).names == ["c1.5", "c2.0", "c2.5"]  # no labels: in order
    single = channel_curves(RGB[:1], n_channels=1)
    assert isinstance(single, Curve)


def test_channel_curves_refuses_what_is_not_one_camera(dorf_like=None):
    cams = camera_set()
    with pytest.raises(ValidationError, match="6 curves for an image with 3 channel.*index= or name="):
        channel_curves(cams, where="--curve x.crfs")
    with pytest.raises(ValidationError, match="2 cameras"):
        channel_curves(cams[[0, 4, 5]])
    with pytest.raises(ValidationError, match="channels R, R, B"):
        channel_curves(CurveSet(np.stack([GRID, GRID, GRID]), names=["a/R", "a/R", "a/B"]))
    with pytest.raises(ValidationError, match="only some"):
        channel_curves(CurveSet(np.stack([GRID, GRID, GRID]), names=["R", "x", "y"]))
    with pytest.raises(ValidationError, match="no curve or camera named 'CamZ'.*cameras: CamA, CamB"):
        channel_curves(cams, name="CamZ")
    with pytest.raises(ValidationError, match="out of range"):
        channel_curves(cams, index=6)
    with pytest.raises(ValidationError, match="index must be an integer"):
        channel_curves(cams, index=True)
    with pytest.raises(ValidationError, match="not both"):
        channel_curves(cams, index=0, name="CamA")
    with pytest.raises(ValidationError, match="one curve"):
        channel_curves(F, index=0)
    with pytest.raises(ValidationError, match="outside"):
        channel_curves(Curve(GRID * 1.5))
    with pytest.raises(NotMonotoneError):
        channel_curves(Curve(np.r_[GRID[:500], GRID[500:] - 0.01]))
    with pytest.raises(ValidationError, match="n_channels"):
        channel_curves(F, 0)


def test_dorf_style_names_give_the_film():
    names = ["filmACDRed", "filmACDGreen", "filmACDBlue", "filmBCDRed"]
    dorf = CurveSet(np.stack([GRID ** (0.4 + 0.01 * i) for i in range(4)]), names=names)
    assert channel_curves(dorf, name="filmACD", kind=None).names == names[:3]
    with pytest.raises(ValidationError, match="2 cameras"):
        channel_curves(dorf[[0, 1, 3]])


def test_restore_crf_uses_the_same_rule():
    from crfkit.restoration.pipeline import resolve_inverse_crf

    with pytest.raises(ValidationError, match="2 cameras"):
        resolve_inverse_crf(camera_set()[[0, 4, 5]])
    assert resolve_inverse_crf(camera_set()[[5, 3, 4]]).names == ["CamB/R", "CamB/G", "CamB/B"]


# -- properties ---------------------------------------------------------------------------------
IMG_DTYPES = [np.bool_, np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64,
              np.complex64]


@st.composite
def images(draw):
    dtype = np.dtype(draw(st.sampled_from(IMG_DTYPES)))
    h, w = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    shape = draw(st.sampled_from([(h, w), (h, w, 0), (h, w, 1), (h, w, 2), (h, w, 3), (h, w, 4), (h,), (1, h, w, 3)]))
    size = int(np.prod(shape))
    if dtype.kind == "b":
        flat = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    elif dtype.kind in "ui":
        info = np.iinfo(dtype)
        flat = draw(st.lists(st.integers(max(info.min, -300), min(info.max, 70000)), min_size=size, max_size=size))
    else:
        flat = draw(st.lists(st.floats(-2, 2) | st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0]),
                             min_size=size, max_size=size))
    with np.errstate(all="ignore"):
        arr = np.array(flat, dtype=np.float64 if dtype.kind in "fc" else np.int64).astype(dtype) \
            if dtype.kind != "b" else np.array(flat, dtype=bool)
    return arr.reshape(shape)


CURVES = st.sampled_from([
    F, F.inverse(), RGB, RGB[:1], RGB[:2], [F, F.inverse(), F], None, 2.2, "gamma:2.2", "srgb", "linear", "foo", "",
    camera_set(), camera_set()[[2, 0, 1]], Curve(GRID * 1.5), np.zeros(3), [F, "x"],
])
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, "float32", "foo", np.uint8, int, bool, complex, None])


def _check(out, image, dtype, bits):
    shape = np.shape(image)
    assert isinstance(out, np.ndarray) and out.shape == shape
    if bits is not None:
        assert out.dtype == (np.uint8 if bits == 8 else np.uint16)
        return
    assert out.dtype == np.dtype(dtype) and out.dtype.kind == "f"
    assert np.isfinite(out).all()
    if out.size:
        assert out.min() >= 0 and out.max() <= 1


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(image=images(), curve=CURVES, dtype=DTYPES, func=st.sampled_from(["linearize", "apply", "Curve.apply"]),
       bits=st.sampled_from([None, None, 8, 16, 12]), index=st.sampled_from([None, None, 0, 4, -1]))
def test_linearize_and_apply_curve_return_a_valid_result_or_a_crfkit_error(image, curve, dtype, func, bits, index):
    kwargs = {} if dtype is None else {"dtype": dtype}
    try:
        if func == "linearize":
            out = linearize(image, curve, index=index, **kwargs)
            bits = None
        elif func == "apply":
            out = apply_curve(image, curve, bits=bits, index=index, **kwargs)
        else:
            out = (curve if isinstance(curve, Curve) else F).apply(image, bits=bits, **kwargs)
    except CrfkitError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    _check(out, image, kwargs.get("dtype", np.float32), bits)


@given(codes=st.lists(st.integers(0, 255), min_size=1, max_size=12), p=st.floats(1.0, 5.0))
def test_per_channel_equals_one_curve_per_channel(codes, p):
    img = np.array(codes, np.uint8).reshape(1, -1, 1).repeat(3, axis=2)
    cams = camera_set(("X",))
    out = linearize(img, cams, dtype=np.float64)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], linearize(img[..., c], cams[c], dtype=np.float64))
    np.testing.assert_allclose(linearize(img, f"gamma:{p}", dtype=np.float64), (img / 255.0) ** p, atol=1e-4)  # interpolated on the grid


def test_non_native_byte_order_takes_the_lookup_path():
    img = (np.arange(12, dtype=np.uint16).reshape(2, 2, 3) * 5000).astype(">u2")
    np.testing.assert_array_equal(linearize(img, "gamma:2.2"), linearize(img.astype(np.uint16), "gamma:2.2"))
