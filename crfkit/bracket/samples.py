"""Pixel samples from a bracket: individual pixels, stratified, screened.

Good samples for bracket calibration are single pixels (averaging or
downscaling mixes clipped and unclipped values into false levels) spread over
the whole brightness range and over the image.  Candidates are drawn at random
positions (deterministic from a seed), screened, then taken round-robin over
strata of brightness x image region so that dark and bright levels are as well
represented as the common mid-tones.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import FitError, ValidationError

#: Codes at or above this fraction of the top code count as clipped (JPEG ringing
#: puts clipped areas at 250..255).
CLIP = 0.98
#: Codes at or below this fraction are at the noise floor.
FLOOR = 0.02
#: A pixel whose value drops by more than this (fraction of full scale) from one
#: exposure to a longer one is inconsistent: it moved, or the exposures are misordered.
ORDER_TOL = 0.04
#: A pixel differing from a 4-neighbour by more than this (fraction of full scale, in an
#: exposure where both are valid) sits on an edge and is not used.
EDGE_TOL = 0.1
#: Blocks of this size (pixels) around clipped pixels can be distrusted in that exposure
#: (0: off; on validation brackets the robust loss of the solvers did better without it).
CLIP_MARGIN = 0


def _near_clipped(image, level, block):
    """(ceil(H/block), ceil(W/block)) bool: the block or one of its 8 neighbours holds a clipped pixel."""
    h, w = image.shape[:2]
    hb, wb = -(-h // block), -(-w // block)
    clipped = (image >= level).any(axis=2)
    pad = np.zeros((hb * block, wb * block), bool)
    pad[:h, :w] = clipped
    blocks = pad.reshape(hb, block, wb, block).any(axis=(1, 3))
    grown = blocks.copy()
    grown[1:] |= blocks[:-1]
    grown[:-1] |= blocks[1:]
    g2 = grown.copy()
    g2[:, 1:] |= grown[:, :-1]
    g2[:, :-1] |= grown[:, 1:]
    return g2


@dataclass
class BracketSamples:
    """Per-pixel values across the exposures of a bracket.

    Attributes
    ----------
    z : ndarray (P, J, C), float64 in [0, 1]
        Normalised codes of P pixels in J exposures (sorted from shortest to
        longest) and C channels.
    valid : ndarray (P, J, C) bool
        Neither clipped nor at the noise floor.
    order : ndarray (J,) int
        ``z[:, j]`` comes from image ``order[j]`` of the bracket.
    times : ndarray (J,) or None
        Relative exposures in the sorted order (None when unknown).
    positions : ndarray (P, 2) int
        (row, column) of each pixel.
    code_max : int
        255 or 65535: the code step is ``1 / code_max``.
    stats : dict
        Candidates drawn and the shares rejected (moving, all clipped, all dark).
    """

    z: np.ndarray
    valid: np.ndarray
    order: np.ndarray
    times: object
    positions: np.ndarray
    code_max: int
    stats: dict

    @property
    def n_pixels(self):
        return self.z.shape[0]

    @property
    def n_exposures(self):
        return self.z.shape[1]

    def subset(self, index):
        """Samples of the pixels ``index`` (a bootstrap draw, say)."""
        return BracketSamples(self.z[index], self.valid[index], self.order, self.times,
                              self.positions[index], self.code_max, self.stats)


def exposure_order(images, times):
    """Indices sorting the images from shortest to longest exposure.

    With unknown times, the mean brightness orders them (monotone in exposure
    for a static scene).
    """
    if times is not None:
        return np.argsort(np.asarray(times, float), kind="stable")
    step = max(1, int(np.sqrt(images[0].shape[0] * images[0].shape[1] / 20000)))
    means = [float(np.mean(im[::step, ::step])) for im in images]
    order = np.argsort(means, kind="stable")
    if len(set(np.round(means, 6))) < len(means):
        raise ValidationError("two images of the bracket have the same brightness: with unknown exposure times "
                              "they cannot be ordered (is the same exposure given twice?)")
    return order


def sample_bracket(bracket, n_samples=3000, seed=0, clip=CLIP, floor=FLOOR, order_tol=ORDER_TOL,
                   n_candidates=None, brightness_bins=32, regions=(4, 4), edge_tol=EDGE_TOL,
                   clip_margin=CLIP_MARGIN):
    """Draw pixel samples from a bracket.

    Parameters
    ----------
    bracket : Bracket (or what :func:`calibrate_bracket` accepts: arrays, files, a folder)
    n_samples : int
        Pixels to keep (fewer when the image has fewer usable ones).
    seed : int
        The draw is a deterministic function of the images and the seed.
    clip, floor : float
        Codes >= ``clip`` or <= ``floor`` (fractions of full scale) are not used.
    order_tol : float
        Largest drop of a pixel's code from one exposure to a longer one before
        the pixel is rejected as moving.
    edge_tol : float or None
        Pixels differing from a neighbour by more than this in some exposure are
        on an edge and rejected (None: keep them).
    clip_margin : int or None
        Block size (pixels): an exposure is not used for pixels in a block next
        to (or holding) a clipped pixel of that exposure (None or 0: no margin).
    n_candidates : int, optional
        Random positions screened (default ``max(30 n_samples, 60000)``).
    brightness_bins, regions
        Strata: brightness bins x (rows, columns) of image regions.

    Returns
    -------
    BracketSamples

    Raises
    ------
    FitError
        No pixel is usable (all saturated, all black, or all moving).
    """
    from .._validation import check_int
    from .inputs import as_bracket

    bracket = as_bracket(bracket)  # a Bracket as it is; arrays or files read into one
    n_samples = check_int(n_samples, "n_samples", 10, 10_000_000)
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    try:
        floor, clip, order_tol = float(floor), float(clip), float(order_tol)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(f"floor, clip and order_tol must be numbers, got {floor!r}, {clip!r}, {order_tol!r}") from None
    if not (0.0 <= floor < clip <= 1.0):
        raise ValidationError(f"need 0 <= floor < clip <= 1, got floor={floor}, clip={clip}")
    brightness_bins = check_int(brightness_bins, "brightness_bins", 1, 100_000)
    if not isinstance(regions, (tuple, list, np.ndarray)) or np.ndim(regions) != 1 or len(regions) != 2:
        raise ValidationError(f"regions must be (rows, columns), got {regions!r}")
    regions = (check_int(regions[0], "regions[0]", 1, 100_000), check_int(regions[1], "regions[1]", 1, 100_000))
    if n_candidates is not None:
        n_candidates = check_int(n_candidates, "n_candidates", 0, 10**9)
    if edge_tol is not None:
        try:
            edge_tol = float(edge_tol)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(f"edge_tol must be a number or None, got {edge_tol!r}") from None
    if clip_margin is not None:
        clip_margin = check_int(clip_margin, "clip_margin", 0, 10**9)
    images = bracket.images
    h, w = images[0].shape[:2]
    if clip_margin:
        clip_margin = min(clip_margin, max(h, w))  # one block over the whole image: same result, bounded memory
    order = exposure_order(images, bracket.times)
    rng = np.random.default_rng(seed)
    m = int(n_candidates or max(30 * n_samples, 60000))
    if m >= h * w:
        flat = np.arange(h * w)
    else:
        flat = np.unique(rng.integers(0, h * w, size=m))
    rows, cols = np.divmod(flat, w)
    top = 1.0 if bracket.raw else float(2 ** bracket.bits - 1)
    z = np.stack([np.asarray(images[j])[rows, cols, :3] for j in order], axis=1).astype(np.float64) / top
    n_cand = z.shape[0]
    # Edges: a pixel whose value differs strongly from a neighbour's mixes two surfaces; the
    # slightest misalignment, demosaicking or sharpening halo changes it between exposures.
    edge = np.zeros(n_cand, bool)
    if edge_tol is not None and edge_tol < 1:
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            rn, cn = np.clip(rows + dr, 0, h - 1), np.clip(cols + dc, 0, w - 1)
            zn = np.stack([np.asarray(images[j])[rn, cn, :3] for j in order], axis=1).astype(np.float64) / top
            both = (z > floor) & (z < clip) & (zn > floor) & (zn < clip)
            edge |= (both & (np.abs(z - zn) > edge_tol)).any(axis=(1, 2))
    # Ordering: a longer exposure may not be darker (beyond noise) unless already clipped.
    # Dark codes are dominated by noise (steep curves amplify it): only codes above 0.1 are judged.
    drop = (z[:, :-1] - z[:, 1:] > order_tol) & (z[:, :-1] < clip) & (z[:, :-1] > 0.1)
    moving = drop.any(axis=(1, 2))
    valid = (z > floor) & (z < clip)
    if clip_margin:
        # JPEG ringing and chroma subsampling spread clipped areas into codes just below
        # the clipping level around them: distrust an exposure near any clipped pixel.
        for k, j in enumerate(order):
            near = _near_clipped(np.asarray(images[j]), clip * top, clip_margin)
            valid[:, k, :] &= ~near[rows // clip_margin, cols // clip_margin][:, None]
    all_clipped = (z >= clip).all(axis=1).all(axis=1)
    all_dark = (z <= floor).all(axis=1).all(axis=1)
    usable = ~moving & ~edge & ((valid.sum(axis=1) >= 2).any(axis=1))
    stats = {
        "candidates": int(n_cand),
        "moving_share": float(moving.mean()),
        "edge_share": float(edge.mean()),
        "all_clipped_share": float(all_clipped.mean()),
        "all_dark_share": float(all_dark.mean()),
        "usable_share": float(usable.mean()),
    }
    if not usable.any():
        if stats["all_clipped_share"] > 0.5:
            why = f"{stats['all_clipped_share']:.0%} of pixels are clipped in every exposure"
        elif stats["all_dark_share"] > 0.5:
            why = f"{stats['all_dark_share']:.0%} of pixels are black in every exposure"
        elif stats["moving_share"] > 0.5:
            why = f"{stats['moving_share']:.0%} of pixels change order between exposures (moving scene?)"
        elif stats["edge_share"] > 0.5:
            why = (f"{stats['edge_share']:.0%} of pixels differ from a neighbour by more than {edge_tol:g} of full "
                   "scale (noise or fine texture everywhere; calibration needs smooth areas)")
        else:
            why = "no pixel is unclipped and above the noise floor in two exposures"
        raise FitError(f"no usable pixels in the bracket: {why}")
    if stats["moving_share"] > 0.1:
        warnings.warn(f"{stats['moving_share']:.0%} of sampled pixels get darker in a longer exposure and were "
                      "rejected: the scene or camera moved (try --align), or the exposures are misordered",
                      stacklevel=2)
    idx = np.flatnonzero(usable)
    zu = z[idx]
    # Brightness proxy: summed codes over exposures grow with irradiance for a static pixel.
    s = zu.mean(axis=2).sum(axis=1)
    lo, hi = float(s.min()), float(s.max())
    b = np.minimum(((s - lo) / max(hi - lo, 1e-12) * brightness_bins).astype(int), brightness_bins - 1)
    rr, cc = regions
    region = (rows[idx] * rr // h) * cc + (cols[idx] * cc // w)
    stratum = b * (rr * cc) + region
    # Round-robin over strata: rank each pixel within its stratum (random order), take ranks 0, 1, 2...
    shuffle = rng.permutation(idx.size)
    st = stratum[shuffle]
    by = np.argsort(st, kind="stable")
    sorted_st = st[by]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_st)) + 1]
    rank_sorted = np.arange(sorted_st.size) - np.repeat(starts, np.diff(np.r_[starts, sorted_st.size]))
    rank = np.empty_like(rank_sorted)
    rank[by] = rank_sorted
    pick = shuffle[np.lexsort((np.arange(idx.size), rank))[:n_samples]]
    pick = np.sort(pick)
    sel = idx[pick]
    stats["samples"] = int(sel.size)
    times = None if bracket.times is None else np.asarray(bracket.times, float)[order]
    return BracketSamples(z[sel], valid[sel], order, times, np.column_stack([rows[sel], cols[sel]]),
                          int(round(top)) if not bracket.raw else 65535, stats)
