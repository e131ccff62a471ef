"""Chart layouts, patch statistics, reference values and detection."""

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("colour", reason="needs crfkit[charts]")
pytest.importorskip("cv2", reason="needs crfkit[charts]")

from crfkit.charts import ChartLayout, patch_stats
from crfkit.errors import ParseError, ValidationError


def shared(*parts):
    """A path under CRFKIT_DATA: skip when unset, fail when set but missing."""
    env = os.environ.get("CRFKIT_DATA")
    if not env:
        pytest.skip("real-data test: set CRFKIT_DATA")
    p = Path(env, *parts)
    if not p.exists():
        pytest.fail(f"CRFKIT_DATA={env!r} is set but {p} is missing", pytrace=False)
    return p


def test_tags_json_boxes_follow_the_provenance_convention():
    lay = ChartLayout.from_tags_json(shared("middlebury_chart_pairs", "tags.json"))
    assert lay.n_patches == 24
    img = np.zeros((260, 390, 3), np.uint8)
    # Mark the box of patch 0 exactly as PROVENANCE.md defines it.
    x, y = lay.boxes[0, :2]
    r0, c0 = int(y * 260), int(x * 390)
    img[r0:r0 + int(260 * 60 / 1000), c0:c0 + int(390 * 60 / 1000)] = 200
    px = lay.sample(img)
    assert px[0].shape == (int(260 * 0.06) * int(390 * 0.06), 3)
    assert np.all(px[0] == 200) and np.all(px[1] == 0)


def test_bad_tags_json_is_a_parse_error(tmp_path):
    p = tmp_path / "tags.json"
    p.write_text('[{"references": [{"position": {"x": 0.1}}]}]')
    with pytest.raises(ParseError, match="tags.json"):
        ChartLayout.from_tags_json(p)


def test_corners_layout_samples_the_right_patches_under_perspective():
    from crfkit.calibration.synthetic import render_chart
    import cv2

    ref = np.linspace(0.05, 0.95, 24)[:, None].repeat(3, axis=1)
    lin, lay = render_chart(ref)
    h, w = lin.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[30, 20], [w + 60, 40], [w + 40, h + 70], [10, h + 50]])
    hm = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(lin.astype(np.float32), hm, (w + 120, h + 120), flags=cv2.INTER_NEAREST)
    corners = cv2.perspectiveTransform(lay.corners[None].astype(np.float32) + 0.5, hm)[0] - 0.5
    lay2 = ChartLayout.from_corners(corners, 4, 6, sample_fraction=0.4)
    st = patch_stats(lay2.sample(warped))
    assert np.allclose(st.mean[:, 0], ref[:, 0], atol=1e-6)


def test_layout_outside_the_image_names_the_file():
    lay = ChartLayout.from_corners([[0, 0], [500, 0], [500, 300], [0, 300]])
    with pytest.raises(ValidationError, match="shot.jpg.*outside"):
        lay.sample(np.zeros((100, 100, 3), np.uint8), name="shot.jpg")
    with pytest.raises(ValidationError, match="corners"):
        ChartLayout.from_corners([[0, 0], [1, 1]])


def test_patch_rejection_clipped_dark_nonuniform():
    rng = np.random.default_rng(0)
    good = np.full((200, 3), 120, np.uint8)
    clipped = np.full((200, 3), 255, np.uint8)
    dark = np.full((200, 3), 2, np.uint8)
    noisy = rng.integers(0, 255, (200, 3)).astype(np.uint8)
    st = patch_stats([good, clipped, dark, noisy])
    ok = st.usable()
    assert ok[0].all() and not ok[1].any() and not ok[2].any() and not ok[3].any()
    assert np.allclose(st.mean[0], 120 / 255)
    # The trimmed mean ignores a few outliers (a speck of dust).
    speck = good.copy()
    speck[:5] = 255
    assert np.allclose(patch_stats([speck]).mean[0], 120 / 255)


def test_colorchecker_reference_values():
    from crfkit.charts import colorchecker_reference

    ref = colorchecker_reference()
    assert ref.shape == (24, 3)
    neutral = ref[18:24]
    assert np.all(np.diff(neutral[:, 1]) < 0)  # white ... black
    assert 0.8 < neutral[0, 1] < 0.95 and 0.02 < neutral[-1, 1] < 0.05
    assert np.allclose(neutral[:, 0], neutral[:, 2], rtol=0.1)  # greys are grey under D65


@pytest.mark.slow
def test_detect_chart_in_real_hdr_photo_and_no_chart_error():
    import cv2

    from crfkit.charts import detect_chart

    hdr = cv2.imread(str(shared("hdr_radiance_colour_hdri_examples", "HDRMark_small.hdr")), cv2.IMREAD_UNCHANGED)
    img = np.clip(hdr[..., ::-1] / 32.0, 0, 1) ** (1 / 2.2)
    lay = detect_chart(img, name="HDRMark_small.hdr")
    c = lay.corners
    # The chart sits left of centre, between rows 290 and 400 (checked by eye).
    assert 95 < c[:, 0].min() < 110 and 245 < c[:, 0].max() < 260
    assert 285 < c[:, 1].min() < 300 and 390 < c[:, 1].max() < 405
    st = patch_stats(lay.sample(img))
    assert np.all(np.diff(st.mean[18:24, 1]) < 0)  # the neutral row in order
    with pytest.raises(ValidationError, match="noise.png: no 24-patch colour chart"):
        detect_chart(np.random.default_rng(0).random((200, 300, 3)), name="noise.png")
