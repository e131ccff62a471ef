"""The restoration-method interface (no torch needed here).

A restoration method recovers the radiance that clipping removed from an
already linearised LDR image.  The pipeline (:mod:`crfkit.restoration.pipeline`)
reads the image, linearises it with the chosen inverse CRF, builds the soft
saturation mask from the *display* values and calls :meth:`Restorer.restore`.
"""

import contextlib
import contextvars

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


_PROGRESS = contextvars.ContextVar("crfkit_restoration_progress", default=False)


@contextlib.contextmanager
def show_progress(enabled=True):
    """Within the block, methods that do long work show a progress bar on stderr (see :func:`progress_bar`)."""
    token = _PROGRESS.set(bool(enabled))
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def progress_bar(total, desc, enabled=None):
    """A tqdm progress bar on stderr, or a silent stand-in with the same ``update``/``close``.

    Parameters
    ----------
    total : int
        Steps (e.g. network tiles).
    desc : str
        Label shown before the bar.
    enabled : bool, optional
        Show it; default: whether :func:`show_progress` is on here.
    """
    import sys

    from tqdm import tqdm

    show = _PROGRESS.get() if enabled is None else bool(enabled)
    return tqdm(total=total, desc=desc, unit="tile", file=sys.stderr, disable=not show, leave=False)


class Restorer:
    """Base class of restoration methods (plugins of the ``crfkit.restoration`` group).

    A subclass sets :attr:`name` and implements :meth:`restore`.  The
    constructor takes method-specific keyword options (e.g. ``weights=PATH``,
    ``device='cpu'``); methods without options reject any.  An instance is
    built once (weights loaded once) and restores any number of images: pass
    it as ``crfkit.restore(image, method=instance)``.  Long-running methods
    show progress when :func:`show_progress` is on (``restore(...,
    progress=True)``), through :func:`progress_bar`.
    """

    #: registry name
    name = ""

    def __init__(self, **options):
        if options:
            raise ValidationError(f"{type(self).__name__} takes no options, got {sorted(options)}")

    @classmethod
    def check_options(cls, **options):
        """Check option names and values without building the method (no weights read).

        The pipeline calls it before any work, also for images with nothing
        saturated, where the method itself never runs.

        Returns
        -------
        dict
            The options, values normalised.

        Raises
        ------
        UnknownNameError
            An option the method does not take (the message lists the valid ones).
        ValidationError
            A value out of range or of the wrong type.
        """
        from ..plugins import check_option_names

        check_option_names(cls, Restorer, options, cls.name or cls.__name__)
        return cls._check_values(dict(options))

    @classmethod
    def _check_values(cls, options):
        """Hook for subclasses: check and normalise option values (a dict); default: as given."""
        return options

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
