"""PCA bases learned from any curve set (EMoR-style; "EMoDCRF"-style).

``PCABasis.from_curves(curves)`` runs scikit-learn's PCA over the curves'
1024 samples: the mean curve and the leading principal components, exactly
the construction of EMoR (from DoRF) and EMoDCRF (from DCRF).  A basis is a
file (``.npz``) so it can be shared; ``PCAModel`` fits with it like EMoR.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_savez
from ..curves import GRID_SIZE, CurveSet
from ..errors import ParseError, ValidationError
from .emor import BasisModel
from .registry import register_model

FORMAT = "crfkit-pcabasis"


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

        if isinstance(curves, CurveSet):
            values, kind = curves.values, curves.kind
            source = source if source is not None else (curves.name or "curves")
        else:
            values, kind = np.atleast_2d(np.asarray(curves, float)), "forward"
        n = values.shape[0]
        if n < 2:
            raise ValidationError(f"a PCA basis needs at least 2 curves, got {n}")
        k = min(n - 1, GRID_SIZE) if n_components is None else int(n_components)
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
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta.json"]))
                if meta.get("format") != FORMAT:
                    raise ParseError(f"{path}: not a crfkit PCA basis (format {meta.get('format')!r})")
                return cls(z["mean"], z["components"], z["explained_variance_ratio"], meta["kind"], meta["source"], meta.get("attrs", {}))
        except ParseError:
            raise
        except FileNotFoundError:
            from ..errors import DataNotFoundError

            raise DataNotFoundError(f"PCA basis file not found: {path}") from None
        except Exception as exc:
            raise ParseError(f"{path}: cannot read PCA basis ({type(exc).__name__}: {exc})") from None


def resolve_basis(basis, kind, k):
    """Turn a basis argument (PCABasis, .npz path, CurveSet or set name) into a PCABasis of ``kind``."""
    if basis is None:
        raise ValidationError("model 'pca' needs basis=... (a curve set name such as 'dorf', a CurveSet, or a basis file)")
    if isinstance(basis, PCABasis):
        pb = basis
    elif isinstance(basis, CurveSet):
        pb = PCABasis.from_curves(basis.as_kind(kind), source=basis.name)
    else:
        p = Path(str(basis))
        if p.suffix == ".npz" and p.exists():
            pb = PCABasis.load(p)
        else:
            from ..data import load_curves

            cs = load_curves(basis).as_kind(kind)
            pb = PCABasis.from_curves(cs, source=p.stem if p.suffix else str(basis))
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
