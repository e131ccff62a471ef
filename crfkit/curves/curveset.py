"""The :class:`CurveSet` type and its on-disk format.

On-disk format (``.crfs``, version 1)
-------------------------------------
A NumPy ``.npz`` archive (a zip file) holding exactly two members:

``values.npy``
    float64 array of shape (N, 1024): the curves sampled on ``linspace(0, 1, 1024)``.
``meta.json.npy``
    a 0-d unicode array holding one JSON document::

        {"format": "crfkit-curveset", "version": 1, "kind": "forward" | "inverse",
         "names": [N strings], "metadata": [N objects], "attrs": {object}}

``attrs`` holds set-level information (source, build provenance, ...).  The
archive is written to a temporary file and renamed, so a crash never leaves a
half-written set.  Loading never unpickles anything (``allow_pickle=False``).
"""

import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from .._io import atomic_savez
from .._validation import as_float_array
from ..errors import NotMonotoneError, ParseError, UnknownNameError, ValidationError
from .curve import (
    GRID,
    GRID_SIZE,
    Curve,
    check_kind,
    check_metadata,
    flat_rows,
    invert_values,
    monotone_violation,
    other_kind,
    short_repr,
)

FORMAT_NAME = "crfkit-curveset"
FORMAT_VERSION = 1
#: First bytes of a zip archive (a ``.crfs``/``.npz`` file; the second form is an empty archive).
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class CurveIndexError(ValidationError, IndexError):
    """A curve index out of range for a :class:`CurveSet` (also an ``IndexError``)."""


