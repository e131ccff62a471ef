"""The single-image HDR pipeline: LDR -> linearise -> saturation mask -> restore -> HDR.

:func:`restore` works on arrays, :func:`restore_file` on files (any common LDR
format in, OpenEXR ``.exr`` or Radiance ``.hdr`` out, written atomically), and
:func:`resolve_inverse_crf` turns a ``crf=`` / ``--crf`` specification into an
inverse CRF.  The pipeline itself needs only NumPy; torch is imported only by
the methods that need it (``masked-unet``, network estimators).

Memory: besides the input, the pipeline holds three float32 (H, W, 3) arrays
(display values, linear values, mask) plus the method's output; the masked-unet
method tiles the network itself.
"""

import os
import time
import warnings
from pathlib import Path

import numpy as np

from ..curves import GRID, Curve, CurveSet
from ..errors import (
    DataNotFoundError,
    NotMonotoneError,
    ParseError,
    UnknownNameError,
    ValidationError,
)
from .base import TAU, Restorer, saturation_mask

#: Default inverse CRF of :func:`restore` and ``crfkit restore``.
DEFAULT_CRF = "gamma:2.2"
#: Output formats of :func:`restore_file`.
OUTPUT_SUFFIXES = (".exr", ".hdr")
_CURVE_FILE_SUFFIXES = (".crfs", ".npz", ".txt", ".csv", ".json")


class RestorationWarning(UserWarning):
    """The input was converted (grayscale, alpha) or looks unusual for restoration."""


# -- inverse CRF -------------------------------------------------------------------------------
def _gamma_inverse(gamma, spec):
    try:
        g = float(gamma)
    except ValueError:
        raise ValidationError(f"crf {spec!r}: expected gamma:NUMBER with a positive number, e.g. gamma:2.2") from None
    if not np.isfinite(g) or g <= 0:
        raise ValidationError(f"crf {spec!r}: the gamma must be a positive number, got {gamma}")
    # built directly as B ** gamma (exact), not by numerically inverting the forward curve
    return Curve(GRID**g, kind="inverse", name=f"gamma {g:g}")


def _srgb_inverse():
    b = GRID
    vals = np.where(b <= 0.04045, b / 12.92, ((b + 0.055) / 1.055) ** 2.4)
    return Curve(vals, kind="inverse", name="sRGB")


def _curve_from_file(path, kind_hint):
    """Read a saved curve; ``kind_hint`` ('forward'/'inverse'/None) applies to files without a kind.

    Every curve file crfkit resolves into a curve to apply or invert comes through here: a
    flat (constant) curve is refused with the file and curve named.
    """
    from ..curves.curve import check_not_flat

    got = _read_curve_file(path, kind_hint)
    return check_not_flat(got, str(path))


def _read_curve_file(path, kind_hint):
    from ..curves.curvejson import read_curves_json
    from ..curves.samples import Samples
    from ..data import read_curve_text

    if path.is_dir():
        raise ValidationError(f"{path} is a folder, not a curve file")
    suffix = path.suffix.lower()
    if suffix in (".crfs", ".npz"):
        cs = CurveSet.load(path)
        if kind_hint is not None and kind_hint != cs.kind:
            raise ValidationError(f"crf {path}: the file holds {cs.kind} curves, not {kind_hint} ones")
        return cs
    if suffix == ".json":
        # crfkit's JSON layout (`crfkit export`, `fit --save`) and the older one of `crfkit estimate -o`
        return read_curves_json(path, kind_hint)
    # text: 1024 numbers carry no kind; crfkit's convention (`crfkit estimate -o`, `crfkit linearize
    # --curve`) is an inverse curve, and `forward:FILE` says otherwise
    try:
        got = read_curve_text(path, kind_hint or "inverse")
    except ValidationError as exc:  # e.g. x/y samples outside [0, 1]
        raise ParseError(f"{path}: not a curve of 1024 values ({exc})") from None
    if isinstance(got, Samples) and got.weights is None and got.y.ndim == 1 and got.x.size == GRID.size \
            and np.allclose(got.x, GRID, rtol=0, atol=1e-7):
        got = Curve(got.y, got.kind, got.name)  # x/y samples on the curves' own grid: a curve (e.g. `x,linear`)
    if not isinstance(got, (Curve, CurveSet)):
        raise ParseError(f"{path}: expected 1024 curve values (or rows of 1024), got x/y samples")
    if kind_hint is None:
        first = got if isinstance(got, Curve) else got[0]
        if first(0.5) > 0.6:
            warnings.warn(
                f"crf {path}: read as an inverse CRF (the convention for .txt files) but it looks like a forward "
                f"one (value {first(0.5):.2f} at 0.5); write forward:{path} if it is one",
                RestorationWarning,
                stacklevel=5,
            )
    return got


