"""Shared argument checks with one-line, specific messages."""

import numbers
import os

import numpy as np

from .errors import ValidationError


def _shown(value):
    """``value`` for a one-line message, NumPy scalars as plain numbers (``nan``, not ``np.float64(nan)``)."""
    from .curves.curve import short_repr  # imported when needed: crfkit.curves imports this module

    return short_repr(value)


#: dtype kinds that do not convert to real numbers meaningfully: complex (the
#: imaginary part would be dropped), datetimes, timedeltas and structured records.
_NOT_REAL_KINDS = {"c": "complex", "M": "datetime", "m": "timedelta", "V": "structured"}


def check_real_dtype(arr, name):
    """Raise unless ``arr`` (an ndarray) has a real-number dtype; returns ``arr``."""
    what = _NOT_REAL_KINDS.get(np.asarray(arr).dtype.kind)
    if what is not None:
        raise ValidationError(f"{name} must be real numbers, got a {what} array (dtype {np.asarray(arr).dtype})")
    return arr


def as_float_array(values, name, *, ndim=None, allow_nan=False):
    """Convert to a float64 array, checking dtype, dimensionality and finiteness.

    Complex input is rejected rather than cast: casting would silently drop the
    imaginary part (NumPy only warns).
    """
    try:
        raw = np.asarray(values)
        check_real_dtype(raw, name)
        arr = np.asarray(raw, dtype=np.float64)
    except ValidationError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"{name} must be numeric: {exc}") from None
    if ndim is not None and arr.ndim not in np.atleast_1d(ndim):
        raise ValidationError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.size == 0:
        raise ValidationError(f"{name} is empty")
    if not allow_nan:
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValidationError(
                f"{name} contains {bad.sum()} non-finite value(s) (NaN or inf), first at index {idx}"
            )
    return arr


def check_unit_range(arr, name, tol=1e-9):
    """Raise when values leave [0, 1] by more than ``tol``."""
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if lo < -tol or hi > 1 + tol:
        raise ValidationError(f"{name} must lie in [0, 1], got values in [{lo:.6g}, {hi:.6g}]")


def check_float(value, name, low=None, high=None):
    """Check a finite real scalar against inclusive bounds; returns a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValidationError(f"{name} must be a real number, got {_shown(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValidationError(f"{name} must be finite, got {value!r}")
    if low is not None and value < low:
        raise ValidationError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValidationError(f"{name} must be <= {high}, got {value!r}")
    return value


def check_int(value, name, low=None, high=None):
    """Check an integer parameter against inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValidationError(f"{name} must be an integer, got {_shown(value)}")
    value = int(value)
    if low is not None and value < low:
        raise ValidationError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValidationError(f"{name} must be <= {high}, got {value}")
    return value


def check_bool(value, name):
    """Check a True/False flag (Python or NumPy bool; not 0/1, strings or None); returns a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{name} must be True or False, got {_shown(value)}")
    return bool(value)


def check_not_path(image, who, hint=""):
    """Raise when ``image`` is a file name (str, bytes or path-like) where an image array is expected.

    Without this check such an argument becomes a 0-d array and fails with a
    puzzling "got shape ()".  ``hint`` adds an alternative that takes files.
    """
    paths = image if isinstance(image, (list, tuple)) and len(image) > 0 else [image]
    if all(isinstance(p, (str, bytes, os.PathLike)) for p in paths):
        what = "a list of file names" if paths is image else "a file name"
        names = [str(os.fsdecode(p)) for p in paths]  # str(): np.str_ would show as np.str_('...')
        raise ValidationError(
            f"{who}: expected an image array, got {what} ({names if paths is image else names[0]!r}); "
            f"to read a file use crfkit.io.images.read_image(path) first{hint}"
        )
    return image


def as_rgb(image, who, warning, gray_note="the single channel is used for all three"):
    """An image array as (H, W, 3): grayscale repeated, alpha dropped (each with a ``warning``).

    Parameters
    ----------
    image : array_like
        (H, W), (H, W, 1), (H, W, 2) gray + alpha, (H, W, 3) or (H, W, 4) RGBA.
    who : str
        Prefix of the messages (the function or file concerned).
    warning : type
        Warning category issued for grayscale or alpha input.
    gray_note : str
        What happens to a grayscale image, for the warning.

    Returns
    -------
    ndarray (H, W, 3), dtype kept (a view where possible)
    """
    import warnings

    img = np.asarray(image)
    check_real_dtype(img, f"{who}: image")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        warnings.warn(f"{who}: grayscale image; {gray_note}", warning, stacklevel=4)
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] in (2, 4):
        kind = "gray+alpha" if img.shape[2] == 2 else "RGBA"
        warnings.warn(f"{who}: {kind} image; the alpha channel is ignored", warning, stacklevel=4)
        img = np.repeat(img[:, :, :1], 3, axis=2) if img.shape[2] == 2 else img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValidationError(f"{who}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {np.shape(image)}")
    return img
