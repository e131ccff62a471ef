"""Reading an exposure bracket: images, their exposures, and the checks on them.

A bracket is two or more photographs of one static scene taken with different
exposures.  Relative exposures come from the caller (``times``), from EXIF
(exposure time, and aperture and ISO when they vary between shots), or are left
unknown for the solver to estimate.
"""

import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ParseError, ValidationError
from ..io.images import LDR_SUFFIXES

#: RAW formats read through rawpy (``crfkit[raw]``): merged linearly, no curve needed.
RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2",
                ".raf", ".pef", ".srw", ".erf", ".kdc", ".dcr", ".mrw", ".3fr", ".x3f", ".iiq", ".rwl")

_EXIF_IFD = 0x8769
_TAG_EXPOSURE_TIME, _TAG_FNUMBER, _TAG_ISO = 0x829A, 0x829D, 0x8827


@dataclass
class Bracket:
    """Images of one scene and their relative exposures.

    Attributes
    ----------
    images : list of ndarray (H, W, 3)
        uint8 or uint16 display-referred images (float64 in [0, 1] for RAW brackets).
    times : ndarray (n,) or None
        Relative exposures (seconds, or any unit), None when unknown.
    names : list of str
        File names (or ``image0``, ``image1``... for arrays).
    times_source : str
        ``'given'``, ``'exif'``, ``'exif (time x ISO / N^2)'`` or ``'unknown'``.
    raw : bool
        True for RAW files decoded linearly (no camera curve involved).
    bits : int
        8 or 16 (the code range of the images).
    """

    images: list
    times: object = None
    names: list = field(default_factory=list)
    times_source: str = "unknown"
    raw: bool = False
    bits: int = 8

    def __len__(self):
        return len(self.images)

    @property
    def shape(self):
        return self.images[0].shape


def parse_time(text):
    """``'1/60'``, ``'0.5'``, ``'2'`` -> seconds (float > 0).

    Raises
    ------
    ValidationError
        Not a positive finite number or fraction.
    """
    s = str(text).strip()
    try:
        value = float(Fraction(s)) if "/" in s else float(s)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise ValidationError(f"exposure time {text!r} is not a number or a fraction such as 1/60") from None
    if not math.isfinite(value) or value <= 0:
        raise ValidationError(f"exposure time {text!r} must be a positive number of seconds")
    return value


def check_times(times, n, names=None):
    """Validate relative exposures for ``n`` images; returns float64 (n,)."""
    if isinstance(times, (str, bytes)):
        raise ValidationError(f"times must be a sequence of {n} numbers, got the string {times!r}")
    try:
        vals = [parse_time(t) if isinstance(t, str) else float(t) for t in times]
    except (TypeError, OverflowError):
        raise ValidationError(f"times must be a sequence of {n} numbers, got {type(times).__name__}") from None
    t = np.asarray(vals, dtype=np.float64)
    if t.ndim != 1 or t.size != n:
        raise ValidationError(f"got {t.size} exposure time(s) for {n} image(s); give one per image")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        who = f" ({names[i]})" if names else ""
        raise ValidationError(f"exposure time {float(t[i])!r} of image {i}{who} must be positive and finite")
    order = np.sort(t)
    dup = np.flatnonzero(np.diff(order) <= 1e-6 * order[1:])
    if dup.size:
        v = order[dup[0]]
        same = [names[i] if names else str(i) for i in np.flatnonzero(np.isclose(t, v, rtol=1e-6))]
        raise ValidationError(f"the same exposure {v:g} is given twice ({', '.join(same)}); "
                              "a bracket needs different exposures")
    return t


def exif_exposure(path):
    """(exposure time s, f-number, ISO) from a file's EXIF; each None when absent."""
    from PIL import Image

    def num(v):
        try:
            v = float(v[0] if isinstance(v, (tuple, list)) else v)
        except (TypeError, ValueError, ZeroDivisionError, IndexError):
            return None
        return v if math.isfinite(v) and v > 0 else None

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
    except Exception as exc:
        raise ParseError(f"{path}: cannot read EXIF ({type(exc).__name__}: {exc})") from None
    get = lambda tag: num(sub.get(tag, exif.get(tag)))  # noqa: E731
    return get(_TAG_EXPOSURE_TIME), get(_TAG_FNUMBER), get(_TAG_ISO)


