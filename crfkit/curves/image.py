"""Apply CRFs to images and linearise images.

Integer images (uint8, uint16) go through a lookup table of ``2**bits`` entries,
so a 12-megapixel photo costs one gather per pixel; float images in [0, 1] are
interpolated on the 1024-point grid.  One curve can serve all channels, or one
curve per channel can be given.

Which curve serves which channel is decided in one place,
:func:`channel_curves`, used by :func:`linearize`, :func:`apply_curve`, the
restoration pipeline and ``crfkit linearize --curve``:

* one :class:`~crfkit.Curve` (or a set or list of one) serves every channel;
* a :class:`~crfkit.CurveSet` (or list) of exactly one curve per channel is
  applied per channel, provided it is one camera's R, G, B (see below);
* any other set is refused unless ``index=`` or ``name=`` picks a curve (for
  all channels) or, with ``name=``, a camera (its R, G, B per channel).

"One camera's R, G, B" is read from crfkit's conventions: the per-curve
metadata ``camera`` and ``channel`` (``crfkit build-dataset``, bracket
calibration), names ``CAMERA/R`` (chart datasets such as Middlebury), ``R``,
``G``, ``B`` (bracket calibration) or ``<film>Red``/``Green``/``Blue`` (DoRF).
Curves of several cameras are refused; R, G, B curves in another order are put
in R, G, B order; a set without any channel or camera label is taken in order.
"""

import os
import re

import numpy as np

from ..errors import UnknownNameError, ValidationError
from .curve import GRID, Curve, check_not_flat
from .curveset import CurveSet

#: Curves whose values leave [0, 1] by more than this are refused.
RANGE_TOL = 1e-6
_CHANNEL_WORDS = {"r": "R", "red": "R", "g": "G", "green": "G", "b": "B", "blue": "B"}
_RGB = ("R", "G", "B")
_SUFFIX = re.compile(r"^(?P<camera>.*?\S)[\s_\-]*(?P<channel>red|green|blue)$", re.IGNORECASE)


