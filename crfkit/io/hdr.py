"""High-dynamic-range images: Radiance ``.hdr`` (OpenCV) and OpenEXR ``.exr``.

Both readers return linear RGB as float32 (H, W, 3).  ``.hdr`` needs
``opencv-python`` (``crfkit[charts]``) and ``.exr`` the ``OpenEXR`` package
(``crfkit[exr]``); each is imported only when a file of its kind is read.
"""

from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._optional import require
from ..errors import DataNotFoundError, ParseError, ValidationError

HDR_SUFFIXES = (".hdr", ".exr")

# Rec.709 luminance weights, used to rebuild RGB from Y/RY/BY files (which carry no chromaticities)
_KR, _KG, _KB = 0.2126, 0.7152, 0.0722


def read_hdr(path):
    """Read a ``.hdr`` or ``.exr`` file as linear RGB.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ndarray, float32, shape (H, W, 3)
        Relative radiance as stored (arbitrary scale; may hold tiny negatives
        from EXR compression).

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    ParseError
        The file cannot be decoded or holds no usable colour channels.
    ValidationError
        The suffix is neither ``.hdr`` nor ``.exr``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"HDR image not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".hdr":
        return _read_radiance(path)
    if suffix == ".exr":
        return read_exr(path)
    raise ValidationError(f"{path}: expected a .hdr or .exr file")


def _read_radiance(path):
    cv2 = require("cv2", "charts", feature="reading .hdr files")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] < 3:
        raise ParseError(f"{path}: not a readable Radiance .hdr image")
    return np.ascontiguousarray(img[:, :, 2::-1].astype(np.float32))  # BGR -> RGB


def _upsample2(channel, shape):
    """Nearest-neighbour upsampling of a 2x2-subsampled chroma channel to ``shape``."""
    up = np.repeat(np.repeat(channel, 2, axis=0), 2, axis=1)
    return up[: shape[0], : shape[1]]


def read_exr(path):
    """Read an OpenEXR file (part 0, full resolution) as linear RGB float32.

    Handles RGB(A) files, multi-view files (the default view's ``R, G, B``),
    tiled mip-maps (level 0) and luminance/chroma files (``Y, RY, BY`` with
    subsampled chroma, rebuilt with Rec.709 weights); a luminance-only file is
    repeated over three channels.
    """
    openexr = require("OpenEXR", "exr", feature="reading .exr files")
    path = Path(path)
    try:
        with openexr.File(str(path), separate_channels=True) as f:
            channels = {name: np.asarray(ch.pixels) for name, ch in f.parts[0].channels.items()}
    except Exception as exc:  # OpenEXR raises RuntimeError/IOError variants for corrupt files
        raise ParseError(f"{path}: cannot read OpenEXR file ({type(exc).__name__}: {exc})") from None
    if all(k in channels for k in "RGB"):
        rgb = np.stack([channels[k] for k in "RGB"], axis=-1)
    elif "Y" in channels:
        y = channels["Y"].astype(np.float32)
        if "RY" in channels and "BY" in channels:
            ry = channels["RY"].astype(np.float32)
            by = channels["BY"].astype(np.float32)
            if ry.shape != y.shape:
                ry, by = _upsample2(ry, y.shape), _upsample2(by, y.shape)
            r = (ry + 1.0) * y
            b = (by + 1.0) * y
            g = (y - _KR * r - _KB * b) / _KG
            rgb = np.stack([r, g, b], axis=-1)
        else:
            rgb = np.repeat(y[:, :, None], 3, axis=2)
    else:
        raise ParseError(f"{path}: no R,G,B or Y channels (found {sorted(channels)})")
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ParseError(f"{path}: unexpected channel layout {rgb.shape}")
    return np.ascontiguousarray(rgb.astype(np.float32))


def write_exr(path, image, half=False):
    """Write a linear RGB (or single-channel) float image to OpenEXR atomically.

    Parameters
    ----------
    path : str or Path
    image : array_like, shape (H, W), (H, W, 1) or (H, W, 3)
    half : bool
        Store 16-bit half floats instead of 32-bit floats.
    """
    openexr = require("OpenEXR", "exr", feature="writing .exr files")
    path = Path(path)
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValidationError(f"write_exr expects (H, W) or (H, W, 3), got {img.shape}")
    if not np.issubdtype(img.dtype, np.floating) and not np.issubdtype(img.dtype, np.integer):
        raise ValidationError(f"write_exr expects a numeric image, got {img.dtype}")
    dtype = np.float16 if half else np.float32
    img = img.astype(dtype)
    if img.ndim == 2:
        channels = {"Y": np.ascontiguousarray(img)}
    else:
        channels = {k: np.ascontiguousarray(img[:, :, i]) for i, k in enumerate("RGB")}
    header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}
    with atomic_path(path) as tmp:
        with openexr.File(header, channels) as f:
            f.write(str(tmp))
    return path
