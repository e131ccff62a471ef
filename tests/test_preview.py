"""``crfkit.tone_map`` (crfkit.io.preview) and ``crfkit merge --preview``.

The operators are checked against their formulas on images whose answer is known
by hand, then for the properties a viewer relies on: the image's scale does not
matter, colours keep their ratios, brighter stays brighter, black stays black;
whatever array or option it is given, it returns codes or raises a CrfkitError.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crfkit
from crfkit import CrfkitError
from crfkit.io.preview import tone_map

LUMA = np.array([0.2126, 0.7152, 0.0722])


def srgb_encode(x):
    x = np.asarray(x, float)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def grey_ramp(values):
    """(1, N, 3): grey pixels of the given linear values."""
    return np.repeat(np.asarray(values, float)[None, :, None], 3, axis=2)


def test_reinhard_maps_the_log_average_to_the_key_through_the_formula():
    # Two greys, 1 and 100: log-average 10, so they scale to 0.018 and 1.8 (key 0.18). The white is
    # the largest (percentile 100), 1.8: the bright grey is white, the dark one follows the formula.
    img = grey_ramp([1.0, 100.0])
    codes = tone_map(img, white_percentile=100, bits=16)
    lw, lum = 1.8, 0.018
    expected_dark = lum * (1 + lum / lw ** 2) / (1 + lum)
    assert codes.dtype == np.uint16 and codes.shape == (1, 2, 3)
    # the sRGB curve is applied through crfkit's 1024-point table: within a code step or two of the formula
    assert codes[0, 0, 0] / 65535 == pytest.approx(srgb_encode(expected_dark), abs=3e-4)
    assert codes[0, 1].tolist() == [65535] * 3


def test_exposure_maps_the_white_percentile_to_white_and_clips_above():
    img = grey_ramp([0.25, 1.0, 4.0])
    codes = tone_map(img, method="exposure", white_percentile=50, bits=16)  # the median, 1.0, is white
    assert codes[0, 0, 0] / 65535 == pytest.approx(srgb_encode(0.25), abs=3e-4)
    assert codes[0, 1].tolist() == [65535] * 3 and codes[0, 2].tolist() == [65535] * 3


@pytest.mark.parametrize("method", ["reinhard", "exposure"])
def test_the_scale_of_the_radiance_does_not_matter(method):
    rng = np.random.default_rng(1)
    hdr = np.exp(rng.normal(0, 2, (24, 32, 3)))
    a = tone_map(hdr, method).astype(int)
    for scale in (1e-30, 1e-3, 7.0, 1e30):
        assert np.abs(tone_map(hdr * scale, method).astype(int) - a).max() <= 1, scale


def test_colours_keep_their_ratios_and_brighter_stays_brighter():
    rng = np.random.default_rng(2)
    lum = np.sort(np.exp(rng.normal(0, 2, 200)))
    colour = np.array([0.5, 0.3, 0.2])  # an orange, below white everywhere the operator maps below 1
    hdr = lum[None, :, None] * colour
    codes = tone_map(hdr, bits=16).astype(float)[0]
    assert np.all(np.diff(codes, axis=0) >= 0)  # monotone in radiance, channel by channel
    linear = np.interp(codes / 65535, srgb_encode(crfkit.GRID), crfkit.GRID)
    unclipped = codes.max(axis=1) < 65535
    ratios = linear[unclipped] / linear[unclipped].sum(axis=1, keepdims=True)
    bright = linear[unclipped].max(axis=1) > 0.05  # codes far above the quantisation step
    np.testing.assert_allclose(ratios[bright], np.broadcast_to(colour, ratios[bright].shape), atol=0.01)


def test_black_stays_black_and_a_black_border_does_not_change_the_rest():
    assert tone_map(np.zeros((4, 5, 3))).max() == 0
    rng = np.random.default_rng(3)
    hdr = np.exp(rng.normal(0, 1, (20, 20, 3)))
    framed = np.zeros((40, 40, 3))
    framed[10:30, 10:30] = hdr
    np.testing.assert_array_equal(tone_map(framed)[10:30, 10:30], tone_map(hdr))
    assert tone_map(framed)[:10].max() == 0


def test_negatives_count_as_zero():
    hdr = np.full((2, 2, 3), 0.5)
    noisy = hdr.copy()
    noisy[0, 0, 2] = -1e-4  # EXR compression leaves such values
    out = tone_map(noisy)
    assert out[0, 0, 2] == tone_map(np.where(noisy < 0, 0, noisy))[0, 0, 2]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4)), r"shape \(H, W, 3\)"),
    (np.zeros((4, 4, 4)), r"shape \(H, W, 3\)"),
    (np.zeros((0, 4, 3)), "empty"),
    (np.full((2, 2, 3), np.nan), "non-finite"),
    (np.full((2, 2, 3), np.inf), "non-finite"),
    (np.zeros((2, 2, 3), complex), "real numbers"),
    (np.zeros((2, 2, 3), object), "numbers"),
    ([[[1, 2, 3]], [[1, 2]]], "array of numbers"),
    ("scene.exr", "expected an image array"),
])
def test_bad_images_are_refused_in_one_line(bad, match):
    with pytest.raises(crfkit.ValidationError, match=match):
        tone_map(bad)


@pytest.mark.parametrize("options, error", [
    ({"method": "drago"}, crfkit.UnknownNameError),
    ({"method": None}, crfkit.UnknownNameError),
    ({"key": 0}, crfkit.ValidationError),
    ({"key": 1.5}, crfkit.ValidationError),
    ({"key": float("nan")}, crfkit.ValidationError),
    ({"white_percentile": 0}, crfkit.ValidationError),
    ({"white_percentile": 101}, crfkit.ValidationError),
    ({"bits": 12}, crfkit.ValidationError),
    ({"bits": True}, crfkit.ValidationError),
    ({"bits": "8"}, crfkit.ValidationError),
])
def test_bad_options_are_refused(options, error):
    with pytest.raises(error):
        tone_map(np.ones((2, 2, 3)), **options)


finite = st.floats(-1e300, 1e300, allow_nan=False, allow_subnormal=True)
anything = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(deadline=None)
@given(hdr=st.one_of(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(3)), elements=finite),
                     arrays(np.float64, st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 4)),
                            elements=anything),
                     arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3))),
                     arrays(np.uint16, st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3)))),
       method=st.sampled_from(["reinhard", "exposure", "Reinhard", "bogus"]),
       key=st.one_of(st.floats(0.01, 1.0), st.floats(allow_nan=True)),
       white=st.one_of(st.floats(1.0, 100.0), st.floats(allow_nan=True)),
       bits=st.sampled_from([8, 16, 8, 16, 0, 12]))
def test_tone_map_returns_codes_or_raises_a_crfkit_error(hdr, method, key, white, bits):
    try:
        out = tone_map(hdr, method, key=key, white_percentile=white, bits=bits)
    except CrfkitError:
        return
    assert out.dtype == (np.uint8 if bits == 8 else np.uint16)
    assert out.shape == hdr.shape
    lit = (np.maximum(np.asarray(hdr, float), 0) @ LUMA) > 0
    assert np.all(out[~lit] == 0)  # no light, no code
    assert lit.sum() == 0 or out.max() > 0  # some light shows: the brightest pixel reaches white at percentile 100


def write_bracket(folder, times):
    """PNGs shot0.png, shot1.png ... in ``folder``: test_bracket's sRGB camera at the exposures ``times``."""
    from crfkit.io.images import write_image

    from test_bracket import bracket

    paths = [folder / f"shot{i}.png" for i in range(len(times))]
    for path, image in zip(paths, bracket(times=times)):
        write_image(path, image)
    return paths


