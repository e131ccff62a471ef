"""Curve export (``.cube``, ``.spi1d``, JSON, CSV) and linear image writing (EXR, HDR, NPY, 16-bit TIFF)."""

import csv
import json
import os
import sys

import numpy as np
import pytest

import crfkit
from crfkit.curves import GRID, Curve, CurveSet
from crfkit.io import EXPORT_SUFFIXES, LINEAR_SUFFIXES, export_curves, write_linear_image

colour = pytest.importorskip("colour")


def rgb_set(name="cam"):
    """A forward per-channel set: R, G, B gammas 2.0, 2.2, 2.4."""
    vals = np.stack([GRID ** (1 / g) for g in (2.0, 2.2, 2.4)])
    return CurveSet(vals, "forward", [f"{name}/R", f"{name}/G", f"{name}/B"], name=name)


def sampled(values, size):
    return np.interp(np.linspace(0, 1, size), GRID, values)


# -- LUTs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".cube", ".spi1d"])
@pytest.mark.parametrize("size", [2, 33, 4096])
def test_rgb_set_round_trips_as_3x1d_lut(suffix, size, tmp_path):
    cs = rgb_set()
    path = export_curves(cs, tmp_path / f"cam{suffix}", size=size)
    lut = colour.read_LUT(str(path))
    assert isinstance(lut, colour.LUT3x1D)
    assert lut.table.shape == (size, 3)
    np.testing.assert_array_equal(lut.domain, [[0, 0, 0], [1, 1, 1]])
    expected = np.stack([sampled(v, size) for v in cs.inverse().values], axis=-1)
    np.testing.assert_allclose(lut.table, expected, atol=1e-9)


def test_default_direction_maps_code_to_linear(tmp_path):
    """The default LUT linearises: applied to a code value it gives the linear value."""
    g = Curve.gamma(2.2)  # forward: B = E ** (1 / 2.2)
    lut = colour.read_LUT(str(export_curves(g, tmp_path / "g.spi1d")))
    assert isinstance(lut, colour.LUT1D)
    codes = np.array([0.0, 0.25, 0.5, 0.73, 1.0])
    np.testing.assert_allclose(lut.apply(codes), codes**2.2, atol=2e-5)


def test_forward_direction_maps_linear_to_code(tmp_path):
    g = Curve.gamma(2.2, kind="inverse")
    lut = colour.read_LUT(str(export_curves(g, tmp_path / "g.cube", direction="forward")))
    lin = np.array([0.0, 0.1, 0.5, 1.0])
    np.testing.assert_allclose(lut.apply(np.repeat(lin[:, None], 3, axis=1))[:, 1], lin ** (1 / 2.2), atol=1e-3)


def test_direction_none_keeps_the_kind(tmp_path):
    cs = rgb_set()
    lut = colour.read_LUT(str(export_curves(cs, tmp_path / "f.spi1d", size=1024, direction=None)))
    np.testing.assert_allclose(lut.table, cs.values.T, atol=1e-9)


@pytest.mark.parametrize("suffix", [".cube", ".spi1d"])
def test_one_curve_is_a_1d_lut(suffix, tmp_path):
    c = Curve.srgb("inverse")
    lut = colour.read_LUT(str(export_curves(c, tmp_path / f"s{suffix}", size=256)))
    table = lut.table if lut.table.ndim == 1 else lut.table[:, 0]
    if lut.table.ndim == 2:  # colour reads a .cube 1-D LUT as 3x1D with equal columns
        np.testing.assert_array_equal(lut.table[:, 0], lut.table[:, 2])
    np.testing.assert_allclose(table, sampled(c.values, 256), atol=1e-9)


