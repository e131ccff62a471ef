"""Curves as JSON: the one layout crfkit writes, and the reader of every layout it ever wrote.

Layout (``"crfkit-curves"``, version 1), written by :func:`crfkit.io.export_curves`,
``crfkit export -o F.json``, ``crfkit fit --save F.json`` and ``crfkit estimate -o F.json``::

    {"format": "crfkit-curves", "version": 1,
     "kind": "forward" | "inverse", "direction": "linear -> code" | "code -> linear",
     "name": str, "names": [N strings], "x": [n numbers],
     "values": [n numbers] (one curve) | [[n numbers], ...] (N curves),
     "metadata": [N objects], "attrs": {object}}

``x`` is ``linspace(0, 1, n)``: the curves' 1024-point grid unless a ``size`` was
asked for, in which case :func:`read_curves_json` puts the values back on the grid by
linear interpolation (as they were sampled).

Older layouts read as well: ``crfkit estimate -o F.json`` used to write
``{"kind", "name", "values": [1024 numbers]}`` or ``{"kind", "names", "values": [[1024
numbers], ...]}``; hand-written files may give ``values`` alone (the kind then comes
from the caller, crfkit's convention being an inverse curve).
"""

import json
from pathlib import Path

import numpy as np

from ..errors import ParseError, ValidationError
from .curve import GRID, GRID_SIZE, Curve, check_kind
from .curveset import CurveSet

FORMAT_NAME = "crfkit-curves"
FORMAT_VERSION = 1


def curves_json_doc(cs, x, table, single):
    """The JSON document (a dict) of the curves of ``cs`` sampled at ``x`` (``table``: (N, len(x))).

    ``single``: write ``values`` as one flat list (a single :class:`Curve`).
    """
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": cs.kind,
        "direction": "code -> linear" if cs.kind == "inverse" else "linear -> code",
        "name": cs.names[0] if single else cs.name,
        "names": cs.names,
        "x": [float(v) for v in x],
        "values": [float(v) for v in table[0]] if single else [[float(v) for v in row] for row in table],
        "metadata": cs.metadata,
        "attrs": cs.attrs,
    }


def _type(value):
    for t, label in ((bool, "a boolean"), (dict, "an object"), (list, "a list"), (str, "a string"),
                     (int, "a number"), (float, "a number")):
        if isinstance(value, t):
            return label
    return "null"


def read_curves_json(path, kind=None):
    """Read a curve or curves from a JSON file crfkit wrote (any layout it ever wrote).

    Parameters
    ----------
    path : str or Path
    kind : {'forward', 'inverse', None}
        The kind the caller expects.  A file that stores its kind must agree; a
        file without one (``{"values": [...]}``) gets this kind, or ``'inverse'``
        (crfkit's convention for files without a kind) when None.

    Returns
    -------
    Curve or CurveSet
        A :class:`Curve` for a flat ``values`` list, a :class:`CurveSet` (names,
        metadata, attrs kept) for a list of lists, even of one curve.

    Raises
    ------
    ParseError
        Not JSON, not an object with ``values``, a field of the wrong type or
        length, values that are not 1024 numbers (or ``len(x)`` numbers), or a
        newer format version; the message names the file and the field.
    ValidationError
        The stored kind differs from ``kind``; ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise ValidationError(f"{path} is a folder, not a curve file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(f"{path}: not a JSON curve file (not UTF-8 text)") from None
    except OSError as exc:
        raise ParseError(f"{path}: cannot read curve file ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ParseError(f"{path}: JSON nested too deeply") from None

    def bad(message):
        return ParseError(f"{path}: invalid JSON curve file: {message}")

    if not isinstance(doc, dict):
        raise bad(f"expected an object with 'values' (and 'kind'), got {_type(doc)}")
    fmt = doc.get("format")
    if fmt is not None:
        if fmt != FORMAT_NAME:
            raise bad(f"field format is {json.dumps(fmt)[:60]}, expected {FORMAT_NAME!r}")
        version = doc.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise bad(f"field version must be a positive integer, got {json.dumps(version)[:40]}")
        if version > FORMAT_VERSION:
            raise ParseError(f"{path}: JSON curve format version {version} is newer than this crfkit supports "
                             f"({FORMAT_VERSION}); upgrade crfkit")
    if "values" not in doc:
        raise bad("field values is missing (expected 1024 numbers, or a list of such lists)")
    stored = doc.get("kind")
    if stored is not None and stored not in ("forward", "inverse"):
        raise bad(f"field kind must be 'forward' or 'inverse', got {json.dumps(stored)[:40]}")
    if kind is not None:
        check_kind(kind)
        if stored is not None and stored != kind:
            raise ValidationError(f"{path}: the file holds {stored} curves, not {kind} ones")
    kind = stored or kind or "inverse"

    raw = doc["values"]
    if not isinstance(raw, list) or not raw:
        raise bad(f"field values must be a list of numbers or of lists of numbers, got {_type(raw)}")
    single = not isinstance(raw[0], list)
    rows = [raw] if single else raw
    if not all(isinstance(r, list) for r in rows):
        raise bad("field values mixes numbers and lists")
    for i, r in enumerate(rows):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r):
            where = "" if single else f" (curve {i})"
            raise bad(f"field values{where} must hold numbers only")
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise bad(f"the curves of field values have different lengths {sorted(lengths)}")
    table = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(table)):
        raise bad("field values holds NaN or infinite numbers")
    n = table.shape[1]
    x = doc.get("x")
    if x is None:
        if n != GRID_SIZE:
            raise bad(f"field values must hold {GRID_SIZE} numbers per curve (the grid linspace(0, 1, {GRID_SIZE})), "
                      f"got {n}; give the abscissae as field x")
    else:
        if not isinstance(x, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
            raise bad(f"field x must be a list of numbers, got {_type(x)}")
        xs = np.array(x, dtype=np.float64)
        if xs.size != n:
            raise bad(f"field x has {xs.size} numbers but each curve of field values has {n}")
        if n < 2 or not np.all(np.isfinite(xs)) or not np.allclose(xs, np.linspace(0.0, 1.0, n), rtol=0, atol=1e-7):
            raise bad(f"field x must be evenly spaced from 0 to 1 (linspace(0, 1, {n}))")
        if n != GRID_SIZE:  # a size other than the grid: back on the grid as the values were sampled
            table = np.stack([np.interp(GRID, xs, row) for row in table])
    count = table.shape[0]

    names = doc.get("names")
    if names is not None:
        if not isinstance(names, list) or len(names) != count or not all(isinstance(s, str) for s in names):
            raise bad(f"field names must be a list of {count} strings")
    metadata = doc.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, list) or len(metadata) != count or not all(isinstance(m, dict) for m in metadata):
            raise bad(f"field metadata must be a list of {count} objects")
    attrs = doc.get("attrs")
    if attrs is not None and not isinstance(attrs, dict):
        raise bad(f"field attrs must be an object, got {_type(attrs)}")
    name = doc.get("name")
    if name is not None and not isinstance(name, str):
        raise bad(f"field name must be a string, got {_type(name)}")

    if single:
        label = name or (names[0] if names else "") or path.stem
        return Curve(table[0], kind, label, metadata[0] if metadata else None)
    if names is None:
        names = [f"{path.stem}[{i}]" for i in range(count)] if count > 1 else [name or path.stem]
    return CurveSet(table, kind, names, metadata, attrs, name if name is not None else path.stem)
