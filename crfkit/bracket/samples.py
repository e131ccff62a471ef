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

from ..curves.image import _as_unit_float
from ..errors import FitError, ValidationError

#: Codes at or above this fraction of the top code count as clipped (JPEG ringing
#: puts clipped areas at 250..255).
CLIP = 0.98
#: Codes at or below this fraction are at the noise floor.
FLOOR = 0.02
#: Difference of codes (fraction of full scale) beyond noise when ordering exposures of unknown times.
ORDER_NOISE = 0.015
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

    With unknown times, pixel-wise comparisons order them: of two exposures of a
    static scene, the longer one is brighter wherever the two differ by more
    than noise and neither is clipped.  (Mean brightness is not enough: in the
    short exposures of a film scan or a noisy sensor the mean is the black level
    plus noise, which need not fall with the exposure.)  Each image is ranked by
    the number of others it is brighter than, the mean brightness breaking ties.
    """
    if times is not None:
        return np.argsort(np.asarray(times, float), kind="stable")
    step = max(1, int(np.sqrt(images[0].shape[0] * images[0].shape[1] / 20000)))
    probes = [_as_unit_float(np.asarray(im)[::step, ::step, :3]) for im in images]
    means = [float(np.mean(x)) for x in probes]
    rounded = np.round(means, 6)
    for a in range(len(means)):
        same = np.flatnonzero(rounded[a + 1:] == rounded[a])
        if same.size:
            raise ValidationError(f"images {a + 1} and {a + 2 + same[0]} of the bracket have the same brightness: with "
                                  "unknown exposure times they cannot be ordered (the same exposure given twice, or "
                                  "both clipped or black everywhere?)")
    n = len(images)
    wins = np.zeros(n)
    for a in range(n):
        for b in range(a + 1, n):
            xa, xb = probes[a], probes[b]
            # Pixels that tell: unclipped in both, above the floor in one, different beyond noise.
            hi = np.maximum(xa, xb)
            tell = (hi > FLOOR) & (hi < CLIP) & (np.abs(xa - xb) > ORDER_NOISE)
            if tell.sum() >= 50:
                brighter = float(np.mean(xa[tell] > xb[tell]))
            else:
                brighter = 1.0 if means[a] > means[b] else 0.0
            if brighter == 0.5:
                brighter = 1.0 if means[a] > means[b] else 0.0
            wins[a] += brighter > 0.5
            wins[b] += brighter < 0.5
    return np.lexsort((means, wins))


def black_floor(images, order):
    """The noise floor (fraction of full scale) for a bracket: :data:`FLOOR`, or higher where the
    shortest exposure shows a black level (film base and fog, a scanner's or camera's offset).

    A black level shows as most of the shortest exposure's pixels piled in a narrow band of
    dark codes, the same for whatever the scene has there: those codes do not respond to light,
    and taking them as data pulls the curve (and, with unknown times, the ratios of the short
    exposures towards 1).  Per channel, when at least half of the shortest exposure's pixels lie
    within :data:`ORDER_NOISE` of its most common code and that code lies above :data:`FLOOR`
    (a pile-up at black itself is the ordinary floor) and below 0.25, the floor is the 95th
    percentile of those pixels plus :data:`ORDER_NOISE`; the result is the largest of
    the channels' floors and :data:`FLOOR`.
    """
    shortest = np.asarray(images[order[0]])
    step = max(1, int(np.sqrt(shortest.shape[0] * shortest.shape[1] / 50000)))
    x = _as_unit_float(shortest[::step, ::step, :3]).reshape(-1, 3)
    floor = FLOOR
    for c in range(3):
        v = x[:, c]
        hist, edges = np.histogram(v, bins=256, range=(0.0, 1.0))
        mode = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
        near = v[np.abs(v - mode) <= ORDER_NOISE]
        if FLOOR < mode < 0.25 and near.size >= 0.5 * v.size:
            floor = max(floor, float(np.percentile(near, 95)) + ORDER_NOISE)
    return floor


def _any_per_pixel(flags):
    """(n, ...) bool -> (n,): any flag per pixel (a flat view: numpy's multi-axis reductions are slow)."""
    n = flags.shape[0]
    return np.ascontiguousarray(flags).reshape(n, -1).any(axis=1) if n else np.zeros(0, bool)


def _darker_than_before(z, clip, order_tol):
    """(n,) True where a pixel of ``z`` (n, J, C) gets darker than in a shorter exposure (see sample_bracket)."""
    n, n_exp, n_ch = z.shape
    # Exposure-major and flat: a running maximum over a few exposures, each a contiguous vector.
    zt = np.ascontiguousarray(z.transpose(1, 0, 2)).reshape(n_exp, n * n_ch)
    judged = np.where((zt > 0.1) & (zt < clip), zt, 0.0)
    clipped_t = zt >= clip
    brightest, clipped = judged[0].copy(), clipped_t[0].copy()
    drop = np.zeros(n * n_ch, bool)
    for j in range(1, n_exp):
        drop |= (brightest - zt[j] > order_tol) | (clipped & (zt[j] < 0.5))
        np.maximum(brightest, judged[j], out=brightest)
        clipped |= clipped_t[j]
    return drop.reshape(n, n_ch).any(axis=1) if n else np.zeros(0, bool)


def sample_bracket(bracket, n_samples=3000, seed=0, clip=CLIP, floor=None, order_tol=ORDER_TOL,
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
        ``floor=None`` (default): :data:`FLOOR`, raised to the bracket's black level where the
        shortest exposure shows one (:func:`black_floor`; the value used is in ``stats['floor']``).
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
    order = exposure_order(bracket.images, bracket.times)
    if floor is None and not bracket.raw:
        floor = black_floor(bracket.images, order)
    elif floor is None:
        floor = FLOOR
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
    rng = np.random.default_rng(seed)
    m = int(n_candidates or max(30 * n_samples, 60000))
    if m >= h * w:
        flat = np.arange(h * w)
    else:
        flat = np.unique(rng.integers(0, h * w, size=m))
    rows, cols = np.divmod(flat, w)
    top = 1.0 if bracket.raw else float(2 ** bracket.bits - 1)

    flat_images = [np.asarray(images[j]).reshape(h * w, -1) for j in order]  # exposures in order

    def gather(flat_index):
        """(n, J, 3) codes at flat pixel indices (np.take on the (H*W, C) views is several times
        faster than 2-D fancy indexing on large images)."""
        codes = np.stack([np.take(im, flat_index, axis=0)[:, :3] for im in flat_images], axis=1)
        return codes.astype(np.float64) / top

    z = gather(flat)
    n_cand = z.shape[0]
    # Ordering: a longer exposure may not be darker (beyond noise) than any shorter one.  Dark
    # codes are dominated by noise (steep curves amplify it): only codes above 0.1 are judged.
    # Clipped codes are left out of the comparison (a JPEG engine's highlight desaturation can
    # lower one channel a little once the others clip), but a clipped code followed by one below
    # half scale is no desaturation: the pixel changed (a film scan's frame, a moving object).
    moving = _darker_than_before(z, clip, order_tol)
    valid = (z > floor) & (z < clip)
    if clip_margin:
        # JPEG ringing and chroma subsampling spread clipped areas into codes just below
        # the clipping level around them: distrust an exposure near any clipped pixel.
        for k, j in enumerate(order):
            near = _near_clipped(np.asarray(images[j]), clip * top, clip_margin)
            valid[:, k, :] &= ~near[rows // clip_margin, cols // clip_margin][:, None]
    all_clipped = ~_any_per_pixel(z < clip)
    all_dark = ~_any_per_pixel(z > floor)
    otherwise_usable = ~moving & (valid.sum(axis=1) >= 2).any(axis=1)
    # Edges: a pixel whose value differs strongly from a neighbour's mixes two surfaces; the
    # slightest misalignment, demosaicking or sharpening halo changes it between exposures.
    # Only pixels usable otherwise are screened (the neighbours' gathers are the sampler's cost).
    edge = np.zeros(n_cand, bool)
    if edge_tol is not None and edge_tol < 1:
        cand = np.flatnonzero(otherwise_usable)
        zc, rc, cc = z[cand], rows[cand], cols[cand]
        zc_ok = (zc > floor) & (zc < clip)
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            rn, cn = np.clip(rc + dr, 0, h - 1), np.clip(cc + dc, 0, w - 1)
            zn = gather(rn * w + cn)
            both = zc_ok & (zn > floor) & (zn < clip)
            edge[cand] |= _any_per_pixel(both & (np.abs(zc - zn) > edge_tol))
    usable = otherwise_usable & ~edge
    stats = {
        "candidates": int(n_cand),
        "floor": floor,
        "clip": clip,
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
            why = (f"{stats['moving_share']:.0%} of pixels get darker in a longer exposure (a moving scene, or "
                   "exposure times that do not match the images' order?)")
        elif otherwise_usable.any():
            why = (f"the {otherwise_usable.mean():.0%} of pixels unclipped in two exposures all differ from "
                   f"a neighbour by more than {edge_tol:g} of full scale (noise or fine texture everywhere; "
                   "calibration needs smooth areas)")
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