# -- which curve for which channel -------------------------------------------------------------
def _describe(value):
    text = repr(value.item() if isinstance(value, np.generic) and not isinstance(value, np.void) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_curve_spec(spec):
    """The :class:`Curve` or :class:`CurveSet` named by a string or path.

    Parameters
    ----------
    spec : str or path-like
        A built-in curve set (``'dorf'``, ``'invdorf'``, ``'dorf-train'``,
        ``'dorf-test'``); ``'gamma:G'``, ``'srgb'``, ``'linear'`` (inverse
        curves); or a saved curve: ``.crfs``/``.npz`` (kind stored in the
        file), ``.json`` (``{'values', 'kind'}``), ``.txt``/``.csv`` of 1024
        values (an *inverse* curve, or ``forward:PATH``), DoRF text or zip.

    Returns
    -------
    Curve or CurveSet

    Raises
    ------
    UnknownNameError, DataNotFoundError, ParseError, ValidationError
        Unknown name, missing or malformed file (x/y sample files included).
    """
    from pathlib import Path

    from ..data import BUILTIN_CURVE_SETS, load_curves
    # the restoration pipeline owns the parsing of --crf specs; the same forms are accepted here
    from ..restoration.pipeline import _curve_from_file, resolve_inverse_crf

    text = os.fspath(spec).strip()
    low = text.lower()
    if low in BUILTIN_CURVE_SETS:
        return load_curves(low)
    kind_hint, path_text = None, text
    for kind in ("forward", "inverse"):
        if low.startswith(kind + ":"):
            kind_hint, path_text = kind, text.split(":", 1)[1]
    path = Path(path_text).expanduser()
    if path.is_dir():
        raise ValidationError(f"{path} is a folder, not a curve file")
    if path.is_file():
        if path.suffix.lower() == ".zip" and kind_hint is None:
            return load_curves(path)  # a DoRF zip
        return _curve_from_file(path, kind_hint)  # flat (constant) curves are refused there
    try:
        return resolve_inverse_crf(text)  # gamma:G, srgb, linear; missing curve files fail here
    except UnknownNameError:
        raise UnknownNameError(
            f"unknown curve {text!r}: expected a curve set ({', '.join(BUILTIN_CURVE_SETS)}), gamma:G (e.g. "
            "gamma:2.2), srgb, linear or the path of a saved curve (.crfs, .json, .txt of 1024 values)"
        ) from None


def _as_curves(curve, where):
    """A list of Curve objects from a curve argument (no channel logic yet)."""
    if isinstance(curve, (str, os.PathLike)):
        curve = load_curve_spec(curve)
    if isinstance(curve, Curve):
        return [curve], False
    if isinstance(curve, CurveSet):
        return list(curve), True
    if isinstance(curve, (list, tuple)):
        if not curve:
            raise ValidationError(f"{where}: got an empty list of curves; give a Curve, a CurveSet or one Curve per channel")
        for i, c in enumerate(curve):
            if not isinstance(c, Curve):
                raise ValidationError(f"{where}: item {i} of the curve list is {_describe(c)}, expected a Curve")
        return list(curve), True
    hint = f" (for a gamma curve write 'gamma:{curve:g}')" if isinstance(curve, (int, float)) and not isinstance(
        curve, bool) and np.isfinite(curve) and curve > 0 else ""
    raise ValidationError(
        f"{where} must be a Curve, a CurveSet, a list of Curves, a curve-set name or the path of a saved curve, "
        f"got {type(curve).__name__} {_describe(curve)}{hint}"
    )


def _label(curve):
    """(camera or None, 'R'/'G'/'B' or None) of a curve, from its metadata or its name."""
    meta = curve.metadata if isinstance(curve.metadata, dict) else {}
    camera = meta.get("camera")
    channel = _CHANNEL_WORDS.get(str(meta.get("channel", "")).strip().lower())
    name = curve.name.strip()
    if channel is None:
        head, slash, last = name.rpartition("/")
        if slash and last.strip().lower() in _CHANNEL_WORDS:
            channel, camera = _CHANNEL_WORDS[last.strip().lower()], camera or head
        elif name.lower() in _CHANNEL_WORDS:
            channel = _CHANNEL_WORDS[name.lower()]
        else:
            m = _SUFFIX.match(name)
            if m:  # DoRF: 'agfacolor-futura-100CDRed'
                channel, camera = _CHANNEL_WORDS[m["channel"].lower()], camera or m["camera"]
    return (None if camera in (None, "") else str(camera)), channel


def _names(curves, limit=4):
    shown = ", ".join(c.name or str(i) for i, c in enumerate(curves[:limit]))
    return shown + (", ..." if len(curves) > limit else "")


def _pick(curves, index, name, where):
    """The curves chosen by ``index`` or ``name`` (a curve name, else a camera name)."""
    if index is not None and name is not None:
        raise ValidationError(f"{where}: give index or name, not both")
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValidationError(f"{where}: index must be an integer, got {_describe(index)}")
        if not -len(curves) <= int(index) < len(curves):
            raise ValidationError(f"{where}: index {int(index)} is out of range for a set of {len(curves)} curves")
        return [curves[int(index)]]
    if not isinstance(name, str):
        raise ValidationError(f"{where}: name must be a string, got {_describe(name)}")
    exact = [c for c in curves if c.name == name]
    if exact:
        return exact[:1]
    camera = [c for c in curves if _label(c)[0] == name]
    if camera:
        return camera
    cameras = sorted({cam for cam, _ in map(_label, curves) if cam})
    known = f"; cameras: {', '.join(cameras[:6])}{', ...' if len(cameras) > 6 else ''}" if cameras else ""
    raise ValidationError(f"{where}: no curve or camera named {name!r} (curves: {_names(curves)}{known})")


def _per_channel(curves, n_channels, where):
    """Check that ``n_channels`` curves are one camera's channels; R, G, B put in order."""
    labels = [_label(c) for c in curves]
    cameras = sorted({cam for cam, _ in labels if cam})
    if len(cameras) > 1:
        raise ValidationError(
            f"{where}: the {len(curves)} curves are of {len(cameras)} cameras ({', '.join(cameras[:4])}), not one "
            "camera's channels; choose one with index= or name="
        )
    channels = [ch for _, ch in labels]
    if n_channels == 3 and all(channels):
        if sorted(channels) != sorted(_RGB):
            raise ValidationError(
                f"{where}: the curves are channels {', '.join(channels)}, not R, G, B; choose one with index= or name="
            )
        return [curves[channels.index(ch)] for ch in _RGB]
    if any(channels):
        raise ValidationError(
            f"{where}: only some of the curves ({_names(curves)}) are labelled with a channel; it is not clear "
            "which serves which channel; choose one with index= or name="
        )
    return list(curves)


def _curve_list(curve, n_channels, index=None, name=None, where="curve"):
    """``n_channels`` Curve objects (kinds as given) for the channels of an image."""
    curves, is_set = _as_curves(curve, where)
    if index is not None or name is not None:
        if not is_set:
            raise ValidationError(f"{where} is one curve; index= and name= choose in a set")
        curves = _pick(curves, index, name, where)
    if len(curves) == 1:
        out = curves * n_channels
    elif len(curves) == n_channels:
        out = _per_channel(curves, n_channels, where)
    else:
        hint = "give one curve or one per channel"
        if len(curves) > n_channels:
            hint += ", or choose with index= or name= (a curve, or a camera's R, G, B)"
        raise ValidationError(
            f"{where}: got {len(curves)} curves for an image with {n_channels} channel(s) ({_names(curves)}); {hint}"
        )
    try:
        check_not_flat(out[:1] if len(curves) == 1 else out)  # cannot be inverted: no camera response
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    for c in out[:1] if len(curves) == 1 else out:
        lo, hi = float(c.values.min()), float(c.values.max())
        if lo < -RANGE_TOL or hi > 1 + RANGE_TOL:
            raise ValidationError(f"{where}: curve {c.name!r} has values outside [0, 1] ({lo:.4g} .. {hi:.4g})")
    return out


def _convert(curves, kind):
    """``c.as_kind(kind)`` for each curve, inverting each distinct curve once (not once per channel)."""
    done = {}
    for c in curves:
        if id(c) not in done:
            done[id(c)] = c.as_kind(kind)
    return [done[id(c)] for c in curves]


def channel_curves(curve, n_channels=3, *, index=None, name=None, where="curve", kind="inverse"):
    """Resolve a curve argument into the curves for the channels of an image.

    Parameters
    ----------
    curve : Curve, CurveSet, sequence of Curve, str or path-like
        A curve, a set or list of curves, a built-in set name (``'dorf'``,
        ...), ``'gamma:G'``/``'srgb'``/``'linear'``, or the path of a saved
        curve or set (see :func:`load_curve_spec`).
    n_channels : int, default 3
        Channels of the image (after dropping alpha, if the caller does).
    index : int, optional
        Use curve ``index`` of the set for every channel.
    name : str, optional
        Use the curve of this name for every channel, or, when no curve has
        this name, the R, G, B curves of the camera of this name, per channel.
    where : str
        How the argument is named in messages (e.g. ``'--curve mb.crfs'``).
    kind : {'inverse', 'forward', None}
        Return the curves as this kind (inverted where needed); None keeps the
        kinds given.

    Returns
    -------
    Curve or CurveSet
        A :class:`Curve` when one curve serves every channel, else a
        :class:`CurveSet` of ``n_channels`` curves in channel order (R, G, B
        for a camera's set, whatever their order in the file).

    Raises
    ------
    ValidationError
        A set that is not one camera's channels (several cameras, other
        channels, a count that is neither 1 nor ``n_channels``) without
        ``index``/``name``; a bad ``index``/``name``; curve values outside
        [0, 1]; a flat (constant) curve; a curve argument of another type.
    NotMonotoneError
        A curve that must be inverted to ``kind`` is not monotone.
    UnknownNameError, DataNotFoundError, ParseError
        From a name or path that cannot be loaded.

    Examples
    --------
    >>> import crfkit
    >>> g = crfkit.curves.image.channel_curves("gamma:2.2")
    >>> g.kind, g.name
    ('inverse', 'gamma 2.2')
    """
    if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
        raise ValidationError(f"n_channels must be a positive integer, got {_describe(n_channels)}")
    if kind not in ("inverse", "forward", None):
        raise ValidationError(f"kind must be 'inverse', 'forward' or None, got {_describe(kind)}")
    curves = _curve_list(curve, int(n_channels), index, name, where)
    if kind is not None:
        curves = _convert(curves, kind)
    if len({id(c) for c in curves}) == 1:
        return curves[0]
    if len({c.kind for c in curves}) > 1:  # mixed kinds only with kind=None: a set holds one kind
        curves = [c.as_kind(curves[0].kind) for c in curves]
    out = CurveSet.from_curves(curves, name=getattr(curve, "name", "") if isinstance(curve, CurveSet) else "")
    matrix = _mixing_matrix(curve) if index is None and name is None and n_channels == 3 else None
    if matrix is not None:
        out.attrs["bracket"] = {"mixing": matrix.tolist()}  # a bracket calibration's colour mixing stays with it
    return out


# -- images ---------------------------------------------------------------------------------
def _channels(image):
    try:
        image = np.asarray(image)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        raise ValidationError(f"image must be an array of shape (H, W) or (H, W, C): {exc}") from None
    if not image.dtype.isnative:  # e.g. big-endian uint16 from a file: the LUT path needs native integers
        image = image.astype(image.dtype.newbyteorder("="))
    if image.ndim == 2:
        return image, 1
    if image.ndim == 3:
        if image.shape[2] == 0:
            raise ValidationError(f"image of shape {image.shape} has no channels; expected (H, W) or (H, W, C) with C >= 1")
        return image, image.shape[2]
    raise ValidationError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")


def _as_unit_float(image):
    """Integer images scaled to [0, 1]; float images checked and passed through."""
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float64) / 65535.0
    if image.dtype.kind == "f":
        if not np.all(np.isfinite(image)):
            raise ValidationError("image contains NaN or inf values")
        return image.astype(np.float64)
    raise ValidationError(f"unsupported image dtype {image.dtype}; expected uint8, uint16 or float")


