"""Baseline restoration methods (NumPy/SciPy only, no torch).

``clip``
    No restoration: the linearised image with its clipped highlights as they are.
``highlight-expansion``
    A simple expand map in the spirit of Banterle et al. ("Inverse tone
    mapping", GRAPHITE 2006): a smooth map that is 0 outside the saturated
    regions and grows towards a maximum gain deep inside them multiplies the
    linear values there.  It invents no texture; it only makes large clipped
    areas brighter than their borders, as light sources and sky usually are.
"""

import numpy as np

from ..errors import ValidationError
from .base import Restorer


class ClipRestorer(Restorer):
    """Linearised and clipped: returns ``linear`` unchanged (the no-restoration baseline)."""

    name = "clip"

    def restore(self, linear, display, mask_sat):
        """Return ``linear`` itself (float32, (H, W, 3), values in [0, 1])."""
        return np.asarray(linear, dtype=np.float32)


class HighlightExpansionRestorer(Restorer):
    """Boost saturated regions by a smooth function of the depth into the region.

    With ``m_c`` the soft saturation mask of channel ``c`` (0 outside, 1 where
    fully clipped) and ``d`` the Euclidean distance in pixels from a pixel to
    the nearest pixel with no saturated channel (1 on the region's border),

    ``ramp = G_sigma * (1 - exp(-(d - 1) / d0))``  (Gaussian-smoothed, kept 0 outside),

    ``out_c = linear_c * (1 + (gain - 1) * m_c * ramp)``,

    with ``d0 = scale * max(H, W)`` and ``sigma = smooth * d0``.  So the output
    equals ``linear`` wherever ``m_c = 0``, is never below ``linear`` inside,
    starts from no boost on the border of a region (``d = 1``)
    and approaches ``gain * linear`` deep inside large regions; small specular
    spots get little boost.

    Parameters
    ----------
    gain : float >= 1
        Largest multiplication (default 4, two photographic stops).
    scale : float in (0, 1]
        Depth (as a fraction of the longer image side) over which the boost
        reaches 63% of its range (default 0.02: 10 pixels on a 512 image).
    smooth : float >= 0
        Gaussian smoothing of the ramp in units of ``d0`` (default 0.5; 0 turns
        it off); removes the ridges of the distance map.  The Gaussian's
        ``sigma = smooth * scale * max(H, W)`` pixels may not exceed the longer
        image side: ``smooth * scale <= 1`` (``smooth <= 50`` at the default
        ``scale``).
    """

    name = "highlight-expansion"

    def __init__(self, gain=4.0, scale=0.02, smooth=0.5):
        super().__init__()
        opts = self._check_values(dict(gain=gain, scale=scale, smooth=smooth))
        self.gain, self.scale, self.smooth = opts["gain"], opts["scale"], opts["smooth"]

    #: Largest Gaussian sigma of the ramp's smoothing, as a fraction of the longer image side
    #: (``smooth * scale``): wider kernels only cost time and memory (scipy builds the whole kernel).
    MAX_SIGMA_FRACTION = 1.0

    @classmethod
    def _check_values(cls, options):
        """gain >= 1, 0 < scale <= 1, smooth >= 0 (each a finite number) and smooth * scale <= 1."""
        import numbers

        for label, ok, rule in (("gain", lambda v: v >= 1, ">= 1"), ("scale", lambda v: 0 < v <= 1, "in (0, 1]"),
                                ("smooth", lambda v: v >= 0, ">= 0")):
            if label not in options:
                continue
            value = options[label]
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValidationError(f"highlight-expansion: {label} must be a number {rule}, got {value!r}")
            v = float(value)
            if not (np.isfinite(v) and ok(v)):
                raise ValidationError(f"highlight-expansion: invalid {label}={value!r}; expected a finite number {rule}")
            options[label] = v
        if "smooth" in options or "scale" in options:
            import inspect

            defaults = inspect.signature(HighlightExpansionRestorer.__init__).parameters
            smooth = options.get("smooth", defaults["smooth"].default)
            scale = options.get("scale", defaults["scale"].default)
            limit = cls.MAX_SIGMA_FRACTION
            if smooth * scale > limit:
                raise ValidationError(
                    f"highlight-expansion: invalid smooth={smooth!r} with scale={scale!r}: the smoothing sigma "
                    f"(smooth * scale = {smooth * scale:.4g} x the longer image side) may be at most {limit:g} x "
                    f"the longer image side; expected smooth <= {limit / scale:.4g} at this scale"
                )
        return options

    def expand_map(self, mask_sat):
        """The spatial ramp in [0, 1), float32 (H, W); 0 where no channel is saturated."""
        from scipy import ndimage

        inside = np.asarray(mask_sat).max(axis=2) > 0
        h, w = inside.shape
        d0 = max(self.scale * max(h, w), 1e-6)
        dist = ndimage.distance_transform_edt(inside)
        # the region's own border pixels (distance 1) start at 0: no step against their neighbours
        ramp = (-np.expm1(-np.maximum(dist - 1.0, 0.0) / d0)).astype(np.float32)
        del dist
        if self.smooth > 0:
            ramp = ndimage.gaussian_filter(ramp, sigma=self.smooth * d0, mode="nearest")
            ramp[~inside] = 0.0
        return ramp

    def restore(self, linear, display, mask_sat):
        """Expanded linear HDR, float32 (H, W, 3): ``linear`` outside the mask, >= ``linear`` inside."""
        linear = np.asarray(linear, dtype=np.float32)
        mask_sat = np.asarray(mask_sat, dtype=np.float32)
        factor = mask_sat * self.expand_map(mask_sat)[:, :, None]
        factor *= np.float32(self.gain - 1.0)
        factor += np.float32(1.0)
        factor *= linear
        return factor
