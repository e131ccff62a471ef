"""Apply CRFs to images and linearise images.

Integer images (uint8, uint16) go through a lookup table of ``2**bits`` entries,
so a 12-megapixel photo costs one gather per pixel; float images in [0, 1] are
interpolated on the 1024-point grid.  One curve can serve all channels, or one
curve per channel can be given.
"""

import numpy as np

from ..errors import ValidationError
from .curve import GRID, Curve
from .curveset import CurveSet


def _curves_for_channels(curves, n_channels):
    if isinstance(curves, Curve):
        return [curves] * n_channels
    if isinstance(curves, CurveSet):
        curves = list(curves)
    curves = list(curves)
    if len(curves) == 1:
        return curves * n_channels
    if len(curves) != n_channels:
        raise ValidationError(
            f"got {len(curves)} curves for an image with {n_channels} channel(s); give one curve or one per channel"
        )
    return curves


def _channels(image):
    image = np.asarray(image)
    if image.ndim == 2:
        return image, 1
    if image.ndim == 3:
        return image, image.shape[2]
    raise ValidationError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")


def _as_unit_float(image):
    """Integer images scaled to [0, 1]; float images checked and passed through."""
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float64) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise ValidationError("image contains NaN or inf values")
        return image.astype(np.float64)
    raise ValidationError(f"unsupported image dtype {image.dtype}; expected uint8, uint16 or float")


def _map(image, funcs_for_channels, levels_fn):
    image, n = _channels(image)
    if image.dtype in (np.uint8, np.uint16):
        levels = 256 if image.dtype == np.uint8 else 65536
        luts = [levels_fn(c, levels) for c in funcs_for_channels(n)]
        if image.ndim == 2:
            return luts[0][image]
        return np.stack([luts[i][image[..., i]] for i in range(n)], axis=-1)
    unit = _as_unit_float(image)
    curves = funcs_for_channels(n)
    if unit.ndim == 2:
        return curves[0](np.clip(unit, 0, 1))
    return np.stack([curves[i](np.clip(unit[..., i], 0, 1)) for i in range(n)], axis=-1)


def linearize(image, curve, dtype=np.float32):
    """Map image brightness to linear irradiance.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, or float in [0, 1] (floats outside are clipped).
    curve : Curve, CurveSet or sequence of Curve
        An inverse CRF ``g`` (used as is) or a forward CRF ``f`` (inverted).
        One curve for all channels or one per channel.
    dtype : numpy dtype
        Output float type.

    Returns
    -------
    ndarray of ``dtype``, same shape as ``image``, values in [0, 1].
    """
    def inverse_curves(n):
        cs = _curves_for_channels(curve, n)
        return [c.as_kind("inverse") for c in cs]

    out = _map(image, inverse_curves, lambda c, levels: c.to_lut(levels))
    return out.astype(dtype, copy=False)


def apply_curve(image, curve, dtype=np.float32, bits=None):
    """Map linear irradiance to brightness with a forward CRF.

    Parameters
    ----------
    image : ndarray
        Linear values in [0, 1] (float) or integers (scaled by their range).
    curve : Curve, CurveSet or sequence of Curve
        A forward CRF ``f`` (used as is) or an inverse CRF ``g`` (inverted).
    dtype : numpy dtype
        Output type when ``bits`` is None.
    bits : {None, 8, 16}
        Quantise the output to uint8 or uint16 (round to nearest).
    """
    def forward_curves(n):
        cs = _curves_for_channels(curve, n)
        return [c.as_kind("forward") for c in cs]

    out = _map(image, forward_curves, lambda c, levels: c.to_lut(levels))
    if bits is None:
        return out.astype(dtype, copy=False)
    if bits not in (8, 16):
        raise ValidationError(f"bits must be 8 or 16, got {bits!r}")
    top = 2**bits - 1
    return np.round(np.clip(out, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)


__all__ = ["linearize", "apply_curve", "GRID"]
