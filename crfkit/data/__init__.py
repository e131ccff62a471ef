"""Data loaders: DoRF, the EMoR bases, and saved curve sets.

Lookup order for the reference data: an explicit ``path``, the ``CRFKIT_DATA``
folder, the user cache, then a checksummed download (pooch) where a network exists.
"""

import collections
import hashlib
import os
import threading
import time
from pathlib import Path

from ..curves import CurveSet
from ..errors import ParseError, UnknownNameError, ValidationError
from .dorf import parse_dorf_bytes, parse_dorf_text, read_dorf
from .emor import EmorBasis, parse_emor_text, read_emor
from .paths import ENV_VAR, cache_dir, data_report, find_data_file, sha256_of, verify
from .text import read_curve_text

#: Names accepted by :func:`load_curves`.
BUILTIN_CURVE_SETS = ("dorf", "invdorf", "dorf-train", "dorf-test")


def _find_dorf(path=None):
    from ..errors import DataNotFoundError

    try:
        return find_data_file("dorfCurves.txt", path, download=False)
    except DataNotFoundError:
        pass
    try:
        return find_data_file("dorfCurves.zip", path, download=False)
    except DataNotFoundError:
        pass
    return find_data_file("dorfCurves.txt", path, download=True)


# Parsed files keyed by (loader, resolved path, sha256 of the bytes parsed): a file
# rewritten in place is parsed again even when its size and modification time are
# unchanged (mtime can be set back, and is coarse on some file systems).
_CACHE = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8
# (loader, path) -> (stat signature, sha256): skips re-reading a file whose status is
# unchanged.  Any write or os.utime sets the change time (ctime) to the current time,
# which no user call can set back; a signature is only trusted for files whose ctime
# was at least _SETTLED_NS old when they were hashed, so a rewrite within the same
# clock tick as the hashed write cannot go unnoticed (git's "racily clean" rule).
_DIGESTS = {}
_SETTLED_NS = 2_000_000_000


def _signature(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _load_cached(loader, path, parse, what):
    p = Path(path).resolve()
    try:
        before = os.stat(p)
        known = _DIGESTS.get((loader, str(p)))
        if known is not None and known[0] == _signature(before):
            with _CACHE_LOCK:
                hit = _CACHE.get((loader, str(p), known[1]))
                if hit is not None:
                    _CACHE.move_to_end((loader, str(p), known[1]))
                    return hit
        start = time.time_ns()
        data = p.read_bytes()
        after = os.stat(p)
    except OSError as exc:
        raise ParseError(f"{p}: cannot read {what} file ({exc.strerror or exc})") from None
    digest = hashlib.sha256(data).digest()
    key = (loader, str(p), digest)
    with _CACHE_LOCK:
        if _signature(before) == _signature(after) and start - after.st_ctime_ns > _SETTLED_NS:
            _DIGESTS[(loader, str(p))] = (_signature(after), digest)
            while len(_DIGESTS) > 4 * _CACHE_SIZE:
                _DIGESTS.pop(next(iter(_DIGESTS)))
        else:
            _DIGESTS.pop((loader, str(p)), None)
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    # The result is built from exactly the bytes hashed, so the key always matches the content
    result = parse(data, p)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def load_dorf(path=None):
    """Load DoRF (201 forward CRFs) as a :class:`CurveSet` named ``'DoRF'``.

    Parameters
    ----------
    path : str or Path, optional
        ``dorfCurves.txt``, ``dorfCurves.zip``, or a folder holding either.

    Returns
    -------
    CurveSet
        Forward curves on the grid, values in [0, 1].  Repeated calls on an
        unchanged file return the same object (parsed once per content).
    """
    return _load_cached("dorf", _find_dorf(path), parse_dorf_bytes, "DoRF")


def load_emor(inverse=False, path=None):
    """Load the official EMoR basis (``emor.txt``) or inverse basis (``invemor.txt``).

    Returns
    -------
    EmorBasis
        ``mean`` (f0 or g0, shape (1024,)) and ``components`` (25, 1024).
        Repeated calls on an unchanged file return the same object.
    """
    p = find_data_file("invemor.txt" if inverse else "emor.txt", path)
    return _load_cached("emor", p, lambda data, q: parse_emor_text(data.decode("latin-1"), q), "EMoR")


def load_curves(name_or_path, path=None):
    """Load a curve set by name or from a file.

    Parameters
    ----------
    name_or_path : str or Path
        ``'dorf'`` (201 forward DoRF curves), ``'invdorf'`` (their inverses), or
        the path of a saved curve set (``.crfs``), a DoRF text/zip file.
    path : str or Path, optional
        Where to find the named set's source data (see :func:`find_data_file`).

    Returns
    -------
    CurveSet
        Finite float64 values of shape (N, 1024).

    Raises
    ------
    UnknownNameError
        Neither a known name nor an existing file of a known kind.
    ValidationError
        A folder instead of a file.
    DataNotFoundError
        A named set's source data cannot be found, or a ``.crfs`` file does not exist.
    ParseError
        The file is damaged or holds the wrong contents; the message names the
        file (and the field or line).
    """
    key = str(name_or_path)
    low = key.lower()
    if low == "dorf":
        return load_dorf(path)
    if low == "invdorf":
        return load_dorf(path).inverse()
    if low in ("dorf-train", "dorf-test"):
        # Liu et al.'s split (RandomState(730)): 191 training and 10 test curves
        from ..synthesis.sources import dorf_split

        train, test = dorf_split(load_dorf(path))
        part = train if low == "dorf-train" else test
        part.name = low
        return part
    p = Path(key).expanduser()
    if p.is_dir():
        raise ValidationError(f"{p} is a folder, not a curve file (a .crfs curve set, or DoRF text or zip)")
    if p.suffix.lower() in (".crfs", ".npz") or (p.exists() and p.is_file() and p.suffix.lower() not in (".txt", ".zip")):
        return CurveSet.load(p)
    if p.suffix.lower() in (".txt", ".zip") and p.is_file():
        return read_dorf(p)
    raise UnknownNameError(
        f"unknown curve set {key!r}: expected one of {', '.join(BUILTIN_CURVE_SETS)} or the path of a saved "
        "curve set (.crfs)"
    )


__all__ = [
    "BUILTIN_CURVE_SETS",
    "ENV_VAR",
    "EmorBasis",
    "cache_dir",
    "data_report",
    "find_data_file",
    "load_curves",
    "load_dorf",
    "load_emor",
    "parse_dorf_bytes",
    "parse_dorf_text",
    "parse_emor_text",
    "read_dorf",
    "read_emor",
    "read_curve_text",
    "sha256_of",
    "verify",
]


