"""Generalised gamma curve model, GGCM (Ng, Chang & Tsui, CVPR 2007).

``f(x) = x ** P(x)`` with ``P(x) = sum_{i=0..k-1} alpha_i x^i``: ``k`` parameters
(``k = 1`` is the plain gamma curve).  f(0) = 0 and f(1) = 1 hold for any
``P(0) > 0``.  Nonlinear in alpha: fitted by batched Levenberg-Marquardt,
started from the linear least-squares fit of ``log f = P(x) log x``.
"""

import numpy as np

from .base import NonlinearModel
from .registry import register_model

_TINY = 1e-12


@register_model
class GGCMModel(NonlinearModel):
    """``f(x) = x ** (alpha_0 + alpha_1 x + ... + alpha_{k-1} x^{k-1})``."""

    name = "ggcm"
    default_k = 2
    k_range = (1, 8)

    #: Smallest exponent at 0 a monotone fit may take: P(0) > 0 is what makes f(0) = 0.
    min_exponent = 1e-3

    @property
    def label(self):
        return f"GGCM-{self.k}"

    def identifiable_rank(self, x):
        """Distinct samples strictly inside (0, 1): at 0 and 1, ``x ** P`` is 0 and 1 whatever ``P``."""
        from .base import _count_distinct

        x = np.asarray(x, float)
        return min(_count_distinct(x[(x > 0.0) & (x < 1.0)]), self.n_params)

    def monotone_constraints(self):
        """Exact linear constraints for a non-decreasing curve on the grid.

        ``log f = P(x) log x`` is linear in alpha and ``exp`` is increasing, so
        ``f`` is non-decreasing on the grid iff ``P(x) log x`` is, on the grid
        points above 0; ``f(0) = 0 <= f`` needs ``P(0) = alpha_0 > 0``.
        """
        from ..curves.curve import GRID

        plog = self._features(GRID[1:])[3]  # (p, 1023): x^i log x
        G = np.vstack([np.diff(plog, axis=1).T, np.eye(1, self.k)])
        h = np.r_[np.zeros(plog.shape[1] - 1), self.min_exponent]
        return G, h

    def _features(self, x):
        """log x (0 where x <= 0), the powers x^i (p, m) and x^i log x (p, m).

        Cached for the last two abscissae (a coarse-to-fine fit alternates two).
        """
        x = np.asarray(x, float)
        caches = self.__dict__.setdefault("_feat_cache", [])
        for cache in caches:
            if cache[0].shape == x.shape and np.array_equal(cache[0], x):
                return cache[1:]
        zero = x <= 0
        logx = np.log(np.where(zero, 1.0, x))
        powers = x[None, :] ** np.arange(self.k)[:, None]  # (p, m)
        caches.insert(0, (x.copy(), logx, powers, zero, powers * logx))
        del caches[2:]
        return caches[0][1:]

    def evaluate(self, params, x):
        logx, powers, zero, plog = self._features(x)
        params = np.atleast_2d(params)
        # Exponent P(x) log x = sum_i alpha_i x^i log x.  einsum rather than a matrix
        # product: BLAS is slow for this (N, p) x (p, m) shape with small p.
        out = np.einsum("np,pm->nm", params, plog)
        np.minimum(out, 50.0, out=out)  # a negative exponent near 0 would overflow
        np.exp(out, out=out)
        if zero.any():
            # f(0) = 0 for a positive exponent at 0 (the only physical case).
            out[:, zero] = np.where(params @ powers[:, zero] > 0, 0.0, 1.0)
        return out

    def value_and_jacobian(self, params, x):
        logx, powers = self._features(x)[:2]
        f = self.evaluate(params, x)
        fl = f * logx
        return f, fl[:, :, None] * powers.T[None, :, :]

    def separable_jacobian(self, params, x):
        logx, powers = self._features(x)[:2]
        f = self.evaluate(params, x)
        return f, f * logx, powers.T

    def initial(self, x, y, w):
        x = np.asarray(x, float)
        ok = (x > 1e-3) & (x < 1 - 1e-3)
        lx = np.log(np.where(ok, x, 0.5))
        ly = np.log(np.clip(y, 1e-6, 1.0))
        ww = ok[None, :] * (1.0 if w is None else w) * (y > 1e-6)
        # log y = P(x) log x: linear in alpha with design x^i log x.
        V = lx[:, None] * x[:, None] ** np.arange(self.k)[None, :]
        VV = (V[:, :, None] * V[:, None, :]).reshape(x.size, -1)
        AtA = (ww @ VV).reshape(-1, self.k, self.k) + 1e-9 * np.eye(self.k)
        Atb = (ww * ly) @ V
        alpha = np.linalg.solve(AtA, Atb[..., None])[..., 0]
        bad = ~np.all(np.isfinite(alpha), axis=1)
        alpha[bad] = 0.0
        alpha[bad, 0] = 1.0
        return alpha
