"""Merging a bracket into one linear HDR image.

Every exposure gives an estimate ``g(z) / t`` of a pixel's irradiance; the
merge is their weighted mean.  The default weights are the inverse variances
of those estimates under the camera noise model of Hanji, Zhong & Mantiuk
(ECCV 2020, "Noise-aware merging of high dynamic range image stacks without
camera calibration"): photon noise proportional to the signal, a constant
read-noise floor, plus the code quantisation (and compression) noise seen
through the inverse curve:

    var(g(z) / t) = (a g(z) + b + (g'(z) s)^2) / t^2,   s^2 = q^2 / 12 + sigma_c^2

so long exposures, and the codes where the curve is flat, count more.  For
camera images (not RAW) the weights then fall linearly from code 0.5 to 0 at
the clipping level (:data:`HIGHLIGHT_TAPER`): a JPEG's near-white codes carry
errors that no noise model describes (the curve's highlight shoulder, colour
processing near saturation, ringing next to clipped pixels), and on the
Middlebury cameras merged against their RAW files the untapered weights,
which trust exactly those codes of the longest exposures most, were the
least accurate of crfkit's weightings.  Codes at the clipping level or at 0
carry no weight; a pixel clipped in every exposure takes the shortest
exposure's value (a lower bound), one that is black in every exposure the
longest exposure's.
"""

from pathlib import Path

import numpy as np

from .._validation import check_float
from ..curves import Curve
from ..curves.curve import GRID
from ..errors import CrfkitError, ValidationError
from .deghost import code_variance, ghost_masks
from .inputs import as_bracket
from .samples import CLIP

WEIGHTINGS = ("noise", "hat", "uniform")
#: Default noise model (fractions of the clipping level): photon-noise gain ``a``
#: (a full well of 10,000 electrons), read-noise variance ``b`` (3 electrons), and
#: the compression noise of an 8-bit JPEG code (0.4 % of full scale).
NOISE_A, NOISE_B, NOISE_CODE = 1e-4, 1e-7, 0.004
#: Code from which the noise-aware weights of a camera image (not a RAW) fall linearly to 0 at the
#: clipping level: a JPEG's near-white codes carry errors the noise model does not describe (the
#: curve's highlight shoulder, colour processing near saturation, ringing next to clipped pixels).
#: Chosen on Middlebury illumination 1 and the synthetic set, confirmed on illumination 2
#: (docs/results/bracket-calibration.md, "Merging on real cameras").
HIGHLIGHT_TAPER = 0.5
#: Above this median log gap between consecutive exposures (:func:`exposure_disagreement`), a merge
#: with a given curve warns.  Right curve, times and alignment: at most 0.068 on the 20 Middlebury
#: brackets (their own calibrations), 0.057 on Memorial Church, 0.038 on frobisher, 0.061 on 12
#: synthetic DoRF-curve brackets.  Something wrong: frobisher shifted by 6 and 12 px, 0.104 (3 to
#: 6 px both ways: 0.142); the Middlebury JPEGs with sRGB's curve, 0.18 to 0.37 (shifted by up to
#: 6 px with their own curves: 0.03 to 0.095, flat chart patches hide a shift).
DISAGREEMENT_WARN = 0.09


def describe_weighting(weighting, highlight_taper=None, curve_error=0.0):
    if weighting == "noise" and (highlight_taper is not None or curve_error):
        text = describe_weighting("noise")
        if curve_error:
            text += f", with a relative curve error of {curve_error:g} in the variance"
        if highlight_taper is not None:
            text += f", tapered linearly to 0 from code {highlight_taper:g} to the clipping level"
        return text
    return {
        "noise": "noise-aware inverse-variance weights (Hanji, Zhong & Mantiuk 2020 camera noise model, "
                 "plus code quantisation through the inverse curve)",
        "hat": "Debevec & Malik's triangle weights",
        "uniform": "equal weights for every unclipped exposure",
    }[weighting]


