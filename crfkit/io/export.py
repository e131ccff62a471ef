"""Curves for other tools: 1-D LUTs (``.cube``, OpenColorIO ``.spi1d``), JSON and CSV.

The LUT files are written by colour-science (``colour.LUT1D``/``colour.LUT3x1D``
and ``colour.write_LUT``), needing ``crfkit[charts]``; JSON and CSV need nothing
beyond NumPy.  Every file is written atomically.
"""

import csv
import io
import json
from pathlib import Path

import numpy as np

from .._io import atomic_path, atomic_write_text
from .._optional import require
from ..curves import GRID, Curve, CurveSet
from ..curves.curve import check_not_flat, short_repr
from ..curves.curvejson import curves_json_doc
from ..errors import UnknownNameError, ValidationError

#: Suffixes :func:`export_curves` writes, and the colour-science writer of each LUT format.
EXPORT_SUFFIXES = (".cube", ".spi1d", ".json", ".csv")
_LUT_METHODS = {".cube": "Iridas Cube", ".spi1d": "Sony SPI1D"}
DIRECTIONS = ("inverse", "forward")
#: Default number of samples: LUTs, and JSON/CSV (the curves' own grid, exactly).
LUT_SIZE = 4096
MAX_LUT_SIZE = 65536  # the Iridas/Adobe .cube limit for 1-D tables


def _as_set(curves):
    if isinstance(curves, Curve):
        return CurveSet.from_curves([curves], name=curves.name)
    if isinstance(curves, CurveSet):
        return curves
    raise ValidationError(f"export_curves expects a Curve or a CurveSet, got {type(curves).__name__}")


def _pick(cs, curve):
    """The curves chosen by ``curve`` (an index, a name, or a sequence of them)."""
    if curve is None:
        return cs
    if isinstance(curve, (str, int, np.integer)):
        keys = [curve]
    elif isinstance(curve, (list, tuple, np.ndarray)):
        keys = list(curve)
    else:
        raise ValidationError(f"curve must be an index, a name or a list of them, got {short_repr(curve)}")
    picked = []
    for key in keys:
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
            raise ValidationError(f"curve must be an index, a name or a list of them, got {short_repr(key)}")
        try:
            picked.append(cs[key])
        except IndexError:
            raise ValidationError(f"curve index {key} out of range for a set of {len(cs)} curves") from None
        except UnknownNameError:
            names = ", ".join(cs.names[:6]) + (", ..." if len(cs) > 6 else "")
            raise ValidationError(f"no curve named {str(key)!r} in this set (names: {names})") from None
    return CurveSet.from_curves(picked, attrs=cs.attrs, name=cs.name)


