"""One writer for linear (scene-referred) images; the suffix picks the format."""

from pathlib import Path

import numpy as np

from .._io import atomic_path
from .._optional import require
from .._validation import check_float
from ..errors import ValidationError

#: Suffixes :func:`write_linear_image` writes.
LINEAR_SUFFIXES = (".exr", ".hdr", ".npy", ".tif", ".tiff")
_TIFF_MAX = 65535


def _check_image(image, path):
    img = np.asarray(image)
    if img.dtype.kind not in "fiu":
        raise ValidationError(f"{path}: a linear image must be real numbers, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)) or img.size == 0:
        raise ValidationError(f"{path}: a linear image must have shape (H, W) or (H, W, 3), got {img.shape}")
    img = img.astype(np.float32, copy=False)
    if not np.all(np.isfinite(img)):
        n_bad = int(np.sum(~np.isfinite(img)))
        raise ValidationError(f"{path}: the image holds {n_bad} NaN or infinite value(s)")
    return img


def write_linear_image(path, image, half=False, scale=None):
    """Write a linear image atomically; the suffix of ``path`` picks the format.

    Parameters
    ----------
    path : str or Path
        ``.exr`` (OpenEXR, 32-bit float or 16-bit half; ``crfkit[exr]``),
        ``.hdr`` (Radiance RGBE via OpenCV; ``crfkit[charts]``), ``.npy``
        (NumPy float32) or ``.tif``/``.tiff`` (16-bit unsigned
        integers via tifffile; ``crfkit[raw]``).  Other suffixes are refused.
    image : array_like, shape (H, W), (H, W, 1) or (H, W, 3)
        Finite linear values (relative irradiance, usually in [0, 1]; larger
        values are kept by EXR, HDR and NPY).
    half : bool
        ``.exr`` only: store 16-bit half floats.
    scale : float, optional
        ``.tif``/``.tiff`` only (default 1): the stored integer is
        ``round(65535 * clip(scale * image, 0, 1))``, so ``1 / scale`` is the
        linear value written as full white (65535); values above it are clipped,
        negatives become 0.  Read back with ``stored / 65535 / scale``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValidationError
        Unknown suffix, ``half`` or ``scale`` given for a format they do not
        apply to, an image of the wrong shape or with NaN/inf, or an unusable
        output path.
    MissingDependencyError
        The package of the chosen format is missing (the message names the extra).

    Notes
    -----
    Radiance RGBE cannot hold negative values: they are written as 0.  A
    single-channel image, (H, W) or (H, W, 1), is written as one channel
    (EXR ``Y``, grey TIFF, (H, W) ``.npy``) except in ``.hdr``, which
    repeats it over R, G and B.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LINEAR_SUFFIXES:
        got = suffix or "(no suffix)"
        raise ValidationError(f"{path}: unknown linear image format {got!r}; use .exr, .hdr, .npy or .tif/.tiff")
    if half and suffix != ".exr":
        raise ValidationError(f"{path}: half applies to .exr files only")
    if scale is not None and suffix not in (".tif", ".tiff"):
        raise ValidationError(f"{path}: scale applies to 16-bit .tif/.tiff files only")
    if scale is not None and check_float(scale, "scale") <= 0:
        raise ValidationError(f"scale must be a positive number, got {float(scale)!r}")
    img = _check_image(image, path)
    if suffix == ".exr":
        from .hdr import write_exr

        return write_exr(path, img, half=half)
    if suffix == ".npy":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, img)
        return path
    if suffix == ".hdr":
        cv2 = require("cv2", "charts", feature=f"writing the Radiance file {path}")
        rgb = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        # OpenCV wants BGR; RGBE has no negatives
        bgr = np.ascontiguousarray(np.maximum(rgb[:, :, ::-1], 0.0))
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), bgr) or not Path(tmp).stat().st_size:
                raise ValidationError(f"{path}: OpenCV could not write the Radiance .hdr file")
        return path
    tifffile = require("tifffile", "raw", feature=f"writing the 16-bit TIFF {path}")
    s = 1.0 if scale is None else float(scale)
    data = np.round(np.clip(img.astype(np.float64) * s, 0.0, 1.0) * _TIFF_MAX).astype(np.uint16)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, photometric="rgb" if data.ndim == 3 else "minisblack", compression="zlib")
    return path
