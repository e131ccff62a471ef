"""The model interface and the batched solvers behind it.

Every model maps a parameter vector to a curve ``f(x; theta)`` on [0, 1] and
fits many curves at once: ``fit_samples(x, Y, W)`` takes a shared abscissa
``x`` (m,), values ``Y`` (N, m) and weights ``W`` (N, m) and returns (N, p)
parameters.  Linear models solve all N least-squares problems with one
(batched) QR factorisation; nonlinear models run a batched
Levenberg-Marquardt in which every curve has its own damping, so there is no
Python-level loop over curves.

Monotone fits (``monotone=True``) are least squares under linear constraints
``G theta >= h`` that say "non-decreasing on the 1024 grid": exact for linear
models (grid steps of ``a + B c``) and for GGCM (grid steps of ``log f``, which
is linear in its parameters).  :func:`monotone_lstsq` solves a stack of such
problems with one batched primal active-set method; nonlinear models take a
constrained step in every Levenberg-Marquardt iteration.  Every monotone
result is verified on the grid against ``MONOTONE_TOL`` (the tolerance of
:meth:`Curve.inverse`), and a :class:`FitError` says why when it cannot hold.
Before any solve, :meth:`CRFModel._check_identifiable` checks that the
samples determine every parameter (their rank, not their count).
"""

import copy
import hashlib
import threading

import numpy as np

from ..curves.curve import GRID, MONOTONE_TOL, monotone_violation
from ..errors import FitError, ValidationError

#: Two abscissae closer than this count as one sample point when counting how
#: many distinct points the data have (x is in [0, 1]).
_X_RESOLUTION = 1e-12
#: A grid step of an unconstrained solution below ``-_STEP_TOL`` sends the row to
#: the constrained solver (far below the library's MONOTONE_TOL, so rounding in
#: the final evaluation cannot push a feasible fit past it).
_STEP_TOL = 1e-13



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

    def identifiable_rank(self, x):
        """How many parameters samples at abscissae ``x`` (m,) can determine.

        The default counts distinct abscissae (a sample repeated at the same x
        adds no information); models override it with their exact rank.
        """
        return min(_count_distinct(x), self.n_params)

    def _check_identifiable(self, x, w, hint=""):
        """Raise :class:`FitError` when some row's samples cannot determine every parameter.

        The rank, not the sample count, decides: ten samples at one x determine
        no more than one.  Rows sharing a pattern of zero weights share one check.
        """
        x = np.asarray(x, dtype=np.float64)
        if w is None:
            patterns, first = np.ones((1, x.size), dtype=bool), np.zeros(1, dtype=int)
        else:
            patterns, first = np.unique(np.asarray(w) > 0, axis=0, return_index=True)
        for mask, row in zip(patterns, first):
            rank = self.identifiable_rank(x[mask]) if mask.any() else 0
            if rank < self.n_params:
                where = "" if w is None or len(w) == 1 else f" (curve {int(row)})"
                raise FitError(
                    f"model {self.label} has {self.n_params} parameters but only {rank} are determined by the "
                    f"samples{where} ({int(mask.sum())} with non-zero weight, at {_count_distinct(x[mask])} distinct x); "
                    f"use samples at more distinct x in (0, 1) or a smaller k{hint}"
                )

    def _verify_monotone(self, params):
        """Raise :class:`FitError` unless every fitted curve is finite and non-decreasing on the grid."""
        vals = self.curves(params)
        bad = ~np.all(np.isfinite(vals), axis=1)
        if bad.any():
            raise FitError(f"monotone fit of {self.label} produced non-finite values (curve {int(np.flatnonzero(bad)[0])})")
        drop = monotone_violation(vals)
        if np.any(drop > MONOTONE_TOL):
            i = int(np.argmax(drop))
            raise FitError(
                f"monotone fit of {self.label} failed for curve {i}: the constrained solve still drops by "
                f"{drop[i]:.3g} (tolerance {MONOTONE_TOL:g}); the samples leave it too ill-conditioned, "
                "try a smaller k or more evenly spread samples"
            )


def _count_distinct(x):
    """Number of distinct values of ``x`` (within :data:`_X_RESOLUTION`)."""
    xs = np.sort(np.asarray(x, dtype=np.float64).ravel())
    return 0 if xs.size == 0 else 1 + int(np.count_nonzero(np.diff(xs) > _X_RESOLUTION))


