"""EMoR: the empirical model of response (Grossberg & Nayar, PAMI 2004).

``f = f0 + sum_{n=1..k} c_n h_n`` with the official mean ``f0`` and principal
components ``h`` (from ``emor.txt``); inverse curves use ``g0`` and ``hinv``
(from ``invemor.txt``).  The components are orthonormal over the 1024
samples, so fitting a whole curve is a projection; sparse samples are fitted
by least squares on the rows of the basis at those samples.
"""

import numpy as np

from ..errors import ValidationError
from .base import LinearModel
from .registry import register_model


def _interp_rows(x, grid_values):
    """Linear interpolation of each row of (K, 1024) at x: (m, K)."""
    from ..curves.curve import GRID

    x = np.asarray(x, float)
    if x.shape == GRID.shape and np.array_equal(x, GRID):
        return np.asarray(grid_values).T
    pos = np.clip(x, 0.0, 1.0) * (GRID.size - 1)
    lo = np.minimum(pos.astype(int), GRID.size - 2)
    t = pos - lo
    gv = np.asarray(grid_values)
    return (gv[:, lo] * (1 - t) + gv[:, lo + 1] * t).T


class BasisModel(LinearModel):
    """A mean curve plus ``k`` components, the common part of EMoR and PCA."""

    def basis_arrays(self):
        """Return (mean (1024,), components (K, 1024))."""
        raise NotImplementedError

    def design(self, x):
        mean, comps = self.basis_arrays()
        a = _interp_rows(x, mean[None, :])[:, 0]
        B = _interp_rows(x, comps[: self.k])
        return a, B


@register_model
class EMoRModel(BasisModel):
    """EMoR with the official basis: ``k`` in 1..25 coefficients.

    Parameters
    ----------
    k : int
        Number of components.
    kind : {'forward', 'inverse'}
        ``'inverse'`` uses the inverse EMoR basis (``g0``, ``hinv``).
    path : str or Path, optional
        Where ``emor.txt`` / ``invemor.txt`` are (else ``CRFKIT_DATA``, cache).
    """

    name = "emor"
    default_k = 5
    k_range = (1, 25)

    def __init__(self, k=None, kind="forward", path=None):
        super().__init__(k, kind)
        self.path = path
        self._basis = None

    @property
    def label(self):
        return f"EMoR-{self.k}"

    def basis_arrays(self):
        if self._basis is None:
            from ..data import load_emor

            b = load_emor(inverse=self.kind == "inverse", path=self.path)
            if b.kind != self.kind:  # an explicit path= to the other basis file
                raise ValidationError(f"{b.source} holds the {b.kind} EMoR basis; {self.kind} curves need the other file")
            if self.k > b.n_components:
                raise ValidationError(f"k={self.k} exceeds the {b.n_components} components in {b.source}")
            self._basis = (b.mean, b.components)
        return self._basis
