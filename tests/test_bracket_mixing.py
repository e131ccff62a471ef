"""Colour mixing after the tone curve (``calibrate_bracket(mixing=True)``, ``crfkit.bracket.mixing``).

Brackets are rendered here with a known per-channel curve followed by a known code-domain
saturation matrix S, ``I = S f(t E)``: the calibration must find ``A ~ S^-1`` and linearise
better than per-channel curves can; a bracket without mixing must be left alone.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from test_cli_commands import run

import crfkit
from crfkit import CrfkitError, CurveSet, ValidationError
from crfkit.bracket import calibrate_bracket, merge_bracket
from crfkit.bracket.mixing import estimate_code_matrix, matrix_from_params

TIMES = 2.0 ** np.arange(5)
#: A JPEG-like saturation boost in the encoded domain: rows sum to 1 (greys stay grey).
SATURATION = np.array([[1.25, -0.15, -0.10], [-0.10, 1.20, -0.10], [-0.05, -0.20, 1.25]])


def _scene(seed=0, size=192, patch=12):
    """Flat patches of random colours (a chart-like scene), linear, brightest values about 0.35."""
    rng = np.random.default_rng(seed)
    n = size // patch
    colours = rng.uniform(0.15, 1.0, (n, n, 3)) * rng.uniform(0.1, 1.0, (n, n, 1))
    return np.kron(colours, np.ones((patch, patch, 1))) * 0.35


def _render(scene, saturation, seed=0):
    # Not a power law: with f(x) = x^gamma, S f(t E) = t^gamma S f(E) and per-channel curves fit
    # the mixed codes exactly, so no bracket can reveal the mixing.
    rng = np.random.default_rng(seed + 1)
    out = []
    for t in TIMES:
        x = np.clip(scene * t / TIMES[2] + rng.normal(0, 0.0005, scene.shape), 0, 1)
        coded = np.clip((np.log1p(20 * x) / np.log(21)) @ saturation.T, 0, 1)
        out.append(np.round(coded * 255).astype(np.uint8))
    return out


def _linear_error(cal, images, scene):
    """Relative error of the linearised middle exposure against the truth after the best 3x3 matrix."""
    lin = cal.linearize(images[2], dtype=np.float64).reshape(-1, 3)
    truth = scene.reshape(-1, 3)
    use = (images[2].reshape(-1, 3).max(axis=1) < 250) & (truth.mean(axis=1) > 0.01)
    M, *_ = np.linalg.lstsq(truth[use], lin[use], rcond=None)
    return np.linalg.norm(lin[use] - truth[use] @ M) / np.linalg.norm(lin[use])


@pytest.fixture(scope="module")
def mixed_bracket():
    scene = _scene()
    return scene, _render(scene, SATURATION)


def test_mixing_recovers_the_inverse_saturation_and_linearises_better(mixed_bracket):
    scene, images = mixed_bracket
    plain = calibrate_bracket(images, times=TIMES, bootstrap=0, mixing=False)
    mixed = calibrate_bracket(images, times=TIMES, bootstrap=0, mixing=True)
    assert plain.mixing is None
    assert mixed.mixing is not None and "colour mixing" in mixed.method
    truth = np.linalg.inv(SATURATION)
    assert np.abs(mixed.mixing - truth).max() < 0.08, (mixed.mixing, truth)
    np.testing.assert_allclose(mixed.mixing.sum(axis=1), 1.0, atol=1e-9)
    e_plain, e_mixed = _linear_error(plain, images, scene), _linear_error(mixed, images, scene)
    assert e_mixed < 0.5 * e_plain, (e_plain, e_mixed)
    rms_without, rms_with = mixed.stats["mixing_code_rms"]
    assert rms_with < rms_without


def test_no_mixing_in_the_camera_leaves_the_identity():
    scene = _scene(seed=3)
    images = _render(scene, np.eye(3), seed=3)
    cal = calibrate_bracket(images, times=TIMES, bootstrap=0, mixing=True)
    assert cal.mixing is None or np.abs(cal.mixing - np.eye(3)).max() < 0.05


def test_saved_calibration_carries_the_matrix_to_linearize_and_merge(mixed_bracket, tmp_path):
    scene, images = mixed_bracket
    cal = calibrate_bracket(images, times=TIMES, bootstrap=0, mixing=True)
    path = cal.save(tmp_path / "cam.crfs")
    loaded = CurveSet.load(path)
    np.testing.assert_allclose(loaded.attrs["bracket"]["mixing"], cal.mixing, atol=1e-6)
    np.testing.assert_allclose(crfkit.linearize(images[1], loaded), cal.linearize(images[1]), atol=1e-5)
    # The curves alone (matrix dropped) linearise differently: the matrix is really applied.
    bare = CurveSet(loaded.values, "forward")
    assert np.abs(crfkit.linearize(images[1], bare) - cal.linearize(images[1])).max() > 0.01
    hdr_cal, info_cal = merge_bracket(images, times=TIMES, crf=cal, return_info=True)
    hdr_file, info_file = merge_bracket(images, times=TIMES, crf=str(path), return_info=True)
    assert info_cal["mixing"] is not None and info_file["mixing"] is not None
    # The merge's check of a given curve sees the mixed codes (it once sampled them as 8-bit: all clipped).
    assert info_file["exposure_disagreement"] is not None and info_file["exposure_disagreement"] < 0.1
    np.testing.assert_allclose(hdr_file, hdr_cal, rtol=1e-4, atol=1e-6)
    # The merge with the matrix is closer to the scene than the same curves without it.
    hdr_bare = merge_bracket(images, times=TIMES, crf=bare)
    use = scene.mean(axis=2) > 0.01

    def rel(h):
        a, b = h[use].reshape(-1, 3), scene[use].reshape(-1, 3)
        M, *_ = np.linalg.lstsq(b, a, rcond=None)
        return np.linalg.norm(a - b @ M) / np.linalg.norm(a)

    assert rel(hdr_cal) < rel(hdr_bare)


def test_mixing_is_on_by_default_except_for_a_shared_curve(mixed_bracket):
    _, images = mixed_bracket
    default = calibrate_bracket(images, times=TIMES, bootstrap=0)
    explicit = calibrate_bracket(images, times=TIMES, bootstrap=0, mixing=True)
    np.testing.assert_array_equal(default.mixing, explicit.mixing)
    assert calibrate_bracket(images, times=TIMES, bootstrap=0, shared=True).mixing is None


def test_exposure_disagreement_applies_the_matrix(mixed_bracket):
    from crfkit.bracket import exposure_disagreement

    _, images = mixed_bracket
    cal = calibrate_bracket(images, times=TIMES, bootstrap=0, mixing=True)
    bare = CurveSet(cal.curves.values, "forward")  # the same curves without the matrix
    with_matrix = exposure_disagreement(images, cal, times=TIMES)
    without = exposure_disagreement(images, bare, times=TIMES)
    assert with_matrix < without


def test_mixing_argument_errors(mixed_bracket):
    _, images = mixed_bracket
    with pytest.raises(ValidationError, match="shared"):
        calibrate_bracket(images, times=TIMES, mixing=True, shared=True)
    with pytest.raises(ValidationError, match="mixing"):
        calibrate_bracket(images, times=TIMES, mixing="yes")


def test_cli_calibrate_and_merge_with_mixing(mixed_bracket, tmp_path, capsys):
    from crfkit.io.images import write_image

    _, images = mixed_bracket
    files = []
    for i, img in enumerate(images):
        files.append(tmp_path / f"e{i}.png")
        write_image(files[-1], img)
    times = [str(t) for t in TIMES]
    status, out, err = run(capsys, "calibrate", *files, "--times", *times, "--mixing", "on", "-o",
                           tmp_path / "cam.crfs")
    assert status == 0, err
    assert "colour mixing" in out
    assert CurveSet.load(tmp_path / "cam.crfs").attrs["bracket"]["mixing"] is not None
    status, out, err = run(capsys, "merge", *files, "--times", *times, "--crf", tmp_path / "cam.crfs",
                           "-o", tmp_path / "a.exr")
    assert status == 0, err
    # `crfkit linearize --curve` applies the saved matrix too.
    status, out, err = run(capsys, "linearize", files[2], "--curve", tmp_path / "cam.crfs", "-o", tmp_path / "lin.npy")
    assert status == 0, err
    cal_curves = CurveSet.load(tmp_path / "cam.crfs")
    np.testing.assert_allclose(np.load(tmp_path / "lin.npy"), crfkit.linearize(images[2], cal_curves), atol=1e-6)
    assert np.abs(np.load(tmp_path / "lin.npy")
                  - crfkit.linearize(images[2], CurveSet(cal_curves.values, "forward"))).max() > 0.01
    status, out, err = run(capsys, "calibrate", *files, "--times", *times, "--shared", "--mixing", "on",
                           "-o", tmp_path / "shared.crfs")
    assert status == 2 and err.strip().count("\n") == 0 and "--shared" in err and "--mixing on" in err
    assert not (tmp_path / "shared.crfs").exists()
    # --mixing is a calibration option: with a curve given it is refused, in one line.
    status, out, err = run(capsys, "merge", *files, "--times", *times, "--crf", tmp_path / "cam.crfs",
                           "--mixing", "off", "-o", tmp_path / "b.exr")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "--mixing" in err


def test_matrix_parametrisation_keeps_greys():
    A = matrix_from_params([0.1, -0.2, 0.05, 0.3, 0.0, -0.1])
    np.testing.assert_allclose(A @ np.ones(3), 1.0)


@settings(deadline=None)
@given(
    z=arrays(np.float64, st.tuples(st.integers(0, 40), st.integers(1, 4), st.just(3)),
             elements=st.one_of(st.floats(-0.5, 1.5), st.just(np.nan))),
    valid_p=st.floats(0, 1),
    log_times=st.lists(st.one_of(st.floats(-20, 20), st.just(np.nan)), min_size=1, max_size=4),
)
def test_estimate_code_matrix_valid_or_crfkit_error(z, valid_p, log_times):
    rng = np.random.default_rng(0)
    valid = rng.random(z.shape) < valid_p
    lt = np.resize(np.asarray(log_times, float), z.shape[1])
    try:
        A, (rms0, rms1) = estimate_code_matrix(z, valid, lt)
    except CrfkitError:
        return
    assert A.shape == (3, 3) and np.all(np.isfinite(A))
    np.testing.assert_allclose(A.sum(axis=1), 1.0, atol=1e-9)
    assert rms1 <= rms0 or not np.isfinite(rms0)


def test_clipped_channel_spoils_a_mixed_code_by_its_possible_bias_not_its_weight():
    """A clipped channel may lie anywhere between the clipping level and the largest code the camera's mixing
    can make: a small weight times that small range leaves the mixed code usable; a large weight does not."""
    from crfkit.bracket.mixing import leaked_clipping

    clipped = np.array([[False, True, False]])  # green clipped
    nearly_diagonal = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.02, 0.03, 0.99]])
    # blue takes 3 % of a clipped green: green's range above 0.98 is ~0.02 here, a bias of ~0.0006 < LEAK
    assert not leaked_clipping(clipped, nearly_diagonal, 0.98)[0, 2]
    assert leaked_clipping(clipped, nearly_diagonal, 0.98)[0, 1] == np.False_  # own clipping is the caller's
    strong = matrix_from_params([0.12, 0.08, 0.1, 0.1, 0.05, 0.12])
    assert leaked_clipping(clipped, strong, 0.98)[0, [0, 2]].all()
    # the bound grows with the weight: a lower clipping level widens the unknown range
    assert leaked_clipping(clipped, nearly_diagonal, 0.5)[0, 2]


@settings(deadline=None)
@given(params=st.lists(st.floats(-0.3, 0.3), min_size=6, max_size=6),
       clipped=arrays(bool, st.tuples(st.integers(0, 20), st.just(3))),
       clip=st.floats(0.5, 1.0))
def test_leaked_clipping_is_a_mask_that_grows_as_the_clipping_level_falls(params, clipped, clip):
    """Whatever the matrix and clipping level: a bool mask of the same shape, never set where no channel is
    clipped or for the identity, and a lower clipping level (a wider range of values a clipped code may
    hide) spoils at least the codes a higher one does."""
    from crfkit.bracket.mixing import leaked_clipping

    A = matrix_from_params(params)
    if abs(np.linalg.det(A)) < 0.05:
        return
    spoilt = leaked_clipping(clipped, A, clip)
    assert spoilt.shape == clipped.shape and spoilt.dtype == bool
    assert not spoilt[~clipped.any(axis=1)].any()
    assert not leaked_clipping(clipped, np.eye(3), clip).any()
    assert np.all(leaked_clipping(clipped, A, clip - 0.2)[spoilt])


def test_merge_keeps_a_channel_whose_mixed_code_a_clipped_channel_spoils_in_every_exposure():
    """A red patch clipped in every exposure spoils the mixed green and blue codes of all of them; the
    merge mixes the codes as observed there instead of taking the top code (the clipping level)."""
    scene = _scene()
    scene[:24, :24] = [6.0, 0.5, 0.3]  # red clips even in the shortest exposure (x = 1.5)
    images = _render(scene, SATURATION)
    cal = calibrate_bracket(images, times=TIMES, bootstrap=0, mixing=True)
    assert cal.mixing is not None and np.abs(cal.mixing - np.eye(3)).max() > 0.05
    hdr, info = merge_bracket(images, times=TIMES, crf=cal, return_info=True)
    ordinary = (scene.max(axis=2) < 0.3) & (scene.min(axis=2) > 0.02)
    patch = np.zeros(scene.shape[:2], bool)
    patch[4:20, 4:20] = True  # away from the patch's edge (the render has no blur, but be safe)
    for c in (1, 2):
        scale = np.median(hdr[..., c][ordinary] / scene[..., c][ordinary])
        rel = np.abs(hdr[..., c][patch] / scale - scene[..., c][patch]) / scene[..., c][patch]
        assert np.median(rel) < 0.15, (c, np.median(rel))
    # Red is clipped there in every exposure: counted as such, the green and blue of the patch are not.
    assert info["clipped_in_all_share"] == pytest.approx(24 * 24 / (3 * patch.size), rel=0.05)