def times_from_exif(paths):
    """Relative exposures from EXIF, or (None, reason) when any file lacks them.

    The exposure is ``t * ISO / N^2`` when aperture or ISO vary between shots,
    else the exposure time alone.
    """
    rows = [exif_exposure(p) for p in paths]
    missing = [Path(p).name for p, r in zip(paths, rows) if r[0] is None]
    if missing:
        return None, f"no EXIF exposure time in {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
    t = np.array([r[0] for r in rows])
    fn = [r[1] for r in rows]
    iso = [r[2] for r in rows]
    source = "exif"
    varies = lambda v: None not in v and max(v) / min(v) > 1.01  # noqa: E731
    if varies(fn) or varies(iso):
        fn_arr = np.array(fn if None not in fn else [1.0] * len(fn), float)
        iso_arr = np.array(iso if None not in iso else [100.0] * len(iso), float)
        t = t * (iso_arr / iso_arr[0]) * (fn_arr[0] / fn_arr) ** 2
        source = "exif (time x ISO / N^2)"
    return t, source


def expand_inputs(inputs):
    """Files and folders -> a sorted list of image files (folders: their images, by name)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not isinstance(inputs, Iterable) or isinstance(inputs, bytes):
        raise ValidationError(f"images must be a folder, a file or a list of files, got {type(inputs).__name__}")
    files = []
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            raise ValidationError(f"images must be file or folder paths, got {type(item).__name__}")
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in LDR_SUFFIXES + RAW_SUFFIXES
                           and not q.name.startswith("."))
            if not found:
                heic = [q for q in p.iterdir() if q.suffix.lower() in (".heic", ".heif")]
                hint = (f"; its {len(heic)} HEIC/HEIF files are not supported: export them as JPEG, PNG or "
                        "16-bit TIFF") if heic else ""
                raise ValidationError(f"folder {p} holds no images ({', '.join(LDR_SUFFIXES)} or RAW files){hint}")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            from ..errors import DataNotFoundError

            raise DataNotFoundError(f"image not found: {p}")
    return files


def _read_one(path):
    from ..io.images import read_image

    img = read_image(path)
    if img.dtype not in (np.uint8, np.uint16):
        raise ValidationError(f"{path}: expected an 8- or 16-bit image, got {img.dtype} (HDR files cannot be bracket inputs)")
    return img


def read_bracket(inputs, times=None, unknown_times=False):
    """Read a bracket from files or a folder.

    Parameters
    ----------
    inputs : path or sequence of paths
        Image files (JPEG, PNG, TIFF; 8 or 16 bits; or RAW files) or folders of them.
    times : sequence of float or str, optional
        Exposure times, one per image in the order the files are read (folders:
        sorted by name).  ``'1/60'`` style fractions are accepted.
    unknown_times : bool
        Ignore EXIF: the solver estimates the exposure ratios.

    Returns
    -------
    Bracket
    """
    if times is not None and unknown_times:
        raise ValidationError("times and unknown_times=True contradict each other: give the times, or let crfkit "
                              "estimate them")
    files = expand_inputs(inputs)
    if len(files) < 2:
        raise ValidationError(f"a bracket needs at least 2 images, got {len(files)}")
    seen = set()
    for f in files:
        key = f.resolve()
        if key in seen:
            raise ValidationError(f"{f} is given twice; a bracket needs one photograph per exposure")
        seen.add(key)
    names = [f.name for f in files]
    raw = [f.suffix.lower() in RAW_SUFFIXES for f in files]
    if any(raw) and not all(raw):
        raise ValidationError("mix of RAW and ordinary images in one bracket: give one kind")
    if all(raw):
        from ..io.raw import read_raw_linear

        images = [read_raw_linear(f) for f in files]
        bits = 16
    else:
        images = [_read_one(f) for f in files]
        bits = 16 if any(i.dtype == np.uint16 for i in images) else 8
        if bits == 16:
            images = [i.astype(np.uint16) * 257 if i.dtype == np.uint8 else i for i in images]
    check_same_size(images, names)
    check_distinct(images, names)
    if times is not None:
        t, source = check_times(times, len(files), names), "given"
    elif unknown_times:
        t, source = None, "unknown"
    else:
        t, source = times_from_exif(files)
        if t is None:
            warnings.warn(f"{source}: exposure ratios will be estimated with the curve "
                          "(give --times to use known exposures)", stacklevel=2)
            t, source = None, "unknown"
        else:
            t = check_times(t, len(files), names)
    return Bracket(images, t, names, source, bool(all(raw)), bits)


def check_same_size(images, names=None):
    shapes = [np.shape(i) for i in images]
    for i, s in enumerate(shapes):
        if len(s) != 3 or s[2] != 3:
            who = names[i] if names else f"image {i}"
            raise ValidationError(f"{who}: expected an RGB image (H, W, 3), got shape {s}")
        if 0 in s:
            who = names[i] if names else f"image {i}"
            raise ValidationError(f"{who} is empty (shape {s}); a bracket needs images with pixels")
        if s != shapes[0]:
            a = names[0] if names else "image 0"
            b = names[i] if names else f"image {i}"
            raise ValidationError(f"images differ in size: {a} is {shapes[0][1]}x{shapes[0][0]}, "
                                  f"{b} is {s[1]}x{s[0]}; a bracket needs images of one size")


def check_distinct(images, names=None):
    """Refuse two identical images: they cannot be two different exposures (a copied file, or a
    camera that ignored the bracket setting)."""
    def sparse(img):
        # About 4000 spread-out values: different exposures almost always differ there, so the
        # full comparison (a full pass over each of two 12 MP images) is rarely needed.
        flat = np.ravel(img)
        return flat[:: max(1, flat.size // 4093)]

    seen = []
    for i, img in enumerate(images):
        probe = sparse(img)
        if probe.size and probe.min() == probe.max() and img.min() == img.max():
            continue  # all black or all clipped: the sampler says so, which says more
        for first, first_probe in seen:
            other = images[first]
            if other.shape == img.shape and np.array_equal(first_probe, probe) and np.array_equal(other, img):
                a, b = (names[first], names[i]) if names else (f"image {first}", f"image {i}")
                raise ValidationError(f"{a} and {b} are identical images; a bracket needs different "
                                      "exposures")
        seen.append((i, probe))


def image_arrays(images, what, paths=False):
    """Two or more images given as a list (or a 4-D array), each as an array; one-line errors otherwise.

    ``what`` names the job in the message for too few images; ``paths`` says whether file
    paths were an accepted alternative (for the message only).
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)):
        raise ValidationError(f"images must be a list of arrays{' or of file paths' if paths else ''}, "
                              f"got {type(images).__name__}")
    if len(images) < 2:
        raise ValidationError(f"{what} needs at least 2 images, got {len(images)}")
    arrays = []
    for i, im in enumerate(images):
        try:
            arrays.append(np.asarray(im))
        except (ValueError, TypeError) as exc:
            raise ValidationError(f"image {i}: not an array ({exc})") from None
    return arrays


