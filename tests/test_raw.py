"""RAW decoding through rawpy: linear output, black/white levels, errors."""

import os
from pathlib import Path

import numpy as np
import pytest

from crfkit.errors import DataNotFoundError, ParseError

rawpy = pytest.importorskip("rawpy")


def write_dng(path, raw, black, white):
    """A minimal uncompressed CFA DNG (RGGB) written with tifffile."""
    tifffile = pytest.importorskip("tifffile")
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),           # DNGVersion
        (50708, "s", 0, "crfkit synthetic", True),     # UniqueCameraModel
        (33421, "H", 2, (2, 2), True),                 # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),           # CFAPattern RGGB
        (50714, "H", 1, (black,), True),               # BlackLevel
        (50717, "H", 1, (white,), True),               # WhiteLevel
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True),  # ColorMatrix1 = I
        (50778, "H", 1, (21,), True),                  # CalibrationIlluminant1 D65
    ]
    tifffile.imwrite(path, raw.astype(np.uint16), photometric=32803, extratags=tags)


def test_synthetic_dng_decodes_linearly(tmp_path):
    from crfkit.io.raw import read_raw_linear, read_raw_mosaic

    black, white = 256, 4095
    levels = np.array([300, 1000, 2000, 3000, 4000])
    raw = np.repeat(np.repeat(levels[None, :], 16, axis=1), 32, axis=0)  # 5 vertical bands, 80 px wide
    p = tmp_path / "chart.dng"
    write_dng(p, raw, black, white)
    expect = (levels - black) / (white - black)
    lin = read_raw_linear(p)
    centres = lin[16, 8::16]
    assert np.allclose(centres, expect[:, None], atol=2e-4)  # same in R, G, B: flat bands, unit white balance
    vals, cols, info = read_raw_mosaic(p)
    assert info["white_level"] == white and info["black_level_per_channel"] == [black] * 4
    assert np.allclose(vals[4, 8::16], expect, atol=1e-12)
    assert set(np.unique(cols)) == {0, 1, 2, 3}


def test_raw_patch_means_by_cfa_colour(tmp_path):
    from crfkit.charts import ChartLayout
    from crfkit.io.raw import raw_patch_means

    raw = np.full((40, 60), 1000)
    raw[0::2, 0::2] = 3000  # R sites of RGGB
    raw[1::2, 1::2] = 500   # B sites
    p = tmp_path / "rggb.dng"
    write_dng(p, raw, 0, 4000)
    lay = ChartLayout.from_corners([[0, 0], [60, 0], [60, 40], [0, 40]], 2, 3, sample_fraction=0.6)
    m = raw_patch_means(p, lay)
    assert np.allclose(m, [0.75, 0.25, 0.125], atol=1e-9)


def test_real_raw_file_decodes():
    env = os.environ.get("CRFKIT_DATA")
    if not env:
        pytest.skip("real-data test: set CRFKIT_DATA")
    p = Path(env, "rawpy_test_raw", "RAW_KODAK_DC50.KDC")
    if not p.exists():
        pytest.fail(f"CRFKIT_DATA is set but {p} is missing", pytrace=False)
    from crfkit.io.raw import read_raw_linear, read_raw_mosaic

    lin = read_raw_linear(p)
    assert lin.shape == (512, 768, 3) and lin.dtype == np.float64
    assert 0.0 <= lin.min() and lin.max() <= 1.0
    vals, cols, info = read_raw_mosaic(p)
    assert vals.shape == (512, 768) and info["white_level"] == 16383
    # Linear decoding keeps the mean signal (no gamma, no brightening): demosaicing only interpolates.
    assert abs(lin.mean() - vals.mean()) < 0.01 * vals.mean()


def test_corrupt_and_missing_raw_files(tmp_path):
    from crfkit.io.raw import read_raw_linear

    bad = tmp_path / "broken.NEF"
    bad.write_bytes(b"not a raw file" * 100)
    with pytest.raises(ParseError, match="broken.NEF"):
        read_raw_linear(bad)
    with pytest.raises(DataNotFoundError, match="nothere.CR2"):
        read_raw_linear(tmp_path / "nothere.CR2")
