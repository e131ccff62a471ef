"""Mitsunaga & Nayar (CVPR 1999): polynomial inverse response and exposure ratios.

``g(M) = sum_n c_n M^n`` with ``g(0) = 0``, ``g(1) = 1``; consecutive
exposures ``j`` (shorter) and ``j+1`` of one pixel satisfy
``g(M_j) = R_j g(M_{j+1})`` with ``R_j = t_j / t_{j+1}``.  The coefficients
(a linear least-squares problem, here with the monotone constraint) and the
ratios (closed form) are updated in turn, so exposure times need only be
roughly known, or not at all.  The residuals are divided by the current
``g(M_j) + R_j g(M_{j+1})`` (iteratively reweighted): the plain linear-domain
error favours curves that are small over the sampled range.
"""

import numpy as np

from ...errors import ValidationError
from .base import BracketSolver, SolverResult, check_option, register_solver


@register_solver
class MitsunagaNayarSolver(BracketSolver):
    """Mitsunaga & Nayar 1999.

    Parameters
    ----------
    degree : int
        Polynomial degree (1..10).
    max_iter : int
    """

    name = "mitsunaga-nayar"
    aliases = ("mitsunaga", "mn")
    estimates_times = True
    label = "Mitsunaga & Nayar 1999"

    def __init__(self, degree=5, max_iter=30):
        self.degree = degree
        self.max_iter = max_iter

    def solve(self, z, valid, log_times, code_max=255, start=None):
        from ...models.base import _batched_lstsq, monotone_lstsq
        from ...models.polynomial import PolynomialModel
        from ...curves.curve import GRID

        deg = check_option(self.degree, "degree", integer=True)
        max_iter = check_option(self.max_iter, "max_iter", integer=True)
        if not 1 <= deg <= 10:
            raise ValidationError(f"degree must be in 1..10, got {self.degree!r}")
        model = PolynomialModel(k=max(deg - 1, 1), kind="inverse", pin_zero=True) if deg > 1 else None
        n, p, j = z.shape
        estimate = log_times is None
        if deg == 1:
            inverse = np.broadcast_to(GRID, (n, GRID.size)).copy()
            lt = np.zeros((n, j)) if estimate else np.asarray(log_times, float) - np.asarray(log_times, float)[:, :1]
            return SolverResult(inverse, lt, {"degree": 1})
        z1, z2 = z[:, :, :-1], z[:, :, 1:]
        pair = valid[:, :, :-1] & valid[:, :, 1:]
        a1, B1 = model.design(z1.ravel())
        a2, B2 = model.design(z2.ravel())
        shape = (n, p * (j - 1))
        a1, a2 = a1.reshape(shape), a2.reshape(shape)
        B1, B2 = B1.reshape(shape + (-1,)), B2.reshape(shape + (-1,))
        pw = pair.reshape(shape).astype(float)
        if estimate and start is not None:
            # Ratios from a times prior (see calibrate_bracket): their total range is kept
            # below, which settles the exponential ambiguity; their pattern is refined.
            lt0 = np.asarray(start, float)
            R = np.exp(lt0[:, :-1] - lt0[:, 1:])
        elif estimate:
            # Start from gamma 2.2: R = median of (M_j / M_{j+1})^2.2
            ratio = np.where(pair, (np.maximum(z1, 1e-6) / np.maximum(z2, 1e-6)) ** 2.2, np.nan)
            with np.errstate(all="ignore"):
                R = np.nanmedian(ratio, axis=1)
            R = np.where(np.isfinite(R) & (R > 0) & (R < 1), R, 0.5)
        else:
            lt = np.asarray(log_times, float)
            R = np.exp(lt[:, :-1] - lt[:, 1:])
        ag, Bg = model.design(GRID)
        G, h = np.diff(Bg, axis=0), -np.diff(ag)
        c = model.fit_samples(GRID, GRID[None] ** 2.2)[0]
        c = np.tile(c, (n, 1))
        for _ in range(max_iter):
            Rr = np.broadcast_to(R[:, None, :], (n, p, j - 1)).reshape(shape)
            g1 = a1 + np.einsum("nmk,nk->nm", B1, c)
            g2 = a2 + np.einsum("nmk,nk->nm", B2, c)
            scale = np.maximum(np.abs(g1) + Rr * np.abs(g2), 1e-6)
            sw = np.sqrt(pw) / scale
            A = sw[:, :, None] * (B1 - Rr[:, :, None] * B2)
            b = sw * (Rr * a2 - a1)
            try:
                c_new = monotone_lstsq(A, b, G, h)
            except Exception:
                c_new = _batched_lstsq(A, b)
            change = np.max(np.abs(c_new - c))
            c = c_new
            if estimate:
                g1 = a1 + np.einsum("nmk,nk->nm", B1, c)
                g2 = a2 + np.einsum("nmk,nk->nm", B2, c)
                num = (pw * g1 * g2).reshape(n, p, j - 1).sum(axis=1)
                den = (pw * g2 * g2).reshape(n, p, j - 1).sum(axis=1)
                R_new = np.clip(num / np.maximum(den, 1e-300), 1e-6, 1 - 1e-6)
                if start is not None:
                    total = np.log(R).sum(axis=1, keepdims=True)
                    R_new = np.exp(np.log(R_new) * total / np.log(R_new).sum(axis=1, keepdims=True))
                R = R_new
            if change < 1e-8:
                break
        inverse = model.evaluate(c, GRID)
        inverse = np.maximum.accumulate(np.clip(inverse, 0.0, 1.0), axis=1)
        logt = np.concatenate([np.zeros((n, 1)), np.cumsum(-np.log(R), axis=1)], axis=1)
        return SolverResult(inverse, logt, {"degree": deg})
