"""The restoration-method interface (no torch needed here).

A restoration method recovers the radiance that clipping removed from an
already linearised LDR image.  The pipeline (:mod:`crfkit.restoration.pipeline`)
reads the image, linearises it with the chosen inverse CRF, builds the soft
saturation mask from the *display* values and calls :meth:`Restorer.restore`.
"""

import numpy as np

from ..errors import ValidationError

#: Threshold of the soft saturation mask (Santos et al. 2020): display values
#: above ``tau`` count as (partly) saturated.
TAU = 0.95


def saturation_mask(display, tau=TAU):
    """Soft per-channel saturation mask ``M_sat = clip((I - tau) / (1 - tau), 0, 1)``.

    Parameters
    ----------
    display : ndarray, float, (H, W, 3), values in [0, 1]
        Display-referred (non-linear) pixel values.
    tau : float in (0, 1)

    Returns
    -------
    ndarray, float32, (H, W, 3), values in [0, 1]
        1 where fully saturated, 0 where well exposed.  The network's *valid*
        mask is ``1 - M_sat``.
    """
    if not 0.0 < tau < 1.0:
        raise ValidationError(f"tau must lie in (0, 1), got {tau}")
    d = np.asarray(display, dtype=np.float32)
    return np.clip((d - tau) / (1.0 - tau), 0.0, 1.0).astype(np.float32)


class Restorer:
    """Base class of restoration methods (plugins of the ``crfkit.restoration`` group).

    A subclass sets :attr:`name` and implements :meth:`restore`.  The
    constructor takes method-specific keyword options (e.g. ``weights=PATH``,
    ``device='cpu'``); methods without options reject any.
    """

    #: registry name
    name = ""

    def __init__(self, **options):
        if options:
            raise ValidationError(f"{type(self).__name__} takes no options, got {sorted(options)}")

    def restore(self, linear, display, mask_sat):
        """Restore the saturated regions of one image.

        Parameters
        ----------
        linear : ndarray, float32, (H, W, 3)
            The image linearised by the inverse CRF, values in [0, 1].
        display : ndarray, float32, (H, W, 3)
            The display-referred input in [0, 1] (what the mask was built from).
        mask_sat : ndarray, float32, (H, W, 3)
            :func:`saturation_mask` of ``display``.

        Returns
        -------
        ndarray, float32, (H, W, 3)
            Linear HDR radiance on the scale of ``linear`` (equal to ``linear``
            where ``mask_sat`` is 0; may exceed 1 inside saturated regions).
        """
        raise NotImplementedError  # pragma: no cover - abstract
