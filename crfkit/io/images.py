"""Ordinary (display-referred) images: PNG, JPEG, TIFF, 8 or 16 bits per channel."""

import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._optional import require
from ..errors import DataNotFoundError, MissingDependencyError, ParseError, ValidationError

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
        if _is_16bit_colour_png(path):
            img = _read_png16(path)
        else:
            with warnings.catch_warnings():
                # imageio probes its plugins on a file it does not recognise, and some (DICOM) announce
                # their own deprecation: about imageio, not the user's file.
                warnings.filterwarnings("ignore", message=r".*legacy .*plugin is deprecated")
                img = iio.imread(path)
    except (ParseError, MissingDependencyError):
        raise
    except Exception as exc:  # imageio raises many types for corrupt files
        img = _read_tiff_fallback(path, exc)
        if img is None:
            raise ParseError(f"{path}: cannot read image ({_read_failure(path, exc)})") from None
    img = np.asarray(img)
    if img.size == 0:
        raise ParseError(f"{path}: cannot read image (no image data: corrupt or truncated)")
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


def _read_failure(path, exc):
    """Why a file could not be read, in the user's terms (imageio's own message for a corrupt file
    suggests installing plugins, which would not help)."""
    if path.stat().st_size == 0:
        return "the file is empty"
    if path.suffix.lower() in (".heic", ".heif"):
        return "HEIC/HEIF is not supported: export the photos as JPEG, PNG or 16-bit TIFF"
    if "Could not find a backend" in str(exc):
        return f"not a readable {path.suffix.lstrip('.').upper() or 'image'} file: corrupt, truncated or another format"
    return f"{type(exc).__name__}: {exc}"


def _read_tiff_fallback(path, exc):
    """A TIFF that imageio's tifffile cannot decode for want of a codec (LZW, deflate and JPEG
    compression need the separate ``imagecodecs`` package; Photoshop, Lightroom and OpenCV write
    LZW by default): read it with OpenCV, which has the codecs built in.  None: not that case."""
    if path.suffix.lower() not in (".tif", ".tiff") or "imagecodecs" not in str(exc):
        return None
    cv2 = require("cv2", "charts", feature=f"{path}: reading this compressed TIFF without the 'imagecodecs' package")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ParseError(f"{path}: cannot read image (OpenCV could not decode this TIFF either)")
    return _opencv_to_rgb(img)


def _opencv_to_rgb(img):
    """OpenCV's BGR(A) channel order as RGB(A); gray and gray + alpha as they are."""
    if img.ndim == 3 and img.shape[2] >= 3:
        img = np.concatenate([img[:, :, 2::-1], img[:, :, 3:]], axis=2)
    return np.ascontiguousarray(img)


def _is_16bit_colour_png(path):
    """True for a 16-bit RGB(A) or gray+alpha PNG (IHDR bit depth 16, colour type 2, 4 or 6)."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6)


def _read_png16(path):
    # Pillow reads 16-bit colour PNGs as 8-bit without saying so; OpenCV keeps all 16 bits.
    cv2 = require("cv2", "charts", feature=f"reading the 16-bit colour PNG {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ParseError(f"{path}: cannot read image (OpenCV could not decode this 16-bit PNG)")
    return _opencv_to_rgb(img)


def write_image(path, image):
    """Write an 8/16-bit image atomically (format from the suffix)."""
    import imageio.v3 as iio

    path = Path(path)
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValidationError(f"write_image expects uint8 or uint16, got {image.dtype}; quantise first")
    if image.dtype == np.uint16 and image.ndim == 3 and path.suffix.lower() == ".png":
        # Pillow cannot write 16-bit colour PNGs; OpenCV can
        cv2 = require("cv2", "charts", feature=f"writing the 16-bit colour PNG {path}")
        bgr = image[:, :, 2::-1] if image.shape[2] == 3 else image[:, :, [2, 1, 0, 3][: image.shape[2]]]
        with atomic_path(path) as tmp:
            ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr))
            if not ok:
                raise ValidationError(f"{path}: OpenCV could not encode a {image.shape} 16-bit PNG")
            Path(tmp).write_bytes(buf.tobytes())
        return path
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
