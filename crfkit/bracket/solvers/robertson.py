"""Robertson, Borman & Stevenson (2003): iterative maximum-likelihood estimation.

Alternates the irradiance of every pixel, ``E_p = sum_j w t_j g(z_pj) / sum_j w t_j^2``,
and the response at every level, ``g(l) = mean of t_j E_p over the samples at l``.
Unlike OpenCV's implementation, levels that no sample reached are interpolated
from their neighbours instead of being left undefined (NaN or infinite).
"""

import numpy as np

from .base import BracketSolver, SolverResult, check_option, levels_to_inverse, log_times_or_fail, quantise, register_solver


@register_solver
class RobertsonSolver(BracketSolver):
    """Robertson et al. 2003.

    Parameters
    ----------
    max_iter : int
    tol : float
        Stop when the response changes by less than this (relative, largest level).
    levels : int
        Code levels (256; 16-bit codes are binned).
    """

    name = "robertson"
    label = "Robertson et al. 2003"

    def __init__(self, max_iter=50, tol=1e-5, levels=256):
        self.max_iter = max_iter
        self.tol = tol
        self.levels = levels

    def solve(self, z, valid, log_times, code_max=255, start=None):
        logt = log_times_or_fail(log_times, self.name)
        n, p, j = z.shape
        L = check_option(self.levels, "levels", low=2, integer=True)
        max_iter = check_option(self.max_iter, "max_iter", integer=True)
        tol = check_option(self.tol, "tol")
        t = np.exp(logt - logt[:, :1])
        x = np.arange(L) / (L - 1)
        # Robertson's Gaussian-like certainty, zero for unusable samples.
        out = np.empty((n, L))
        seen = np.zeros((n, L), bool)
        for i in range(n):
            zi = quantise(z[i], L)
            wv = np.exp(-4.0 * (zi / (L - 1) - 0.5) ** 2 / 0.25) * valid[i]
            counts = np.bincount(zi[valid[i]], minlength=L)
            seen[i] = counts > 0
            g = x.copy()  # linear start
            g[0] = 0.0
            ti = t[i][None, :]
            for _ in range(max_iter):
                gz = g[zi]
                E = (wv * ti * gz).sum(axis=1) / np.maximum((wv * ti * ti).sum(axis=1), 1e-300)
                target = (ti * E[:, None])[valid[i]]
                sums = np.bincount(zi[valid[i]], weights=target, minlength=L)
                new = np.where(seen[i], sums / np.maximum(counts, 1), np.nan)
                mid = new[seen[i]][np.argmin(np.abs(np.flatnonzero(seen[i]) - L // 2))]
                new = new / mid
                change = np.nanmax(np.abs(new - np.where(seen[i], g / g[np.flatnonzero(seen[i])[
                    np.argmin(np.abs(np.flatnonzero(seen[i]) - L // 2))]], np.nan)))
                ok = np.flatnonzero(seen[i])
                g = np.interp(np.arange(L), ok, new[ok])
                if change < tol:
                    break
            out[i] = g
        inverse = levels_to_inverse(out, seen)
        return SolverResult(inverse, logt - logt[:, :1], {"levels": L})