def test_merge_writes_a_preview_of_the_merge(capsys, tmp_path):
    from crfkit.cli import main
    from crfkit.io.hdr import read_exr
    from crfkit.io.images import read_image

    paths = write_bracket(tmp_path, (1.0, 2.0, 4.0))
    out = tmp_path / "scene.exr"
    rc = main(["merge", *map(str, paths), "--times", "1", "2", "4", "--crf", "srgb", "-o", str(out),
               "--preview", str(tmp_path / "scene.jpg")])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"wrote {out}, {tmp_path / 'scene.jpg'} and {out}.json" in err
    preview = read_image(tmp_path / "scene.jpg")
    hdr = read_exr(out)
    assert preview.dtype == np.uint8 and preview.shape == hdr.shape
    # the JPEG holds the library's tone map of the merge (up to JPEG's loss)
    assert np.abs(preview.astype(int) - tone_map(hdr).astype(int)).mean() < 3
    assert (tmp_path / "scene.exr.json").read_text().count('"preview": "scene.jpg"') == 1


@pytest.mark.parametrize("preview, fragment", [
    ("{tmp}/view.gif", "--preview {tmp}/view.gif: use a .png or .jpg"),
    ("{tmp}/no/view.png", "folder {tmp}/no does not exist"),
    ("{tmp}/shot0.png", "would overwrite the input"),
])
def test_merge_preview_mistakes_exit_2_and_write_nothing(capsys, tmp_path, preview, fragment):
    from crfkit.cli import main

    paths = write_bracket(tmp_path, (1.0, 2.0))
    before = paths[0].read_bytes()
    preview = preview.replace("{tmp}", str(tmp_path))
    rc = main(["merge", *map(str, paths), "--times", "1", "2", "--crf", "srgb", "-o", str(tmp_path / "s.exr"),
               "--preview", preview])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("crfkit merge: error: ") and fragment.replace("{tmp}", str(tmp_path)) in err, err
    assert not (tmp_path / "s.exr").exists() and paths[0].read_bytes() == before