def _check_dtype(dtype, func, bits_hint):
    """The output dtype: floating point only (integers would truncate [0, 1] to 0 or 1)."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise ValidationError(f"{func}: dtype={_describe(dtype)} is not a NumPy dtype; expected float16, float32 or float64") from None
    if dt.kind != "f":
        more = "; for integer output use bits=8 or bits=16" if bits_hint else ""
        raise ValidationError(
            f"{func}: dtype={dt} is not a floating-point type; the result lies in [0, 1], so an integer or other "
            f"type would truncate it: use float16, float32 or float64{more}"
        )
    return dt


def _map(image, curves_for, kind):
    image, n = _channels(image)
    curves = _convert(curves_for(n), kind)
    if image.dtype in (np.uint8, np.uint16):
        levels = 256 if image.dtype == np.uint8 else 65536
        luts = [c.to_lut(levels) for c in curves]
        if image.ndim == 2:
            return luts[0][image]
        return np.stack([luts[i][image[..., i]] for i in range(n)], axis=-1)
    unit = _as_unit_float(image)
    if unit.ndim == 2:
        return curves[0](np.clip(unit, 0, 1))
    return np.stack([curves[i](np.clip(unit[..., i], 0, 1)) for i in range(n)], axis=-1)


def linearize(image, curve, dtype=np.float32, *, index=None, name=None):
    """Map image brightness to linear irradiance.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), C >= 1
        uint8, uint16, or float in [0, 1] (floats outside are clipped; NaN and
        inf are refused).  Other dtypes (bool, signed integers, complex) are
        refused.  Empty images (H or W of 0) give an empty result.
    curve : Curve, CurveSet, sequence of Curve, str or path-like
        An inverse CRF ``g`` (used as is) or a forward CRF ``f`` (inverted):
        one curve for all channels or one per channel, as resolved by
        :func:`channel_curves` (a camera's R, G, B set per channel; other sets
        need ``index`` or ``name``); a name or path is loaded first.
    dtype : floating-point NumPy dtype
        Output type (float16, float32 or float64).  Integer types are
        refused: they would truncate every value to 0 or 1.
    index, name : optional
        Choose a curve (or, by ``name``, a camera) of a set; see
        :func:`channel_curves`.

    Returns
    -------
    ndarray of ``dtype``, same shape as ``image``, values in [0, 1].

    Raises
    ------
    ValidationError
        Bad image, dtype or curve argument (see :func:`channel_curves`).
    """
    dt = _check_dtype(dtype, "linearize", bits_hint=False)
    matrix = _mixing_matrix(curve) if index is None and name is None else None
    if matrix is not None:
        image, n = _channels(image)
        if n == 3:
            # A bracket calibration with colour mixing: its curves apply to the mixed codes.
            image = np.clip(_as_unit_float(image) @ matrix.T, 0.0, 1.0)
    out = _map(image, lambda n: _curve_list(curve, n, index, name), "inverse")
    return out.astype(dt, copy=False)


def _mixing_matrix(curve):
    """The colour mixing matrix a bracket calibration's curve set carries (``attrs['bracket']['mixing']``)."""
    attrs = getattr(curve, "attrs", None)
    if not isinstance(attrs, dict) or not isinstance(attrs.get("bracket"), dict):
        return None
    m = attrs["bracket"].get("mixing")
    if m is None:
        return None
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValidationError(f"the curve set's colour mixing matrix must be 3x3 and finite, got shape {m.shape}")
    return m