def _as_list(value, what, n, items):
    """``value`` (a sequence, not a string or mapping) as a list, or a ValidationError."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValidationError(f"{what} must be a sequence of {n} {items} (one per curve), got "
                              f"{type(value).__name__} {short_repr(value)}")
    return list(value)


class CurveSet:
    """N camera response functions on the common grid, with names and metadata.

    Parameters
    ----------
    values : array_like, shape (N, 1024)
        Curve samples at :data:`crfkit.GRID`, N >= 1.
    kind : {'forward', 'inverse'}
        Whether the rows are forward CRFs ``f`` or inverse CRFs ``g``.
    names : sequence of str, optional
        One name per curve (defaults to ``'0'``, ``'1'``, ...).
    metadata : sequence of dict, optional
        One JSON-serialisable dict per curve.
    attrs : dict, optional
        Set-level information, e.g. ``{'source': 'DoRF'}``.
    name : str, optional
        Display name of the set (used as a table row label).
    """

    def __init__(self, values, kind="forward", names=None, metadata=None, attrs=None, name=""):
        arr = as_float_array(values, "curve set values", ndim=2)
        if arr.shape[1] != GRID_SIZE:
            raise ValidationError(
                f"curve set values must have shape (N, {GRID_SIZE}), got {arr.shape}"
            )
        arr = arr.copy()
        arr.setflags(write=False)
        n = arr.shape[0]
        names = [str(i) for i in range(n)] if names is None else [str(s) for s in _as_list(names, "names", n, "strings")]
        if len(names) != n:
            raise ValidationError(f"got {len(names)} names for {n} curves")
        if metadata is None:
            metadata = [{} for _ in range(n)]
        else:
            metadata = [check_metadata(m, f"curve set metadata entry {i}")
                        for i, m in enumerate(_as_list(metadata, "metadata", n, "dicts"))]
        if len(metadata) != n:
            raise ValidationError(f"got {len(metadata)} metadata entries for {n} curves")
        self._values = arr
        self.kind = check_kind(kind)
        self.names = names
        self.metadata = metadata
        self.attrs = check_metadata(attrs, "curve set attrs")
        self.name = str(name or self.attrs.get("name", ""))

    @classmethod
    def from_curves(cls, curves, attrs=None, name=""):
        """Stack :class:`Curve` objects (all of the same kind) into a set."""
        curves = list(curves)
        if not curves:
            raise ValidationError("cannot build a curve set from an empty list of curves")
        kinds = {c.kind for c in curves}
        if len(kinds) != 1:
            raise ValidationError(f"curves mix kinds {sorted(kinds)}; a set holds one kind")
        return cls(
            np.stack([c.values for c in curves]),
            kind=curves[0].kind,
            names=[c.name for c in curves],
            metadata=[c.metadata for c in curves],
            attrs=attrs,
            name=name,
        )

    # -- sequence protocol ---------------------------------------------------------
    @property
    def values(self):
        """Read-only array of shape (N, 1024)."""
        return self._values

    @property
    def x(self):
        return GRID

    def __len__(self):
        return self._values.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index):
        """A :class:`Curve` for an index or a name; a :class:`CurveSet` for a slice, a list of
        indices or names, or a boolean mask.

        Raises
        ------
        CurveIndexError
            An index out of range (a :class:`ValidationError` and an ``IndexError``, so
            iteration protocols keep working).
        UnknownNameError
            No curve of that name.
        ValidationError
            An index of another type (a float, None, ...) or a selection of no curves.
        """
        n = len(self)
        if isinstance(index, str):
            try:
                index = self.names.index(index)
            except ValueError:
                raise UnknownNameError(f"no curve named {str(index)!r} in this set") from None
        if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
            i = int(index)
            if not -n <= i < n:
                raise CurveIndexError(f"curve index {i} out of range for a set of {n} curves")
            return Curve(self._values[i], self.kind, self.names[i], self.metadata[i], validate="none")
        if isinstance(index, slice):
            idx = np.arange(n)[index]
            if idx.size == 0:
                raise ValidationError(f"slice {index.start}:{index.stop}:{index.step} selects no curves of a set of {n}")
        else:
            idx = self._positions(index)
        return CurveSet(
            self._values[idx],
            self.kind,
            [self.names[i] for i in idx],
            [self.metadata[i] for i in idx],
            self.attrs,
            self.name,
        )

    def _positions(self, index):
        """Row numbers (1-D int array) for a list/array of indices or names, or a boolean mask."""
        n = len(self)
        bad = ValidationError(
            "a curve set is indexed by an integer, a name, a slice, a list of integers or names, or a boolean "
            f"mask of {n}; got {type(index).__name__} {short_repr(index)}"
        )
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (list, tuple, np.ndarray)):
            raise bad
        if isinstance(index, np.ndarray) and index.ndim != 1:
            raise bad
        items = list(index)
        if not items:
            raise ValidationError("an empty list of indices selects no curves")
        if all(isinstance(k, (bool, np.bool_)) for k in items):
            if len(items) != n:
                raise ValidationError(f"a boolean mask must have {n} entries (one per curve), got {len(items)}")
            idx = np.flatnonzero(np.array(items, dtype=bool))
            if idx.size == 0:
                raise ValidationError("the boolean mask selects no curves")
            return idx
        out = []
        for k in items:
            if isinstance(k, str):
                if k not in self.names:
                    raise UnknownNameError(f"no curve named {str(k)!r} in this set")
                out.append(self.names.index(k))
            elif isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
                if not -n <= int(k) < n:
                    raise CurveIndexError(f"curve index {int(k)} out of range for a set of {n} curves")
                out.append(int(k) % n)
            else:
                raise bad
        return np.array(out)

    def __repr__(self):
        label = f"{self.name!r}, " if self.name else ""
        return f"CurveSet({label}{len(self)} {self.kind} curves)"

    def __eq__(self, other):
        if not isinstance(other, CurveSet):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.names == other.names
            and self.metadata == other.metadata
            and self.attrs == other.attrs
            and np.array_equal(self._values, other._values)
        )

    __hash__ = None

    def concat(self, other, name=""):
        """A new set holding this set's curves followed by ``other``'s."""
        if other.kind != self.kind:
            raise ValidationError(f"cannot concatenate {self.kind} and {other.kind} curve sets")
        return CurveSet(
            np.vstack([self._values, other.values]),
            self.kind,
            self.names + other.names,
            self.metadata + other.metadata,
            {**self.attrs, **other.attrs},
            name or self.name,
        )

    # -- operations ----------------------------------------------------------------
    def inverse(self):
        """The set of inverse curves (forward <-> inverse), resampled on the grid."""
        cached = getattr(self, "_inverse", None)
        if cached is not None and cached[0] is self._values:
            return cached[1]
        viol = monotone_violation(self._values)
        bad = np.flatnonzero(viol > 1e-9)
        if bad.size:
            raise NotMonotoneError(
                f"{bad.size} curve(s) are not monotone (first: {self.names[bad[0]]!r}) and cannot be inverted"
            )
        flat = flat_rows(self._values)
        if flat.size:
            raise ValidationError(
                f"{flat.size} curve(s) are flat (first: {self.names[flat[0]]!r}, constant "
                f"{float(self._values[flat[0], 0]):.4g}): not camera responses, they cannot be inverted"
            )
        vals = invert_values(np.maximum.accumulate(self._values, axis=1))
        name = self.name
        if name:
            name = name[3:] if name.startswith("inv") else "inv" + name
        attrs = dict(self.attrs)
        attrs["name"] = name
        inv = CurveSet(vals, other_kind(self.kind), self.names, self.metadata, attrs, name)
        self._inverse = (self._values, inv)  # values are read-only, so the cache stays valid
        return inv

    def as_kind(self, kind):
        """This set if its curves are of ``kind``, else the set of inverses."""
        return self if self.kind == check_kind(kind) else self.inverse()

    def mean_curve(self):
        return Curve(self._values.mean(axis=0), self.kind, f"mean of {self.name or 'set'}")

    def rmse(self, other):
        """Per-curve RMSE against another set or (N, 1024) array, shape (N,)."""
        ov = other.values if isinstance(other, CurveSet) else np.asarray(other, float)
        return np.sqrt(np.mean((self._values - ov) ** 2, axis=-1))

    def problems(self):
        """Dict name -> list of problems for the curves that are not valid CRFs."""
        out = {}
        for c in self:
            p = c.problems()
            if p:
                out[c.name] = p
        return out

    def check(self):
        """Raise :class:`ValidationError` naming the first invalid curve."""
        probs = self.problems()
        if probs:
            name, p = next(iter(probs.items()))
            raise ValidationError(
                f"{len(probs)} curve(s) are not valid CRFs; first {name!r}: " + "; ".join(p)
            )
        return self

    # -- persistence ---------------------------------------------------------------
    def save(self, path):
        """Write the set in the ``.crfs`` format (atomically). Returns the path."""
        path = Path(path)
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "name": self.name,
            "names": self.names,
            "metadata": self.metadata,
            "attrs": self.attrs,
        }
        try:
            text = json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"curve set metadata must be JSON-serialisable: {exc}") from None
        atomic_savez(path, values=self._values, **{"meta.json": np.array(text)})
        return path

    @classmethod
    def load(cls, path):
        """Read a set written by :meth:`save`.

        Parameters
        ----------
        path : str or Path
            A ``.crfs`` file.

        Returns
        -------
        CurveSet
            Finite float64 values of shape (N, 1024), N >= 1.

        Raises
        ------
        DataNotFoundError
            The file does not exist.
        ValidationError
            ``path`` is a folder, or not a path at all.
        ParseError
            The file is not a readable curve set (not a zip archive, a damaged
            one, members holding Python objects), or a member or ``meta.json``
            field has the wrong type or shape; the message names the file and
            the field.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ValidationError(f"CurveSet.load needs the path of a .crfs file, got {type(path).__name__} "
                                  f"{short_repr(path)}")
        path = Path(path)
        if path.is_dir():
            raise ValidationError(f"{path} is a folder, not a curve file (a .crfs curve set)")
        head = _read_head(path, "curve set")
        if not head.startswith(_ZIP_MAGIC):
            raise _not_a_set(path, f"this file is {_describe_bytes(head)}")
        member = None
        try:
            with np.load(path, allow_pickle=False) as z:
                members = set(z.files)
                if not {"values", "meta.json"} <= members:
                    raise ParseError(
                        f"{path}: not a crfkit curve set (members {sorted(members)}, expected values and meta.json)"
                    )
                member = "values"
                values = z["values"]
                member = "meta.json"
                meta_arr = z["meta.json"]
        except FileNotFoundError:
            from ..errors import DataNotFoundError

            raise DataNotFoundError(f"curve set file not found: {path}") from None
        except ParseError:
            raise
        except zipfile.BadZipFile as exc:
            raise _not_a_set(path, f"this one is a damaged or truncated zip archive: {exc}") from None
        except Exception as exc:  # zipfile/zlib/numpy errors on a corrupt file
            text = str(exc)
            if member is not None and ("pickle" in text or "Object arrays" in text):
                # never suggest unpickling: a crfkit curve set holds numbers and text only
                raise _invalid(path, f"field {member} holds Python objects, not numbers or text "
                                     "(crfkit writes neither, and never loads them)") from None
            where = f"member {member}: " if member else ""
            raise ParseError(f"{path}: cannot read curve set ({where}{type(exc).__name__}: {text[:200]})") from None
        meta = _parse_meta(meta_arr, path)
        # Integers are exact in float64; anything else (complex, strings, bool) is not a curve
        if values.dtype.kind not in "fiu" or values.ndim != 2 or values.shape[0] < 1 or values.shape[1] != GRID_SIZE:
            got = f"{values.dtype} {values.shape}"
            raise _invalid(path, f"field values must be a real array of shape (N, {GRID_SIZE}), N >= 1, got {got}")
        if not np.all(np.isfinite(values)):
            raise _invalid(path, f"field values contains NaN or inf")
        n = values.shape[0]
        names = _meta_list(meta, "names", n, path, lambda v: isinstance(v, str), "strings")
        metadata = _meta_list(meta, "metadata", n, path, lambda v: isinstance(v, dict), "JSON objects")
        attrs = meta.get("attrs", {})
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise _invalid(path, f"field attrs of meta.json must be a JSON object, got {_json_type(attrs)}")
        name = meta.get("name", "")
        if name is None:
            name = ""
        if not isinstance(name, str):
            raise _invalid(path, f"field name of meta.json must be a string, got {_json_type(name)}")
        kind = meta.get("kind")
        if kind not in ("forward", "inverse"):
            raise _invalid(path, f"field kind of meta.json must be 'forward' or 'inverse', got {kind!r:.60}")
        return cls(values, kind, names, metadata, attrs, name)


