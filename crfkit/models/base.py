"""The model interface and the batched solvers behind it.

Every model maps a parameter vector to a curve ``f(x; theta)`` on [0, 1] and
fits many curves at once: ``fit_samples(x, Y, W)`` takes a shared abscissa
``x`` (m,), values ``Y`` (N, m) and weights ``W`` (N, m) and returns (N, p)
parameters.  Linear models solve all N least-squares problems with one
(batched) QR factorisation; nonlinear models run a batched
Levenberg-Marquardt in which every curve has its own damping, so there is no
Python-level loop over curves.
"""

import copy

import numpy as np

from ..curves.curve import GRID
from ..errors import FitError, ValidationError



def _row_weights(weights, shape):
    if weights is None:
        return None
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), shape)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValidationError("weights must be finite and >= 0")
    return w


class CRFModel:
    """Base class of CRF models.

    Subclasses set ``name`` (the registry key), ``label`` formatting and
    implement :meth:`evaluate` and a fitting method.  Construct with the number
    of free parameters ``k`` where the family has one.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``'emor'``.
    linear : bool
        True when ``f`` is affine in the parameters.
    """

    name = "base"
    linear = False
    default_k = None
    k_range = (1, 1)

    def __init__(self, k=None, kind="forward"):
        from .._validation import check_int

        k = self.default_k if k is None else k
        lo, hi = self.k_range
        self.k = check_int(k, f"k for model {self.name!r}", lo, hi)
        from ..curves.curve import check_kind

        self.kind = check_kind(kind)

    @property
    def n_params(self):
        return self.k

    @property
    def label(self):
        """Column label in tables, e.g. ``'EMoR-5'``."""
        return f"{self.name}-{self.k}"

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k}, kind={self.kind!r})"

    # -- to be provided by subclasses -------------------------------------------------
    def evaluate(self, params, x=GRID):
        """Curve values for parameters ``params`` (N, p) at ``x`` (m,): (N, m)."""
        raise NotImplementedError

    def fit_samples(self, x, y, weights=None, monotone=False):
        """Fit ``y`` (N, m) sampled at ``x`` (m,); returns parameters (N, p)."""
        raise NotImplementedError

    # -- shared helpers ----------------------------------------------------------------
    def curves(self, params):
        """Values on the 1024 grid, shape (N, 1024)."""
        return self.evaluate(np.atleast_2d(params), GRID)

    def _check_counts(self, w, m):
        n_eff = m if w is None else np.count_nonzero(w > 0, axis=-1).min()
        if n_eff < self.n_params:
            raise FitError(
                f"model {self.label} has {self.n_params} parameters but only {int(n_eff)} sample(s) "
                "with non-zero weight were given"
            )