def align_images(images, reference=None):
    """Align a bracket by median-threshold bitmaps (Ward 2003) with OpenCV's ``AlignMTB``.

    Translations only.  Starting from the reference (the middle exposure by default),
    each image is aligned to its neighbour in brightness (they look most alike) once
    that neighbour is in place, searching both near the reference's position (a
    camera jittering) and near the neighbour's own shift (a camera drifting); the
    search range is limited to 1/16 of the smaller image side.  Where a pair's
    median grey code lies outside :data:`MTB_CODES` (12 to 243: a dark short exposure,
    a mostly clipped long one), its median bitmap is noise; both images are then
    thresholded at the shared percentile, closest to the median, at which both lie
    in that range (Ward's own remedy), with the same pyramid search.  A pair with no
    such percentile, or whose search ends at its limit, is not shifted, with a
    warning.  Edges are replicated.  Needs ``crfkit[charts]`` (OpenCV).

    Parameters
    ----------
    images : sequence of ndarray (H, W, 3), sequence of paths, a folder, or a Bracket
        Two or more exposures of one scene, all the same size: uint8, uint16 or float in [0, 1].
    reference : int, optional
        Index of the image the others are moved onto (default: the middle one in brightness).

    Returns
    -------
    list of ndarray
        The images, translated (same shapes and dtypes as read).

    Raises
    ------
    ValidationError
        Fewer than two images, different sizes, unsupported values or a reference out of range.
    """
    import warnings

    from .._optional import require

    cv2 = require("cv2", "charts", feature="aligning a bracket (--align)")
    imgs = _check_align_inputs(images)
    n = len(imgs)
    if reference is not None:
        if isinstance(reference, (bool, np.bool_)) or not isinstance(reference, (int, np.integer)) \
                or not 0 <= int(reference) < n:
            raise ValidationError(f"reference must be an image index 0..{n - 1} or None, got {reference!r}")

    def gray8(im):
        if im.dtype != np.uint8:  # 16-bit and float images: their top 8 bits
            top = 65535.0 if im.dtype == np.uint16 else 1.0
            im = np.clip(np.asarray(im[..., :3], np.float32) * np.float32(255.0 / top), 0, 255).astype(np.uint8)
        return cv2.cvtColor(np.ascontiguousarray(im[..., :3]), cv2.COLOR_RGB2GRAY)  # as AlignMTB.process does

    if min(imgs[0].shape[:2]) < MIN_ALIGN_SIDE:  # no bitmap search fits (OpenCV's crashes on 1-pixel sides)
        warnings.warn(f"images of {imgs[0].shape[1]}x{imgs[0].shape[0]} pixels are too small to align "
                      f"(under {MIN_ALIGN_SIDE} pixels a side): left as they are", stacklevel=2)
        return list(imgs)
    grays = [gray8(im) for im in imgs]
    order = np.argsort([float(np.mean(g)) for g in grays], kind="stable")
    ref_pos = len(order) // 2 if reference is None else int(np.flatnonzero(order == int(reference))[0])
    h, w = grays[0].shape
    max_bits = int(np.clip(np.floor(np.log2(max(min(h, w) / 16.0, 1.0))), 1, 6))
    mtb = cv2.createAlignMTB(max_bits)
    limit = 2 ** max_bits - 1
    total = np.zeros((n, 2), int)  # shift that moves order[k] onto the reference
    placed = {ref_pos: grays[order[ref_pos]]}  # grey images already in the reference's frame
    # Walk outwards from the reference, each frame against its neighbour (the most alike in brightness).
    # Measured against the neighbour as taken only (chaining raw steps), a jittering camera needs the
    # difference of two displacements, up to twice the range; measured against the neighbour moved into
    # place only, a drifting one needs its whole drift.  Both are searched.
    for k in [*range(ref_pos + 1, n), *range(ref_pos - 1, -1, -1)]:
        nb = k - 1 if k > ref_pos else k + 1
        a, b = grays[order[nb]], grays[order[k]]
        placed[k] = b
        med = (int(_quantile_codes(a, 0.5)), int(_quantile_codes(b, 0.5)))
        if min(med) >= MTB_CODES[0] and max(med) <= MTB_CODES[1]:
            q = 0.5
        else:
            # A dark (or mostly clipped) exposure's median bitmap is noise: threshold both images at
            # another shared percentile where both show structure (Ward 2003 suggests this).
            q = _shared_quantile(a, b)
            if q is None:
                warnings.warn(f"image {order[k]} not aligned to image {order[nb]}: too dark or too clipped "
                              "for threshold bitmaps at any shared percentile", stacklevel=2)
                continue
        # The neighbour in place, without the border its shift replicated (it would bias the search).
        m = int(np.abs(total[nb]).max())
        if min(h, w) - 2 * m < 16:  # a long drift: too little left inside, compare whole images
            m = 0
        inner = (slice(m, h - m), slice(m, w - m))
        a_in, b_in = placed[nb][inner], b[inner]
        bits = _bitmaps(a_in, q=q), _bitmaps(b_in, q=q)  # judge the candidates, and refine the first
        # Two hypotheses, each searched within the range: the frame sits near the reference's position
        # (a hand-held camera jittering: b against the neighbour in place), or near where its
        # neighbour sat (a camera drifting: b against the neighbour as taken, plus the neighbour's shift).
        found = []
        for start, x, y, xy_bits in [((0, 0), a_in, b_in, bits)] + (
                [(tuple(total[nb]), a, b, None)] if total[nb].any() else []):
            step = _search_shift(mtb, x, y, q, max_bits, xy_bits)
            if max(abs(step[0]), abs(step[1])) < limit:
                found.append((int(start[0]) + step[0], int(start[1]) + step[1]))
        if not found:
            warnings.warn(f"image {order[k]} not aligned: the shift search reached its limit ({limit} px)",
                          stacklevel=2)
            continue
        cost, dx, dy = min((_disagreement(*bits, *shift), *shift) for shift in found)
        if (dx or dy) and not cost < 0.9 * _disagreement(*bits):
            continue  # nothing clearly better (under 0.9 times) than no shift: keep the image where it is
        total[k] = (dx, dy)
        if dx or dy:
            placed[k] = _shift(b, dy, dx)
    out = list(imgs)
    for k, i in enumerate(order):
        dx, dy = total[k]
        if dx or dy:
            out[i] = _shift(imgs[i], dy, dx)
    return out