def _not_a_set(path, what):
    """The ParseError of a file that is no zip archive (or a broken one): never hints at unpickling."""
    suffix = path.suffix.lower() if path.suffix.lower() in (".crfs", ".npz") else ".crfs"
    return ParseError(f"{path}: cannot read curve set: not a crfkit curve-set file (a {suffix} curve set is a zip "
                      f"archive written by crfkit's CurveSet.save; {what})")


def _read_head(path, what):
    """The first 512 bytes of a file that should be a ``what`` (a name for messages)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(512)
    except FileNotFoundError:
        from ..errors import DataNotFoundError

        raise DataNotFoundError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise ParseError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def _describe_bytes(head):
    """What the first bytes of a file look like, for messages ('a PNG image', 'text', ...)."""
    if not head:
        return "empty"
    from ..data.text import _BINARY_MAGIC

    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the head is still text
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else None
    if text is not None and "\x00" not in text:
        return "a text file"
    return "binary data, not a zip archive"


def _invalid(path, message):
    """The ParseError of a readable file with wrong contents (the message names the field)."""
    return ParseError(f"{path}: invalid curve set contents: {message}")


def _json_type(value):
    """The JSON name of a parsed value's type, for messages."""
    for t, label in ((bool, "a boolean"), (dict, "an object"), (list, "a list"), (str, "a string"),
                     (int, "a number"), (float, "a number")):
        if isinstance(value, t):
            return f"{label} ({json.dumps(value)[:40]})"
    return "null"


