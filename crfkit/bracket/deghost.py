"""Ghosts: pixels where the scene moved between the exposures of a bracket.

A static pixel gives the same irradiance ``g(z) / t`` in every exposure, up to
noise; a pixel that something crossed does not.  Following the consistency
test of Granados et al. ("Automatic noise modeling for ghost-free HDR
reconstruction", SIGGRAPH Asia 2013), each exposure's estimate is compared
with a reference exposure's under the merge's own noise model (Hanji, Zhong &
Mantiuk 2020), plus a relative error for what no noise model describes (the
curve's own error, a JPEG's processing differing between exposures): an
exposure whose estimate lies outside the chi-square bound is left out of that
pixel's mean.  The reference is the exposure with the most well-exposed
pixels; where it is clipped or black, the nearest exposure (in time) in which
the pixel is usable takes its place, so every pixel keeps one consistent
scene: the reference's.  Isolated rejections (noise at the bound) are
dropped and the rest grown by a few pixels, since a moving object's soft
edges differ by less than the bound.
"""

import numpy as np

from ..curves.curve import GRID

#: Relative standard error of an estimate ``g(z) / t`` besides noise (the curve's error, a camera's
#: processing that differs between exposures), in the ghost test's variance.
GHOST_RELATIVE_ERROR = 0.1
#: Tail probability of the chi-square bound (per pixel and exposure, under a static scene).
GHOST_P = 1e-3
#: Rejections are grown by this many pixels (a moving object's edges are soft).
GHOST_GROW = 2
#: Codes (fraction of full scale) above which a pixel's brightest channel counts as lit in an exposure.
LIT = 0.02
#: The reference exposure is the longest with at most this share of pixels clipped (what is clipped
#: in the reference cannot be restored where something moved; darkness can, from longer exposures).
REFERENCE_CLIPPED = 0.01


def code_variance(inv, levels, noise, code_noise, relative_error=0.0):
    """Variance of ``g(z)`` per code (levels,) under the noise model, plus ``(relative_error g(z))^2``.

    ``inv``: one inverse curve's values on the 1024 grid; ``noise``: (a, b), photon gain and read
    variance in units of the clipping level; ``code_noise``: a code's noise besides quantisation."""
    z = np.arange(levels) / (levels - 1)
    g = np.interp(z, GRID, inv)
    slope = np.interp(z, GRID, np.gradient(inv, GRID))
    q = 1.0 / (levels - 1)
    return noise[0] * g + noise[1] + slope ** 2 * (q * q / 12.0 + code_noise ** 2) + (relative_error * g) ** 2


def _brightest(image):
    """(H, W): the largest of the three channels (channel by channel: a reduction over the last axis
    of a 12-megapixel image is several times slower)."""
    return np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])


def _some_channel(mask):
    """(H, W) bool: ``mask`` (H, W, 3) is true in some channel."""
    return mask[..., 0] | mask[..., 1] | mask[..., 2]


