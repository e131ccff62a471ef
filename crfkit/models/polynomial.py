"""Polynomial model (Mitsunaga & Nayar 1999).

``f(x) = sum_{i=0..N} c_i x^i`` with the normalisation ``f(1) = 1`` (the
coefficients sum to 1).  With ``k`` free parameters:

* default (``pin_zero=False``), the Mitsunaga-Nayar form: degree ``N = k``,
  parameters ``c_0 .. c_{k-1}``, ``c_k = 1 - sum``; ``f(0) = c_0`` is free.
* ``pin_zero=True``: also ``f(0) = 0``: degree ``N = k + 1``, parameters
  ``c_1 .. c_k``, ``c_0 = 0``, ``c_{k+1} = 1 - sum``.
"""

import numpy as np

from .base import LinearModel
from .registry import register_model


@register_model
class PolynomialModel(LinearModel):
    """Mitsunaga-Nayar polynomial with ``k`` free parameters and ``f(1) = 1``.

    Parameters
    ----------
    k : int, 1..20
        Number of free coefficients.
    pin_zero : bool
        Also force ``f(0) = 0`` (degree ``k + 1``); see the module docstring.

    ``params`` are the free monomial coefficients in increasing power
    (``c_0..c_{k-1}``, or ``c_1..c_k`` with ``pin_zero``).
    """

    name = "polynomial"
    aliases = ("poly",)
    default_k = 5
    k_range = (1, 20)

    def __init__(self, k=None, kind="forward", pin_zero=False):
        super().__init__(k, kind)
        self.pin_zero = bool(pin_zero)

    @property
    def degree(self):
        return self.k + 1 if self.pin_zero else self.k

    @property
    def label(self):
        return f"Poly0-{self.k}" if self.pin_zero else f"Poly-{self.k}"

    def powers(self):
        return np.arange(1, self.k + 1) if self.pin_zero else np.arange(0, self.k)

    def identifiable_rank(self, x):
        """Exact rank: distinct x other than 1 (and 0 with ``pin_zero``), at most ``k``.

        A non-zero polynomial of this family vanishes at 1 (and 0) and has at
        most ``k - 1`` other roots, so ``k`` such points determine it; the
        numerical rank of the monomial design would misjudge large ``k``.
        """
        from .base import _count_distinct

        x = np.asarray(x, float)
        keep = (x < 1.0) & ((x > 0.0) if self.pin_zero else True)
        return min(_count_distinct(x[keep]), self.k)

    def design(self, x):
        x = np.asarray(x, float)
        top = x**self.degree
        B = x[:, None] ** self.powers()[None, :] - top[:, None]
        return top, B

    def coefficients(self, params):
        """All ``degree + 1`` coefficients ``c_0..c_N`` (N, degree+1)."""
        params = np.atleast_2d(params)
        out = np.zeros((params.shape[0], self.degree + 1))
        out[:, self.powers()] = params
        out[:, -1] = 1.0 - params.sum(axis=1)
        return out