class LinearModel(CRFModel):
    """``f(x) = a(x) + B(x) @ c``: fitted by (weighted, batched) least squares."""

    linear = True

    def design(self, x):
        """Return the offset ``a`` (m,) and the basis ``B`` (m, p) at ``x``."""
        raise NotImplementedError

    def evaluate(self, params, x=GRID):
        a, B = self.design(np.asarray(x, dtype=np.float64))
        params = np.atleast_2d(params)
        # Same values as ``a + params @ B.T``; for (N, p) x (p, m) with small p,
        # einsum (BLAS through tensordot for larger p) is 1.5-4x faster than matmul.
        out = np.einsum("np,mp->nm", params, B, optimize=B.shape[1] > 3)
        out += a
        return out

    def fit_samples(self, x, y, weights=None, monotone=False, regularization=0.0):
        x = np.asarray(x, dtype=np.float64)
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        w = _row_weights(weights, y.shape)
        self._check_counts(w, x.size)
        a, B = self.design(x)
        target = y - a
        p = B.shape[1]
        reg = float(regularization)
        if not monotone:
            if w is None and reg == 0.0:
                # One QR factorisation serves all N right-hand sides.
                from scipy.linalg import solve_triangular

                Q, R = np.linalg.qr(B)
                return solve_triangular(R, Q.T @ target.T).T
            sw = np.ones_like(y) if w is None else np.sqrt(w)
            A = sw[:, :, None] * B[None]
            rhs = sw * target
            if reg:
                A = np.concatenate([A, np.broadcast_to(np.sqrt(reg) * np.eye(p), (len(y), p, p))], axis=1)
                rhs = np.concatenate([rhs, np.zeros((len(y), p))], axis=1)
            return _batched_lstsq(A, rhs)
        return self._fit_monotone(x, y, w, a, B, reg)

    def _fit_monotone(self, x, y, w, a, B, reg):
        """Least squares subject to non-decreasing values on the 1024 grid."""
        n, m = y.shape
        p = B.shape[1]
        sw = np.ones_like(y) if w is None else np.sqrt(w)
        ag, Bg = self.design(GRID)
        G = np.diff(Bg, axis=0)  # (1023, p): grid steps are G @ c + Da
        h = -np.diff(ag)  # constraint G @ c >= h
        A = sw[:, :, None] * B[None]
        b = sw * (y - a)
        if reg:
            A = np.concatenate([A, np.broadcast_to(np.sqrt(reg) * np.eye(p), (n, p, p))], axis=1)
            b = np.concatenate([b, np.zeros((n, p))], axis=1)
        return monotone_lstsq(A, b, G, h)


def monotone_lstsq(A, b, G, h):
    """Solve ``min ||A[i] c - b[i]||`` subject to ``G c >= h`` for a stack of problems.

    The unconstrained solutions come from one batched QR; only the problems
    whose solution violates a constraint go on to an exact solve: the
    least-squares-with-inequalities problem is reduced to least distance
    programming and solved by non-negative least squares (Lawson & Hanson,
    *Solving Least Squares Problems*, ch. 23), one small NNLS (p+1 rows) each.

    Parameters
    ----------
    A : ndarray (N, m, p)
    b : ndarray (N, m)
    G : ndarray (q, p)
    h : ndarray (q,)

    Returns
    -------
    ndarray (N, p)
    """
    from scipy.optimize import nnls

    n, _, p = A.shape
    Q, R = np.linalg.qr(A)
    qtb = np.einsum("nmp,nm->np", Q, b)
    c = np.linalg.solve(R, qtb[..., None])[..., 0]
    slack = c @ G.T - h
    for i in np.flatnonzero((slack < -1e-13).any(axis=1)):
        Rinv = np.linalg.inv(R[i])
        E = G @ Rinv  # constraints on y = R c - Q^T b
        f = h - E @ qtb[i]
        # Normalise rows so that tiny grid steps do not dominate NNLS tolerances.
        norms = np.maximum(np.linalg.norm(E, axis=1), 1e-300)
        E, f = E / norms[:, None], f / norms
        M = np.vstack([E.T, f[None, :]])
        e = np.zeros(p + 1)
        e[-1] = 1.0
        u, _ = nnls(M, e, maxiter=50 * M.shape[1])
        r = M @ u - e
        if abs(r[-1]) < 1e-14:
            raise FitError("monotone fit is infeasible for this model and data")
        y = -r[:p] / r[-1]
        c[i] = Rinv @ (y + qtb[i])
    return c


