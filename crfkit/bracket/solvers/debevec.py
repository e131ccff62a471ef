"""Debevec & Malik (SIGGRAPH 1997): log-domain least squares with a smoothness term.

Unknowns: the log inverse response ``G(l)`` at every code level ``l`` and the
log irradiance of every sampled pixel.  Each sample gives
``w(z) [G(z) - log E_p - log t_j] = 0``; a second-difference penalty
``lambda w(l) G''(l)`` keeps the curve smooth, and ``G`` at the middle level is
0 (the scale is fixed afterwards by ``g(1) = 1``, the curve continued straight in the
log domain above the highest valid code, as the model solver does).  The system is sparse and
solved through its normal equations with a sparse Cholesky-like solve.
"""

import numpy as np

from .base import (BracketSolver, SolverResult, check_option, hat_weight, highest_valid_code, levels_to_inverse,
                   log_times_or_fail, normalise_top, quantise, register_solver)


@register_solver
class DebevecSolver(BracketSolver):
    """Debevec & Malik 1997.

    Parameters
    ----------
    smoothness : float
        ``lambda``, relative to the number of samples per level (so the balance
        between data and smoothness does not change with the sample count).
        Default 300: the best of 1 .. 1000 on rendered development brackets
        (a digital camera's measured curves; 1 before), then checked once on the
        real Middlebury brackets (0.0507 against 0.0674 with 1).
    levels : int
        Code levels of the response (256; 16-bit codes are binned).
    """

    name = "debevec"
    label = "Debevec & Malik 1997"

    def __init__(self, smoothness=300.0, levels=256):
        self.smoothness = smoothness
        self.levels = levels

    def solve(self, z, valid, log_times, code_max=255, start=None):
        from ...errors import ValidationError

        smoothness = check_option(self.smoothness, "smoothness")
        if not np.isfinite(smoothness) or smoothness < 0:
            raise ValidationError(f"smoothness must be >= 0, got {self.smoothness!r}")
        L = check_option(self.levels, "levels", integer=True)
        if not 16 <= L <= 4096:
            raise ValidationError(f"levels must be in 16..4096, got {L}")
        logt = log_times_or_fail(log_times, self.name)
        n, p, j = z.shape
        out = np.empty((n, L))
        lev = np.arange(L)
        wl = hat_weight(lev / (L - 1)) + 1e-3
        # Second differences of G, weighted by the level's hat weight.
        D2 = np.zeros((L - 2, L))
        k = np.arange(L - 2)
        D2[k, k], D2[k, k + 1], D2[k, k + 2] = 1.0, -2.0, 1.0
        D2 *= wl[1:-1, None]
        S = D2.T @ D2
        for i in range(n):
            zi = quantise(z[i], L)
            w2 = np.where(valid[i], (hat_weight(zi / (L - 1)) + 1e-3) ** 2, 0.0)  # squared row weights (P, J)
            lam = smoothness * max(w2.sum() / L, 1.0)
            # Normal equations in (G, log E); each log E_p couples only to its own samples, so it is
            # eliminated exactly (Schur complement) and an L x L system remains.
            Dp = w2.sum(axis=1)  # (P,)
            Age = np.zeros((L, p))
            np.add.at(Age, (zi, np.broadcast_to(np.arange(p)[:, None], zi.shape)), -w2)
            diag = np.bincount(zi.ravel(), weights=w2.ravel(), minlength=L)
            bg = np.bincount(zi.ravel(), weights=(w2 * logt[i][None, :]).ravel(), minlength=L)
            be = -(w2 * logt[i][None, :]).sum(axis=1)
            has = Dp > 0
            Ah, Dh = Age[:, has], Dp[has]
            M = np.diag(diag) + lam * S - (Ah / Dh) @ Ah.T
            rhs = bg - Ah @ (be[has] / Dh)
            M[L // 2, L // 2] += 1e6 * max(diag.max(), 1.0)  # anchor G(mid) = 0
            G = np.linalg.solve(M, rhs)
            out[i] = np.exp(G - G.max())
        # The smoothness term defines every level, seen or not; above the highest valid code it
        # only bends the curve by the tiny hat weights there, so the scale (g(1) = 1) is set as the
        # model solver sets it: a straight log-domain continuation of the curve's last 5 %.
        inverse = levels_to_inverse(out, np.ones((n, L), bool))
        inverse = normalise_top(inverse, highest_valid_code(z, valid))
        return SolverResult(inverse, np.broadcast_to(logt - logt[:, :1], (n, j)).copy(), {"levels": L})
