"""Curves and samples from text files (CSV, TSV or whitespace separated, optional header)."""

import csv
import io
from pathlib import Path

import numpy as np

from ..errors import DataNotFoundError, ParseError, ValidationError

# Column names understood in a header row (lower case); others are taken in order x, y, weight.
# x/y name the abscissa and ordinate; the quantities depend on the kind (forward: x is irradiance).
_X_NAMES = {"x", "input", "in"}
_Y_NAMES = {"y", "output", "out"}
_IRRADIANCE_NAMES = {"irradiance", "exposure", "radiance", "linear", "e"}
_BRIGHTNESS_NAMES = {"brightness", "code", "codes", "value", "values", "intensity", "pixel", "b", "m"}
_W_NAMES = {"w", "weight", "weights"}

# First bytes of binary files users may hand to `fit` by mistake (images, archives, arrays)
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"v/1\x01": "an OpenEXR image",
    b"#?RADIANCE": "a Radiance HDR image",
    b"#?RGBE": "a Radiance HDR image",
    b"RIFF": "a RIFF (WebP) image",
    b"\x93NUMPY": "a NumPy .npy array",
}


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_roles(header, n_cols, path, kind):
    """Indices of (x, y, weight) from a header row; names not understood are taken in order."""
    irradiance, brightness = ("x", "y") if kind == "forward" else ("y", "x")
    names = [h.strip().strip("\"'").lower() for h in header]
    roles = {}
    for i, name in enumerate(names):
        for role, known in (("x", _X_NAMES), ("y", _Y_NAMES), (irradiance, _IRRADIANCE_NAMES),
                            (brightness, _BRIGHTNESS_NAMES), ("w", _W_NAMES)):
            if name in known and role not in roles:
                roles[role] = i
    if "x" in roles and "y" in roles:
        return roles["x"], roles["y"], roles.get("w")
    if n_cols in (2, 3):
        return 0, 1, 2 if n_cols == 3 else None
    raise ParseError(f"{path}: header {','.join(header)!r} does not name the x and y columns (e.g. x,y,weight)")


def _crfkit_csv(text):
    """``(names, x, values (N, n))`` when ``text`` is crfkit's own curve CSV, else None.

    ``crfkit export -o F.csv`` and ``crfkit fit --save F.csv`` write a header ``x,<name>,...``
    (names quoted as CSV needs) and one row per sample, the first column being
    ``linspace(0, 1, n)`` (the curves' grid by default).  A header that names sample columns
    (``x,y``, ``x,y,weight``, ``x,brightness``, ...) keeps a file x/y samples.
    """
    if not text.lstrip().lower().startswith("x"):
        return None
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error:  # e.g. NUL bytes, unterminated quotes
        return None
    if len(rows) < 3 or len(rows[0]) < 2 or rows[0][0].strip().lower() != "x":
        return None
    header = rows[0]
    names = [n.strip().strip("\"'").lower() for n in header[1:]]
    sample_names = _Y_NAMES | _IRRADIANCE_NAMES | _BRIGHTNESS_NAMES | _W_NAMES
    if len(names) <= 2 and all(n in sample_names for n in names):
        return None  # x,y / x,y,weight / x,brightness: samples
    if any(len(r) != len(header) for r in rows[1:]):
        return None
    try:
        arr = np.array([[float(c) for c in r] for r in rows[1:]])
    except (ValueError, OverflowError):
        return None
    x = arr[:, 0]
    if not np.all(np.isfinite(x)) or not np.allclose(x, np.linspace(0.0, 1.0, x.size), rtol=0, atol=1e-7):
        return None
    return header[1:], x, arr[:, 1:].T


def _check_range(values, what, path, brightness, scale_given):
    finite = values[np.isfinite(values)]
    if finite.size != values.size:
        raise ValidationError(f"{path}: {what} values include NaN or inf")
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= -1e-6 and hi <= 1 + 1e-6:
        return
    if brightness and not scale_given and lo >= 0 and np.all(finite == np.round(finite)):
        # the smallest usual bit depth that holds them (8-bit JPEG, 10-16-bit sensors and TIFFs)
        bits = next((b for b in (8, 10, 12, 14, 16) if hi <= 2**b - 1), None)
        if bits:
            raise ValidationError(f"{path}: {what} values up to {hi:g} look like {bits}-bit codes; "
                                  f"add --scale {2 ** bits - 1} (or the data's white level) to divide them into [0, 1]")
    hint = "; give --scale N to divide them" if brightness and not scale_given else ""
    if not brightness:
        hint = "; divide them by their largest value (relative irradiance) first"
    raise ValidationError(f"{path}: {what} values must lie in [0, 1], got {lo:g} .. {hi:g}{hint}")


def _check_scaled(codes, path):
    """--scale on values already in [0, 1] would squash them silently: refuse it."""
    finite = codes[np.isfinite(codes)]
    if finite.size and float(finite.max()) <= 1.0:
        raise ValidationError(f"{path}: the brightness values already lie in [0, 1] (up to {float(finite.max()):g}); "
                              "drop --scale")


def _curve_values(values, kind, scale, p):
    """Curve values (N, 1024) divided by ``scale`` and checked to lie in [0, 1]."""
    if scale is not None:
        if kind == "inverse":
            raise ValidationError(f"{p}: --scale divides brightness codes; inverse curve values are irradiance")
        _check_scaled(values, p)
        values = values / scale
    _check_range(values, "curve", p, kind == "forward", scale is not None)
    return values