def test_set_of_other_size_needs_a_choice(tmp_path):
    cs = rgb_set().concat(rgb_set("other"))
    with pytest.raises(crfkit.ValidationError, match="1 curve .* or 3 .*got a set of 6"):
        export_curves(cs, tmp_path / "x.cube")
    assert not list(tmp_path.iterdir())
    lut = colour.read_LUT(str(export_curves(cs, tmp_path / "x.spi1d", curve="other/G", size=64)))
    np.testing.assert_allclose(lut.table, sampled(cs.inverse()[4].values, 64), atol=1e-9)
    lut = colour.read_LUT(str(export_curves(cs, tmp_path / "y.spi1d", curve=[3, 4, 5], size=64)))
    np.testing.assert_allclose(lut.table, np.stack([sampled(v, 64) for v in cs.inverse().values[3:]], -1), atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 1}, "size"),
        ({"size": 70000}, "size"),
        ({"size": 2.5}, "size"),
        ({"size": True}, "size"),
        ({"direction": "backward"}, "direction"),
        ({"curve": 7}, "out of range"),
        ({"curve": "nope"}, "no curve named"),
        ({"curve": 1.5}, "index, a name"),
    ],
)
def test_bad_options(kwargs, match, tmp_path):
    with pytest.raises(crfkit.ValidationError, match=match):
        export_curves(rgb_set(), tmp_path / "x.cube", **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["x.txt", "x.lut", "x", "x.3dl", "x.crfs"])
