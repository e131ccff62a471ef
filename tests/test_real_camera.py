"""The real-camera linearisation measure (block means, 3x3 matrix) and the Middlebury brackets."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crfkit
from crfkit import Curve, CurveSet, CrfkitError
from crfkit.errors import DataNotFoundError, ValidationError
from crfkit.evaluation.real_camera import (
    MIDDLEBURY_FOLDER,
    RealBracket,
    block_means,
    exposure_ratios_from_raw,
    hdr_error_blocks,
    linearisation_error_blocks,
    load_middlebury_brackets,
    raw_reference_blocks,
    score_bracket,
    score_brackets,
    score_merge,
    score_merges,
)

#: Measured with this definition on the 20 Middlebury brackets (see the docstring of
#: linearisation_error_blocks): sRGB inverse over all 20, over illumination 2; gamma 2.2 over illumination 2.
MEASURED_SRGB_ALL = 0.1059
MEASURED_SRGB_I2 = 0.1010
MEASURED_GAMMA22_I2 = 0.1114
#: The figure published with the issue, which no 3x3-matrix variant reproduces.
PUBLISHED_SRGB_ALL = 0.157

MIX = np.array([[0.80, 0.15, 0.05], [0.10, 0.75, 0.15], [0.05, 0.20, 0.75]])


def synthetic_pair(curve, shape=(64, 96), seed=0, exposure=1.0):
    """A linear RAW (float) and the 8-bit JPEG ``curve(RAW @ MIX)``: smooth blocks plus pixel noise."""
    rng = np.random.default_rng(seed)
    h, w = shape
    coarse = rng.uniform(0.06, 0.6, size=(h // 8 + 1, w // 8 + 1, 3))
    lin = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:h, :w] * rng.uniform(0.9, 1.1, size=(h, w, 3))
    lin = np.clip(lin * exposure, 0, 1)
    jpeg = crfkit.apply_curve(np.clip(lin @ MIX, 0, 1), curve, bits=8)
    return jpeg, lin


# ----------------------------------------------------------------------------- block_means
def test_block_means_known_array():
    img = np.arange(5 * 6 * 2, dtype=np.uint8).reshape(5, 6, 2)
    out = block_means(img, block=2)
    assert out.shape == (2 * 3, 2) and out.dtype == np.float64  # the 5th row is a partial tile: dropped
    for k, (r, c) in enumerate([(0, 0), (0, 2), (0, 4), (2, 0), (2, 2), (2, 4)]):
        np.testing.assert_array_equal(out[k], img[r:r + 2, c:c + 2].reshape(-1, 2).mean(0))
    np.testing.assert_array_equal(block_means(img[..., 0], 2), out[:, :1])  # 2-D: one channel
    np.testing.assert_array_equal(block_means(img, 1), img.reshape(-1, 2))


def test_block_means_rejects_bad_input():
    with pytest.raises(ValidationError, match="no complete"):
        block_means(np.zeros((4, 4, 3)), 8)
    with pytest.raises(ValidationError, match="block"):
        block_means(np.zeros((8, 8, 3)), 0)
    with pytest.raises(ValidationError, match="shape"):
        block_means(np.zeros((8, 8, 3, 1)), 2)


# ----------------------------------------------------------------------------- the measure
def test_true_inverse_scores_near_zero_and_a_wrong_curve_does_not():
    srgb = Curve.srgb()
    jpeg, raw = synthetic_pair(srgb)
    assert linearisation_error_blocks(srgb.inverse(), jpeg, raw) < 0.005
    assert linearisation_error_blocks(srgb, jpeg, raw) < 0.005  # a forward curve is inverted
    assert linearisation_error_blocks(Curve.identity(), jpeg, raw) > 0.05
    assert linearisation_error_blocks(Curve.gamma(1.2), jpeg, raw) > 0.05
    # 8-bit RAW (dark, like the Middlebury renderings) of the same scene: the same, within quantisation
    raw8 = np.round(raw * 255).astype(np.uint8)
    assert linearisation_error_blocks(srgb.inverse(), jpeg, raw8) < 0.01


def test_every_curve_form_gives_the_same_value():
    jpeg, raw = synthetic_pair(Curve.gamma(2.2), seed=3)
    g = Curve.gamma(2.0, kind="inverse")
    ref = linearisation_error_blocks(g, jpeg, raw)
    assert 0 < ref < 1
    assert linearisation_error_blocks([g] * 3, jpeg, raw) == pytest.approx(ref, abs=1e-12)
    as_set = CurveSet.from_curves([g] * 3)
    assert linearisation_error_blocks(as_set, jpeg, raw) == pytest.approx(ref, abs=1e-12)
    assert linearisation_error_blocks([lambda z: z ** 2.0] * 3, jpeg, raw) == pytest.approx(ref, abs=1e-6)
    mixed = [g, lambda z: z ** 2.0, g.inverse()]
    assert linearisation_error_blocks(mixed, jpeg, raw) == pytest.approx(ref, abs=1e-6)


def test_clipped_and_dark_blocks_are_dropped():
    srgb = Curve.srgb()
    jpeg, raw = synthetic_pair(srgb, seed=1)
    base = linearisation_error_blocks(srgb, jpeg, raw)
    # A corrupted block counts while unclipped; once one of its pixels is at 255 it is dropped.
    j1 = jpeg.copy()
    j1[3, 3, 1] = 255
    j2 = j1.copy()
    j2[0:8, 0:8] = 40
    j2[3, 3, 1] = 255
    corrupt = jpeg.copy()
    corrupt[0:8, 0:8] = 40
    assert linearisation_error_blocks(srgb, corrupt, raw) > base + 0.01
    assert linearisation_error_blocks(srgb, j2, raw) == linearisation_error_blocks(srgb, j1, raw)
    # Dark RAW blocks (below the floor) do not count, however wrong their JPEG is.
    j3, r3 = jpeg.copy(), raw.copy()
    r3[8:16, 8:16] = 0.01
    j3[8:16, 8:16] = 200
    assert linearisation_error_blocks(srgb, j3, r3) < base + 0.005


def test_validation_errors():
    srgb = Curve.srgb()
    jpeg, raw = synthetic_pair(srgb)
    with pytest.raises(ValidationError, match="shape"):
        linearisation_error_blocks(srgb, jpeg, raw[:-1])
    with pytest.raises(ValidationError, match="usable"):
        linearisation_error_blocks(srgb, jpeg[:16, :16], raw[:16, :16])  # 4 blocks
    with pytest.raises(ValidationError, match="usable"):
        linearisation_error_blocks(srgb, jpeg, raw * 0.01)  # every block below the RAW floor
    with pytest.raises(ValidationError, match="uint8"):
        linearisation_error_blocks(srgb, jpeg.astype(np.uint16), raw)
    with pytest.raises(ValidationError, match="non-finite"):
        linearisation_error_blocks([lambda z: np.full_like(z, np.inf)] * 3, jpeg, raw)
    with pytest.raises(ValidationError, match="3 curves"):
        linearisation_error_blocks([srgb, srgb], jpeg, raw)
    with pytest.raises(ValidationError, match="NaN"):
        linearisation_error_blocks(srgb, jpeg, np.where(raw > 0.5, np.nan, raw))
    with pytest.raises(ValidationError, match="raw_floor"):
        linearisation_error_blocks(srgb, jpeg, raw, raw_floor=-1)
    with pytest.raises(ValidationError, match="0 in every"):
        linearisation_error_blocks([lambda z: 0 * z] * 3, jpeg, raw)


@given(
    pair=st.integers(1, 40).flatmap(
        lambda h: st.integers(1, 40).flatmap(
            lambda w: st.tuples(arrays(np.uint8, (h, w, 3)), arrays(np.uint8, (h, w, 3)))
        )
    ),
    gamma=st.floats(0.2, 5.0),
    block=st.integers(1, 9),
)
def test_property_finite_nonnegative_or_crfkit_error(pair, gamma, block):
    jpeg, raw = pair
    try:
        e = linearisation_error_blocks(Curve.gamma(gamma, kind="inverse"), jpeg, raw, block=block)
    except CrfkitError:
        return
    assert isinstance(e, float) and np.isfinite(e) and 0.0 <= e <= 1.0 + 1e-12


# ----------------------------------------------------------------------------- brackets
def test_exposure_ratios_from_synthetic_raw():
    rng = np.random.default_rng(5)
    scene = rng.uniform(0.02, 0.11, size=(40, 48, 3))
    times = [1.0, 2.0, 3.2, 6.0]
    raws = [np.round(np.clip(scene * t * 255, 0, 255)).astype(np.uint8) for t in times]
    r = exposure_ratios_from_raw(raws)
    assert r[0] == 1.0
    np.testing.assert_allclose(r, times, rtol=0.03)
    with pytest.raises(ValidationError):
        exposure_ratios_from_raw([])
    with pytest.raises(ValidationError, match="usable"):
        exposure_ratios_from_raw([raws[0] * 0, raws[1]])


def _synthetic_bracket():
    srgb = Curve.srgb()
    pairs = [synthetic_pair(srgb, seed=2, exposure=t) for t in (0.5, 1.0)]
    return RealBracket("synthetic", 1, [], [], [p[0] for p in pairs], [p[1] for p in pairs],
                       exposure_ratios_from_raw([p[1] for p in pairs]))


def test_score_bracket_and_failures():
    b = _synthetic_bracket()
    np.testing.assert_allclose(b.raw_ratios, [1.0, 2.0], rtol=0.02)
    errs = score_bracket(Curve.srgb().inverse(), b)
    assert errs.shape == (2,) and np.all(errs < 0.005)
    out = score_brackets(lambda br: None if br.illumination == 2 else Curve.srgb(), [b, RealBracket(
        "failing", 2, [], [], b.jpegs, b.raws, b.raw_ratios)])
    assert out["n_failed"] == 1 and out["mean"] == pytest.approx(errs.mean())
    assert out["per_bracket"][1]["failed"] and np.isnan(out["per_bracket"][1]["mean"])
    assert out["per_bracket"][0]["errors"] == pytest.approx(errs.tolist())
    nan_method = score_brackets(lambda br: [lambda z: z * np.nan] * 3, [b])
    assert nan_method["n_failed"] == 1 and np.isnan(nan_method["mean"])
    assert "non-finite" in nan_method["per_bracket"][0]["reason"]


def test_missing_folder_is_data_not_found(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="root="):
        load_middlebury_brackets(tmp_path / "nowhere")
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="CRFKIT_DATA"):
        load_middlebury_brackets()
    (tmp_path / MIDDLEBURY_FOLDER / "Cam").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="no camera folders"):
        load_middlebury_brackets()
    with pytest.raises(DataNotFoundError, match="not found"):
        load_middlebury_brackets(cameras=["Other"])


# ----------------------------------------------------------------------------- HDR merges
def hdr_scene(shape=(48, 64), seed=3, span=(0.01, 0.9)):
    """A linear scene of flat 8x8 tiles spanning ``span`` (log-uniform), with pixel texture."""
    rng = np.random.default_rng(seed)
    h, w = shape
    tiles = np.exp(rng.uniform(*np.log(span), size=(h // 8, w // 8, 1))) * rng.uniform(0.6, 1.0, (h // 8, w // 8, 3))
    return np.repeat(np.repeat(tiles, 8, 0), 8, 1) * rng.uniform(0.95, 1.05, size=(h, w, 3))


def test_raw_reference_recovers_the_radiance_of_a_float_bracket():
    scene = hdr_scene(span=(0.06, 0.9))
    ratios = [1.0, 2.0, 4.0, 8.0]
    raws = [np.minimum(scene * r / 8, 1.0) for r in ratios]  # the longest exposure clips the bright tiles
    ref, observed = raw_reference_blocks(raws, ratios)
    truth = block_means(scene / 8)
    assert observed.all()
    np.testing.assert_allclose(ref, truth, rtol=1e-9)
    # Order does not matter; the dark floor is applied in the longest exposure that counts.
    ref2, _ = raw_reference_blocks(raws[::-1], ratios[::-1])
    np.testing.assert_allclose(ref2, ref)
    _, few = raw_reference_blocks(raws, ratios, raw_floor=0.5)
    assert 0 < few.sum() < len(few)


def test_raw_reference_quantised_and_saturating_below_the_top_code():
    scene = hdr_scene(seed=4) * 1.4
    ratios = [1.0, 2.0, 4.0, 8.0]
    raws = [np.round(np.clip(scene * r / 8 * 255, 0, 255)).astype(np.uint8) for r in ratios]
    # The red channel of the longest exposure saturates at 150, below the top code (a white-balance gain < 1).
    raws[3][..., 0] = np.minimum(raws[3][..., 0], 150)
    ref, observed = raw_reference_blocks(raws, ratios)
    truth = block_means(scene / 8)
    err = np.abs(ref[observed] - truth[observed]) / truth[observed]
    assert np.percentile(err, 95) < 0.03
    # Without the consistency check the capped tiles would be 10 % or more too dark in red.
    capped = block_means(scene)[:, 0] * 255 > 200
    assert capped.any()
    naive = sum(r ** 2 * block_means(x.astype(float) / 255) / r for x, r in zip(raws, ratios)) / sum(
        r ** 2 for r in ratios)
    assert np.all(naive[capped, 0] < 0.9 * truth[capped, 0])
    assert np.all(np.abs(ref[capped, 0] / truth[capped, 0] - 1) < 0.03)


def test_hdr_error_is_zero_up_to_a_matrix_and_grows_with_noise():
    scene = hdr_scene()
    truth = block_means(scene)
    assert hdr_error_blocks(scene @ MIX.T * 37.0, truth) < 1e-9
    # Per-channel scale and colour space do not matter, a wrong radiance does.
    assert hdr_error_blocks(scene * [1.0, 5.0, 0.2], truth) < 1e-9
    rng = np.random.default_rng(0)
    errs = [hdr_error_blocks(scene * np.exp(rng.normal(0, s, size=(scene.shape[0] // 8, 1, 1, 1))
                                            .repeat(8, 0).reshape(-1, 1, 1)), truth) for s in (0.01, 0.05, 0.2)]
    assert 0 < errs[0] < errs[1] < errs[2] <= 1
    # A tone-mapped (gamma 1/2.2) image is far from the radiance: every tile is weighted alike.
    assert hdr_error_blocks(scene ** (1 / 2.2), truth) > 0.1


def test_hdr_error_validation():
    scene = hdr_scene()
    truth = block_means(scene)
    with pytest.raises(ValidationError, match="shape"):
        hdr_error_blocks(scene[..., :2], truth)
    with pytest.raises(ValidationError, match="blocks of 3 channels"):
        hdr_error_blocks(scene, truth[:-1])
    with pytest.raises(ValidationError, match="usable must be"):
        hdr_error_blocks(scene, truth, usable=np.ones(3, bool))
    bad = scene.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValidationError, match="non-finite values in 1 of"):
        hdr_error_blocks(bad, truth)
    few = np.zeros(len(truth), bool)
    few[:3] = True
    with pytest.raises(ValidationError, match="only 3 usable"):
        hdr_error_blocks(scene, truth, usable=few)
    zero = truth.copy()
    zero[0] = 0
    with pytest.raises(ValidationError, match="finite, non-zero reference"):
        hdr_error_blocks(scene, zero, usable=np.ones(len(truth), bool))
    with pytest.raises(ValidationError, match="ratios"):
        raw_reference_blocks([scene, scene], [1.0])
    with pytest.raises(ValidationError, match="differ"):
        raw_reference_blocks([scene, scene], [1.0, 1.0])
    with pytest.raises(ValidationError, match="span 1993 stops; a bracket spans at most 40"):
        raw_reference_blocks([scene, scene], [1e-300, 1e300])
    with pytest.raises(ValidationError, match="at least one"):
        raw_reference_blocks([], [])


def _merge_bracket_of(scene, ratios, curve=None):
    curve = curve or Curve.srgb()
    raws = [np.round(np.clip(scene * r * 255, 0, 255)).astype(np.uint8) for r in ratios]
    jpegs = [crfkit.apply_curve(np.clip(scene * r, 0, 1), curve, bits=8) for r in ratios]
    return RealBracket("synthetic", 1, [], [], jpegs, raws, np.asarray(ratios, float))


def test_score_merge_and_failures():
    scene = hdr_scene(seed=6, span=(0.02, 0.9)) / 4
    b = _merge_bracket_of(scene, [1.0, 2.0, 4.0])
    srgb = Curve.srgb().inverse()
    good = crfkit.merge_bracket(b.jpegs, b.raw_ratios, crf=srgb)
    wrong = crfkit.merge_bracket(b.jpegs, b.raw_ratios, crf=Curve.gamma(1.0))
    assert score_merge(good, b) < 0.02 < score_merge(wrong, b)
    out = score_merges(lambda br: {1: good, 2: None, 3: good * np.nan}[br.illumination],
                       [b, RealBracket("none", 2, [], [], b.jpegs, b.raws, b.raw_ratios),
                        RealBracket("nan", 3, [], [], b.jpegs, b.raws, b.raw_ratios)])
    assert out["n_failed"] == 2 and out["mean"] == pytest.approx(score_merge(good, b))
    assert out["per_bracket"][1]["reason"] == "method returned None"
    assert "non-finite" in out["per_bracket"][2]["reason"]


@given(
    shape=st.tuples(st.integers(1, 30), st.integers(1, 30)),
    data=st.data(),
    block=st.integers(1, 9),
)
def test_property_hdr_error_in_unit_range_or_crfkit_error(shape, data, block):
    h, w = shape
    raws = [data.draw(arrays(np.uint8, (h, w, 3))) for _ in range(data.draw(st.integers(1, 3)))]
    ratio = st.floats(-1, 100) | st.sampled_from([float("nan"), 1e-300, 1e300])
    ratios = data.draw(st.lists(ratio, min_size=len(raws), max_size=len(raws)))
    value = st.floats(-1e6, 1e6, width=32) | st.sampled_from([np.nan, np.inf])
    hdr = data.draw(arrays(np.float32, (h, w, 3), elements=value))
    try:
        ref, observed = raw_reference_blocks(raws, ratios, block=block)
        e = hdr_error_blocks(hdr, ref, observed, block=block)
    except CrfkitError:
        return
    assert isinstance(e, float) and 0.0 <= e <= 1.0


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def brackets():
    from conftest import require_real_data

    env = require_real_data(())  # skip when CRFKIT_DATA is unset
    root = env / MIDDLEBURY_FOLDER
    if not root.is_dir():
        pytest.fail(f"CRFKIT_DATA={str(env)!r} is set but {root} is missing", pytrace=False)
    return load_middlebury_brackets()


@pytest.mark.realdata
def test_middlebury_brackets_and_raw_ratios(brackets):
    assert len(brackets) == 20
    cams = {b.camera for b in brackets}
    assert len(cams) == 10 and {"NikonD70", "PentaxK10D"} <= cams
    for b in brackets:
        assert b.n_exposures == 4 and b.jpegs[0].dtype == np.uint8 and b.jpegs[0].shape == (260, 390, 3)
        steps = np.diff(b.raw_ratios) / b.raw_ratios[:-1] + 1
        assert b.raw_ratios[0] == 1.0
        assert np.all((steps > 1.3) & (steps < 3.0)), (b.camera, b.illumination, b.raw_ratios)


@pytest.mark.realdata
def test_middlebury_srgb_and_gamma_scores(brackets):
    srgb, g22 = Curve.srgb().inverse(), Curve.gamma(2.2)
    res = score_brackets(lambda b: srgb, brackets)
    assert res["n_failed"] == 0
    assert res["mean"] == pytest.approx(MEASURED_SRGB_ALL, abs=0.003)
    assert res["mean_jpegs"] == pytest.approx(res["mean"], abs=1e-12)  # no JPEG fails: both means agree
    ill2 = [b for b in brackets if b.illumination == 2]
    assert score_brackets(lambda b: srgb, ill2)["mean"] == pytest.approx(MEASURED_SRGB_I2, abs=0.003)
    assert score_brackets(lambda b: g22, ill2)["mean"] == pytest.approx(MEASURED_GAMMA22_I2, abs=0.003)


@pytest.mark.realdata
@pytest.mark.xfail(strict=True, reason="the published 0.157 is not reproduced by the issue's 3x3-matrix "
                   "definition (0.106 here; see linearisation_error_blocks' docstring)")
def test_middlebury_srgb_matches_the_published_figure(brackets):
    res = score_brackets(lambda b: Curve.srgb().inverse(), brackets)
    assert res["mean"] == pytest.approx(PUBLISHED_SRGB_ALL, abs=0.01)


@pytest.mark.realdata
def test_middlebury_merges_against_the_raw_reference(brackets):
    """The merge measure on real brackets: the RAWs themselves sit at its floor, the sRGB inverse far
    above, crfkit's default calibration + merge in between, and its highlight taper helps.

    Measured on these four brackets (analysis/results/bracket/merge_middlebury.md): RAW check
    0.0005 to 0.0017, sRGB 0.111 to 0.135, default without colour mixing 0.0366 / 0.0387 / 0.0439 /
    0.0424, untapered 0.0476 / 0.0519 / 0.0464 / 0.0459; the default (with colour mixing) 0.0198 /
    0.0196 / 0.0370 / 0.0424.
    """
    four = brackets[:4]
    raw = score_merges(lambda b: crfkit.merge_bracket(b.raws, b.raw_ratios, crf=Curve.identity()), four)
    srgb = score_merges(lambda b: crfkit.merge_bracket(b.jpegs, b.raw_ratios, crf="srgb"), four)
    cals = [crfkit.calibrate_bracket(b.jpegs, b.raw_ratios, bootstrap=0) for b in four]
    default = score_merges(lambda b: crfkit.merge_bracket(b.jpegs, b.raw_ratios, crf=cals[four.index(b)]), four)
    untapered = score_merges(lambda b: crfkit.merge_bracket(b.jpegs, b.raw_ratios, crf=cals[four.index(b)],
                                                            highlight_taper=None), four)
    for res in (raw, srgb, default, untapered):
        assert res["n_failed"] == 0
    assert all(r["error"] < 0.005 for r in raw["per_bracket"])
    assert all(r["error"] > 0.09 for r in srgb["per_bracket"])
    assert default["mean"] == pytest.approx(0.0297, abs=0.003)
    plain_cals = [crfkit.calibrate_bracket(b.jpegs, b.raw_ratios, bootstrap=0, mixing=False) for b in four]
    plain = score_merges(lambda b: crfkit.merge_bracket(b.jpegs, b.raw_ratios, crf=plain_cals[four.index(b)]), four)
    assert plain["mean"] == pytest.approx(0.0404, abs=0.003)
    assert default["mean"] < plain["mean"] - 0.005  # the colour mixing pays in the merge too
    d = [a["error"] - b["error"] for a, b in zip(default["per_bracket"], untapered["per_bracket"])]
    assert all(x < 0 for x in d), d


@pytest.mark.realdata
def test_a_calibration_carries_to_the_same_cameras_other_scene(brackets):
    """Calibrate once, use elsewhere: a bracket's calibration linearises the same camera's bracket
    under the other illumination (never seen) nearly as well as that bracket's own calibration.

    Measured (analysis/results/bracket/transfer.md), own / carried over: NikonD70 0.0337 / 0.0284 and
    0.0170 / 0.0270, SonyDSLR-A100 0.0184 / 0.0226 and 0.0151 / 0.0153; the sRGB inverse 0.09 to 0.13.
    The other camera's calibration carried over instead scores 0.041 to 0.059 (mean 0.048): it fails here.
    """
    pick = {(b.camera, b.illumination): b for b in brackets if b.camera in ("NikonD70", "SonyDSLR-A100")}
    cals = {key: crfkit.calibrate_bracket(b.jpegs, b.raw_ratios, bootstrap=0).inverse() for key, b in pick.items()}
    own = score_brackets(lambda b: cals[(b.camera, b.illumination)], list(pick.values()))
    carried = score_brackets(lambda b: cals[(b.camera, 3 - b.illumination)], list(pick.values()))
    srgb = score_brackets(lambda b: Curve.srgb().inverse(), list(pick.values()))
    assert own["n_failed"] == carried["n_failed"] == 0
    for o, c, s in zip(own["per_bracket"], carried["per_bracket"], srgb["per_bracket"]):
        assert c["mean"] < 0.04 and c["mean"] < 0.4 * s["mean"], (o, c, s)
    assert carried["mean"] - own["mean"] < 0.006, (own["mean"], carried["mean"])
