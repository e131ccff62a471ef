"""Reading and writing HDR files (.hdr through OpenCV, .exr through OpenEXR)."""

import numpy as np
import pytest

from crfkit.errors import DataNotFoundError, ParseError, ValidationError


def _ramp(h=6, w=8):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([x / w, y / h, (x + y) / (w + h) * 40.0], axis=-1).astype(np.float32)


def test_exr_round_trip_float32_and_half(tmp_path):
    pytest.importorskip("OpenEXR")
    from crfkit.io.hdr import read_hdr, write_exr

    img = _ramp()
    write_exr(tmp_path / "a.exr", img)
    assert np.array_equal(read_hdr(tmp_path / "a.exr"), img)
    write_exr(tmp_path / "b.exr", img, half=True)
    back = read_hdr(tmp_path / "b.exr")
    assert back.dtype == np.float32 and back.shape == img.shape
    np.testing.assert_allclose(back, img, rtol=1e-3, atol=1e-3)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temporary file


def test_exr_luminance_chroma_is_rebuilt_to_rgb(tmp_path):
    OpenEXR = pytest.importorskip("OpenEXR")
    from crfkit.io.hdr import read_hdr

    rgb = np.full((4, 6, 3), [0.5, 0.25, 0.125], np.float32)
    y = (0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]).astype(np.float32)
    ry = (rgb[..., 0] / y - 1.0).astype(np.float32)
    by = (rgb[..., 2] / y - 1.0).astype(np.float32)
    header = {"compression": OpenEXR.NO_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Y": y, "RY": ry, "BY": by}) as f:
        f.write(str(tmp_path / "yc.exr"))
    np.testing.assert_allclose(read_hdr(tmp_path / "yc.exr"), rgb, rtol=1e-5, atol=1e-6)


def test_radiance_hdr_is_read_as_rgb(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from crfkit.io.hdr import read_hdr

    img = np.zeros((4, 5, 3), np.float32)
    img[..., 0] = 2.0  # red
    cv2.imwrite(str(tmp_path / "r.hdr"), img[:, :, ::-1])
    back = read_hdr(tmp_path / "r.hdr")
    assert back.shape == (4, 5, 3) and back.dtype == np.float32
    assert back[..., 0].min() > 1.9 and back[..., 1:].max() == 0.0


def test_bad_hdr_files(tmp_path):
    pytest.importorskip("OpenEXR")
    pytest.importorskip("cv2")
    from crfkit.io.hdr import read_hdr, write_exr

    with pytest.raises(DataNotFoundError):
        read_hdr(tmp_path / "missing.exr")
    (tmp_path / "bad.exr").write_bytes(b"not an exr")
    with pytest.raises(ParseError, match="bad.exr"):
        read_hdr(tmp_path / "bad.exr")
    (tmp_path / "bad.hdr").write_bytes(b"#?RADIANCE\ngarbage")
    with pytest.raises(ParseError, match="bad.hdr"):
        read_hdr(tmp_path / "bad.hdr")
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(ValidationError):
        read_hdr(tmp_path / "x.png")
    with pytest.raises(ValidationError):
        write_exr(tmp_path / "c.exr", np.zeros((3, 3, 2)))


@pytest.mark.realdata
def test_real_training_files_read(tmp_path):
    import os
    from pathlib import Path

    pytest.importorskip("OpenEXR")
    pytest.importorskip("cv2")
    from crfkit.io.hdr import read_hdr

    folder = Path(os.environ["CRFKIT_DATA"]) / "hdr_training"
    if not folder.is_dir():
        pytest.skip("hdr_training not in CRFKIT_DATA")
    yc = read_hdr(folder / "CrissyField.exr")  # Y/RY/BY with subsampled chroma
    assert yc.shape == (810, 1218, 3)
    assert abs(float(yc.max()) - 1.932) < 0.01  # PROVENANCE: max 1.932 on the rebuilt RGB
    mv = read_hdr(folder / "Adjuster.exr")  # multi-view: the default view
    assert mv.shape == (678, 775, 3) and float(mv.max()) == 12.0
