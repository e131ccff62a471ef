"""Deghosting in merge_bracket: exposures that saw something move are left out per pixel."""

import warnings

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from crfkit import Curve, CrfkitError, ValidationError
from crfkit.bracket import merge_bracket
from crfkit.bracket.deghost import ghost_masks

CURVE = Curve.gamma(2.2)
TIMES = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
H, W = 96, 160
BOX = (slice(30, 60), slice(None))  # the rows the object moves along


def scene(seed=0):
    """A textured static scene over about 7 stops, brightest at 0.9 of clipping in the middle exposure."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, W)[None, :, None]
    texture = 1.0 + 0.3 * np.sin(np.arange(H)[:, None, None] / 3.0) * np.cos(np.arange(W)[None, :, None] / 5.0)
    return (0.9 * 2.0 ** (7 * (x - 1)) * texture * rng.uniform(0.7, 1.0, (1, 1, 3))).astype(np.float32)


def with_object(radiance, k, value):
    """The scene with a flat 30 x 24 object at a position that moves with the exposure index k."""
    out = radiance.copy()
    out[BOX[0], 10 + 30 * k: 34 + 30 * k] = value
    return out


def render(radiances, times, noise=0.003, seed=1):
    rng = np.random.default_rng(seed)
    imgs = []
    for r, t in zip(radiances, times):
        e = np.clip(r * t + noise * rng.standard_normal(r.shape), 0, 1)
        imgs.append(np.round(np.interp(e, np.linspace(0, 1, 1024), CURVE.values) * 255).astype(np.uint8))
    return imgs


def log_error(hdr, truth, where):
    ok = where & (truth.mean(axis=2) > 1e-3)
    return float(np.mean(np.abs(np.log(hdr.mean(axis=2)[ok] / truth.mean(axis=2)[ok]))))


def merge(imgs, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the moving object makes the given curve's check warn
        return merge_bracket(imgs, TIMES, crf=CURVE.inverse(), return_info=True, **kwargs)


def test_moving_object_is_removed():
    """An object crossing the frame leaves ghosts in a plain merge; deghosted, the merge is the reference's scene."""
    base = scene()
    radiances = [with_object(base, k, 0.05) for k in range(5)]
    imgs = render(radiances, TIMES)
    plain, _ = merge(imgs)
    clean, info = merge(imgs, deghost=True)
    truth = radiances[info["deghost_reference"]]
    rows = np.zeros((H, W), bool)
    rows[BOX] = True
    e_plain, e_clean = log_error(plain, truth, rows), log_error(clean, truth, rows)
    assert e_plain > 0.3 and e_clean < 0.25 * e_plain, (e_plain, e_clean)
    # The static rest as accurate as the plain merge (noise at the test's bound costs a little).
    assert log_error(clean, truth, ~rows) < 1.1 * log_error(plain, truth, ~rows)
    assert 0.01 < info["ghost_share"] < 0.2


def test_static_bracket_is_unchanged():
    imgs = render([scene(3)] * 5, TIMES)
    plain, _ = merge(imgs)
    clean, info = merge(imgs, deghost=True)
    assert info["ghost_share"] < 0.002
    assert np.median(np.abs(np.log(clean / plain))) < 1e-6
    assert np.mean(np.abs(np.log(clean / plain)) > 0.01) < 0.005


def test_reference_chosen_by_index():
    """deghost=k keeps the scene of image k: the object where image k saw it, and nowhere else."""
    base = scene()
    radiances = [with_object(base, k, 0.05) for k in range(5)]
    imgs = render(radiances, TIMES)
    for k in (1, 3):
        hdr, info = merge(imgs, deghost=k)
        assert info["deghost_reference"] == k
        rows = np.zeros((H, W), bool)
        rows[BOX] = True
        assert log_error(hdr, radiances[k], rows) < 0.05


def test_automatic_reference_is_the_longest_exposure_with_little_clipping():
    imgs = render([scene()] * 5, TIMES)
    clipped = [np.mean(im.max(axis=2) >= 0.98 * 255) for im in imgs]
    _, info = merge(imgs, deghost=True)
    ref = info["deghost_reference"]
    assert clipped[ref] <= 0.01 and all(c > 0.01 for c in clipped[ref + 1:]), clipped


def test_clipped_reference_keeps_its_bound_against_a_darker_ghost():
    """Where the reference is clipped, shorter exposures that show something darker moved in are not used:
    the pixel keeps the clipped value's lower bound rather than the ghost."""
    base = np.full((H, W, 3), 0.02, np.float32)
    bright = base.copy()
    bright[BOX[0], 60:100] = 2.0  # clipped in the reference (t = 1), seen only there
    radiances = [base, base, bright, base, base]  # the bright thing is there only in exposure 2
    imgs = render(radiances, TIMES, noise=0.001)
    hdr, info = merge(imgs, deghost=2)
    patch = hdr[BOX[0], 60:100]
    assert np.all(patch >= 0.97), patch.min()  # at least the clipping level seen in exposure 2 (t = 1)
    plain, _ = merge(imgs)
    assert np.median(plain[BOX[0], 60:100]) < 0.2  # the plain merge takes the dark ghost from the short exposures


def test_ghost_masks_never_flag_the_reference():
    base = scene()
    imgs = render([with_object(base, k, 0.05) for k in range(5)], TIMES)
    inv = np.tile(CURVE.inverse().values, (3, 1))
    ghosts, ref, ref_map = ghost_masks(imgs, TIMES, inv, 256, 0.98, (1e-4, 1e-7), 0.004)
    assert ghosts.shape == (5, H, W) and ghosts.dtype == bool
    assert not ghosts[ref][ref_map == ref].any()
    assert ref_map.shape == (H, W) and set(np.unique(ref_map)) <= set(range(5))


@pytest.mark.parametrize("bad", ["yes", 5, -1, 1.0, None])
def test_bad_deghost_values(bad):
    imgs = render([scene()] * 5, TIMES)
    with pytest.raises(ValidationError, match="deghost must be True, False or an image index 0..4"):
        merge_bracket(imgs, TIMES, crf="srgb", deghost=bad)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 4), h=st.integers(1, 24), w=st.integers(1, 24), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.uint8, np.uint16]), reference=st.one_of(st.just(True), st.integers(-1, 4)),
       gains=st.lists(st.sampled_from([0.0, 0.01, 0.3, 1.0, 5.0, 100.0]), min_size=4, max_size=4),
       moving=st.booleans())
def test_deghost_returns_an_hdr_or_a_crfkit_error(n, h, w, seed, dtype, reference, gains, moving):
    """Whatever the bracket (black, clipped, moving, tiny) and reference: a finite HDR or a CrfkitError."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    base = rng.uniform(0, 1, (h, w, 3))
    imgs = [np.round(np.clip((rng.uniform(0, 1, (h, w, 3)) if moving else base) * g, 0, 1) ** (1 / 2.2) * top)
            .astype(dtype) for g in gains[:n]]
    times = [1.0, 2.0, 4.0, 8.0][:n]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdr, info = merge_bracket(imgs, times, crf="gamma:2.2", deghost=reference, return_info=True)
    except CrfkitError as exc:
        event(type(exc).__name__)
        assert "\n" not in str(exc)
        return
    event("merged")
    assert hdr.shape == (h, w, 3) and hdr.dtype == np.float32 and np.all(np.isfinite(hdr)) and hdr.min() >= 0
    assert 0 <= info["ghost_share"] <= 1 and 0 <= info["deghost_reference"] < n