def _check_align_inputs(images):
    """The images as arrays, or a ValidationError naming what is wrong (align_images is public).
    File paths or a folder are read as calibrate_bracket and merge_bracket read them."""
    from .inputs import Bracket, check_same_size, image_arrays

    if isinstance(images, (str, Path)) or (isinstance(images, (list, tuple)) and images
                                           and all(isinstance(i, (str, Path)) for i in images)):
        images = as_bracket(images).images
    elif isinstance(images, Bracket):
        images = images.images
    imgs = image_arrays(images, "aligning", paths=True)
    for i, a in enumerate(imgs):
        floating = np.issubdtype(a.dtype, np.floating)
        if not (a.dtype in (np.uint8, np.uint16) or (floating and a.size and np.all(np.isfinite(a)))):
            raise ValidationError(f"image {i}: expected uint8, uint16 or finite float values, got {a.dtype}"
                                  + (" with NaN or infinite values" if floating else ""))
    check_same_size(imgs)
    return imgs


#: Smallest image side that align_images searches.
MIN_ALIGN_SIDE = 8
#: Threshold codes (8-bit grey) between which a bitmap shows the scene's structure rather than
#: noise or clipping: the median when it lies there, else a shared percentile of both images.
MTB_CODES = (12, 243)


def _quantile_codes(gray, qs):
    """The ``qs`` quantiles (lower) of a uint8 grey image, from its histogram (a sort of 12 Mpixels is slow)."""
    import cv2

    hist = cv2.calcHist([np.ascontiguousarray(gray, np.uint8)], [0], None, [256], [0, 256])[:, 0]
    return np.searchsorted(np.cumsum(hist, dtype=np.float64), np.asarray(qs, np.float64) * gray.size, side="left")


def _bitmaps(gray, exclude=4, q=0.5):
    """Threshold bitmap (above the ``q`` percentile) and exclusion bitmap (more than ``exclude`` codes
    from it) of a uint8 grey image."""
    level = int(_quantile_codes(gray, q))
    return gray > level, (gray > level + exclude) | (gray < level - exclude)


def _shared_quantile(a, b, step=0.01):
    """The percentile (closest to the median) at which both grey images' levels lie within
    :data:`MTB_CODES`, or None when there is none."""
    qs = np.arange(step, 1.0, step)
    lo, hi = MTB_CODES
    qa, qb = _quantile_codes(a, qs), _quantile_codes(b, qs)
    ok = (np.minimum(qa, qb) >= lo) & (np.maximum(qa, qb) <= hi)
    if not ok.any():
        return None
    return float(qs[ok][np.argmin(np.abs(qs[ok] - 0.5))])


def _disagreement(bits_a, bits_b, dx=0, dy=0):
    """Share of the pixels outside both exclusion bands whose bitmaps (``_bitmaps``) differ, with ``b``
    moved by (dx, dy), compared on the overlap only (no replicated edge takes part)."""
    (ba, ma), (bb, mb) = bits_a, bits_b
    h, w = ba.shape
    ya, yb = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h - max(dy, 0))
    xa, xb = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w - max(dx, 0))
    use = ma[ya, xa] & mb[yb, xb]
    return np.count_nonzero((ba[ya, xa] != bb[yb, xb]) & use) / max(np.count_nonzero(use), 1)


def _best_neighbour(bits_a, bits_b, dx, dy):
    """(dx, dy) or one of its 8 neighbours, whichever makes the bitmaps disagree least; ties keep the
    candidate nearest (dx, dy) (smooth images give flat minima)."""
    _, _, dx, dy = min((_disagreement(bits_a, bits_b, dx + i, dy + j), abs(i) + abs(j), dx + i, dy + j)
                       for j in (-1, 0, 1) for i in (-1, 0, 1))
    return int(dx), int(dy)