def ghost_masks(imgs, t, inv, levels, clip, noise, code_noise, relative_error=GHOST_RELATIVE_ERROR,
                p=GHOST_P, grow=GHOST_GROW, reference=None):
    """Which exposures to leave out of each pixel's mean.

    Parameters
    ----------
    imgs : list of ndarray (H, W, 3), uint8 or uint16
    t : ndarray (J,)
        Relative exposures.
    inv : ndarray (3, 1024)
        Inverse curves.
    levels : int
        256 or 65536.
    clip : float
        Codes at or above it are clipped.
    noise, code_noise
        The merge's noise model.
    relative_error, p, grow
        See :data:`GHOST_RELATIVE_ERROR`, :data:`GHOST_P`, :data:`GHOST_GROW`.

    Returns
    -------
    ghosts : ndarray (J, H, W) bool
        True where exposure j disagrees with the pixel's reference.
    reference : int
        The image index chosen as the reference.
    reference_map : ndarray (H, W) int
        Per pixel, the image that stands for the reference (the reference itself where it is
        usable or where no other exposure agrees with it).
    """
    from scipy import ndimage
    from scipy.stats import chi2

    n = len(imgs)
    h, w = imgs[0].shape[:2]
    order = np.argsort(t, kind="stable")
    top_code = clip * (levels - 1)
    brightest = [_brightest(imgs[j]) for j in order]
    # Usable: the brightest channel lit and none clipped.
    usable = [(b < top_code) & (b > LIT * (levels - 1)) for b in brightest]
    if reference is None:
        clipped = np.array([np.mean(b >= top_code) for b in brightest])
        few = np.flatnonzero(clipped <= REFERENCE_CLIPPED)
        k_ref = int(few[-1]) if few.size else int(np.argmin(clipped))  # position in `order`
    else:
        k_ref = int(np.flatnonzero(order == reference)[0])
    lin = np.stack([np.interp(np.arange(levels) / (levels - 1), GRID, inv[c]) for c in range(3)]).astype(np.float32)
    var = np.stack([code_variance(inv[c], levels, noise, code_noise, relative_error)
                    for c in range(3)]).astype(np.float32)
    top_level = int(np.ceil(top_code))  # the lowest clipped code
    floor = 1.0 - 3.0 * relative_error  # an estimate this far below a clipped value's bound contradicts it
    # Where the reference is clipped, the irradiance is at least g(clip) / t_ref in the clipped channels: a
    # shorter exposure stands in for it only if it agrees (else it shows something that moved there).
    j_ref = order[k_ref]
    ref_clipped_any = brightest[k_ref] >= top_code
    clipped_at = np.flatnonzero(ref_clipped_any)  # the tests below run on these pixels only
    ref_clipped = imgs[j_ref][..., :3].reshape(-1, 3)[clipped_at] >= top_code
    at_least = lin[:, top_level] / np.float32(t[j_ref])

    def agrees_with_clipping(j):
        codes = imgs[j][..., :3].reshape(-1, 3)[clipped_at]
        below = (codes < top_code) & (lin[np.arange(3), codes] / np.float32(t[j]) < floor * at_least)
        out = np.ones(h * w, bool)
        out[clipped_at] = ~np.any(ref_clipped & below, axis=1)
        return out.reshape(h, w)

    # Likewise where the reference is black (its brightest channel at most LIT): a longer exposure stands in
    # only if it is not clearly brighter than twice that level seen in the reference.
    ref_dark = brightest[k_ref] <= LIT * (levels - 1)
    dark_at = np.flatnonzero(ref_dark)
    at_most = lin[:, int(round(2 * LIT * (levels - 1)))] / np.float32(t[j_ref]) / floor

    def agrees_with_darkness(j):
        codes = imgs[j][..., :3].reshape(-1, 3)[dark_at]
        out = np.ones(h * w, bool)
        out[dark_at] = ~np.any(lin[np.arange(3), codes] / np.float32(t[j]) > at_most, axis=1)
        return out.reshape(h, w)

    # Per pixel, the reference's position: the nominal one where usable, else the nearest usable (and, in
    # place of a clipped reference, agreeing) exposure; the nominal one where there is none.
    ref_pos = np.full((h, w), k_ref, np.int16)
    found = usable[k_ref].copy()
    for d in range(1, n):
        for k in (k_ref - d, k_ref + d):
            if 0 <= k < n:
                take = usable[k] & ~found
                # Too bright in the reference: only a shorter exposure can stand in; too dark: a longer one.
                take &= (agrees_with_clipping(order[k]) if k < k_ref
                         else ~ref_clipped_any & agrees_with_darkness(order[k]))
                ref_pos[take] = k
                found |= take
    # The reference's estimates and variances, gathered per pixel from its exposure.
    ref_x = np.zeros((3, h, w), np.float32)
    ref_v = np.zeros((3, h, w), np.float32)
    ref_ok = np.zeros((3, h, w), bool)
    for k, j in enumerate(order):
        here = ref_pos == k
        if not here.any():
            continue
        for c in range(3):
            code = imgs[j][..., c][here]
            ref_x[c][here] = lin[c][code] / np.float32(t[j])
            ref_v[c][here] = var[c][code] / np.float32(t[j] * t[j])
            ref_ok[c][here] = (code > 0) & (code < top_code)
    # Pixels left with the nominal reference clipped (black): other exposures must reach (keep below) its bound.
    still_clipped = ref_clipped_any & (ref_pos == k_ref)
    still_dark = ref_dark & (ref_pos == k_ref)
    bounds = chi2.isf(p, np.arange(1, 4)).astype(np.float32)
    structure = np.ones((3, 3), bool)
    ghosts = np.zeros((n, h, w), bool)
    for k, j in enumerate(order):
        stat = np.zeros((h, w), np.float32)
        count = np.zeros((h, w), np.int8)
        for c in range(3):
            code = np.ascontiguousarray(imgs[j][..., c])
            ok = ref_ok[c] & (code > 0) & (code < top_code)
            diff = lin[c][code] / np.float32(t[j]) - ref_x[c]
            with np.errstate(divide="ignore", invalid="ignore"):
                stat += np.where(ok, diff * diff / (var[c][code] / np.float32(t[j] * t[j]) + ref_v[c]), 0)
            count += ok
        bound = np.where(count > 0, bounds[np.maximum(count, 1) - 1], np.inf)
        g = (stat > bound) & (ref_pos != k)
        if k != k_ref:  # a value below the reference's clipping, or above its blackness, contradicts it
            g |= (~agrees_with_clipping(j) & still_clipped) | (~agrees_with_darkness(j) & still_dark)
        if grow:
            g = ndimage.binary_opening(g, structure)  # isolated rejections are noise at the bound
            g = ndimage.binary_dilation(g, structure, iterations=grow) & (ref_pos != k)
        ghosts[j] = g
    return ghosts, int(j_ref), order[ref_pos]
