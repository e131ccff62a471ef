"""The estimator interface and input checks (no torch needed here)."""

import warnings

import numpy as np

from ..errors import ValidationError


class UnreliableEstimateWarning(UserWarning):
    """The input gives an estimator little to work with (mostly saturated or black, 16-bit, ...)."""


class Estimator:
    """Base class of single-image CRF estimators.

    A subclass sets :attr:`name` and implements :meth:`estimate_inverse`,
    which receives a checked float32 RGB image in [0, 1] and returns an inverse
    :class:`~crfkit.Curve` (or a :class:`~crfkit.CurveSet` of three, one per
    channel).  Register it under the ``crfkit.estimators`` entry-point group.

    Parameters
    ----------
    **options
        Estimator-specific options (e.g. ``weights=PATH``).

    Notes
    -----
    Build an estimator once and call :meth:`estimate` on many images: the
    weights are read and the network built only in the constructor::

        est = crfkit.estimators.get_estimator("crf-net", device="cpu")
        curves = [est.estimate(img) for img in images]

    (or ``crfkit.estimate([img1, img2, ...], method=...)``).  Option names and
    values are checked by :meth:`check_options` before anything is loaded.
    """

    #: registry name
    name = ""
    #: smallest image side the estimator accepts
    min_size = 32
    #: what to try instead when an image is smaller than ``min_size`` (appended to the error)
    small_image_hint = ""
    #: ways this estimator gives one curve per channel (its ``per_channel`` option); empty: it cannot
    per_channel_modes = ()

    def __init__(self, **options):
        if options:
            raise ValidationError(f"{type(self).__name__} takes no options, got {sorted(options)}")

    @classmethod
    def check_options(cls, **options):
        """Check option names and values without building the estimator (nothing is loaded).

        Returns
        -------
        dict
            The options, values normalised (e.g. ``device`` as a ``torch.device``).

        Raises
        ------
        UnknownNameError
            An option the estimator does not take (the message lists the valid ones).
        ValidationError
            A value out of range or of the wrong type (one line naming option and value).
        """
        from ..plugins import check_option_names

        check_option_names(cls, Estimator, options, cls.name or cls.__name__)
        return cls._check_values(dict(options))

    @classmethod
    def _check_values(cls, options):
        """Hook for subclasses: check and normalise option values (a dict); default: as given."""
        return options

    def estimate(self, image):
        """Estimate the inverse CRF of ``image``.

        Parameters
        ----------
        image : array_like
            (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 or float in [0, 1].

        Returns
        -------
        Curve or CurveSet
            Inverse CRF(s), monotone with g(0) = 0 and g(1) = 1.
        """
        img = prepare_image(image, min_size=self.min_size, who=self.name or type(self).__name__,
                            hint=self.small_image_hint)
        return self.estimate_inverse(img)

    def estimate_inverse(self, image):  # pragma: no cover - abstract
        raise NotImplementedError


#: ``per_channel=True`` means this mode for the networks: of the two, it scored better on the ten
#: Middlebury cameras for both networks (docs/results/estimators.md)
DEFAULT_NET_MODE = "gray"


def check_per_channel(value, who, modes, default=None):
    """Normalise a ``per_channel`` option: False (one shared curve), True (``default``) or a mode name.

    Returns
    -------
    str or None
        The mode, or None for one curve shared by the channels.

    Raises
    ------
    ValidationError
        Anything else (one line naming the valid values).
    """
    if value is None or (isinstance(value, (bool, np.bool_)) and not value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return default or modes[0]
    if isinstance(value, str) and value in modes:
        return value
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise ValidationError(f"{who}: per_channel={shown}: expected True, False or one of "
                          f"{', '.join(repr(m) for m in modes)}")


def combine_channel_curves(joint, grays, mode):
    """Three inverse curves (3, N) from a network's estimates.

    Parameters
    ----------
    joint : ndarray (N,) or None
        The inverse curve estimated from the colour image (one for all channels).
    grays : ndarray (3, N)
        The inverse curves estimated from each channel alone, repeated to grey.
    mode : {'gray', 'offset'}
        ``'gray'``: the grey estimates themselves.  ``'offset'``: the joint curve
        plus each channel's difference from the mean of the grey estimates
        (the joint estimate keeps its shape; only the differences between
        channels come from the single-channel runs).

    Returns
    -------
    ndarray (3, N)
        Valid inverse curves: within [0, 1], non-decreasing, ``g(0) = 0``, ``g(1) = 1``.
    """
    grays = np.asarray(grays, dtype=np.float64)
    if mode == "gray":
        out = grays.copy()
    elif mode == "offset":
        out = np.asarray(joint, dtype=np.float64)[None, :] + (grays - grays.mean(axis=0, keepdims=True))
    else:  # pragma: no cover - checked by check_per_channel
        raise ValueError(f"unknown per-channel mode {mode!r}")
    out = np.maximum.accumulate(np.clip(out, 0.0, 1.0), axis=1)
    out[:, 0], out[:, -1] = 0.0, 1.0
    return out


def prepare_image(image, min_size=32, who="estimator", hint=""):
    """Check and convert an image for an estimator.

    Grayscale is repeated over three channels and an alpha channel dropped
    (both with a warning where the estimate suffers); uint16 is scaled to
    [0, 1] with a warning (the nets were trained on 8-bit data); floats must lie
    in [0, 1].  A warning is also given when more than half of the pixels are
    saturated or black.

    Returns
    -------
    ndarray, float32, (H, W, 3), values in [0, 1]

    Raises
    ------
    ValidationError
        Wrong shape, dtype, non-finite or out-of-range values, or an image
        smaller than ``min_size`` pixels on a side.
    """
    from .._validation import as_rgb, check_not_path

    check_not_path(image, who)
    img = as_rgb(image, who, UnreliableEstimateWarning, gray_note="the estimate uses its single channel")
    h, w = img.shape[:2]
    if min(h, w) < min_size:
        raise ValidationError(f"{who}: image of {h}x{w} pixels is too small; it needs at least {min_size}x{min_size}"
                              + (f" ({hint})" if hint else ""))
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        warnings.warn(
            f"{who}: 16-bit image; scaled to [0, 1], but the estimator was trained on 8-bit JPEG-like images",
            UnreliableEstimateWarning,
            stacklevel=3,
        )
        out = img.astype(np.float32) / 65535.0
    elif np.issubdtype(img.dtype, np.floating):
        out = img.astype(np.float32)
        if not np.isfinite(out).all():
            raise ValidationError(f"{who}: image contains NaN or inf values")
        lo, hi = float(out.min()), float(out.max())
        if lo < 0.0 or hi > 1.0:
            raise ValidationError(
                f"{who}: float image values must lie in [0, 1] (display-referred brightness), got [{lo:.4g}, {hi:.4g}]"
            )
    else:
        raise ValidationError(f"{who}: unsupported image dtype {img.dtype}; expected uint8, uint16 or float in [0, 1]")
    gray = out.mean(axis=2)
    over = float((gray >= 249 / 255).mean())
    under = float((gray <= 6 / 255).mean())
    if over > 0.5 or under > 0.5:
        what = "saturated" if over >= under else "black"
        warnings.warn(
            f"{who}: {100 * max(over, under):.0f}% of the pixels are {what}; the estimate is unreliable",
            UnreliableEstimateWarning,
            stacklevel=3,
        )
    if float(out.max() - out.min()) < 1e-6:
        raise ValidationError(f"{who}: the image is constant; it carries no information about the CRF")
    return np.ascontiguousarray(out)