def test_unknown_suffix_refused(name, tmp_path):
    with pytest.raises(crfkit.ValidationError, match="unknown export format"):
        export_curves(rgb_set(), tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_not_a_curve_refused(tmp_path):
    with pytest.raises(crfkit.ValidationError, match="Curve or a CurveSet"):
        export_curves(np.zeros(1024), tmp_path / "x.json")


def test_non_monotone_curve_cannot_be_inverted(tmp_path):
    bad = Curve(np.where(GRID > 0.5, 0.4, GRID))
    with pytest.raises(crfkit.NotMonotoneError):
        export_curves(bad, tmp_path / "x.cube")
    assert not list(tmp_path.iterdir())


def test_unwritable_output(tmp_path):
    with pytest.raises(crfkit.ValidationError, match="does not exist"):
        export_curves(rgb_set(), tmp_path / "missing" / "x.cube")
    (tmp_path / "d.cube").mkdir()
    with pytest.raises(crfkit.ValidationError, match="folder"):
        export_curves(rgb_set(), tmp_path / "d.cube")


def test_lut_needs_colour(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "colour", None)  # import fails as if not installed
    with pytest.raises(crfkit.MissingDependencyError, match=r"crfkit\[charts\]"):
        export_curves(rgb_set(), tmp_path / "x.cube")
    export_curves(rgb_set(), tmp_path / "x.json")  # JSON and CSV need nothing extra


# -- JSON and CSV ----------------------------------------------------------------------------------
def test_json_round_trip(tmp_path):
    cs = rgb_set()
    doc = json.loads(export_curves(cs, tmp_path / "c.json").read_text())
    assert doc["format"] == "crfkit-curves" and doc["kind"] == "inverse" and doc["direction"] == "code -> linear"
    assert doc["names"] == cs.names
    np.testing.assert_array_equal(doc["x"], GRID)
    np.testing.assert_array_equal(doc["values"], cs.inverse().values)  # the grid itself: exact


def test_json_single_curve_is_flat(tmp_path):
    c = Curve.gamma(2.2, kind="inverse")
    doc = json.loads(export_curves(c, tmp_path / "c.json").read_text())
    assert doc["name"] == c.name
    np.testing.assert_array_equal(doc["values"], c.values)
    doc = json.loads(export_curves(c, tmp_path / "d.json", size=11).read_text())
    np.testing.assert_allclose(doc["values"], np.linspace(0, 1, 11) ** 2.2, atol=2e-5)  # grid interpolation


def test_csv_round_trip(tmp_path):
    cs = rgb_set()
    path = export_curves(cs, tmp_path / "c.csv", direction="forward")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["x", *cs.names]
    arr = np.array(rows[1:], dtype=float)
    np.testing.assert_array_equal(arr[:, 0], GRID)
    np.testing.assert_array_equal(arr[:, 1:].T, cs.values)


def test_csv_names_with_commas_are_quoted(tmp_path):
    c = Curve.gamma(2.0, kind="inverse", name='odd, "name"')
    with open(export_curves(c, tmp_path / "c.csv", size=5), newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["x", 'odd, "name"'] and len(rows) == 6


def test_export_suffixes_listed():
    assert EXPORT_SUFFIXES == (".cube", ".spi1d", ".json", ".csv")


# -- linear images ---------------------------------------------------------------------------------
def linear_image(shape=(6, 9, 3), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".TIF"])
@pytest.mark.parametrize("shape", [(6, 9, 3), (6, 9), (6, 9, 1)])
def test_tiff_is_16_bit_clip_then_scale(suffix, shape, tmp_path):
    tifffile = pytest.importorskip("tifffile")
    img = linear_image(shape) * 1.4 - 0.2  # some values below 0 and above 1
    path = write_linear_image(tmp_path / f"l{suffix}", img)
    got = tifffile.imread(path)
    assert got.dtype == np.uint16 and got.shape == shape[:2] + ((3,) if len(shape) == 3 and shape[2] == 3 else ())
    expected = np.round(np.clip(np.squeeze(img), 0, 1).astype(np.float64) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(got, expected)


def test_tiff_scale(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    img = linear_image() * 4.0
    got = tifffile.imread(write_linear_image(tmp_path / "l.tif", img, scale=0.25))
    np.testing.assert_allclose(got / 65535 / 0.25, img, atol=0.5 / 65535 / 0.25 + 1e-6)


def test_tiff_readable_by_imageio(tmp_path):
    iio = pytest.importorskip("imageio.v3")
    img = linear_image()
    got = iio.imread(write_linear_image(tmp_path / "l.tiff", img))
    assert got.dtype == np.uint16
    np.testing.assert_allclose(got / 65535, img, atol=0.5 / 65535 + 1e-7)


def test_npy_keeps_float32_values(tmp_path):
    img = linear_image() * 3
    got = np.load(write_linear_image(tmp_path / "l.npy", img))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, img)


def test_exr_round_trip(tmp_path):
    pytest.importorskip("OpenEXR")
    from crfkit.io.hdr import read_hdr

    img = linear_image() * 5
    np.testing.assert_array_equal(read_hdr(write_linear_image(tmp_path / "l.exr", img)), img)
    half = read_hdr(write_linear_image(tmp_path / "h.exr", img, half=True))
    np.testing.assert_allclose(half, img, rtol=1e-3)


def test_hdr_round_trip(tmp_path):
    pytest.importorskip("cv2")
    from crfkit.io.hdr import read_hdr

    img = linear_image() * 5 + 0.01
    got = read_hdr(write_linear_image(tmp_path / "l.hdr", img))
    # RGBE: 8-bit mantissas under one shared exponent per pixel
    assert np.all(np.abs(got - img) <= img.max(axis=2, keepdims=True) / 64)
    gray = read_hdr(write_linear_image(tmp_path / "g.hdr", img[:, :, 0]))
    assert gray.shape == img.shape


@pytest.mark.parametrize(
    "name, image, kwargs, match",
    [
        ("l.png", None, {}, "unknown linear image format"),
        ("l", None, {}, "unknown linear image format"),
        ("l.npy", None, {"half": True}, "half applies"),
        ("l.exr", None, {"scale": 2.0}, "scale applies"),
        ("l.tif", None, {"scale": 0.0}, "scale must be"),
        ("l.tif", None, {"scale": float("nan")}, "scale must be"),
        ("l.tif", np.zeros((4, 4, 2)), {}, "shape"),
        ("l.tif", np.zeros((4,)), {}, "shape"),
        ("l.tif", np.zeros((0, 4, 3)), {}, "shape"),
        ("l.npy", np.full((2, 2, 3), np.nan), {}, "NaN"),
        ("l.npy", np.zeros((2, 2, 3), complex), {}, "real numbers"),
        ("l.npy", np.full((2, 2, 3), "a"), {}, "real numbers"),
    ],
)
def test_linear_image_bad_input(name, image, kwargs, match, tmp_path):
    with pytest.raises(crfkit.ValidationError, match=match):
        write_linear_image(tmp_path / name, linear_image() if image is None else image, **kwargs)
    assert not list(tmp_path.iterdir())


def test_tiff_needs_tifffile(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tifffile", None)
    with pytest.raises(crfkit.MissingDependencyError, match=r"crfkit\[raw\]"):
        write_linear_image(tmp_path / "l.tif", linear_image())
    assert not list(tmp_path.iterdir())


def test_linear_suffixes_listed():
    assert LINEAR_SUFFIXES == (".exr", ".hdr", ".npy", ".tif", ".tiff")


def test_writes_are_atomic(tmp_path):
    """A failing write leaves the old file and no temporary file."""
    path = tmp_path / "l.tif"
    path.write_bytes(b"old")
    with pytest.raises(crfkit.ValidationError):
        write_linear_image(path, np.full((2, 2), np.inf))
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["l.tif"]
