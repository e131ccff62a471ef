"""Reading ordinary images: bit depth is kept, whatever the format."""

import numpy as np
import pytest

from crfkit.errors import ParseError
from crfkit.io.images import read_image

cv2 = pytest.importorskip("cv2")


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_png_keeps_16_bits(tmp_path, channels):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 65536, size=(7, 9, channels), dtype=np.uint16)
    bgr = rgb[:, :, [2, 1, 0, 3][:channels]]
    path = tmp_path / "x.png"
    assert cv2.imwrite(str(path), bgr)
    got = read_image(path, mode="any")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, rgb)
    np.testing.assert_array_equal(read_image(path), rgb[:, :, :3])


def test_16bit_gray_and_8bit_png(tmp_path):
    g16 = np.arange(63, dtype=np.uint16).reshape(7, 9) * 1000
    assert cv2.imwrite(str(tmp_path / "g.png"), g16)
    assert read_image(tmp_path / "g.png", mode="any").dtype == np.uint16
    rgb8 = np.arange(7 * 9 * 3, dtype=np.uint8).reshape(7, 9, 3)
    assert cv2.imwrite(str(tmp_path / "c.png"), rgb8[:, :, ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "c.png"), rgb8)


def test_truncated_16bit_png_is_a_parse_error(tmp_path):
    rgb = np.full((16, 16, 3), 40000, np.uint16)
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), rgb)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ParseError, match="x.png"):
        read_image(path)


def test_16bit_colour_png_round_trip(tmp_path):
    from crfkit.io.images import write_image

    a = (np.arange(7 * 9 * 3).reshape(7, 9, 3) * 300).astype(np.uint16)
    write_image(tmp_path / "w.png", a)
    b = read_image(tmp_path / "w.png")
    assert b.dtype == np.uint16
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("name, content, reason", [
    ("empty.png", b"", "the file is empty"),
    ("text.jpg", b"not an image at all\n", "not a readable JPG file"),
    ("text.tif", b"II*\x00garbage", "no image data"),
    ("IMG_0001.HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC/HEIF is not supported"),
])
def test_unreadable_file_says_why_in_the_users_terms(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ParseError, match=name) as info:
        read_image(path)
    assert reason in str(info.value)
    assert "pip install" not in str(info.value)  # imageio's plugin hint would not help


@pytest.mark.parametrize("dtype, channels", [(np.uint8, 3), (np.uint16, 3), (np.uint16, 4), (np.uint16, 1)])
def test_lzw_tiff_is_read_whatever_codecs_are_installed(tmp_path, dtype, channels):
    # OpenCV (like Photoshop and Lightroom) writes LZW-compressed TIFFs, which tifffile
    # decodes only with the optional imagecodecs package.
    rng = np.random.default_rng(1)
    data = rng.integers(0, np.iinfo(dtype).max + 1, size=(6, 11, channels), dtype=dtype)
    stored = data[:, :, 0] if channels == 1 else data[:, :, [2, 1, 0, 3][:channels]]
    path = tmp_path / "bracket.tif"
    assert cv2.imwrite(str(path), stored)
    got = read_image(path)
    assert got.dtype == dtype
    expect = np.repeat(data, 3, axis=2) if channels == 1 else data[:, :, :3]
    np.testing.assert_array_equal(got, expect)