def numerical_rank(B):
    """Rank of ``B`` (m, p) after scaling its columns to unit norm (relative tolerance)."""
    B = np.asarray(B, dtype=np.float64)
    if B.size == 0:
        return 0
    norms = np.linalg.norm(B, axis=0)
    B = B[:, norms > 0] / norms[norms > 0]
    if B.shape[1] == 0:
        return 0
    s = np.linalg.svd(B, compute_uv=False)
    # NumPy's matrix_rank threshold: only what is singular to rounding counts as
    # lost (ill-conditioned data still determine the parameters).
    return int(np.count_nonzero(s > s[0] * max(B.shape) * np.finfo(float).eps))


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

    def identifiable_rank(self, x):
        """Numerical rank of the design at ``x`` (columns scaled to unit norm)."""
        return numerical_rank(self.design(np.asarray(x, dtype=np.float64))[1])

    def fit_samples(self, x, y, weights=None, monotone=False, regularization=0.0):
        """Weighted least squares, optionally monotone and ridge-regularised.

        Parameters
        ----------
        x : ndarray (m,)
        y : ndarray (N, m)
        weights : ndarray broadcastable to (N, m), optional
        monotone : bool
            Constrain every fitted curve to be non-decreasing on the 1024 grid.
        regularization : float >= 0
            Ridge weight on the parameters; with it, data that cannot determine
            every parameter still have a unique fit.

        Raises
        ------
        FitError
            When the samples cannot determine the parameters (rank, not count),
            or a monotone fit cannot be made monotone.
        """
        from .._validation import check_float

        x = np.asarray(x, dtype=np.float64)
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        w = _row_weights(weights, y.shape)
        reg = check_float(regularization, "regularization", low=0.0)
        if reg == 0.0:
            self._check_identifiable(x, w, hint=", or pass regularization > 0")
        a, B = self.design(x)
        target = y - a
        p = B.shape[1]
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
        params = self._fit_monotone(x, y, w, a, B, reg)
        self._verify_monotone(params)
        return params

    def _fit_monotone(self, x, y, w, a, B, reg):
        """Least squares subject to non-decreasing values on the 1024 grid."""
        n, m = y.shape
        p = B.shape[1]
        sw = np.ones_like(y) if w is None else np.sqrt(w)
        G, h = self.monotone_constraints()
        A = sw[:, :, None] * B[None]
        b = sw * (y - a)
        if reg:
            A = np.concatenate([A, np.broadcast_to(np.sqrt(reg) * np.eye(p), (n, p, p))], axis=1)
            b = np.concatenate([b, np.zeros((n, p))], axis=1)
        params = monotone_lstsq(A, b, G, h)
        # Refinement: a feasible solution can still evaluate as decreasing when its
        # coefficients are so large that rounding in a + B c exceeds the flat steps
        # (high-degree monomials).  Re-solve those rows with every step at least a
        # few times that rounding level, so the evaluated curve is monotone too.
        ag, Bg = self.design(GRID)
        for attempt in range(3):
            vals = ag + params @ Bg.T
            bad = np.flatnonzero(monotone_violation(vals) > 0.5 * MONOTONE_TOL)
            if bad.size == 0:
                break
            # Per row: a bound on the rounding of a + B c on the grid, and a margin of
            # 4, 16, then 64 times that.  The bound is pessimistic and the result is
            # evaluated again, so the smallest margin that works is tried first.
            rounding = np.finfo(float).eps * (np.abs(ag) + np.abs(params[bad]) @ np.abs(Bg).T).max(axis=1)
            margin = np.maximum(4.0 ** (attempt + 1) * rounding, MONOTONE_TOL)
            too_big = margin * (GRID.size - 1) > 1e-3
            if too_big.any():
                # The forced rise would visibly distort the fit: report it instead.
                j = int(np.flatnonzero(too_big)[0])
                i = int(bad[j])
                raise FitError(
                    f"monotone fit of {self.label} failed for curve {i}: its coefficients (up to "
                    f"{np.abs(params[i]).max():.3g}) are too large to evaluate monotone to {MONOTONE_TOL:g} "
                    f"(rounding about {rounding[j]:.2g}); use a smaller k"
                )
            try:
                # A point feasible with the largest margin is feasible with every smaller one.
                start = feasible_point(G, h + margin.max())
                params[bad] = monotone_lstsq(A[bad], b[bad], G, h + margin[:, None], x0=start)
            except FitError:
                break  # no curve of the model rises that steadily: the verification reports it
        return params

    def monotone_constraints(self):
        """``(G, h)``: the curve is non-decreasing on the grid iff ``G @ params >= h``."""
        ag, Bg = self.design(GRID)
        return np.diff(Bg, axis=0), -np.diff(ag)