def _batched_lstsq(A, b):
    """Solve min ||A[i] c - b[i]|| for a stack (N, m, p), (N, m) via QR."""
    Q, R = np.linalg.qr(A)
    qtb = np.einsum("nmp,nm->np", Q, b)
    try:
        return np.linalg.solve(R, qtb[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # Rank-deficient stack: fall back to per-problem minimum-norm solutions.
        return np.stack([np.linalg.lstsq(A[i], b[i], rcond=None)[0] for i in range(len(A))])


class NonlinearModel(CRFModel):
    """Models fitted by batched Levenberg-Marquardt.

    Subclasses implement :meth:`evaluate`, :meth:`value_and_jacobian` and
    :meth:`initial`.
    """

    max_iter = 60
    tol = 1e-9

    def value_and_jacobian(self, params, x):
        """Curve values (N, m) and derivatives (N, m, p) at ``x``."""
        raise NotImplementedError

    def jacobian(self, params, x):
        return self.value_and_jacobian(params, x)[1]

    def initial(self, x, y, w):
        """Starting parameters (N, p), e.g. from a linearised fit."""
        raise NotImplementedError

    def project(self, params):
        """Keep parameters in the valid region (identity by default)."""
        return params

    def separable_jacobian(self, params, x):
        """Optional fast path: ``(f, F, X)`` with ``J[n, m, a] = F[n, m] * X[m, a]``.

        Gamma and GGCM have this structure; it lets the normal equations be
        formed with plain matrix products instead of an (N, m, p) tensor.
        Return None when the model has no such structure.
        """
        return None

    #: Unconstrained fits to at least this many samples start from a fit to every
    #: ``coarse_stride``-th sample (and the last): the first Levenberg-Marquardt
    #: iterations, which move furthest, then cost a fraction of a full evaluation.
    #: The result is the minimiser on all samples, as without it.
    coarse_min_samples = 512
    coarse_stride = 8
    coarse_tol = 1e-6

    def _start(self, x, y, w, monotone):
        """Starting parameters: :meth:`initial`, refined on a subsample for large fits."""
        m = x.size
        if monotone or m < self.coarse_min_samples:
            return self.project(self.initial(x, y, w))
        sub = np.unique(np.r_[np.arange(0, m, self.coarse_stride), m - 1])
        ws = None if w is None else w[:, sub]
        if ws is not None and np.count_nonzero(ws > 0, axis=1).min() < self.n_params:
            return self.project(self.initial(x, y, w))
        # The subsample fit only has to land near the minimum: a looser tolerance
        # cuts its slow tail; the fit on all samples then converges to ``tol``.
        coarse = copy.copy(self)  # not self: leaves this model untouched (thread safety)
        coarse.tol = self.coarse_tol
        return coarse.fit_samples(x[sub], y[:, sub], ws)

    def fit_samples(self, x, y, weights=None, monotone=False):
        x = np.asarray(x, dtype=np.float64)
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        w = _row_weights(weights, y.shape)
        self._check_counts(w, x.size)
        sw = None if w is None else np.sqrt(w)
        theta = self._start(x, y, w, monotone)
        pen = np.sqrt(1e6 * x.size)  # monotone penalty weight on decreasing grid steps
        p = theta.shape[1]
        fast = not monotone and self.separable_jacobian(theta[:1], x) is not None
        if fast:
            _, _, X = self.separable_jacobian(theta[:1], x)
            # Products x^a x^b for the normal matrix, indexed by (a, b) pairs.
            XX = (X[:, :, None] * X[:, None, :]).reshape(x.size, p * p)

        def rows(a, idx):
            # idx comes from flatnonzero (sorted, unique): all rows means a itself, no copy.
            return a if idx.size == a.shape[0] else a[idx]

        def fun(th, idx):
            if fast:
                f, F, _ = self.separable_jacobian(th, x)
                r = np.subtract(f, rows(y, idx), out=f)
                if sw is not None:
                    swi = rows(sw, idx)
                    r *= swi
                    F *= swi
                if p == 1:
                    JtJ = np.einsum("nm,nm,m->n", F, F, XX[:, 0])[:, None, None]
                    Jtr = np.einsum("nm,nm,m->n", F, r, X[:, 0])[:, None]
                    return r, JtJ, Jtr
                JtJ = ((F * F) @ XX).reshape(-1, p, p)
                F *= r
                Jtr = F @ X
                return r, JtJ, Jtr
            f, J = self.value_and_jacobian(th, x)
            r = f - y[idx]
            if sw is not None:
                r *= sw[idx]
                J = sw[idx][:, :, None] * J
            if monotone:
                fg, Jg = self.value_and_jacobian(th, GRID)
                steps = np.diff(fg, axis=1)
                neg = steps < 0
                rp = pen * np.where(neg, steps, 0.0)
                Jp = pen * neg[:, :, None] * np.diff(Jg, axis=1)
                r, J = np.concatenate([r, rp], axis=1), np.concatenate([J, Jp], axis=1)
            Jt = J.transpose(0, 2, 1)
            return r, Jt @ J, (Jt @ r[..., None])[..., 0]

        theta = batched_levenberg_marquardt(fun, theta, self.project, self.max_iter, self.tol)
        if monotone:
            # A penalty leaves decreases of order 1/pen**2: raise the penalty on the
            # rows that still decrease (continuation) until they are monotone.
            for _ in range(6):
                bad = np.flatnonzero(np.diff(self.evaluate(theta, GRID), axis=1).min(axis=1) < -1e-12)
                if bad.size == 0:
                    break
                pen *= 10.0
                theta[bad] = batched_levenberg_marquardt(
                    lambda th, idx: fun(th, bad[idx]), theta[bad], self.project, self.max_iter, self.tol
                )
        return theta


def batched_levenberg_marquardt(fun, theta, project=lambda t: t, max_iter=60, tol=1e-9):
    """Minimise ``sum(r_i(theta_i)**2)`` for every row ``i`` at once.

    Parameters
    ----------
    fun : callable (theta (n, p), rows (n,)) -> (r (n, m), JtJ (n, p, p), Jtr (n, p))
        Residuals of problems ``rows`` at ``theta`` and the Gauss-Newton
        normal equations (J^T J and J^T r of their Jacobian J).
    theta : ndarray (N, p)
        Starting point.
    project : callable
        Maps a parameter step back into the valid region.

    Returns
    -------
    ndarray (N, p)
        Each row stops on its own when its cost improves by less than ``tol``
        (relative), its step is below ``tol`` relative to the parameters, or
        its damping grows past any use.
    """
    theta = np.array(theta, dtype=np.float64)
    n, p = theta.shape
    lam = np.full(n, 1e-3)
    r, JtJ_all, Jtr_all = fun(theta, np.arange(n))
    cost = np.einsum("nm,nm->n", r, r)
    del r  # only the cost of the current point is kept
    active = np.ones(n, dtype=bool)
    eye = np.eye(p)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        JtJ, Jtr = JtJ_all[idx], Jtr_all[idx]
        diag = np.einsum("npp->np", JtJ) + 1e-15
        A = JtJ + lam[idx, None, None] * diag[:, :, None] * eye
        try:
            step = np.linalg.solve(A, -Jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = -Jtr / diag
        cand = project(theta[idx] + step)
        r_c, JtJ_c, Jtr_c = fun(cand, idx)
        c_cost = np.einsum("nm,nm->n", r_c, r_c)
        better = c_cost < cost[idx]
        good = idx[better]
        gain = (cost[good] - c_cost[better]) / np.maximum(cost[good], 1e-300)
        theta[good] = cand[better]
        cost[good] = c_cost[better]
        JtJ_all[good], Jtr_all[good] = JtJ_c[better], Jtr_c[better]
        lam[good] = np.maximum(lam[good] / 5.0, 1e-12)
        bad = idx[~better]
        scale = np.max(np.abs(step), axis=1) / (1.0 + np.max(np.abs(theta[idx]), axis=1))
        # A rejected step that is negligible even undamped (step * (1 + lam)) means the
        # row is at its minimum to rounding: stop instead of raising the damping forever.
        stuck = scale[~better] * (1.0 + lam[bad]) <= tol
        lam[bad] *= 5.0
        active[good[(gain < tol) | (scale[better] <= tol)]] = False
        active[bad[(lam[bad] > 1e10) | stuck]] = False
    if not np.all(np.isfinite(theta)):
        raise FitError("Levenberg-Marquardt produced non-finite parameters")
    return theta