def export_curves(curves, path, size=None, direction="inverse", curve=None):
    """Write curves for other tools; the suffix of ``path`` picks the format.

    Parameters
    ----------
    curves : Curve or CurveSet
        Forward or inverse curves (forward ones are inverted when
        ``direction='inverse'``, and the reverse).
    path : str or Path
        ``.cube`` (Iridas/Adobe 1-D LUT, read by DaVinci Resolve, ffmpeg's
        ``lut1d`` and OpenColorIO), ``.spi1d`` (Sony/OpenColorIO 1-D LUT),
        ``.json`` or ``.csv``.  Other suffixes are refused.
    size : int, optional
        Number of samples, spread evenly over the domain [0, 1] (first 0, last
        1).  Default 4096 for LUTs (at most 65536), and for JSON/CSV the curves'
        own 1024-point grid, exactly.
    direction : {'inverse', 'forward', None}
        ``'inverse'`` (default): the file maps **code values to linear** values,
        ``E = g(B)``, which is what linearises an image in an editor or an
        OpenColorIO ``FileTransform`` (``direction: forward`` in OCIO terms).
        ``'forward'``: it maps linear values to code values, ``B = f(E)`` (the
        camera's encoding).  ``None``: the curves as they are (their ``kind``).
        Domain and range are [0, 1] in both directions.
    curve : int, str or sequence, optional
        Pick curves of the set by index or name (a sequence of three: R, G, B).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValidationError
        Unknown suffix, bad ``size``, ``direction`` or ``curve``, a set that is
        not 1 or 3 curves for a LUT, or an unusable output path.
    NotMonotoneError
        A curve must be inverted and is not monotone.
    MissingDependencyError
        A LUT format without colour-science (``pip install 'crfkit[charts]'``).

    Notes
    -----
    A LUT holds one curve for all channels (a 1-D LUT: ``colour.LUT1D``) or
    three, applied to R, G and B (a 3x1-D LUT: ``colour.LUT3x1D``): a set of 3
    curves is taken as R, G, B in its order; a set of any other size needs
    ``curve``.  JSON and CSV take any number of curves:

    * JSON: ``{"format": "crfkit-curves", "version": 1, "kind", "direction",
      "x", "name", "names", "values", "metadata", "attrs"}``, where ``values``
      is a list of one list per curve (a single list for a :class:`Curve`);
      the layout of :mod:`crfkit.curves.curvejson`, whose reader crfkit's
      commands use (``--curve``, ``--crf``, ``crfkit export``, ``crfkit fit``):
      kind, names, metadata and values read back unchanged;
    * CSV: a header ``x,<name>,...`` then one row per sample; crfkit reads it
      back as curves (names and values; CSV stores no kind: files without one
      are read as inverse curves unless written ``forward:FILE``).

    Values are written as exact (``repr``) floats: with the default ``size``
    they read back bit for bit; with another ``size`` they are put back on the
    grid by linear interpolation.

    Examples
    --------
    Linearise in an editor or OpenColorIO with one camera's R, G, B curves:

    >>> import crfkit
    >>> from crfkit.io import export_curves
    >>> rgb = crfkit.CurveSet.from_curves([crfkit.Curve.gamma(g) for g in (2.0, 2.2, 2.4)])
    >>> export_curves(rgb, "camera.cube")  # doctest: +SKIP
    PosixPath('camera.cube')
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        got = suffix or "(no suffix)"
        raise ValidationError(f"{path}: unknown export format {got!r}; use {', '.join(EXPORT_SUFFIXES)}")
    if direction is not None and direction not in DIRECTIONS:
        raise ValidationError(f"direction must be 'inverse', 'forward' or None, got {short_repr(direction)}")
    single = isinstance(curves, Curve) and curve is None
    cs = _pick(_as_set(curves), curve)
    if direction is not None:
        if cs.kind != direction:
            check_not_flat(cs)  # a flat curve cannot be inverted
        cs = cs.as_kind(direction)
    lut = suffix in _LUT_METHODS
    if size is None:
        size = LUT_SIZE if lut else None
    elif (isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer))
          or not 2 <= size <= MAX_LUT_SIZE):
        raise ValidationError(f"size must be an integer in 2..{MAX_LUT_SIZE}, got {short_repr(size)}")
    if lut and len(cs) not in (1, 3):
        raise ValidationError(
            f"{path}: a LUT holds 1 curve (all channels) or 3 (R, G, B), got a set of {len(cs)}; "
            "choose with curve=index, name or [r, g, b]"
        )
    x = GRID if size is None else np.linspace(0.0, 1.0, int(size))
    table = np.stack([np.interp(x, GRID, v) for v in cs.values])  # (n_curves, size)
    if lut:
        _write_lut(path, suffix, cs, table, x)
    elif suffix == ".json":
        _write_json(path, cs, table, x, single)
    else:
        _write_csv(path, cs, table, x)
    return path


def _lut_title(cs):
    what = "code -> linear" if cs.kind == "inverse" else "linear -> code"
    return f"{cs.name or 'crfkit curves'} ({what})"


def _write_lut(path, suffix, cs, table, x):
    colour = require("colour", "charts", feature=f"writing {suffix} LUTs")
    comments = [f"crfkit {cs.kind} CRF ({_lut_title(cs)}), domain [0, 1]"]
    comments += [f"channel {'RGB'[i] if len(cs) == 3 else 'all'}: {n}" for i, n in enumerate(cs.names)]
    if len(cs) == 1:
        lut = colour.LUT1D(table[0], _lut_title(cs), np.array([0.0, 1.0]), comments=comments)
    else:
        lut = colour.LUT3x1D(table.T, _lut_title(cs), np.array([[0.0] * 3, [1.0] * 3]), comments=comments)
    with atomic_path(path) as tmp:
        # 10 decimals: below the float32 precision OCIO and editors apply LUTs with
        colour.write_LUT(lut, str(tmp), decimals=10, method=_LUT_METHODS[suffix])
    return path


def _write_json(path, cs, table, x, single):
    # the layout crfkit's readers take (crfkit.curves.curvejson); one place defines it
    doc = curves_json_doc(cs, x, table, single)
    try:
        text = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{path}: curve metadata must be JSON-serialisable: {exc}") from None
    atomic_write_text(path, text + "\n")
    return path


def _write_csv(path, cs, table, x):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["x", *cs.names])
    # repr-exact floats: the CSV round-trips to the same numbers
    for i, xi in enumerate(x):
        w.writerow([repr(float(xi)), *(repr(float(v)) for v in table[:, i])])
    atomic_write_text(path, buf.getvalue())
    return path