def _parse_meta(arr, path):
    """The ``meta.json`` member as a dict with a known format and a supported version."""
    if arr.ndim != 0 or arr.dtype.kind != "U":
        got = f"a {arr.dtype} array of shape {arr.shape}"
        raise _invalid(path, f"field meta.json must be one JSON string, got {got}")
    try:
        meta = json.loads(str(arr))
    except ValueError as exc:  # json.JSONDecodeError
        raise ParseError(f"{path}: cannot read curve set: field meta.json is not valid JSON ({exc})") from None
    except RecursionError:  # json recurses once per nesting level
        raise _invalid(path, f"field meta.json is nested too deeply") from None
    if not isinstance(meta, dict):
        raise _invalid(path, f"field meta.json must be a JSON object, got {_json_type(meta)}")
    if meta.get("format") != FORMAT_NAME:
        raise _invalid(path, f"field format of meta.json is {meta.get('format')!r:.60}, expected {FORMAT_NAME!r}")
    version = meta.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _invalid(path, f"field version of meta.json must be a positive integer, got {_json_type(version)}")
    if version > FORMAT_VERSION:
        raise ParseError(
            f"{path}: curve set format version {version} is newer than this crfkit supports "
            f"({FORMAT_VERSION}); upgrade crfkit"
        )
    return meta


def _meta_list(meta, field, n, path, ok, what):
    """``meta[field]``: a list of ``n`` items that pass ``ok``."""
    if field not in meta:
        raise _invalid(path, f"field {field} of meta.json is missing")
    value = meta[field]
    if not isinstance(value, list):
        raise _invalid(path, f"field {field} of meta.json must be a list of {what}, got {_json_type(value)}")
    if len(value) != n:
        raise _invalid(path, f"field {field} of meta.json has {len(value)} entries for {n} curves")
    bad = [i for i, v in enumerate(value) if not ok(v)]
    if bad:
        entry = _json_type(value[bad[0]])
        raise _invalid(path, f"field {field} of meta.json must be a list of {what}; entry {bad[0]} is {entry}")
    return value