def monotone_lstsq(A, b, G, h, x0=None, max_iter=None):
    """Solve ``min ||A[i] c - b[i]||`` subject to ``G c >= h`` for a stack of problems.

    One batched QR gives every unconstrained solution; the rows whose solution
    violates a constraint go on to an exact solve, all of them at once (no loop
    over rows).  With ``A = QR`` and ``y = R c`` the problem is the Euclidean
    projection of ``Q^T b`` onto the polyhedron ``(G R^-1) y >= h`` (least
    distance programming, Lawson & Hanson, *Solving Least Squares Problems*,
    ch. 23), solved by a primal active-set method: it starts from a feasible
    point and every step keeps feasibility, so even an ill-conditioned problem
    ends feasible.  The result is checked against ``G c >= h`` in the original
    coordinates and, where rounding in ``c = R^-1 y`` left a violation, pulled
    back along the segment to the feasible starting point.

    Parameters
    ----------
    A : ndarray (N, m, p)
    b : ndarray (N, m)
    G : ndarray (q, p)
    h : ndarray (q,) or (N, q)
    x0 : ndarray (N, p), optional
        Feasible starting points (``G x0 >= h``); by default one point deep
        inside the feasible set is found by linear programming (once per
        constraint set, cached).
    max_iter : int, optional
        Active-set iterations (default ``20 p + 100``); the iterate stays
        feasible, so stopping early costs optimality, never feasibility.

    Returns
    -------
    ndarray (N, p)

    Raises
    ------
    FitError
        When no parameters satisfy the constraints, or a problem is rank-deficient.
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    n, m, p = A.shape
    h = np.broadcast_to(np.asarray(h, dtype=np.float64), (n, G.shape[0]))
    if m < p:  # QR needs at least p rows; zero rows change nothing (and leave R singular)
        A = np.concatenate([A, np.zeros((n, p - m, p))], axis=1)
        b = np.concatenate([b, np.zeros((n, p - m))], axis=1)
    Q, R = np.linalg.qr(A)
    d = np.einsum("nmp,nm->np", Q, b)
    # Exact singularity only: monomial designs are legitimately ill-conditioned
    # (callers check identifiability with the model's own rank rule).
    if np.any(np.einsum("npp->np", R) == 0.0):
        raise FitError("monotone least squares: the problem is rank-deficient (the data cannot determine every parameter)")
    c = np.linalg.solve(R, d[..., None])[..., 0]
    bad = np.flatnonzero((c @ G.T - h).min(axis=1, initial=np.inf) < -_STEP_TOL)
    if bad.size == 0:
        return c
    # Constraints that do not depend on the parameters hold or fail whatever c is.
    norms = np.linalg.norm(G, axis=1)
    live = norms > 1e-12 * max(norms.max(initial=0.0), 1e-300)
    if np.any(h[bad][:, ~live] > _STEP_TOL):
        raise FitError("monotone fit is infeasible: a grid step that no parameter can change decreases")
    Gl, hl = G[live], h[bad][:, live]
    if x0 is None:
        if np.ptp(h, axis=0).max(initial=0.0) > 0:
            raise ValueError("monotone_lstsq: per-row h needs feasible starting points x0")
        c0 = np.broadcast_to(feasible_point(G, h[0]), (bad.size, p)).copy()
    else:
        c0 = np.array(np.broadcast_to(x0, (n, p))[bad], dtype=np.float64)
    # Blocks of rows bound the memory of the (rows, q, p) constraint stacks.
    block = max(1, int(2**22 // max(Gl.size, 1)))  # about 32 MB per stack
    for start in range(0, bad.size, block):
        rows = bad[start:start + block]
        c[rows] = _constrained_rows(A[rows], b[rows], R[rows], d[rows], Gl, hl[start:start + block],
                                    c0[start:start + block], 20 * p + 100 if max_iter is None else max_iter)
    return c


def _constrained_rows(A, b, R, d, G, h, c0, max_iter):
    """The constrained solve of :func:`monotone_lstsq` for rows whose unconstrained solution violates ``G c >= h``."""
    n = A.shape[0]
    # Constraints in y = R c: rows of G R^-1 scaled to unit norm (solve, not invert).
    E = np.linalg.solve(R.transpose(0, 2, 1), np.broadcast_to(G.T, (n,) + G.T.shape)).transpose(0, 2, 1)
    en = np.maximum(np.linalg.norm(E, axis=2), 1e-300)
    E /= en[..., None]
    f = h / en
    y0 = np.einsum("npq,nq->np", R, c0)
    y, work, n_work = _nearest_feasible(E, f, y0, d, max_iter)
    # Two ways back to c: R^-1 y, and a re-solve on the final working set in the
    # original coordinates (backward stable when R is ill-conditioned, as for
    # high-degree monomials, where R^-1 y amplifies rounding into huge
    # coefficients).  Each is made feasible; the better fit wins, and of two
    # fits equal to rounding the one with smaller coefficients (it evaluates
    # more accurately).
    c_y = _pull_into(G, h, c0, np.linalg.solve(R, y[..., None])[..., 0])
    c_w = _pull_into(G, h, c0, _solve_on_working_set(A, b, G, h, work, n_work))
    cost_y, cost_w = (np.linalg.norm(np.einsum("nmp,np->nm", A, cc) - b, axis=1) for cc in (c_y, c_w))
    tie = np.abs(cost_w - cost_y) <= 1e-9 * np.maximum(cost_y, 1e-300)
    smaller = np.abs(c_w).max(axis=1) <= np.abs(c_y).max(axis=1)
    return np.where(((cost_w < cost_y) & ~tie | tie & smaller)[:, None], c_w, c_y)


def _solve_on_working_set(A, b, G, h, work, n_work):
    """``min ||A c - b||`` subject to ``G[work] c = h[work]`` (null-space method), row by row at once.

    ``work`` (n, p) lists each row's equality constraints in its first
    ``n_work`` slots.  With ``C^T = U T`` (complete QR; unused slots are zero
    rows), ``c = U v``: the first ``n_work`` entries of ``v`` are fixed by the
    constraints, the rest come from an ordinary least-squares problem.
    """
    n, m, p = A.shape
    slots = np.arange(p)
    used = slots[None, :] < n_work[:, None]
    C = G[work] * used[:, :, None]  # (n, p, p)
    hw = np.take_along_axis(h, work, axis=1) * used
    U, T = np.linalg.qr(C.transpose(0, 2, 1), mode="complete")
    L = T.transpose(0, 2, 1)  # C U = T^T: lower triangular, zero rows for unused slots
    L[:, slots, slots] = np.where(used, L[:, slots, slots], 1.0)
    v = np.linalg.solve(L, hw[..., None])[..., 0]  # fixed part; 0 in the free slots
    c_p = np.einsum("npq,nq->np", U, v)
    AU = np.einsum("nmp,npq->nmq", A, U) * ~used[:, None, :]
    # The fixed slots get identity rows so the stacked problem has full column rank.
    AU = np.concatenate([AU, np.broadcast_to(np.eye(p), (n, p, p)) * used[:, None, :]], axis=1)
    rhs = np.concatenate([b - np.einsum("nmp,np->nm", A, c_p), np.zeros((n, p))], axis=1)
    vz = _batched_lstsq(AU, rhs) * ~used
    return c_p + np.einsum("npq,nq->np", U, vz)


def _nearest_feasible(E, f, y, target, max_iter):
    """Nearest point to ``target`` in ``{y : E y >= f}`` for a stack, by a primal active-set method.

    ``E`` (n, q, p) has unit-norm rows and ``y`` (n, p) is feasible.  Each
    iteration solves the projection onto the working set's equalities (a small
    Gram system), moves as far as feasibility allows, and either adds the
    blocking constraint or, at a working-set minimum, drops the constraint with
    the most negative multiplier; a row stops when every multiplier is >= 0.
    """
    n, q, p = E.shape
    y = np.array(y, dtype=np.float64)
    work = np.zeros((n, p), dtype=int)  # working-set constraint indices; the first n_work are used
    n_work = np.zeros(n, dtype=int)
    todo = np.ones(n, dtype=bool)
    slots = np.arange(p)
    for _ in range(max_iter):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        na = idx.size
        Ei, yi, nw = E[idx], y[idx], n_work[idx]
        used = slots[None, :] < nw[:, None]
        EW = Ei[np.arange(na)[:, None], work[idx]] * used[:, :, None]  # (na, p, p), unused rows 0
        e = target[idx] - yi
        M = EW @ EW.transpose(0, 2, 1)
        M[:, slots, slots] += np.where(used, 1e-14, 1.0)  # unused slots: identity, multiplier 0
        mu = np.linalg.solve(M, (EW @ e[..., None]))[..., 0]
        s = e - (EW.transpose(0, 2, 1) @ mu[..., None])[..., 0]
        s[nw == p] = 0.0  # p independent equalities: no room to move
        slack = np.einsum("nqp,np->nq", Ei, yi) - f[idx]
        Es = np.einsum("nqp,np->nq", Ei, s)
        blocking = Es < -1e-15 * np.linalg.norm(s, axis=1)[:, None]
        r_used, s_used = np.nonzero(used)
        blocking[r_used, work[idx][r_used, s_used]] = False  # working-set constraints stay equalities
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(blocking, np.maximum(slack, 0.0) / np.where(blocking, -Es, 1.0), np.inf)
        j = np.argmin(ratio, axis=1)
        alpha = ratio[np.arange(na), j]
        full = alpha >= 1.0
        y[idx] = yi + np.minimum(alpha, 1.0)[:, None] * s
        add = idx[~full]
        work[add, n_work[add]] = j[~full]
        n_work[add] += 1
        # At a working-set minimum the multipliers are -mu; all >= 0 means optimal.
        lam = np.where(used, -mu, np.inf)
        k = np.argmin(lam, axis=1)
        lmin = lam[np.arange(na), k]
        tol = 1e-10 * np.maximum(np.linalg.norm(e, axis=1), 1e-300)
        done = full & (lmin >= -tol)
        todo[idx[done]] = False
        drop = full & ~done
        rows, slot = idx[drop], k[drop]
        last = n_work[rows] - 1
        work[rows, slot] = work[rows, last]
        n_work[rows] = last
    return y, work, n_work


def _pull_into(G, h, c0, c):
    """Move each ``c`` back towards the feasible ``c0`` until ``G c >= h`` holds (exact line search).

    The constrained solve works in rotated coordinates; mapping back can leave
    violations of rounding size, which the segment to a feasible point removes
    at (almost) no cost in fit.
    """
    s0 = np.maximum(c0 @ G.T - h, 0.0)
    s1 = c @ G.T - h
    rows = np.flatnonzero((s1 < -_STEP_TOL).any(axis=1))
    if rows.size == 0:
        return c
    # Aim at slack -_STEP_TOL / 2, not 0: a start on the boundary then still moves.
    viol = s1[rows] < -0.5 * _STEP_TOL
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(viol, (s0[rows] + 0.5 * _STEP_TOL) / (s0[rows] - s1[rows]), np.inf).min(axis=1)
    out = c.copy()
    out[rows] = c0[rows] + np.clip(t, 0.0, 1.0)[:, None] * (c[rows] - c0[rows])
    return out


_FEASIBLE = {}
_FEASIBLE_LOCK = threading.Lock()


def feasible_point(G, h):
    """A point well inside ``{c : G c >= h}``: maximises the smallest (row-normalised) slack.

    One linear program per constraint set (cached by content): the constraints
    of a model on the grid do not depend on the data.

    Raises
    ------
    FitError
        When the constraints admit no solution.
    """
    from scipy.optimize import linprog

    G = np.ascontiguousarray(G, dtype=np.float64)
    h = np.ascontiguousarray(h, dtype=np.float64)
    key = hashlib.blake2b(G.tobytes() + h.tobytes() + repr(G.shape).encode(), digest_size=16).digest()
    with _FEASIBLE_LOCK:
        hit = _FEASIBLE.get(key)
    if hit is not None:
        return hit.copy()
    q, p = G.shape
    norms = np.linalg.norm(G, axis=1)
    live = norms > 1e-12 * max(norms.max(initial=0.0), 1e-300)
    if np.any(h[~live] > _STEP_TOL):
        raise FitError("monotone fit is infeasible: a grid step that no parameter can change decreases")
    Gn, hn = G[live] / norms[live, None], h[live] / norms[live]
    used = np.linalg.norm(G, axis=0) > 0
    bounds = [(-1e3, 1e3) if u else (0.0, 0.0) for u in used] + [(None, 1.0)]
    res = linprog(
        np.r_[np.zeros(p), -1.0], A_ub=np.hstack([-Gn, np.ones((Gn.shape[0], 1))]), b_ub=-hn,
        bounds=bounds, method="highs",
    )
    if res.status != 0 or -res.fun < -1e-12:
        raise FitError("monotone fit is infeasible: no parameters of this model give a non-decreasing curve")
    c = np.asarray(res.x[:p], dtype=np.float64)
    with _FEASIBLE_LOCK:
        if len(_FEASIBLE) > 64:
            _FEASIBLE.clear()
        _FEASIBLE[key] = c
    return c.copy()


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

    #: True when every parameter the model accepts (after :meth:`project`) gives a
    #: non-decreasing curve, so ``monotone=True`` needs no constraint.
    always_monotone = False

    def monotone_constraints(self):
        """Linear constraints ``(G, h)`` with: curve non-decreasing on the grid iff ``G @ params >= h``.

        None (the default) when the model has no such form; its monotone fits
        then use a penalty, verified at the end.
        """
        return None

    def fit_samples(self, x, y, weights=None, monotone=False):
        """Batched Levenberg-Marquardt; see :class:`NonlinearModel`.

        With ``monotone=True`` a model with :meth:`monotone_constraints` is
        fitted with those constraints in every step (each step a small
        constrained least-squares problem, so every iterate stays monotone);
        other models get a penalty on decreasing steps.  Either way the result
        is verified on the grid and a :class:`FitError` says when it failed.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        w = _row_weights(weights, y.shape)
        self._check_identifiable(x, w)
        constraints = None
        if monotone and self.always_monotone:
            monotone = False
            verify = True
        else:
            verify = monotone
        if monotone:
            constraints = self.monotone_constraints()
        theta = self._fit(x, y, w, monotone and constraints is None, constraints)
        if verify:
            self._verify_monotone(theta)
        return theta

    def _feasible_start(self, theta, constraints):
        """Project starting parameters onto ``G theta >= h`` (nearest point, Euclidean)."""
        G, h = constraints
        bad = np.flatnonzero((theta @ G.T - h).min(axis=1) < 0.0)
        if bad.size:
            eye = np.broadcast_to(np.eye(theta.shape[1]), (bad.size,) + (theta.shape[1],) * 2)
            theta[bad] = monotone_lstsq(eye, theta[bad], G, h)
        return theta

    def _fit(self, x, y, w, penalty, constraints):
        sw = None if w is None else np.sqrt(w)
        theta = self._start(x, y, w, penalty or constraints is not None)
        if constraints is not None:
            theta = self._feasible_start(np.array(theta, dtype=np.float64), constraints)
        monotone = penalty
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

        theta = batched_levenberg_marquardt(fun, theta, self.project, self.max_iter, self.tol, constraints)
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