def as_bracket(images, times=None):
    """A :class:`Bracket` from arrays, a Bracket, or paths (see :func:`read_bracket`)."""
    if isinstance(images, Bracket):
        if times is not None:
            images = Bracket(images.images, check_times(times, len(images), images.names), images.names,
                             "given", images.raw, images.bits)
        return images
    if isinstance(images, (str, Path)) or (isinstance(images, (list, tuple)) and images
                                           and all(isinstance(i, (str, Path)) for i in images)):
        return read_bracket(images, times=times)
    arrs = []
    for i, a in enumerate(image_arrays(images, "a bracket", paths=True)):
        if a.size == 0:
            raise ValidationError(f"image {i} is empty (shape {a.shape}); a bracket needs images with pixels")
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.dtype not in (np.uint8, np.uint16):
            if np.issubdtype(a.dtype, np.floating) and a.size and np.all(np.isfinite(a)) \
                    and a.min() >= 0 and a.max() <= 1:
                a = np.round(a.astype(np.float64) * 65535).astype(np.uint16)  # float16 * 65535 overflows
            else:
                raise ValidationError(f"image {i}: expected uint8, uint16, or float in [0, 1], got {a.dtype}"
                                      + (" with values outside [0, 1] or NaN" if np.issubdtype(a.dtype, np.floating) else ""))
        arrs.append(a)
    names = [f"image{i}" for i in range(len(arrs))]
    check_same_size(arrs, names)
    check_distinct(arrs, names)
    if min(a.shape[0] for a in arrs) < 2 or min(a.shape[1] for a in arrs) < 2:
        raise ValidationError(f"images of {arrs[0].shape[1]}x{arrs[0].shape[0]} pixels are too small for a bracket")
    bits = 16 if any(a.dtype == np.uint16 for a in arrs) else 8
    if bits == 16:
        arrs = [a.astype(np.uint16) * 257 if a.dtype == np.uint8 else a for a in arrs]
    t = None if times is None else check_times(times, len(arrs), names)
    return Bracket(arrs, t, names, "given" if t is not None else "unknown", False, bits)