def apply_curve(image, curve, dtype=np.float32, bits=None, *, index=None, name=None):
    """Map linear irradiance to brightness with a forward CRF.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), C >= 1
        Linear values in [0, 1] (float; outside values are clipped, NaN and
        inf refused) or uint8/uint16 (scaled by their range).
    curve : Curve, CurveSet, sequence of Curve, str or path-like
        A forward CRF ``f`` (used as is) or an inverse CRF ``g`` (inverted);
        resolved per channel as in :func:`linearize`.
    dtype : floating-point NumPy dtype
        Output type when ``bits`` is None (integer types are refused: use ``bits``).
    bits : {None, 8, 16}
        Quantise the output to uint8 or uint16 (round to nearest).
    index, name : optional
        Choose a curve (or a camera) of a set; see :func:`channel_curves`.

    Returns
    -------
    ndarray, same shape as ``image``
        ``dtype`` values in [0, 1], or uint8/uint16 codes with ``bits``.
    """
    if bits is not None and (isinstance(bits, bool) or bits not in (8, 16)):
        raise ValidationError(f"apply_curve: bits must be None, 8 or 16, got {_describe(bits)}")
    dt = _check_dtype(dtype, "apply_curve", bits_hint=True)
    out = _map(image, lambda n: _curve_list(curve, n, index, name), "forward")
    if bits is None:
        return out.astype(dt, copy=False)
    top = 2**bits - 1
    return np.round(np.clip(out, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)


__all__ = ["GRID", "apply_curve", "channel_curves", "linearize", "load_curve_spec"]