def _as_inverse(curve, where):
    """An inverse Curve, or a CurveSet of three (one per channel); flat curves are refused."""
    from ..curves.curve import check_not_flat

    if isinstance(curve, CurveSet):
        if len(curve) == 1:
            curve = curve[0]
        elif len(curve) != 3:
            raise ValidationError(f"crf {where}: a curve set must hold 1 curve or 3 (R, G, B), got {len(curve)}")
        else:
            from ..curves.image import channel_curves

            # one camera's R, G, B (in that order), as crfkit.linearize and `crfkit linearize --curve` take them
            curve = channel_curves(curve, 3, where=f"crf {where}", kind=None)
    curves = [curve] if isinstance(curve, Curve) else list(curve)
    try:
        check_not_flat(curves)  # files were checked when read, with the file named
    except ValidationError as exc:
        raise ValidationError(f"crf {where}: {exc}") from None
    for c in curves:
        if not c.is_monotone(1e-6):
            raise NotMonotoneError(f"crf {where}: curve {c.name!r} is not monotone; it cannot linearise an image")
        lo, hi = float(c.values.min()), float(c.values.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValidationError(f"crf {where}: curve {c.name!r} has values outside [0, 1] ({lo:.4g} .. {hi:.4g})")
    return curve.as_kind("inverse")  # channel_curves keeps a calibration's colour mixing in attrs


def resolve_inverse_crf(crf, image=None, **estimator_options):
    """Turn a CRF specification into an inverse CRF (brightness -> irradiance).

    Parameters
    ----------
    crf : str, Path, Curve, CurveSet or Estimator
        * ``"gamma:G"`` (any positive ``G``): ``g(B) = B ** G``; ``"linear"`` is ``gamma:1``;
        * ``"srgb"``: the inverse sRGB transfer function;
        * an estimator name (``"linearization-net"``, ``"crf-net"``, plugins):
          estimated from ``image``;
        * the path of a saved curve: ``.crfs`` (kind stored in the file),
          ``.json`` as written by ``crfkit estimate -o``, or ``.txt``/``.csv``
          of 1024 values on ``linspace(0, 1, 1024)``, read as an *inverse*
          curve (crfkit's convention) unless written ``forward:PATH``;
        * a :class:`~crfkit.Curve` or :class:`~crfkit.CurveSet` (1 curve, or
          one camera's R, G, B as :func:`crfkit.curves.image.channel_curves`
          reads them) of either kind; forward curves are inverted;
        * an :class:`~crfkit.estimators.Estimator` instance (built once for
          many images): estimated from ``image``.
    image : ndarray, optional
        Needed only for an estimator name.
    **estimator_options
        Passed to the estimator (e.g. ``weights=``, ``device=``).

    Returns
    -------
    Curve or CurveSet
        Kind ``'inverse'``; a CurveSet holds one curve per channel.

    Raises
    ------
    UnknownNameError
        ``crf`` is neither a known form, an estimator, nor an existing file.
    ParseError, DataNotFoundError, NotMonotoneError, ValidationError
        An unreadable or invalid curve.
    """
    if isinstance(crf, (Curve, CurveSet)):
        return _as_inverse(crf, repr(crf.name))
    from ..estimators import Estimator

    if isinstance(crf, Estimator):  # built once by the caller (batches): estimate with it
        if image is None:
            raise ValidationError("crf is an estimator: it needs the image to estimate the curve from")
        if estimator_options:
            raise ValidationError(f"crf options {sorted(estimator_options)} given with an Estimator instance; "
                                  "set them when building it")
        label = crf.name or type(crf).__name__
        return _as_inverse(crf.estimate(image), f"{label!r} (estimated)")
    if isinstance(crf, os.PathLike):
        crf = os.fspath(crf)
    if not isinstance(crf, str):
        raise ValidationError(f"crf must be a string, a path, a Curve or a CurveSet, got {type(crf).__name__}")
    spec = crf.strip()
    low = spec.lower()
    from ..estimators import available_estimators as _estimators

    if estimator_options and spec not in _estimators():
        raise ValidationError(f"crf options {sorted(estimator_options)} are estimator options, but crf {spec!r} "
                              "is not an estimator")
    if low.startswith("gamma:"):
        return _gamma_inverse(spec.split(":", 1)[1], spec)
    if low in ("srgb", "s-rgb"):
        return _srgb_inverse()
    if low in ("linear", "identity"):
        return Curve(GRID, kind="inverse", name="linear")
    kind_hint = None
    path_text = spec
    for kind in ("forward", "inverse"):
        if low.startswith(kind + ":"):
            kind_hint, path_text = kind, spec.split(":", 1)[1]
    path = Path(path_text).expanduser()
    folder = path.is_dir() and spec not in _estimators()
    if kind_hint is not None or path.is_file() or folder or path.suffix.lower() in _CURVE_FILE_SUFFIXES:
        if path.is_dir():
            raise ValidationError(f"crf {path} is a folder, not a curve file")
        if not path.is_file():
            raise DataNotFoundError(f"crf file not found: {path}")
        if estimator_options:
            raise ValidationError(f"crf options {sorted(estimator_options)} are estimator options, but crf {spec!r} "
                                  "is a curve file")
        return _as_inverse(_curve_from_file(path, kind_hint), str(path))
    from ..estimators import available_estimators, estimate

    names = available_estimators()
    if spec in names:
        if image is None:
            raise ValidationError(f"crf {spec!r} is an estimator: it needs the image to estimate the curve from")
        return _as_inverse(estimate(image, method=spec, **estimator_options), f"{spec!r} (estimated)")
    raise UnknownNameError(
        f"unknown crf {spec!r}: expected gamma:G (e.g. gamma:2.2), srgb, linear, an estimator "
        f"({', '.join(names)}) or the path of a saved curve (.crfs, .json, .txt of 1024 values)"
    )


def describe_crf(curve):
    """Short text naming an inverse CRF (for summaries)."""
    if isinstance(curve, CurveSet):
        return f"{len(curve)} per-channel curves ({curve.name or ', '.join(curve.names)})"
    return curve.name or "curve"


# -- input -----------------------------------------------------------------------------------
def _prepare(image, who="restore"):
    """Check the input; return the RGB image with its dtype kept (uint8, uint16 or float32 in [0, 1]).

    Grayscale is repeated over three channels and alpha dropped, with a warning.
    Float input with values above 1 is taken for already-linear / HDR data and refused.
    """
    from .._validation import as_rgb, check_not_path

    check_not_path(image, who, hint=" (or use crfkit.restoration.pipeline.restore_file(input, output))")
    img = as_rgb(image, who, RestorationWarning, gray_note="restored as gray RGB")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValidationError(f"{who}: empty image of shape {img.shape}")
    if img.dtype in (np.uint8, np.uint16):
        return img
    if img.dtype == np.bool_ or not np.issubdtype(img.dtype, np.floating):
        raise ValidationError(f"{who}: unsupported image dtype {img.dtype}; expected uint8, uint16 or float in [0, 1]")
    if img.dtype != np.float32:
        img = img.astype(np.float32)
    lo, hi = float(np.min(img)), float(np.max(img))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValidationError(f"{who}: image contains NaN or inf values")
    if hi > 1.0:
        raise ValidationError(
            f"{who}: float values up to {hi:.4g} (> 1): this looks like linear or HDR data already; restoration "
            "expects a display-referred LDR image (uint8, uint16, or float in [0, 1]); nothing was done"
        )
    if lo < 0.0:
        raise ValidationError(f"{who}: float values must lie in [0, 1], got a minimum of {lo:.4g}")
    return img


def _display(img):
    """Display values in [0, 1] as float32 (one new array)."""
    if img.dtype == np.uint8:
        return np.multiply(img, np.float32(1 / 255.0), dtype=np.float32)
    if img.dtype == np.uint16:
        return np.multiply(img, np.float32(1 / 65535.0), dtype=np.float32)
    return img  # already checked float32 in [0, 1]


def _linearize(img, g):
    """``crfkit.linearize(img, g)`` written channel by channel into one float32 array.

    Gives the same values as :func:`crfkit.linearize` (float64 lookup, then
    float32) without its full-size float64 temporaries.
    """
    curves = list(g) if isinstance(g, CurveSet) else [g] * 3
    out = np.empty(img.shape, np.float32)
    for c in range(3):
        if img.dtype in (np.uint8, np.uint16):
            lut = curves[c].to_lut(256 if img.dtype == np.uint8 else 65536)
            out[:, :, c] = lut[img[:, :, c]]
        else:
            for r0 in range(0, img.shape[0], 256):  # row blocks bound the float64 temporary
                rows = img[r0 : r0 + 256, :, c].astype(np.float64)
                out[r0 : r0 + 256, :, c] = np.interp(np.clip(rows, 0, 1), GRID, curves[c].values)
    return out


def _resolve_restorer(method, options):
    from . import available_restorers, get_restorer

    if isinstance(method, Restorer):
        if options:
            raise ValidationError(f"options {sorted(options)} given with a Restorer instance; set them on the instance")
        return method
    if not isinstance(method, str):
        raise ValidationError(f"method must be a restoration method name or a Restorer, got {type(method).__name__}")
    if method not in available_restorers():
        raise UnknownNameError(f"unknown restoration method {method!r}; available: {', '.join(available_restorers())}")
    return get_restorer(method, **options)


def _check_method_name(method):
    from . import available_restorers

    if isinstance(method, Restorer):
        return
    if not isinstance(method, str) or method not in available_restorers():
        raise UnknownNameError(f"unknown restoration method {method!r}; available: {', '.join(available_restorers())}")


def _check_method(method, options):
    """Check the method and its options before any work (also when nothing will be saturated).

    Returns the options as given (the method's constructor checks them again
    when it is built).  Only a method whose optional dependency is missing is
    left to fail when it must run (an image with nothing saturated needs no
    method).
    """
    from ..errors import MissingDependencyError
    from . import get_restorer_class

    _check_method_name(method)
    if isinstance(method, Restorer):
        if options:
            raise ValidationError(f"options {sorted(options)} given with a Restorer instance; set them on the instance")
        return options
    try:
        cls = get_restorer_class(method)
    except MissingDependencyError:
        return options
    check = getattr(cls, "check_options", None)
    if check is not None:  # plugins written before check_options existed check in their constructor
        check(**options)
    return options


def _check_pipeline_options(tau, crf_options, threads, progress):
    from ..plugins import check_threads

    if isinstance(tau, bool) or not (isinstance(tau, (int, float, np.floating)) and 0.0 < float(tau) < 1.0):
        raise ValidationError(f"tau must be a number in (0, 1), got {tau!r}")
    if crf_options is not None and not isinstance(crf_options, dict):
        raise ValidationError(f"crf_options must be a dict of estimator options, got {type(crf_options).__name__}")
    if progress is not None and not isinstance(progress, bool):
        raise ValidationError(f"progress must be True, False or None (off), got {progress!r}")
    return check_threads(threads, "restore")


def restore_with_info(image, crf=DEFAULT_CRF, method="masked-unet", tau=TAU, crf_options=None, *, threads=None,
                      progress=False, **method_options):
    """:func:`restore`, also returning a dict describing the run.

    Returns
    -------
    hdr : ndarray, float32, (H, W, 3)
    info : dict
        ``shape`` (H, W), ``saturated_fraction`` (pixels with any channel above
        ``tau``), ``method``, ``crf`` (description), ``fast_path`` (True when
        nothing was saturated and no method ran), ``seconds``.
    """
    from .._threads import thread_policy
    from .base import show_progress

    t0 = time.perf_counter()
    threads = _check_pipeline_options(tau, crf_options, threads, progress)
    # every option is checked before any work, also for an image with nothing saturated
    method_options = _check_method(method, method_options)
    with thread_policy(threads), show_progress(bool(progress)):
        return _restore(image, crf, method, tau, crf_options, method_options, t0)


def _restore(image, crf, method, tau, crf_options, method_options, t0):
    img = _prepare(image)
    g = resolve_inverse_crf(crf, img, **(crf_options or {}))
    linear = _linearize(img, g)
    display = _display(img).view()
    display.flags.writeable = False  # may be the caller's own float32 array: methods must not write into it
    del img
    sat_pixels = np.any(display > np.float32(tau), axis=2)
    frac = float(sat_pixels.mean())
    del sat_pixels
    name = method if isinstance(method, str) else (method.name or type(method).__name__)
    info = {"shape": linear.shape[:2], "saturated_fraction": frac, "method": name, "crf": describe_crf(g),
            "fast_path": frac == 0.0}
    if frac == 0.0:
        # nothing clipped: the linearisation is the answer; no method (no network) runs
        info["seconds"] = time.perf_counter() - t0
        return linear, info
    mask = saturation_mask(display, tau)
    restorer = _resolve_restorer(method, method_options)
    out = restorer.restore(linear, display, mask)
    out = np.asarray(out)
    if out.shape != linear.shape:
        raise ValidationError(f"restoration method {name!r} returned shape {out.shape}, expected {linear.shape}")
    if out.dtype != np.float32:
        out = out.astype(np.float32)
    # the contract: unchanged where nothing is saturated (elementwise; idempotent, unlike a second blend)
    np.copyto(out, linear, where=mask == 0)
    if not np.isfinite(out).all():
        raise ValidationError(f"restoration method {name!r} returned NaN or inf values")
    info["seconds"] = time.perf_counter() - t0
    return out, info


def restore(image, crf=DEFAULT_CRF, method="masked-unet", tau=TAU, crf_options=None, *, threads=None, progress=False,
            **method_options):
    """Single-image HDR: linearise an LDR image and restore its saturated regions.

    Parameters
    ----------
    image : array_like, (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Display-referred LDR image: uint8, uint16, or float in [0, 1].
        Grayscale is repeated over three channels and alpha dropped (with a
        :class:`RestorationWarning`).  Float values above 1 (already linear /
        HDR data) raise :class:`~crfkit.ValidationError`; the input is never
        modified.
    crf : str, Path, Curve, CurveSet or Estimator
        The inverse CRF, see :func:`resolve_inverse_crf` (``"gamma:2.2"``,
        ``"srgb"``, an estimator name or instance, a saved curve, a curve object).
    method : str or Restorer
        A restoration method (:func:`crfkit.restoration.available_restorers`:
        ``masked-unet``, ``clip``, ``highlight-expansion``, plugins) or an
        instance (reused across calls, e.g. to load weights once).
    tau : float in (0, 1)
        Threshold of the soft saturation mask (see
        :func:`crfkit.restoration.saturation_mask`).
    crf_options : dict, optional
        Options of the estimator when ``crf`` names one (``weights=``,
        ``device=``); refused when ``crf`` is not an estimator.
    threads : int, optional
        Threads for BLAS, OpenMP and torch during the call (crfkit's thread
        policy; default: the idle cores this process may use).
    progress : bool or None
        Show a progress bar over the network's tiles on stderr (off by
        default, None is off too; the command line turns it on).
    **method_options
        Options of the method, e.g. ``weights=``, ``device=``, ``tile=`` and
        ``flips=`` for ``masked-unet``.  Names and values are checked before
        any work, also when nothing is saturated and the method does not run
        (:class:`~crfkit.UnknownNameError` for an unknown name,
        :class:`~crfkit.ValidationError` for a bad value).

    Batches: build the method once (``crfkit.restoration.get_restorer``) and,
    for an estimated CRF, the estimator once
    (``crfkit.estimators.get_estimator``), then pass the instances as
    ``method=`` and ``crf=`` for each image: the weights are read once.

    Returns
    -------
    ndarray, float32, (H, W, 3)
        Linear HDR radiance on the scale of the linearised image (its white is
        1; restored highlights may exceed 1).  Equal to the linearisation
        wherever the soft mask is 0; an image with no value above ``tau`` is
        returned as its linearisation without running the method.
    """
    out, _ = restore_with_info(image, crf=crf, method=method, tau=tau, crf_options=crf_options, threads=threads,
                               progress=progress, **method_options)
    return out


# -- files -----------------------------------------------------------------------------------
def check_output_path(output, suffixes=OUTPUT_SUFFIXES, expected="a .exr (OpenEXR) or .hdr (Radiance) file name"):
    """Validate an output path before any work (suffix, folder, writable, not a folder); returns a Path."""
    from .._io import check_output_path as check

    return check(output, suffixes, expected)


def write_hdr_image(path, hdr, half=False):
    """Write linear RGB float data to ``.exr`` (OpenEXR) or ``.hdr`` (Radiance, via OpenCV), atomically.

    Either the complete file appears at ``path`` or nothing changes there.
    """
    path = check_output_path(path)
    if path.suffix.lower() == ".exr":
        from ..io.hdr import write_exr

        return write_exr(path, hdr, half=half)
    from .._io import atomic_path
    from .._optional import require

    cv2 = require("cv2", "charts", feature="writing .hdr files")
    # RGBE cannot store negatives; OpenCV wants BGR
    bgr = np.ascontiguousarray(np.maximum(np.asarray(hdr, np.float32)[:, :, ::-1], 0.0))
    with atomic_path(path) as tmp:
        ok = cv2.imwrite(str(tmp), bgr)
        if not ok or not Path(tmp).is_file():
            raise ValidationError(f"{path}: OpenCV could not write the Radiance .hdr file")
    return path


def restore_file(input, output, crf=DEFAULT_CRF, method="masked-unet", tau=TAU, half=False, crf_options=None, *,
                 threads=None, progress=False, **method_options):
    """Read an LDR image, restore it, write ``.exr`` or ``.hdr`` atomically.

    Parameters
    ----------
    input : str or Path
        PNG, JPEG, TIFF, BMP, WebP, PPM (8 or 16 bits).  ``.exr``/``.hdr``
        inputs are refused (already HDR).
    output : str or Path
        ``.exr`` (32-bit float, or half with ``half=True``) or ``.hdr``.
    crf, method, tau, crf_options, threads, progress, **method_options
        As in :func:`restore`.

    Returns
    -------
    dict
        As :func:`restore_with_info`'s ``info``, plus ``input`` and ``output``.

    Raises
    ------
    CrfkitError
        Missing/corrupt input, HDR input, wrong output suffix, missing weights;
        no output file is created or changed then.
    """
    from ..io.hdr import HDR_SUFFIXES
    from ..io.images import read_image

    src = Path(input)
    out = check_output_path(output)
    _check_pipeline_options(tau, crf_options, threads, progress)
    _check_method(method, method_options)  # before the image is read
    if src.suffix.lower() in HDR_SUFFIXES:
        raise ValidationError(
            f"{src}: already an HDR image ({src.suffix}); restore takes a display-referred LDR photo; nothing was done"
        )
    img = read_image(src, mode="any")
    with warnings.catch_warnings():
        # name the file in conversion warnings instead of 'restore'
        warnings.filterwarnings("ignore", category=RestorationWarning, message="restore: ")
        if img.ndim == 3 and img.shape[2] in (2, 4):
            warnings.warn(f"{src}: alpha channel dropped", RestorationWarning, stacklevel=2)
        elif img.ndim == 2 or img.shape[2] == 1:
            warnings.warn(f"{src}: grayscale image; restored as gray RGB", RestorationWarning, stacklevel=2)
        hdr, info = restore_with_info(img, crf=crf, method=method, tau=tau, crf_options=crf_options,
                                      threads=threads, progress=progress, **method_options)
    del img
    write_hdr_image(out, hdr, half=half)
    info.update(input=str(src), output=str(out))
    return info


__all__ = [
    "DEFAULT_CRF",
    "OUTPUT_SUFFIXES",
    "RestorationWarning",
    "check_output_path",
    "describe_crf",
    "resolve_inverse_crf",
    "restore",
    "restore_file",
    "restore_with_info",
    "write_hdr_image",
]
