"""PCA bases learned from any curve set (EMoR-style; "EMoDCRF"-style).

``PCABasis.from_curves(curves)`` runs scikit-learn's PCA over the curves'
1024 samples: the mean curve and the leading principal components, exactly
the construction of EMoR (from DoRF) and EMoDCRF (from DCRF).  A basis is a
file (``.npz``) so it can be shared; ``PCAModel`` fits with it like EMoR.
"""

import json
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_savez
from ..curves import GRID_SIZE, CurveSet
from ..curves.curve import short_repr
from ..errors import ParseError, ValidationError
from .emor import BasisModel
from .registry import register_model

FORMAT = "crfkit-pcabasis"
#: The members of a basis file, as :meth:`PCABasis.save` writes them.
_MEMBERS = ("mean", "components", "explained_variance_ratio", "meta.json")


@dataclass
class PCABasis:
    """Mean curve and orthonormal components learned from a curve set.

    Attributes
    ----------
    mean : ndarray (1024,)
    components : ndarray (K, 1024), orthonormal rows
    explained_variance_ratio : ndarray (K,)
    kind : {'forward', 'inverse'}
    source : str
        Name of the curve set it was learned from, e.g. ``'dorf'``.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    kind: str = "forward"
    source: str = ""
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        """Check shapes, dtypes and values: a basis file may hold anything."""
        from .._validation import as_float_array
        from ..curves.curve import check_kind

        self.mean = as_float_array(self.mean, "PCA basis mean", ndim=1)
        if self.mean.shape != (GRID_SIZE,):
            raise ValidationError(f"PCA basis mean must have {GRID_SIZE} samples, got shape {self.mean.shape}")
        self.components = as_float_array(self.components, "PCA basis components", ndim=2)
        if self.components.shape[1] != GRID_SIZE or self.components.shape[0] < 1:
            raise ValidationError(
                f"PCA basis components must have shape (K, {GRID_SIZE}) with K >= 1, got {self.components.shape}"
            )
        k = self.components.shape[0]
        self.explained_variance_ratio = as_float_array(
            self.explained_variance_ratio, "PCA basis explained_variance_ratio", ndim=1
        )
        if self.explained_variance_ratio.shape != (k,):
            raise ValidationError(
                f"PCA basis explained_variance_ratio must have {k} values (one per component), "
                f"got shape {self.explained_variance_ratio.shape}"
            )
        if not isinstance(self.kind, str):
            raise ValidationError(f"PCA basis kind must be 'forward' or 'inverse', got {self.kind!r}")
        check_kind(self.kind)
        if not isinstance(self.source, str):
            raise ValidationError(f"PCA basis source must be a string, got {type(self.source).__name__}")
        if not isinstance(self.attrs, dict):
            raise ValidationError(f"PCA basis attrs must be a dict, got {type(self.attrs).__name__}")

    @property
    def n_components(self):
        return self.components.shape[0]

    @classmethod
    def from_curves(cls, curves, n_components=None, source=None):
        """Learn a basis with :class:`sklearn.decomposition.PCA`.

        Parameters
        ----------
        curves : CurveSet or array (N, 1024)
        n_components : int, optional
            Defaults to ``min(N - 1, 25)``... up to ``N - 1`` (the most a set of
            N centred curves supports).
        """
        from sklearn.decomposition import PCA

        from .._validation import as_float_array

        if isinstance(curves, CurveSet):
            values, kind = curves.values, curves.kind
            source = source if source is not None else (curves.name or "curves")
        else:
            values, kind = np.atleast_2d(as_float_array(curves, "PCA training curves", ndim=(1, 2))), "forward"
            if values.shape[1] != GRID_SIZE:
                raise ValidationError(f"PCA training curves must have {GRID_SIZE} samples each, got {values.shape[1]}")
        n = values.shape[0]
        if n < 2:
            raise ValidationError(f"a PCA basis needs at least 2 curves, got {n}")
        from .._validation import check_int

        k = min(n - 1, GRID_SIZE) if n_components is None else check_int(n_components, "n_components")
        if not 1 <= k <= min(n - 1, GRID_SIZE):
            raise ValidationError(f"n_components must be in 1..{min(n - 1, GRID_SIZE)} for {n} curves, got {k}")
        pca = PCA(n_components=k, svd_solver="full").fit(values)
        return cls(
            pca.mean_.copy(),
            pca.components_.copy(),
            pca.explained_variance_ratio_.copy(),
            kind,
            str(source or ""),
            {"n_curves": int(n)},
        )

    def save(self, path):
        meta = json.dumps({"format": FORMAT, "version": 1, "kind": self.kind, "source": self.source, "attrs": self.attrs})
        atomic_savez(
            Path(path),
            mean=self.mean,
            components=self.components,
            explained_variance_ratio=self.explained_variance_ratio,
            **{"meta.json": np.array(meta)},
        )
        return Path(path)

    @classmethod
    def load(cls, path):
        """Read a basis written by :meth:`save`; anything else is a one-line ParseError naming the file."""
        from ..curves.curveset import _ZIP_MAGIC, _describe_bytes, _read_head

        path = Path(path)
        if path.is_dir():
            raise ValidationError(f"{path} is a folder, not a PCA basis file (.npz)")

        def not_a_basis(what):
            return ParseError(f"{path}: cannot read PCA basis: not a crfkit PCA basis file (a .npz zip "
                              f"archive written by PCABasis.save or `crfkit basis`, members "
                              f"{', '.join(_MEMBERS)}; {what})")

        def invalid(what):
            return ParseError(f"{path}: invalid PCA basis: {what}")

        head = _read_head(path, "PCA basis")
        # np.load would take any other file for a pickle and suggest allow_pickle
        if not head.startswith(_ZIP_MAGIC):
            raise not_a_basis(f"this file is {_describe_bytes(head)}")
        member, arrays = None, {}
        try:
            with np.load(path, allow_pickle=False) as z:
                members = set(z.files)
                if not set(_MEMBERS) <= members:
                    held = f"its members are {', '.join(sorted(members))}" if members else "it has no members"
                    if {"values", "meta.json"} <= members:
                        held += ", a crfkit curve set: `crfkit basis` learns a basis from it"
                    raise not_a_basis(held)
                for member in _MEMBERS:
                    arrays[member] = z[member]
        except ParseError:
            raise
        except zipfile.BadZipFile as exc:
            raise not_a_basis(f"this one is a damaged or truncated zip archive: {exc}") from None
        except Exception as exc:  # zipfile/zlib/numpy errors on a corrupt file
            text = str(exc)
            if member is not None and ("pickle" in text or "Object arrays" in text):
                # never suggest unpickling: a basis holds numbers and JSON text only
                raise invalid(f"member {member} holds Python objects, not numbers or text "
                              "(crfkit writes none, and never loads them)") from None
            where = f"member {member}: " if member else ""
            raise ParseError(f"{path}: cannot read PCA basis ({where}{type(exc).__name__}: {text[:200]})") from None
        for key, arr in arrays.items():
            if not isinstance(arr, np.ndarray):  # np.load gives the raw bytes of a member that is no .npy
                raise invalid(f"member {key} is not a NumPy array (.npy)")
        meta = arrays.pop("meta.json")
        if meta.ndim != 0 or meta.dtype.kind != "U":
            raise invalid(f"member meta.json must be JSON text (a NumPy string), got a {meta.dtype} array of "
                          f"shape {meta.shape}")
        try:
            meta = json.loads(str(meta))
        except ValueError as exc:
            raise invalid(f"member meta.json is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            fmt = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ParseError(f"{path}: not a crfkit PCA basis (meta.json format {short_repr(fmt)}, "
                             f"expected {FORMAT!r})")
        for key in ("kind", "source"):
            if key not in meta:
                raise invalid(f"meta.json lacks {key!r}")
        try:
            return cls(**arrays, kind=meta["kind"], source=meta["source"], attrs=meta.get("attrs", {}))
        except ValidationError as exc:
            raise invalid(str(exc)) from None


_LEARNED = {}  # (curve digest, curve kind, basis kind, source) -> PCABasis; a few entries at most
_LEARNED_MAX = 8
_LEARNED_LOCK = threading.Lock()


def _learn_cached(cs, kind, source):
    """PCABasis of ``cs`` as ``kind`` curves, memoised on the curves' content: bracket calibration
    and fitting resolve the same named set over and over, and inverting 191 curves and a PCA on
    them is a tenth of a second each time."""
    import copy
    import hashlib

    values = np.ascontiguousarray(cs.values, dtype=np.float64)
    key = (hashlib.sha256(values.view(np.uint8)).hexdigest(), values.shape, cs.kind, kind, source)
    with _LEARNED_LOCK:
        pb = _LEARNED.get(key)
    if pb is None:
        pb = PCABasis.from_curves(cs.as_kind(kind), source=source)
        with _LEARNED_LOCK:
            if len(_LEARNED) >= _LEARNED_MAX:
                _LEARNED.pop(next(iter(_LEARNED)))
            _LEARNED[key] = pb
    return copy.deepcopy(pb)  # callers may change their basis; the memo stays as learned


def resolve_basis(basis, kind, k):
    """Turn a basis argument (PCABasis, .npz path, CurveSet or set name) into a PCABasis of ``kind``."""
    if basis is None:
        raise ValidationError("model 'pca' needs basis=... (a curve set name such as 'dorf', a CurveSet, or a basis file)")
    if isinstance(basis, PCABasis):
        basis.__post_init__()  # re-check: its arrays may have been replaced since it was built
        pb = basis
    elif isinstance(basis, CurveSet):
        pb = _learn_cached(basis, kind, basis.name)
    elif not isinstance(basis, (str, os.PathLike)):
        raise ValidationError(
            f"basis must be a PCABasis, a CurveSet, a curve set name or a file path, got {type(basis).__name__}"
        )
    else:
        p = Path(str(basis))
        if p.suffix == ".npz" and p.exists():
            pb = PCABasis.load(p)
        else:
            from ..data import load_curves

            pb = _learn_cached(load_curves(basis), kind, p.stem if p.suffix else str(basis))
    if pb.kind != kind:
        raise ValidationError(f"PCA basis from {pb.source!r} is for {pb.kind} curves; cannot fit {kind} curves")
    if k > pb.n_components:
        raise ValidationError(f"k={k} exceeds the {pb.n_components} components of the PCA basis from {pb.source!r}")
    return pb


@register_model
class PCAModel(BasisModel):
    """Mean plus ``k`` PCA components of a curve set (EMoR rebuilt from any data).

    Parameters
    ----------
    k : int
    kind : {'forward', 'inverse'}
    basis : PCABasis, CurveSet, str or Path
        The basis, or the curve set (name such as ``'dorf'`` or ``.crfs`` path)
        to learn it from; a forward set is inverted for inverse curves.
    """

    name = "pca"
    default_k = 5
    k_range = (1, GRID_SIZE - 1)

    def __init__(self, k=None, kind="forward", basis=None):
        super().__init__(k, kind)
        self.basis = resolve_basis(basis, self.kind, self.k)

    @property
    def label(self):
        return f"PCA({self.basis.source})-{self.k}"

    def basis_arrays(self):
        return self.basis.mean, self.basis.components
