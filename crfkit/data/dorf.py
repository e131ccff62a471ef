"""Parser for DoRF (``dorfCurves.txt``, or the original ``dorfCurves.zip``).

Layout: 201 records of 6 lines: name, type, ``I =``, 1024 irradiance values,
``B =``, 1024 brightness values (the forward CRF).
"""

import io
import zipfile
from pathlib import Path

import numpy as np

from ..curves import GRID, GRID_SIZE, CurveSet
from ..errors import ParseError


def _numbers(line, path, lineno, what):
    try:
        arr = np.array(line.split(), dtype=np.float64)
    except ValueError as exc:
        raise ParseError(f"{path}, line {lineno}: {what} contains a non-number ({exc})") from None
    if arr.size != GRID_SIZE:
        raise ParseError(f"{path}, line {lineno}: {what} has {arr.size} values, expected {GRID_SIZE}")
    if not np.all(np.isfinite(arr)):
        raise ParseError(f"{path}, line {lineno}: {what} contains NaN or inf")
    return arr


def _brightness_rows(lines, names, path):
    """All brightness lines as an (N, 1024) array.

    One vectorised parse (numpy's C text reader) keeps DoRF under 100 ms; when it
    fails, the lines are parsed one by one so the error names the line.
    """
    blines = lines[5::6]
    try:
        values = np.loadtxt(blines, dtype=np.float64, ndmin=2, comments=None)
        ok = values.shape == (len(blines), GRID_SIZE) and np.all(np.isfinite(values))
    except ValueError:
        ok = False
    if not ok:
        values = np.vstack(
            [_numbers(b, path, 6 * r + 6, f"brightness of {names[r]!r}") for r, b in enumerate(blines)]
        )
    return values


def parse_dorf_text(text, path="dorfCurves.txt"):
    """Parse DoRF text into a forward :class:`CurveSet` named ``'DoRF'``."""
    lines = [ln.strip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ParseError(f"{path}: file is empty")
    if len(lines) % 6:
        raise ParseError(
            f"{path}, line {len(lines)}: {len(lines)} lines is not a whole number of 6-line records "
            "(name, type, 'I =', values, 'B =', values)"
        )
    names, types = [], []
    grid_line = None  # text of an irradiance line already checked to be the grid
    for r in range(len(lines) // 6):
        base = 6 * r  # 0-based index of the record's first line
        name, ctype, ihead, ivals, bhead, bvals = lines[base : base + 6]
        if ihead.replace(" ", "") != "I=":
            raise ParseError(f"{path}, line {base + 3}: expected 'I =', found {ihead[:40]!r}")
        if bhead.replace(" ", "") != "B=":
            raise ParseError(f"{path}, line {base + 5}: expected 'B =', found {bhead[:40]!r}")
        if ivals != grid_line:  # every DoRF record repeats the same grid text: parse it once
            irr = _numbers(ivals, path, base + 4, f"irradiance of {name!r}")
            if np.max(np.abs(irr - GRID)) > 1e-6:
                raise ParseError(
                    f"{path}, line {base + 4}: irradiance of {name!r} is not the grid linspace(0, 1, {GRID_SIZE})"
                )
            grid_line = ivals
        names.append(name)
        types.append(ctype)
    values = _brightness_rows(lines, names, path)
    metadata = [{"type": t, "source": "DoRF"} for t in types]
    attrs = {"name": "DoRF", "source": "DoRF (Grossberg & Nayar, Columbia CAVE)", "file": str(path)}
    return CurveSet(values, "forward", names, metadata, attrs, name="DoRF")


#: Largest text a DoRF zip member may expand to (the real file is 6.6 MB): a
#: damaged or hostile archive cannot exhaust memory.
MAX_TEXT_BYTES = 256 << 20


def _zip_text(data, path):
    """The first ``.txt`` member of zip ``data``, decoded as latin-1."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(".txt")]
            if not members:
                raise ParseError(f"{path}: zip holds no .txt member (members: {zf.namelist()[:10]})")
            with zf.open(members[0]) as fh:
                raw = fh.read(MAX_TEXT_BYTES + 1)
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001
        # A damaged archive surfaces as BadZipFile, zlib.error, lzma.LZMAError, EOFError,
        # NotImplementedError (unknown method), RuntimeError (encrypted flag), ...
        raise ParseError(f"{path}: cannot read DoRF zip ({type(exc).__name__}: {exc})") from None
    if len(raw) > MAX_TEXT_BYTES:
        raise ParseError(f"{path}: zip member {members[0]} expands to more than {MAX_TEXT_BYTES >> 20} MB")
    return raw.decode("latin-1"), members[0]


def parse_dorf_bytes(data, path="dorfCurves.txt"):
    """Parse the bytes of ``dorfCurves.txt`` or ``dorfCurves.zip`` (told apart by content).

    Parameters
    ----------
    data : bytes
        The whole file.
    path : str or Path
        Name used in messages and in the set's ``attrs['file']``.

    Returns
    -------
    CurveSet
        Forward curves, finite float64 values of shape (N, 1024).

    Raises
    ------
    ParseError
        The file is not a DoRF file; the message names the file (and line).
    """
    if zipfile.is_zipfile(io.BytesIO(data)):
        text, member = _zip_text(data, path)
        return parse_dorf_text(text, f"{path}:{member}")
    return parse_dorf_text(data.decode("latin-1"), path)


def read_dorf(path):
    """Read ``dorfCurves.txt`` or ``dorfCurves.zip`` into a forward :class:`CurveSet`.

    Raises
    ------
    ParseError
        The file cannot be read or is not a DoRF file (text or zip).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path}: cannot read DoRF file ({exc.strerror or exc})") from None
    return parse_dorf_bytes(data, path)