def read_curve_text(path, kind="forward", scale=None):
    """Read a curve, curves or samples from a text file.

    The file is CSV, TSV, semicolon or whitespace separated, with ``#`` comments and at
    most one header row before the numbers. A header may name the sample columns
    (``x,y,weight``; also ``irradiance``/``brightness``/``code``); unnamed columns are
    taken in the order x, y, weight.

    Parameters
    ----------
    path : str or path-like
        The text file.
    kind : {"forward", "inverse"}
        What the values are: forward (irradiance -> brightness) or inverse.
    scale : float, optional
        Divides the brightness values into [0, 1] (255 for 8-bit codes, 65535 for
        16-bit): forward curve values, the ``y`` column of forward samples, the ``x``
        column of inverse ones.

    crfkit's own CSV (``crfkit export -o F.csv``, ``crfkit fit --save F.csv``: a header
    ``x,<name>,...`` over an ``x`` column of ``linspace(0, 1, n)``) reads as curves named by
    the header, resampled on the grid when ``n`` is not 1024; a header naming only sample
    columns (``x,y``, ``x,y,weight``, ``x,brightness``) keeps a file samples.

    Returns
    -------
    Curve, CurveSet or Samples
        1024 values -> :class:`~crfkit.Curve`; rows of 1024 -> :class:`~crfkit.CurveSet`;
        crfkit's CSV -> a Curve (one column) or a CurveSet;
        2-3 columns -> :class:`~crfkit.curves.samples.Samples`. Every value lies in [0, 1].

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    ParseError
        Not a text file of numbers, ragged rows, or a header that does not fit the rows.
    ValidationError
        Values outside [0, 1] (with the ``scale`` that would fix 8-16-bit codes), NaN,
        negative weights, or a ``scale`` that is not a positive number.
    """
    from ..curves import GRID, GRID_SIZE, Curve, CurveSet  # the curve types import crfkit.data
    from ..curves.samples import Samples

    p = Path(path)
    if p.is_dir():
        raise ValidationError(f"{p} is a folder, not a curve file (give a .crfs, .json or CSV/TSV/text file, or a set name)")
    if not p.is_file():
        raise DataNotFoundError(f"SOURCE {p}: no such file (nor a curve set name: dorf, invdorf, ...)")
    raw = p.read_bytes()
    for magic, what in _BINARY_MAGIC.items():
        if raw.startswith(magic):
            raise ParseError(f"{p} is {what}, not a text file of curve values or samples; "
                             "to estimate a curve from a photo use `crfkit estimate`")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(f"{p}: not a text file (not UTF-8); fit reads CSV/TSV/text values or samples") from None
    if "\x00" in text:
        raise ParseError(f"{p}: binary data, not a text file of curve values or samples")
    own = _crfkit_csv(text)
    if own is not None:  # crfkit's own CSV: curves, named by the header
        names, x, table = own
        if scale is not None and not (np.isfinite(scale) and scale > 0):
            raise ValidationError(f"--scale must be a positive number, got {scale:g}")
        if x.size != GRID_SIZE:  # written with --size: resampled on the grid as it was sampled (linearly)
            table = np.stack([np.interp(GRID, x, v) for v in table])
        values = _curve_values(table, kind, scale, p)
        if len(values) == 1:
            return Curve(values[0], kind, names[0] or p.stem)
        return CurveSet(values, kind, names, name=p.stem)
    rows = []
    header = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#")[0]
        for sep in (",", ";", "\t"):
            line = line.replace(sep, " ")
        fields = line.split()
        if not fields:
            continue
        if not all(_is_number(f) for f in fields):
            if header is None and not rows:
                header = fields  # one header row before the numbers
                continue
            bad = next(f for f in fields if not _is_number(f))
            raise ParseError(f"{p}, line {lineno}: non-numeric value {bad!r}")
        rows.append([float(f) for f in fields])
    if not rows:
        raise ParseError(f"{p}: no numbers found")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ParseError(f"{p}: rows have different numbers of values {sorted(widths)}")
    arr = np.array(rows)
    if header is not None and len(header) != arr.shape[1]:
        raise ParseError(f"{p}: the header names {len(header)} columns but the rows hold {arr.shape[1]} values")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise ValidationError(f"--scale must be a positive number, got {scale:g}")
    if arr.size == GRID_SIZE or arr.shape[1] == GRID_SIZE:
        values = _curve_values(arr.reshape(1, -1) if arr.size == GRID_SIZE else arr, kind, scale, p)
        if arr.size == GRID_SIZE:
            return Curve(values.ravel(), kind, p.stem)
        return CurveSet(values, kind, [f"{p.stem}[{i}]" for i in range(len(values))], name=p.stem)
    if arr.shape[1] not in (2, 3) and header is None:
        raise ParseError(f"{p}: expected 1024 values (a curve), rows of 1024 (curves) or 2-3 columns "
                         f"(x y [weight]), got {arr.shape[0]} rows of {arr.shape[1]}")
    ix, iy, iw = _column_roles(header, arr.shape[1], p, kind) if header else (0, 1, 2 if arr.shape[1] == 3 else None)
    x, y = arr[:, ix].copy(), arr[:, iy].copy()
    w = arr[:, iw].copy() if iw is not None else None
    if scale is not None:
        codes = y if kind == "forward" else x
        _check_scaled(codes, p)
        codes /= scale
    names = ("x (irradiance)", "y (brightness)") if kind == "forward" else ("x (brightness)", "y (irradiance)")
    _check_range(x, names[0], p, kind == "inverse", scale is not None)
    _check_range(y, names[1], p, kind == "forward", scale is not None)
    if w is not None and (not np.all(np.isfinite(w)) or np.any(w < 0)):
        raise ValidationError(f"{p}: weights must be finite and >= 0")
    try:
        return Samples(x, y, w, kind, p.stem)
    except ValidationError as exc:
        raise ValidationError(f"{p}: {exc}") from None