def _constrained_steps(A, Jtr, theta, G, h):
    """Steps ``d`` minimising ``d^T A d / 2 + Jtr^T d`` subject to ``G (theta + d) >= h``, row by row at once."""
    p = A.shape[1]
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        jitter = 1e-12 * np.maximum(np.einsum("npp->n", A) / p, 1e-300)
        L = np.linalg.cholesky(A + jitter[:, None, None] * np.eye(p))
    # d^T A d / 2 + Jtr^T d = ||L^T d - u||^2 / 2 + const with L u = -Jtr.
    u = np.linalg.solve(L, -Jtr[..., None])[..., 0]
    return monotone_lstsq(L.transpose(0, 2, 1), u, G, h - theta @ G.T, x0=np.zeros_like(theta))


def batched_levenberg_marquardt(fun, theta, project=lambda t: t, max_iter=60, tol=1e-9, constraints=None):
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
    constraints : tuple (G (q, p), h (q,)), optional
        Linear constraints ``G theta >= h`` that every step keeps (``theta``
        must start feasible): each damped Gauss-Newton step is then a small
        constrained least-squares problem (:func:`monotone_lstsq`).

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
        if constraints is not None:
            try:
                step = _constrained_steps(A, Jtr, theta[idx], *constraints)
            except (np.linalg.LinAlgError, FitError):
                step = np.zeros_like(Jtr)  # no safe step: the row is rejected and damped further
        else:
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
