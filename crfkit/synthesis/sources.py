"""Linear source images and the DoRF train/test curve split."""

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._optional import require
from ..errors import CrfkitError, DataNotFoundError, ValidationError
from ..io.hdr import HDR_SUFFIXES
from ..io.images import LDR_SUFFIXES

#: Seed and size of the DoRF curve split of Liu et al. (REFERENCE.md section 6).
DORF_SPLIT_SEED = 730
DORF_N_TEST = 10


def dorf_split(curves=None):
    """Split DoRF into training and test curves as Liu et al. do.

    The 201 curves are shuffled with ``numpy.random.RandomState(730)``; the
    last 10 are the test curves, the other 191 the training curves.

    Parameters
    ----------
    curves : CurveSet, optional
        Forward DoRF curves (default: ``crfkit.load_curves('dorf')``).

    Returns
    -------
    train, test : CurveSet
        Forward curves, in shuffled order.
    """
    from ..data import load_curves

    if curves is None:
        curves = load_curves("dorf")
    if curves.kind != "forward":
        raise ValidationError("dorf_split expects forward curves")
    order = np.arange(len(curves))
    np.random.RandomState(DORF_SPLIT_SEED).shuffle(order)
    train_idx, test_idx = order[:-DORF_N_TEST], order[-DORF_N_TEST:]
    return curves[train_idx.tolist()], curves[test_idx.tolist()]


def srgb_to_linear(v):
    """The sRGB inverse transfer function (IEC 61966-2-1) on values in [0, 1]."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


@dataclass
class LinearImage:
    """A linear RGB image (float32, (H, W, 3), relative scale) and where it came from."""

    pixels: np.ndarray
    name: str
    source: str  # 'hdr' or 'photo'


def find_training_images(folders):
    """List ``.hdr``/``.exr`` and ordinary image files in ``folders`` (sorted, not recursive)."""
    paths = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise DataNotFoundError(f"image folder not found: {folder}")
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in HDR_SUFFIXES + LDR_SUFFIXES and p.is_file():
                paths.append(p)
    if not paths:
        raise DataNotFoundError(
            f"no training images (.hdr, .exr, .png, .jpg, ...) in {', '.join(str(f) for f in folders)}"
        )
    return paths


def split_images(paths, test_fraction=0.15):
    """Deterministic held-out split of image files by a hash of their base names.

    The split does not depend on the folder, the listing order or the other
    files present, so the same image is always on the same side.

    Returns
    -------
    train, test : list of Path
    """
    if not 0 <= test_fraction < 1:
        raise ValidationError(f"test_fraction must be in [0, 1), got {test_fraction}")
    train, test = [], []
    for p in paths:
        h = int(hashlib.sha256(Path(p).name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if h < test_fraction else train).append(Path(p))
    return train, test


def _resize_short_side(img, short_side):
    h, w = img.shape[:2]
    s = min(h, w)
    if short_side is None or s <= short_side:
        return img
    cv2 = require("cv2", "torch", feature="loading training images")

    scale = short_side / s
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def load_linear_image(path, short_side=384):
    """Load one training image as linear RGB float32.

    HDR files are read as stored (negatives clamped to 0); 2:1 panoramas
    (Poly Haven, lat-long maps) keep only the band around the horizon, where
    the view is closest to an ordinary perspective photo.  Ordinary 8/16-bit
    images are linearised with the sRGB inverse.  Images are downscaled
    (area averaging) so the short side is at most ``short_side``.

    Returns
    -------
    LinearImage
    """
    from ..io.hdr import read_hdr
    from ..io.images import read_image

    path = Path(path)
    if path.suffix.lower() in HDR_SUFFIXES:
        img = np.maximum(read_hdr(path), 0.0)
        h, w = img.shape[:2]
        if abs(w / h - 2.0) < 0.02:
            img = img[h // 4 : h - h // 4]
        source = "hdr"
    else:
        raw = read_image(path)
        scale = 255.0 if raw.dtype == np.uint8 else 65535.0
        img = srgb_to_linear(raw.astype(np.float32) / scale)
        source = "photo"
    img = _resize_short_side(np.ascontiguousarray(img, dtype=np.float32), short_side)
    if not np.isfinite(img).all():
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
    return LinearImage(img.astype(np.float32), path.name, source)


def load_linear_images(paths, short_side=384, min_size=64):
    """Load several training images; unreadable or too small ones are skipped with a warning."""
    out = []
    for p in paths:
        try:
            li = load_linear_image(p, short_side=short_side)
        except CrfkitError as exc:
            warnings.warn(f"skipping image {p}: {exc}", stacklevel=2)
            continue
        if min(li.pixels.shape[:2]) < min_size:
            warnings.warn(f"skipping image {p}: smaller than {min_size} pixels", stacklevel=2)
            continue
        out.append(li)
    if not out:
        raise DataNotFoundError(f"none of the {len(paths)} images could be used (unreadable or smaller than {min_size} pixels)")
    return out