def _search_shift(mtb, a, b, q, max_bits, bits=None):
    """The translation (dx, dy) that moves grey image ``b`` onto ``a``: OpenCV's median search refined
    by a last full-resolution step (it can be a pixel off: measured (4, -4) for a true (4, -3) on a
    textured 192x256 pair, the reverse pair exact), or, at another percentile ``q``, crfkit's own.
    ``bits``: the two images' ``_bitmaps`` at ``q`` when already computed."""
    if q == 0.5:
        shift = mtb.calculateShift(np.ascontiguousarray(a), np.ascontiguousarray(b))
        return _best_neighbour(*(bits or (_bitmaps(a), _bitmaps(b))), *(int(v) for v in shift))
    return _quantile_mtb_shift(a, b, q, max_bits, bits)


def _quantile_mtb_shift(a, b, q, max_bits, bits=None):
    """Ward's (2003) pyramid search for the translation (dx, dy) that moves ``b`` onto ``a``, with
    both thresholded at their ``q`` percentile instead of the median."""
    pyramid = [(a, b)]
    for _ in range(max_bits):
        x, y = pyramid[-1]
        hh, ww = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
        if hh < 8 or ww < 8:
            break
        pyramid.append(tuple(np.round(v[:hh, :ww].reshape(hh // 2, 2, ww // 2, 2).mean(axis=(1, 3), dtype=np.float32))
                             .astype(np.uint8) for v in (x, y)))
    dx = dy = 0
    for level, (x, y) in reversed(list(enumerate(pyramid))):
        level_bits = bits if level == 0 and bits else (_bitmaps(x, q=q), _bitmaps(y, q=q))
        dx, dy = _best_neighbour(*level_bits, 2 * dx, 2 * dy)
    return dx, dy


def _shift(img, dy, dx):
    """``img`` moved by dy rows and dx columns, the edges replicated into the uncovered border."""
    h, w = img.shape[:2]
    if abs(dy) >= h or abs(dx) >= w:
        rows = np.clip(np.arange(h) - dy, 0, h - 1)
        cols = np.clip(np.arange(w) - dx, 0, w - 1)
        return img[rows][:, cols]
    out = np.empty_like(img)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = img[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    if dy > 0:
        out[:dy] = out[dy]
    elif dy < 0:
        out[h + dy:] = out[h + dy - 1]
    if dx > 0:
        out[:, :dx] = out[:, dx:dx + 1]
    elif dx < 0:
        out[:, w + dx:] = out[:, w + dx - 1:w + dx]
    return out


def _inverse_curves(crf):
    """Three inverse curve value arrays (3, 1024) from a calibration or any CRF specification."""
    from .calibrate import BracketCalibration

    if isinstance(crf, BracketCalibration):
        return crf.inverse().values
    from ..restoration.pipeline import resolve_inverse_crf

    inv = resolve_inverse_crf(crf)
    if isinstance(inv, Curve):
        return np.tile(inv.values, (3, 1))
    vals = inv.values
    return np.tile(vals, (3, 1)) if len(vals) == 1 else vals


def _weight_lut(inv, levels, t, weighting, clip, noise, code_noise, highlight_taper=None, curve_error=0.0):
    """Per-code weights (levels,) of the estimate g(z)/t from one exposure."""
    z = np.arange(levels) / (levels - 1)
    if weighting == "uniform":
        w = np.ones(levels)
    elif weighting == "hat":
        w = np.minimum(z, clip - z).clip(0) + 1e-4
    else:
        # The curve's own relative error does not shrink with the exposure time: for one radiance it
        # is the same in every exposure, so it caps how much a long exposure can outweigh a short one.
        w = 1.0 / np.maximum(code_variance(inv, levels, noise, code_noise, curve_error), 1e-30)
    if weighting == "noise" and highlight_taper is not None:
        w = w * np.clip((clip - z) / (clip - highlight_taper), 0.0, 1.0)
    w = w / w.max()
    if weighting == "noise":
        # var(g(z) / t) = var(g(z)) / t^2: scaled after the normalisation, so that longer exposures
        # count more (t is relative to the longest exposure, so the weights stay <= 1).
        w = w * (t * t)
    w[z >= clip] = 0.0
    w[0] = 0.0
    return w.astype(np.float32)


def merge_bracket(images, times=None, crf=None, weighting="noise", align=False, clip=CLIP,
                  noise=(NOISE_A, NOISE_B), code_noise=None, highlight_taper="auto", curve_error=0.0,
                  deghost=False, return_info=False, **calibrate_options):
    """Merge an exposure bracket into a linear HDR image.

    Parameters
    ----------
    images : sequence of ndarray (H, W, 3), sequence of paths, a folder, or a Bracket
        uint8 or uint16 images (float in [0, 1] allowed), or RAW files (merged linearly).
    times : sequence of float, optional
        Relative exposures.  Default: the calibration's (``crf`` a
        :class:`BracketCalibration`), EXIF for files, else estimated.
    crf : BracketCalibration, Curve, CurveSet, str or path, optional
        The camera's response: a calibration, curves (either kind), ``'srgb'``,
        ``'gamma:2.2'``, a saved ``.crfs``...  None: calibrate first
        (:func:`calibrate_bracket` with ``calibrate_options``).
    weighting : {'noise', 'hat', 'uniform'}
        ``'noise'`` (default): inverse-variance weights from the camera noise
        model of Hanji, Zhong & Mantiuk 2020 (see the module notes).
    align : bool
        Align the images first (OpenCV ``AlignMTB``).
    clip : float
        Codes at or above this fraction of full scale count as clipped (in the merge, and in the
        calibration when ``crf`` is None).
    noise : (float, float)
        Photon-noise gain and read-noise variance, in units of the clipping level.
    code_noise : float, optional
        Noise of a code besides quantisation (default 0.004 for 8-bit, 0 for 16-bit and RAW).
    highlight_taper : float, 'auto' or None
        ``weighting='noise'`` only: the code (fraction of full scale) from which the weights fall
        linearly to 0 at ``clip``, because a camera image's near-white codes are its least
        certain.  ``'auto'`` (default): :data:`HIGHLIGHT_TAPER` (0.5) for camera images, none
        for RAW brackets (linear up to clipping) or when ``clip`` is not above it.  None: no taper.
    curve_error : float
        ``weighting='noise'`` only: relative standard error of the inverse curve (>= 0), added to
        each estimate's variance as ``(curve_error * g(z))^2``; for one radiance it is the same in
        every exposure, so it caps how much the long exposures outweigh the short ones.  Default
        0: 0.05 makes merges of real JPEG brackets more accurate on 8x8-block means (Middlebury
        0.0412 against 0.0432) but noisier per pixel (a pure-noise bracket: 0.0121 against 0.0100).
    deghost : bool or int
        Leave out, per pixel, the exposures that disagree with a reference exposure beyond noise
        (something moved: :mod:`~crfkit.bracket.deghost`); every pixel then shows the scene as
        the reference saw it.  True: the reference is the longest exposure with at most 1 % of
        its pixels clipped; an int: that image (0-based, in the order given).  Default False.
    return_info : bool
        Also return a dict describing the merge (curve, times, weighting, clipped share; with
        ``deghost``, the reference image and the share of pixel estimates left out).

    Returns
    -------
    ndarray float32 (H, W, 3)
        Linear irradiance, in units of code value per unit of ``times``
        (relative: only ratios between pixels are meaningful).  With
        ``return_info``, ``(hdr, info)``.
    """
    from .calibrate import BracketCalibration, calibrate_bracket

    if weighting not in WEIGHTINGS:
        raise ValidationError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    try:
        noise = tuple(float(v) for v in noise)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(f"noise must be two numbers (a, b), got {noise!r}") from None
    if len(noise) != 2 or not all(np.isfinite(noise)) or min(noise) < 0:
        raise ValidationError(f"noise must be two numbers >= 0 (a, b), got {noise!r}")
    try:
        clip = float(clip)
        code_noise = None if code_noise is None else float(code_noise)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(f"clip and code_noise must be numbers, got {clip!r}, {code_noise!r}") from None
    if not 0 < clip <= 1:
        raise ValidationError(f"clip must be in (0, 1], got {clip!r}")
    if code_noise is not None and not (np.isfinite(code_noise) and code_noise >= 0):
        raise ValidationError(f"code_noise must be a number >= 0, got {code_noise!r}")
    if highlight_taper is not None and not (isinstance(highlight_taper, str) and highlight_taper == "auto"):
        try:
            highlight_taper = float(highlight_taper)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(f"highlight_taper must be 'auto', None or a code in [0, clip), "
                                  f"got {highlight_taper!r}") from None
        if not 0 <= highlight_taper < clip:
            raise ValidationError(f"highlight_taper must be 'auto', None or a code in [0, clip={clip:g}), "
                                  f"got {highlight_taper!r}")
    curve_error = check_float(curve_error, "curve_error", low=0)
    bracket = as_bracket(images, times)
    deghost_reference = _check_deghost(deghost, len(bracket))
    if align:
        bracket.images = align_images(bracket.images)
    if isinstance(highlight_taper, str):
        highlight_taper = None if bracket.raw or clip <= HIGHLIGHT_TAPER else HIGHLIGHT_TAPER
    if weighting != "noise":
        highlight_taper, curve_error = None, 0.0
    info = {"weighting": describe_weighting(weighting, highlight_taper, curve_error)}
    cal = None
    if bracket.raw:
        inv = np.tile(GRID, (3, 1))
        info["crf"] = "RAW bracket: merged linearly, no curve needed"
    elif crf is None:
        cal = calibrate_bracket(bracket, clip=clip, **calibrate_options)
        inv = cal.inverse().values
        info["crf"] = f"calibrated from this bracket: {cal.method}"
    else:
        if calibrate_options:
            raise ValidationError(f"options {sorted(calibrate_options)} apply only when merge calibrates (crf=None)")
        if isinstance(crf, BracketCalibration):
            cal = crf
        inv = _inverse_curves(crf)
        info["crf"] = cal.method if cal is not None else str(getattr(crf, "name", crf))
    matrix = None
    if not bracket.raw:
        from .mixing import code_matrix_of, mix_bracket

        matrix = code_matrix_of(cal if cal is not None else crf)
        if matrix is not None:
            # The curves apply to mixed codes: merge those (16-bit, so mixing adds no rounding).
            if code_noise is None and bracket.bits == 8:
                code_noise = NOISE_CODE  # the 8-bit codes' rounding noise stays in the mixed codes
            unmixed = bracket.images
            bracket = mix_bracket(bracket, matrix, clip)
            info["mixing"] = np.round(matrix, 6).tolist()
    t = bracket.times
    source = bracket.times_source
    if t is None and cal is not None and len(cal.times) == len(bracket):
        t, source = np.asarray(cal.times, float), cal.times_source
    sampled = None
    if t is None:
        sampled = _sampled_log_g(bracket, inv)  # also the disagreement check's samples below
        t = _times_from_steps(*_log_steps(sampled))
        source = "estimated with the curve"
    t = np.asarray(t, np.float64)
    if np.any(t < 1e-30) or np.any(t > 1e30):
        raise ValidationError(f"exposure times {t.min():g} .. {t.max():g} are outside 1e-30 .. 1e30: the merged "
                              "values (code / time) would not fit in float32; give the times in other units")
    info["times"] = t.tolist()
    info["times_source"] = source
    if crf is not None and not bracket.raw:
        # A curve given from elsewhere was never tested against this bracket (a calibration here
        # warns of a poor fit itself): check that it and the times make the exposures agree.
        value = _warn_disagreement(bracket, inv, t, sampled)
        info["exposure_disagreement"] = value if np.isfinite(value) else None  # None: nothing to compare
    imgs = bracket.images
    if bracket.raw:
        levels = 65536
        imgs = [np.round(np.clip(i, 0, 1) * 65535).astype(np.uint16) for i in imgs]
        code_noise = 0.0 if code_noise is None else code_noise
    else:
        levels = 256 if imgs[0].dtype == np.uint8 else 65536
        code_noise = (NOISE_CODE if levels == 256 else 0.0) if code_noise is None else float(code_noise)
    ghosts = reference_map = None
    if deghost_reference is not False:
        ghosts, reference, reference_map = ghost_masks(imgs, t, inv, levels, clip, noise, code_noise,
                                                       reference=deghost_reference)
        info["deghost_reference"] = reference
        # Share of the non-reference exposures' pixel estimates left out as inconsistent.
        info["ghost_share"] = float(ghosts.sum() / max((len(imgs) - 1) * ghosts[0].size, 1))
    hdr, clipped = _merge(imgs, t, inv, levels, weighting, clip, noise, code_noise, highlight_taper, curve_error,
                          ghosts, reference_map, None if matrix is None else (unmixed, matrix))
    info["clipped_in_all_share"] = clipped
    return (hdr, info) if return_info else hdr


def _check_deghost(deghost, n):
    """False (no deghosting), None (automatic reference) or the reference's image index."""
    if isinstance(deghost, (bool, np.bool_)):
        return None if deghost else False
    if isinstance(deghost, (int, np.integer)) and 0 <= int(deghost) < n:
        return int(deghost)
    raise ValidationError(f"deghost must be True, False or an image index 0..{n - 1} (the reference), "
                          f"got {deghost!r}")


def _merge(imgs, t, inv, levels, weighting, clip, noise, code_noise, highlight_taper=None, curve_error=0.0,
           ghosts=None, reference_map=None, leaked=None):
    """(HDR, share of values clipped in every exposure).  ``ghosts`` (J, H, W): estimates left out;
    ``reference_map`` (H, W): the image whose value a pixel left with no estimate takes (else the
    shortest exposure where clipped, the longest where black).  ``leaked``: (unmixed images, code
    matrix) when ``imgs`` are mixed codes, for the values that clipping spoils in every exposure
    (:func:`_leaked_fallback`)."""
    h, w, _ = imgs[0].shape
    order = np.argsort(t)
    out = np.empty((h, w, 3), np.float32)
    z = np.arange(levels) / (levels - 1)
    short, long_ = order[0], order[-1]
    clipped_all = 0
    for c in range(3):
        lin = np.interp(z, GRID, inv[c]).astype(np.float32)
        num = np.zeros((h, w), np.float32)
        den = np.zeros((h, w), np.float32)
        luts = {}
        for j in order:
            wl = luts[j] = _weight_lut(inv[c], levels, t[j] / t[long_], weighting, clip, noise, code_noise,
                                       highlight_taper, curve_error)
            code = np.ascontiguousarray(imgs[j][:, :, c])
            wj = wl[code]
            if ghosts is not None:
                wj[ghosts[j]] = 0.0
            num += wj * (lin / np.float32(t[j]))[code]
            den += wj
        empty = den == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            res = num / den
        if empty.any():
            cs = imgs[short][:, :, c][empty]
            cl = imgs[long_][:, :, c][empty]
            bright = cs.astype(np.float64) / (levels - 1) >= clip
            res[empty] = np.where(bright, lin[cs] / np.float32(t[short]), lin[cl] / np.float32(t[long_]))
            if reference_map is not None:
                # Deghosted: the other exposures may show something else there; the reference's
                # value (a bound where it is clipped) keeps the pixel in the reference's scene.
                for j in np.unique(reference_map[empty]):
                    at = empty & (reference_map == j)
                    res[at] = lin[imgs[j][:, :, c][at]] / np.float32(t[j])
            if leaked is not None and bright.any():
                at = np.zeros((h, w), bool)
                at[empty] = bright
                value, found = _leaked_fallback(*leaked, c, at, order, t, luts, lin, clip, levels, ghosts)
                res[at] = np.where(found, value, res[at])
                bright[bright] = ~found
            clipped_all += int(bright.sum())
        out[:, :, c] = res
    return out, clipped_all / float(3 * h * w)


def _leaked_fallback(unmixed, matrix, c, at, order, t, luts, lin, clip, levels, ghosts=None):
    """Channel ``c``'s merged value at the pixels ``at`` whose mixed code is spoilt in every exposure.

    :func:`~crfkit.bracket.mixing.mix_codes` marks a mixed code clipped when another channel's
    clipped code enters it with a possible bias above the leak bound; where that happens in every
    exposure while the channel itself is unclipped in some, the top code would stand for a value
    the channel saw.  Here the codes are mixed as observed instead (the clipped channel at its
    clipped code: the bias that the bound describes, not the whole range up to clipping) and
    merged with the same weights.  Returns (values, found): found where some exposure counts.
    """
    from ..curves.image import _as_unit_float

    num = np.zeros(int(at.sum()), np.float64)
    den = np.zeros_like(num)
    for j in order:
        unit = _as_unit_float(np.asarray(unmixed[j])[at][:, :3])
        mixed = np.clip(unit @ matrix[c], 0.0, 1.0)
        code = np.rint(mixed * (levels - 1)).astype(np.intp)
        wj = luts[j][code].astype(np.float64)
        wj[unit[:, c] >= clip] = 0.0  # the channel's own code clipped: no value here
        if ghosts is not None:
            wj[ghosts[j][at]] = 0.0
        num += wj * lin[code] / t[j]
        den += wj
    found = den > 0
    return np.where(found, num / np.where(found, den, 1.0), 0.0).astype(np.float32), found


def exposure_disagreement(images, crf, times=None, n_samples=3000, seed=0):
    """How far a curve and exposure times leave a bracket's exposures from agreeing.

    The median, over sampled pixel channels usable in two consecutive exposures, of
    ``|log g(z_long) - log g(z_short) - log(t_long / t_short)|``: near 0 when the curve,
    the times and the alignment are right (the Middlebury cameras with their own
    calibration: 0.02 to 0.07), larger when one is wrong (the same JPEGs with the sRGB
    curve: 0.18 to 0.37; frobisher shifted by a few pixels: 0.10 to 0.14).
    :func:`merge_bracket` warns above :data:`DISAGREEMENT_WARN` when it is given a curve.

    Parameters
    ----------
    images : sequence of ndarray, paths, a folder, or a Bracket
        As for :func:`merge_bracket`.
    crf : BracketCalibration, Curve, CurveSet, str, path, or array (3, N) or (N,)
        The camera's response, as for :func:`merge_bracket`; an array holds inverse-curve values
        on N >= 2 evenly spaced codes from 0 to 1, per channel or shared.
    times : sequence of float, optional
        Exposure times, one per image; default: the bracket's (EXIF for files).

    Returns
    -------
    float
        A log gap >= 0 (0.09 is 9.4 % apart); NaN when no pixel is usable in two exposures.

    Raises
    ------
    ValidationError
        Bad images, times, or curve; no times given or read.
    """
    bracket = as_bracket(images, times)
    if bracket.times is None:
        raise ValidationError("exposure_disagreement needs the exposure times: give times= (one per image)")
    inverse = _inverse_values(crf)
    if not bracket.raw:
        from .mixing import code_matrix_of, mix_bracket

        matrix = code_matrix_of(crf) if not isinstance(crf, np.ndarray) else None
        if matrix is not None:  # the curves apply to the mixed codes, as in the merge
            bracket = mix_bracket(bracket, matrix, CLIP)
    return _median_gap(_sampled_log_g(bracket, inverse, n_samples, seed), bracket.times)


def _sampled_log_g(bracket, inverse, n_samples=3000, seed=0):
    """``(log_g, usable, order)`` of a bracket's sampled pixels through inverse-curve values (3, N):
    log g(z) (P, J, C) with exposures sorted shortest first (``order``), and where it is usable."""
    from .samples import sample_bracket

    s = sample_bracket(bracket, n_samples=n_samples, seed=seed)
    grid = np.linspace(0.0, 1.0, inverse.shape[1])
    g = np.stack([np.interp(s.z[:, :, c], grid, inverse[c]) for c in range(3)], axis=2)
    return np.log(np.maximum(g, 1e-300)), s.valid & (g > 0), s.order


def _median_gap(sampled, times):
    """:func:`exposure_disagreement` of sampled pixels (``_sampled_log_g``) at the given times."""
    log_g, usable, order = sampled
    log_t = np.log(np.asarray(times, np.float64)[order])
    gaps = [(log_g[:, j + 1] - log_g[:, j] - (log_t[j + 1] - log_t[j]))[usable[:, j] & usable[:, j + 1]]
            for j in range(log_g.shape[1] - 1)]
    gaps = np.concatenate(gaps) if gaps else np.empty(0)
    return float(np.median(np.abs(gaps))) if gaps.size else float("nan")


def _inverse_values(crf):
    """Inverse-curve values (3, N) from an array, a calibration or any CRF specification."""
    if isinstance(crf, (np.ndarray, list, tuple)) and not isinstance(crf, str):
        try:
            inv = np.asarray(crf, np.float64)
        except (TypeError, ValueError):
            raise ValidationError("crf as an array must hold numbers (inverse-curve values)") from None
        if inv.ndim == 1:
            inv = inv[None]
        if inv.ndim != 2 or inv.shape[0] not in (1, 3) or inv.shape[1] < 2:
            raise ValidationError(f"crf as an array must have shape (3, N) or (N,) with N >= 2, got {np.shape(crf)}")
        if not np.all(np.isfinite(inv)):
            raise ValidationError("crf as an array holds NaN or infinite values")
        return np.tile(inv, (3, 1)) if inv.shape[0] == 1 else inv
    return _inverse_curves(crf)


def _warn_disagreement(bracket, inverse, times, sampled=None):
    import warnings

    try:
        value = _median_gap(_sampled_log_g(bracket, inverse) if sampled is None else sampled, times)
    except CrfkitError:  # e.g. no usable pixels to compare: the check is advice, the merge goes on
        return float("nan")
    if value > DISAGREEMENT_WARN:
        warnings.warn(f"the exposures disagree: with this curve and these times, consecutive exposures give "
                      f"irradiances {np.expm1(value):.0%} apart (median; under {np.expm1(DISAGREEMENT_WARN):.0%} "
                      "expected): the curve may not be this camera's (calibrate it from the bracket), the times "
                      "may be wrong, or the images misaligned (--align)", stacklevel=3)
    return value


def measured_log_steps(bracket, inverse, n_samples=3000, seed=0):
    """Log exposure steps of a bracket measured with a known inverse curve.

    Returns ``(steps, order)``: ``steps[k]`` (NaN where fewer than 10 sampled pixel channels are
    usable in both) is the median of ``log g(z)`` over exposure ``order[k + 1]`` minus exposure
    ``order[k]`` (``order``: shortest exposure first), channels pooled.
    """
    return _log_steps(_sampled_log_g(bracket, inverse, n_samples, seed))


def _log_steps(sampled):
    from .solvers.base import median_log_steps

    log_g, usable, order = sampled
    j = log_g.shape[1]
    # Channels pooled: one problem of P * C values per exposure.
    pooled = log_g.transpose(0, 2, 1).reshape(1, -1, j), usable.transpose(0, 2, 1).reshape(1, -1, j)
    return median_log_steps(*pooled, min_pairs=10)[0], order


def estimate_times(bracket, inverse, n_samples=3000, seed=0):
    """Relative exposures (shortest = 1) of a bracket with a known inverse curve: median ratios of g(z)."""
    return _times_from_steps(*measured_log_steps(bracket, inverse, n_samples, seed))


def _times_from_steps(steps, order):
    bad = np.flatnonzero(~np.isfinite(steps))
    if bad.size:
        j = int(bad[0]) + 1
        raise ValidationError("cannot estimate the exposure ratios: exposures "
                              f"{order[j - 1]} and {order[j]} share no usable pixels; give the times")
    lt = np.concatenate([[0.0], np.cumsum(steps)])
    out = np.empty(len(order))
    out[order] = np.exp(lt)
    return out
