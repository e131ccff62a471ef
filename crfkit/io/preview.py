"""Tone mapping for viewing: a linear HDR image as an 8-bit (or 16-bit) sRGB picture.

A merged bracket or a restored photograph is linear radiance over many stops,
far more than a screen or an ordinary image file shows.  The operators here
compress it for a look at the result (``crfkit merge --preview``); the picture
they make is for eyes, not for measurement: keep the ``.exr``/``.hdr`` for that.
"""

import numpy as np

from ..errors import ValidationError

#: The methods of :func:`tone_map`.
TONE_MAP_METHODS = ("reinhard", "exposure")
#: 8-bit image suffixes a preview can be written as.
PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

# Rec.709 luminance weights (the primaries of sRGB, which the merges and restorations are in).
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def tone_map(hdr, method="reinhard", *, key=0.18, white_percentile=99.5, bits=8):
    """Compress a linear HDR image into a displayable sRGB picture.

    Parameters
    ----------
    hdr : array_like, shape (H, W, 3)
        Linear RGB radiance, any positive scale (as :func:`crfkit.merge_bracket`
        or :func:`crfkit.restore` return it).  Negative values (EXR compression
        leaves tiny ones) count as 0; NaN and infinity are refused.
    method : {'reinhard', 'exposure'}
        ``'reinhard'`` (default): the global photographic operator of Reinhard,
        Stark, Shirley and Ferwerda (2002) on Rec.709 luminance: the image is
        scaled so that its log-average luminance maps to ``key``, then
        compressed by ``L (1 + L / Lw^2) / (1 + L)``, where the white ``Lw``
        is the ``white_percentile`` of the scaled luminance; colours keep their
        ratios.  ``'exposure'``: a plain exposure, no compression: the
        ``white_percentile`` of the luminance maps to 1 and brighter values clip.
    key : float in (0, 1]
        ``'reinhard'``: the grey the log-average luminance maps to (0.18: a
        middle grey; lower gives a darker picture).
    white_percentile : float in (0, 100]
        Percentile of the luminance (of the pixels that are not black) that
        becomes white.
    bits : {8, 16}
        Output depth.

    Returns
    -------
    ndarray, uint8 or uint16, shape (H, W, 3)
        sRGB-encoded codes.  An image with no light at all gives black.

    Raises
    ------
    ValidationError
        ``hdr`` is not (H, W, 3) numbers, is empty or holds NaN or infinity;
        ``key``, ``white_percentile`` or ``bits`` out of range.
    UnknownNameError
        ``method`` is not one of :data:`TONE_MAP_METHODS`.
    """
    from .._validation import check_float, check_int
    from ..errors import UnknownNameError

    if not isinstance(method, str) or method.lower() not in TONE_MAP_METHODS:
        raise UnknownNameError(f"unknown tone-mapping method {method!r}; available: {', '.join(TONE_MAP_METHODS)}")
    key = check_float(key, "tone_map: key", 0.0, 1.0)
    white_percentile = check_float(white_percentile, "tone_map: white_percentile", 0.0, 100.0)
    if key == 0 or white_percentile == 0:
        raise ValidationError(f"tone_map: key and white_percentile must be above 0, got {key:g} and {white_percentile:g}")
    bits = check_int(bits, "tone_map: bits", 8, 16)
    if bits not in (8, 16):
        raise ValidationError(f"tone_map: bits must be 8 or 16, got {bits}")
    image = _check_image(hdr)
    h, w = image.shape[:2]
    out = np.zeros((h, w, 3), np.uint8 if bits == 8 else np.uint16)
    peak = float(image.max())
    if not peak > 0:
        return out
    # Per channel and in float64 from here: a copy of one channel at a time, not of the image (a
    # 12-megapixel float64 image is 288 MB).  Dividing by the peak first keeps every value in [0, 1].
    lum = np.zeros((h, w))
    for c in range(3):
        lum += _LUMA[c] * (np.maximum(image[..., c], 0) / peak)
    lit = lum > 0
    lit_lum = lum[lit]
    del lum
    log_white = float(np.log(np.percentile(lit_lum, white_percentile)))
    # In logs and in place (one array of the lit pixels at a time), so that a nearly black image
    # neither overflows nor divides by zero, and a large one is not copied over and over.
    mapped = np.log(lit_lum)
    if method.lower() == "reinhard":
        # L = key * lum / (log-average of the lit pixels: a black border must not make the rest glare);
        # L (1 + L / Lw^2) / (1 + L) = (L + (L / Lw)^2) / (1 + L), which is 1 at the white and, with
        # L / Lw capped at 1, stays 1 above it.
        shift = np.log(key) - float(mapped.mean())
        mapped += shift
        log_white += shift
        below = mapped - log_white
        np.minimum(below, 0.0, out=below)
        np.exp(below, out=below)
        below *= below
        np.minimum(mapped, 700.0, out=mapped)
        np.exp(mapped, out=mapped)  # L
        below += mapped
        mapped += 1.0
        np.divide(below, mapped, out=mapped)
        del below
    else:
        mapped -= log_white
        np.minimum(mapped, 0.0, out=mapped)
        np.exp(mapped, out=mapped)
    # Colours keep their ratios: each channel times mapped / lum.  The gain is capped where lum is below
    # 1e-300 of the peak (no real image): beyond, it would overflow.
    with np.errstate(over="ignore"):
        mapped /= lit_lum
    np.minimum(mapped, 1e300, out=mapped)
    gain = np.zeros((h, w))
    gain[lit] = mapped
    del mapped, lit_lum, lit
    encode = _srgb_table(bits)
    steps = encode.size - 1
    for c in range(3):
        linear = np.divide(image[..., c], peak, dtype=np.float64)
        np.maximum(linear, 0.0, out=linear)
        linear *= gain
        np.minimum(linear, 1.0, out=linear)
        linear *= steps
        out[..., c] = encode[np.rint(linear, out=linear).astype(np.int32)]
    return out


def _check_image(hdr):
    """``hdr`` as an (H, W, 3) array of real, finite numbers (not copied), or a ValidationError."""
    from .._validation import check_not_path, check_real_dtype

    check_not_path(hdr, "tone_map", ", or crfkit.io.hdr.read_hdr(path) for .exr and .hdr files")
    try:
        image = np.asarray(hdr)
    except (TypeError, ValueError) as exc:  # ragged nesting
        raise ValidationError(f"tone_map: hdr must be an (H, W, 3) array of numbers: {exc}") from None
    check_real_dtype(image, "tone_map: hdr")
    if image.dtype.kind not in "biuf":
        raise ValidationError(f"tone_map: hdr must hold numbers, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValidationError(f"tone_map: hdr must have shape (H, W, 3), got {image.shape}")
    if image.size == 0:
        raise ValidationError(f"tone_map: hdr is empty (shape {image.shape})")
    if image.dtype.kind == "f":
        bad = image.size - int(np.count_nonzero(np.isfinite(image)))
        if bad:
            raise ValidationError(f"tone_map: hdr holds {bad} non-finite value(s) (NaN or inf); expected finite "
                                  "linear radiance")
    return image


def _srgb_table(bits, size=2 ** 20):
    """Codes of the sRGB transfer function (IEC 61966-2-1) at ``size`` linear levels in [0, 1]: fine enough
    that the table's step stays below a 16-bit code where the curve is steepest (slope 12.92 at black)."""
    from ..curves.curve import srgb_encode

    encoded = srgb_encode(np.linspace(0.0, 1.0, size))
    top = 2 ** bits - 1
    return np.rint(np.clip(encoded, 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)
