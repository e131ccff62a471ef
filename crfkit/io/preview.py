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
        an unknown ``method``; ``key``, ``white_percentile`` or ``bits`` out of range.
    """
    from .._validation import as_float_array, check_float, check_int
    from ..curves import Curve, apply_curve
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
    rgb = as_float_array(hdr, "tone_map: hdr", ndim=3)
    if rgb.shape[2] != 3:
        raise ValidationError(f"tone_map: hdr must have shape (H, W, 3), got {rgb.shape}")
    rgb = np.maximum(rgb, 0.0)
    out = np.zeros_like(rgb)
    peak = float(rgb.max())
    if peak > 0:
        rgb /= peak  # both operators ignore the image's scale; this keeps every step below finite
        lum = rgb @ _LUMA
        lit = lum > 0
        log_lum = np.log(lum[lit])
        log_white = float(np.log(np.percentile(lum[lit], white_percentile)))
        if method.lower() == "reinhard":
            # In logs, so that a nearly black image neither overflows nor divides by zero.  The
            # log-average is over the lit pixels: a black border must not make the rest glare.
            shift = np.log(key) - float(log_lum.mean())
            log_scaled, log_white = log_lum + shift, log_white + shift
            scaled = np.exp(np.minimum(log_scaled, 700.0))
            below = np.exp(np.minimum(log_scaled - log_white, 0.0))  # L / Lw, at most 1
            # L (1 + L / Lw^2) / (1 + L) = (L + (L / Lw)^2) / (1 + L): 1 at the white, clipped above
            mapped = np.where(log_scaled >= log_white, 1.0, (scaled + below ** 2) / (1.0 + scaled))
        else:
            mapped = np.exp(np.minimum(log_lum - log_white, 0.0))
        # Colour by ratio: R / L is at most 1 / 0.0722, so this stays finite where L is tiny.
        out[lit] = rgb[lit] / lum[lit][:, None] * mapped[:, None]
    return apply_curve(np.clip(out, 0.0, 1.0), Curve.srgb(), bits=bits)
