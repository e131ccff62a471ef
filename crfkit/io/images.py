"""Ordinary (display-referred) images: PNG, JPEG, TIFF, 8 or 16 bits per channel."""

from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import DataNotFoundError, ParseError, ValidationError

LDR_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".ppm", ".pgm")


def read_image(path, mode="rgb"):
    """Read an 8- or 16-bit image as an array.

    Parameters
    ----------
    path : str or Path
    mode : {'rgb', 'any'}
        ``'rgb'`` (default) returns (H, W, 3): grayscale is repeated over three
        channels and an alpha channel is dropped.  ``'any'`` returns the
        channels as stored.

    Returns
    -------
    ndarray
        uint8 or uint16 (as stored; never rescaled).

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    ParseError
        The file is not a readable image (the message names it).
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"image not found: {path}")
    try:
        img = iio.imread(path)
    except Exception as exc:  # imageio raises many types for corrupt files
        raise ParseError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] in (1, 3, 4) and img.shape[-1] not in (1, 3, 4):
        raise ParseError(f"{path}: unexpected image layout {img.shape}")
    if img.ndim not in (2, 3):
        raise ParseError(f"{path}: expected a single still image, got array of shape {img.shape}")
    if img.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(img.dtype, np.floating):
            img = img.astype(np.float32)
        else:
            raise ParseError(f"{path}: unsupported sample type {img.dtype} (expected 8 or 16 bits)")
    if mode == "any":
        return img
    if mode != "rgb":
        raise ValidationError(f"mode must be 'rgb' or 'any', got {mode!r}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 2:  # gray + alpha
        img = np.repeat(img[:, :, :1], 3, axis=2)
    elif img.shape[2] >= 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def write_image(path, image):
    """Write an 8/16-bit image atomically (format from the suffix)."""
    import imageio.v3 as iio

    path = Path(path)
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValidationError(f"write_image expects uint8 or uint16, got {image.dtype}; quantise first")
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, image, extension=path.suffix)
    return path


def exposure_time(path):
    """Exposure time in seconds from a file's EXIF, or None when absent."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            value = exif.get_ifd(0x8769).get(0x829A) or exif.get(0x829A)
    except Exception as exc:
        raise ParseError(f"{path}: cannot read EXIF ({type(exc).__name__}: {exc})") from None
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
