"""Self-calibration constrained by a crfkit model (EMoR, PCA, GGCM, polynomial, gamma).

The inverse CRF is a model curve ``g(z; c)`` with ``g(0) = 0`` and ``g(1) = 1``
(1 = the irradiance that just reaches the clipping level).  For pixel ``p`` in
exposure ``j``, ``log g(z_pj) = log E_p + log t_j``; the unknown irradiances
are eliminated per pixel (variable projection), so the solver works on the
model's few coefficients only (and, with unknown times, the log exposure
ratios).  Residuals are weighted by their inverse variance: a code's
quantisation and noise, seen through the curve (``(g / g')^2``), so dark codes,
whose log values are noisy, count less.  A weak prior pulls the curve towards
the model's mean curve: it keeps the fit stable when the samples cover little
of the range, and it resolves the exponential ambiguity of unknown exposure
ratios (``g^gamma`` with ratios ``r^gamma`` explains the data equally well).
Monotonicity of linear models is a hard constraint on the 1024 grid
(Lawson-Hanson least distance programming, :func:`crfkit.models.base.monotone_lstsq`).

All problems (channels, bootstrap draws) are solved together: one batched
Gauss-Newton iteration serves every curve, no Python loop over problems.
"""

import numpy as np

from ...curves.curve import GRID
from ...errors import FitError, ValidationError
from .base import (MEASURED_TOP_RULES, BracketSolver, SolverResult, check_option, clipping_log_level,
                   highest_valid_code, median_log_steps, normalise_top, register_solver)

TOP_RULES = ("straight", "learned", "model", "clipping", "combined")
_PRIOR_STRIDE = 8  # prior rows on every 8th grid point: 128 rows carry the curve shape
_GRID_PRIOR = GRID[::_PRIOR_STRIDE]
#: Default weight of the pull towards the prior curve (``prior=None``).  Basis models are pulled
#: towards their mean curve, learned from real responses.
PRIOR_WEIGHT = 0.003
#: Models whose default weight differs.  The polynomial has no mean curve and is pulled towards
#: sRGB's inverse, a shape unrelated to the camera: with exposures two stops apart the data tie
#: the top of the curve loosely and 0.003 pulled it towards sRGB's (synthetic DoRF brackets at
#: 2 stops: 0.043 RMSE at 0.003, 0.032 at 0.001; analysis/results/bracket/prior_weight.md).
MODEL_PRIOR_WEIGHTS = {"polynomial": 0.001}


def _interp_grid(values, z):
    """Row-wise linear interpolation of (N, 1024) grid values at z (N, m)."""
    pos = np.clip(z, 0.0, 1.0) * (GRID.size - 1)
    lo = np.minimum(pos.astype(np.int64), GRID.size - 2)
    t = pos - lo
    a = np.take_along_axis(values, lo, axis=1)
    b = np.take_along_axis(values, lo + 1, axis=1)
    return a + (b - a) * t


def _compress(A, b):
    """(N, m, q), (N, m) -> (N, q, q), (N, q) with the same least-squares solutions:
    ``R`` upper triangular with ``R^T R = A^T A`` and ``R^T y = A^T b``."""
    At = A.transpose(0, 2, 1)
    M = At @ A
    v = (At @ b[..., None])[..., 0]
    q = M.shape[1]
    jitter = 1e-12 * np.maximum(np.einsum("nqq->n", M) / q, 1e-300)
    try:
        L = np.linalg.cholesky(M + jitter[:, None, None] * np.eye(q))
    except np.linalg.LinAlgError:
        return A, b
    y = np.linalg.solve(L, v[..., None])[..., 0]
    return L.transpose(0, 2, 1), y


#: Consecutive exposures (sorted) differ by at least 1 % and at most 6 stops: further apart,
#: no pixel is usable in both, so a larger step is never what the data say.
STEP_BOUNDS = (np.log(1.01), 6 * np.log(2.0))


def bounded_log_times(logt):
    """Log exposures (N, J) with each consecutive step clipped to :data:`STEP_BOUNDS`.

    With unknown times, the cost is normalised by the spread of the log exposures (so that
    ``g^gamma`` with ``r^gamma`` costs the same); an exposure that few pixels tie to the others
    could otherwise be pushed away without end to inflate that spread.
    """
    steps = np.clip(np.diff(logt, axis=1), *STEP_BOUNDS)
    return logt[:, :1] + np.concatenate([np.zeros((logt.shape[0], 1)), np.cumsum(steps, axis=1)], axis=1)


@register_solver
class ModelSolver(BracketSolver):
    """Model-constrained self-calibration (crfkit's default bracket method).

    Parameters
    ----------
    model : str
        A model from :data:`crfkit.MODELS` fitted as an inverse curve:
        ``'emor'``, ``'pca'`` (with ``basis=``), ``'ggcm'``, ``'polynomial'``, ``'gamma'``.
    k : int, optional
        Number of model parameters (the model's default when omitted).
    prior : float or None
        Weight of the pull towards the model's mean curve (basis models) or
        sRGB's inverse (the others), relative to the mean weighted squared log
        residual; 0 disables it.  None (default): 0.001 for ``'polynomial'``,
        0.003 for the others (:data:`MODEL_PRIOR_WEIGHTS`, :data:`PRIOR_WEIGHT`).
    top_weight : float
        Weight of the straight extrapolation above the highest valid code,
        which fixes the scale through ``g(1) = 1`` (no data reach there).
    model_error : float
        Typical absolute misfit of the model to real curves (EMoR-5 fits DoRF to
        about 0.002): it keeps dark codes, where a small absolute misfit is a
        large relative one, from dominating the log-domain fit.
    normalise : bool
        Set the scale by a straight extrapolation above the highest valid code
        (:func:`~crfkit.bracket.solvers.base.normalise_top`), as the level-based
        methods do, instead of by the model's own shape there.
    top_rule : {'straight', 'learned', 'model', 'clipping', 'combined'}
        How the curve continues above the highest valid code (it sets the
        scale): a straight log-domain extrapolation (default), predicted from
        the curve's shape by a regression learned on the DoRF training curves,
        continued with the best-matching EMoR-5 curve, up to the clipping
        level measured from the saturated samples
        (:func:`~crfkit.bracket.solvers.base.clipping_log_level`; straight where
        too few samples saturate), or up to the mean (in log) of that level and
        the straight extrapolation's (:func:`~crfkit.bracket.solvers.base.normalise_top`).
    noise : float
        Standard deviation of a code's noise (fraction of full scale) besides
        quantisation: JPEG compression, sensor noise.
    robust : float or None
        Cauchy loss scale in robust standard deviations (2.385: 95 % efficiency
        for Gaussian residuals); None or 0: plain least squares.
    max_iter : int
        Gauss-Newton iterations at most (robust reweighting converges linearly: most channels
        take 10 to 30, a few 60 to 180; only those iterate on).
    tol : float
        A problem (channel) stops when its curve moves by no more than this between
        iterations; the others go on.
    **model_options
        Passed to the model (``basis=`` for ``'pca'``, ``path=`` for ``'emor'``).
    """

    name = "model"
    aliases = ("self-calibration", "crfkit")
    estimates_times = True

    def __init__(self, model="emor", k=None, prior=None, noise=0.004, top_weight=0.0, normalise=True, max_iter=300,
                 model_error=0.02, top_rule="straight", tol=1e-5, robust=2.385, **model_options):
        self.model = model
        self.robust = robust
        self.tol = tol
        self.top_rule = top_rule
        self.model_error = model_error
        self.top_weight = top_weight
        self.normalise = normalise
        self.k = k
        self.prior = prior
        self.noise = noise
        self.max_iter = max_iter
        self.model_options = model_options

    # -- model plumbing ---------------------------------------------------------------------
    def _model(self):
        import inspect

        from ...models import get_model
        from ...models.registry import get_model_class

        for name in ("noise", "top_weight", "model_error", "tol"):
            check_option(getattr(self, name), name)
        if self.prior is not None:
            check_option(self.prior, "prior")
        check_option(self.max_iter, "max_iter", integer=True)
        if self.top_rule not in TOP_RULES:
            raise ValidationError(f"top_rule must be one of {', '.join(map(repr, TOP_RULES))}, got {self.top_rule!r}")
        if self.prior is not None and (not np.isfinite(self.prior) or self.prior < 0):
            raise ValidationError(f"prior must be >= 0, got {self.prior!r}")
        if not np.isfinite(self.noise) or self.noise < 0:
            raise ValidationError(f"noise must be >= 0, got {self.noise!r}")
        params = inspect.signature(get_model_class(self.model).__init__).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            unknown = set(self.model_options) - set(params)
            if unknown:
                mine = set(inspect.signature(type(self).__init__).parameters) - {"self", "model_options"}
                valid = sorted(mine | set(params) - {"self", "kind"})
                raise ValidationError(f"unknown option(s) {sorted(unknown)} for bracket method 'model' with model "
                                      f"{self.model!r}; valid: {', '.join(valid)}")
        return get_model(self.model, k=self.k, kind="inverse", **self.model_options)

    def _prior_weight(self):
        """The prior's weight: ``prior``, or the model's default when it is None."""
        if self.prior is not None:
            return float(self.prior)
        from ...models.registry import get_model_class

        return MODEL_PRIOR_WEIGHTS.get(get_model_class(self.model).name, PRIOR_WEIGHT)

    @property
    def label(self):
        # The fitted model's own label (e.g. 'PCA(dorf-train)-15') is in SolverResult.info['model'].
        return f"self-calibration ({self.model})"

    @staticmethod
    def _eval(m, theta, x):
        """Curve values (N, m) and Jacobian (N, m, k) at x (N, m) for parameters theta (N, k)."""
        if m.linear:
            a, B = m.design(x.ravel())
            B = B.reshape(x.shape + (B.shape[1],))
            g = a.reshape(x.shape) + np.einsum("nmk,nk->nm", B, theta)
            return g, B
        gs, Js = zip(*(m.value_and_jacobian(theta[i:i + 1], x[i]) for i in range(x.shape[0])))
        return np.concatenate(gs), np.concatenate(Js)

    def _prior_curve(self, m):
        """The curve the prior pulls towards: the model's own mean (basis models), else sRGB's inverse."""
        if hasattr(m, "basis_arrays"):
            return m.basis_arrays()[0]
        from ...curves.curve import Curve

        return Curve.srgb().inverse().values

    # -- the solve ----------------------------------------------------------------------------
    def solve(self, z, valid, log_times, code_max=255, start=None, bootstrap_counts=None, _resume=None):
        # _resume (internal): continue the iterations of a subset of problems from a saved state
        # (see the end of the loop); the iterations are returned without post-processing.
        z = np.asarray(z, dtype=np.float64)
        n, p, j = z.shape
        if _resume is None:
            m = self._model()
            prior_curve = self._prior_curve(m)
            # Starting point and prior: the model fitted to the prior curve.
            theta0 = m.fit_samples(GRID, prior_curve[None], monotone=m.linear)[0]
        else:  # the resolved model and prior of the batch this subset came from
            m, prior_curve, theta0 = _resume["model"], _resume["prior_curve"], _resume["theta0"]
        k = theta0.size
        estimate = log_times is None if _resume is None else _resume["estimate"]
        if _resume is not None:
            logt = _resume["logt"].copy()
        elif estimate:
            logt = self._initial_log_times(m, theta0, z, valid)
        else:
            logt = np.broadcast_to(np.asarray(log_times, np.float64), (n, j)).copy()
            logt -= logt[:, :1]
        theta = np.tile(theta0, (n, 1)) if start is None else np.array(start, dtype=np.float64).reshape(n, k)
        x = z.reshape(n, p * j)
        full_grid = np.broadcast_to(GRID, (n, GRID.size))
        prior_grid = np.broadcast_to(_GRID_PRIOR, (n, _GRID_PRIOR.size))
        if m.linear:
            # The design at the samples and on the grid does not change between iterations.
            a_x, B_x = m.design(x.ravel())
            a_x, B_x = a_x.reshape(x.shape), B_x.reshape(x.shape + (B_x.shape[1],))
            a_g, B_g = m.design(GRID)
            a_p, B_p = m.design(_GRID_PRIOR)

        def at(theta, where):
            """Values (N, m) and Jacobian at the samples ('x'), the grid ('grid') or the prior points ('prior')."""
            if m.linear:
                a, B = {"x": (a_x, B_x), "grid": (a_g, B_g), "prior": (a_p, B_p)}[where]
                if B.ndim == 2:
                    return a[None, :] + theta @ B.T, np.broadcast_to(B, (n,) + B.shape)
                return a + (B @ theta[:, :, None])[..., 0], B
            pts = {"x": x, "grid": full_grid, "prior": prior_grid}[where]
            return self._eval(m, theta, np.ascontiguousarray(pts))
        sigma2 = (1.0 / code_max) ** 2 / 12.0 + self.noise ** 2
        prior_target = np.broadcast_to(prior_curve[::_PRIOR_STRIDE], (n, _GRID_PRIOR.size))
        if m.linear:
            G = np.diff(B_g, axis=0)
            h = -np.diff(a_g)
        n_extra = j - 1 if estimate else 0
        q = k + n_extra
        valid_f = valid.astype(np.float64)
        n_valid = np.maximum(valid_f.reshape(n, -1).sum(axis=1), 1.0)
        lam = self._prior_weight()

        def pieces(theta, logt):
            g, Jg = at(theta, "x")
            return g, Jg, at(theta, "grid")[0]

        def weights(g, grid_vals):
            slope = np.gradient(grid_vals, GRID, axis=1)
            gp = np.maximum(_interp_grid(slope, x), 1e-6)
            g = np.maximum(g, 1e-9)
            if estimate:
                # Unknown exposures: g^gamma with ratios r^gamma explains the data equally well.
                # Inverse-variance weights (g / g')^2 (rescaled: invariant to gamma) and residuals
                # divided by the spread of the log exposures keep the data term exactly invariant
                # to gamma, so that the prior alone picks it.
                w = (g / gp) ** 2 / sigma2
            else:
                # Log-domain variance of a sample: code noise through the curve, plus the
                # model's own misfit (an absolute error of about model_error in g).
                w = g * g / (gp * gp * sigma2 + self.model_error ** 2)
            w = w.reshape(n, p, j) * valid_f
            scale = w.reshape(n, -1).sum(axis=1) / n_valid
            w /= np.maximum(scale, 1e-300)[:, None, None]
            return np.minimum(w, 50.0)  # no single code may dominate (flat spots of the curve)

        def residual(g, logt, W):
            L = np.log(np.maximum(g, 1e-9)).reshape(n, p, j) - logt[:, None, :]
            Wp = W.sum(axis=2)
            logE = (W * L).sum(axis=2) / np.maximum(Wp, 1e-300)
            return L - logE[:, :, None], Wp

        if estimate:
            # Exposures that few pixels tie to the others count less in the spread: moving them
            # would otherwise inflate it at little cost (every exposure counts alike in an ordinary
            # bracket: a quarter of an even share of the ties is enough).
            ties = (valid & (valid.sum(axis=2, keepdims=True) >= 2)).sum(axis=1).astype(np.float64)  # (N, J)
            omega = np.minimum(1.0, ties / np.maximum(ties.sum(axis=1, keepdims=True) / (4.0 * j), 1e-300))
            omega /= np.maximum(omega.sum(axis=1, keepdims=True), 1e-300)

        def spread(logt):
            """Weighted RMS spread of the log exposures (N,) and its derivative w.r.t. logt[1:] (N, J-1)."""
            dev = logt - (omega * logt).sum(axis=1, keepdims=True)
            sp = np.maximum(np.sqrt((omega * dev * dev).sum(axis=1)), 1e-6)
            return sp, (omega * dev)[:, 1:] / sp[:, None]

        def cost(theta, logt, W):
            g = np.maximum(at(theta, "x")[0], 1e-9)
            r, _ = residual(g, logt, W)
            data = (W * r * r).reshape(n, -1).sum(axis=1) / n_valid
            if estimate:
                data = data / spread(logt)[0] ** 2
            if lam:
                gpr = at(theta, "prior")[0]
                data = data + lam * np.mean((gpr - prior_target) ** 2, axis=1)
            if self.top_weight:
                gg = at(theta, "grid")[0]
                data = data + self.top_weight * np.einsum("ng,ng->n", top_phi, gg) ** 2
            return data

        def robust_weights(g, logt, W):
            """Cauchy weights (iteratively reweighted): samples the curve cannot explain (JPEG ringing
            next to clipped areas, moving or misaligned pixels) lose their pull."""
            r0, _ = residual(g, logt, W)
            u = r0 * np.sqrt(W)
            mad = np.array([np.median(np.abs(u[i][valid[i]])) if valid[i].any() else 1.0 for i in range(n)])
            c = self.robust * 1.4826 * np.maximum(mad, 1e-12)
            return W / (1.0 + (u / c[:, None, None]) ** 2)

        top_phi = self._top_functional(z, valid)
        prev = None if _resume is None else _resume["prev"]
        # Each problem stops on its own: a converged channel is frozen while slower ones
        # (robust reweighting can creep) go on, so no result depends on its batch-mates.
        done = np.zeros(n, bool)
        iters = np.zeros(n, int)
        first = 0 if _resume is None else _resume["it"]
        for it in range(first, int(self.max_iter)):
            iters[~done] = it + 1
            g, Jg, grid_vals = pieces(theta, logt)
            W = weights(g, grid_vals)
            if self.robust and it > 0:
                W = robust_weights(g, logt, W)
            r, Wp = residual(g, logt, W)
            Wn = W / np.maximum(Wp, 1e-300)[:, :, None]
            D = (Jg / np.maximum(g, 1e-9)[:, :, None]).reshape(n, p, j, k)
            Dc = D - (Wn[:, :, None, :] @ D)
            cols = [Dc]
            if estimate:
                # d r_pj / d logt_i (i >= 1) = -[j == i] + Wn_pi
                T = np.broadcast_to(Wn[:, :, None, 1:], (n, p, j, j - 1)).copy()
                T[:, :, np.arange(1, j), np.arange(j - 1)] -= 1.0
                cols.append(T)
            Jr = np.concatenate(cols, axis=3).reshape(n, p * j, q)
            rf = r.reshape(n, p * j)
            if estimate:
                # Residuals relative to the spread of the log exposures (see weights()).
                sp, dsp = spread(logt)
                Jr = Jr / sp[:, None, None]
                Jr[:, :, k:] -= (rf / sp[:, None] ** 2)[:, :, None] * dsp[:, None, :]
                rf = rf / sp[:, None]
            sw = np.sqrt(W.reshape(n, p * j) / n_valid[:, None])
            state = np.concatenate([theta, logt[:, 1:]], axis=1) if estimate else theta
            A = sw[:, :, None] * Jr
            b = sw * ((Jr @ state[:, :, None])[..., 0] - rf)
            if lam:
                if m.linear:
                    Bp = np.broadcast_to(B_p, (n,) + B_p.shape)
                    rhs = prior_target - a_p
                else:
                    gpr, Bp = at(theta, "prior")
                    rhs = prior_target - gpr + np.einsum("nmk,nk->nm", Bp, theta)
                s = np.sqrt(lam / _GRID_PRIOR.size)
                Ap = np.concatenate([s * Bp, np.zeros((n, _GRID_PRIOR.size, n_extra))], axis=2)
                A = np.concatenate([A, Ap], axis=1)
                b = np.concatenate([b, s * rhs], axis=1)
            # The top: no code above the clipping threshold is observed, so g there is an
            # extrapolation, and it sets the scale (g(1) = 1).  Keep the slope above the
            # highest valid code equal to the slope just below it: a straight extrapolation.
            if m.linear:
                top_J = np.einsum("ng,gk->nk", top_phi, B_g)[:, None, :]
                top_rhs = -(top_phi @ a_g)[:, None]
            else:
                gg, Jgg = at(theta, "grid")
                top_J = np.einsum("ng,ngk->nk", top_phi, Jgg)[:, None, :]
                top_rhs = (np.einsum("nk,nk->n", top_J[:, 0], theta) - np.einsum("ng,ng->n", top_phi, gg))[:, None]
            st = np.sqrt(self.top_weight)
            A = np.concatenate([A, np.concatenate([st * top_J, np.zeros((n, 1, n_extra))], axis=2)], axis=1)
            b = np.concatenate([b, st * top_rhs], axis=1)
            # A little damping keeps the step of ill-determined directions small.
            damp = 1e-8 * np.eye(q)
            A = np.concatenate([A, np.broadcast_to(damp, (n, q, q))], axis=1)
            b = np.concatenate([b, np.einsum("qr,nr->nq", damp, state)], axis=1)
            new = self._step(m, A, b, G if m.linear else None, h if m.linear else None, k, n_extra, theta)
            # Backtracking per problem: the first of 1, 1/2, 1/4, 1/8 that lowers the cost.
            c0 = cost(theta, logt, W)
            best_t, best_l = theta.copy(), logt.copy()
            found = done.copy()
            for alpha in (1.0, 0.5, 0.25, 0.125):
                cand = state + alpha * (new - state)
                th = cand[:, :k]
                if not m.linear:
                    th = m.project(th)
                lt = logt.copy()
                if estimate:
                    lt[:, 1:] = cand[:, k:]
                    lt = bounded_log_times(lt)
                cc = cost(th, lt, W)
                better = ~found & (cc < c0 - 1e-15)
                best_t[better], best_l[better] = th[better], lt[better]
                found |= better
                if found.all():
                    break
            theta, logt = best_t, best_l
            cur = at(theta, "grid")[0]
            if prev is not None and (not estimate or it > 2):
                done |= np.max(np.abs(cur - prev), axis=1) < self.tol
                if done.all():
                    break
            prev = cur
            if 3 * done.sum() >= n and it + 1 < int(self.max_iter):
                # A third or more have converged: go on with the others only (each iteration
                # costs in proportion to the batch; the state carried is theta, logt and prev).
                act = np.flatnonzero(~done)
                sub = self.solve(z[act], valid[act], None, code_max, start=theta[act],
                                 _resume={"estimate": estimate, "logt": logt[act], "prev": prev[act], "it": it + 1,
                                          "model": m, "prior_curve": prior_curve, "theta0": theta0})
                theta[act], logt[act] = sub["theta"], sub["logt"]
                iters[act], done[act] = sub["iters"], sub["done"]
                break
        if _resume is not None:
            return {"theta": theta, "logt": logt, "iters": iters, "done": done}
        boot = None
        if bootstrap_counts is not None and m.linear and not estimate:
            boot = self._one_step_bootstrap(np.asarray(bootstrap_counts, np.float64), theta, logt, pieces, weights,
                                            robust_weights, residual, n_valid, lam, B_p, a_p, prior_target,
                                            top_phi, B_g, a_g, G, h, (n, p, j, k))
        inverse = at(theta, "grid")[0]
        if not np.all(np.isfinite(inverse)):
            raise FitError(f"bracket self-calibration with {m.label} produced non-finite curves")
        drop = np.diff(inverse, axis=1).min(axis=1)
        if m.linear and np.any(drop < -1e-6):
            raise FitError(f"bracket self-calibration with {m.label}: the monotone constraint failed "
                           f"(largest drop {-drop.min():.2g})")
        if not m.linear and np.any(drop < -1e-4):
            raise FitError(f"bracket self-calibration with {m.label} gave a decreasing curve (drop {-drop.min():.2g}); "
                           "use a linear model (emor, pca, polynomial) for a guaranteed monotone fit")
        inverse = np.maximum.accumulate(np.clip(inverse, 0.0, 1.0), axis=1)
        z_top = highest_valid_code(z, valid)
        level = None
        if self.normalise and self.top_rule in MEASURED_TOP_RULES:
            level = clipping_log_level(inverse, z, valid, logt, code_max)
            # log g at the highest valid code before normalising: the draws keep the level's rise above it
            level_rise = level - np.log(np.maximum([np.interp(zt, GRID, v) for zt, v in zip(z_top, inverse)], 1e-12))
        if self.normalise:
            inverse = normalise_top(inverse, z_top, rule=self.top_rule, clip_level=level)
        info = {"model": m.label, "iterations": iters, "converged": done, "params": theta}
        if boot is not None:
            nb = boot.shape[0]
            boot = np.maximum.accumulate(np.clip(boot.reshape(nb * n, -1), 0.0, 1.0), axis=1)
            if self.normalise:
                # Each draw's clipping level: the level measured by the full fit, moved by the
                # draw's curve at the highest valid code (the same rise above it).
                if level is not None:
                    boot_top = np.log(np.maximum([np.interp(zt, GRID, v) for zt, v in zip(np.tile(z_top, nb), boot)], 1e-12))
                    level = np.tile(level_rise, nb) + boot_top
                boot = normalise_top(boot, np.tile(z_top, nb), rule=self.top_rule, clip_level=level)
            info["bootstrap_inverse"] = boot.reshape(nb, n, -1)
        return SolverResult(inverse, logt, info)

    def _one_step_bootstrap(self, counts, theta, logt, pieces, weights, robust_weights, residual, n_valid, lam,
                            B_p, a_p, prior_target, top_phi, B_g, a_g, G, h, dims):
        """Bootstrap draws of the pixels as one constrained Gauss-Newton step from the full fit.

        A draw takes pixel ``p`` ``counts[b, i, p]`` times: every row of that pixel is weighted
        by its count (its irradiance elimination is unchanged), so the Jacobian and residuals at
        the full fit serve every draw and each draw costs one small weighted normal-equation
        solve with the monotone constraint.  Returns inverse curves (B, N, 1024) before the top
        continuation.
        """
        from ...models.base import monotone_lstsq

        n, p, j, k = dims
        nb = counts.shape[0]
        g, Jg, grid_vals = pieces(theta, logt)
        W = weights(g, grid_vals)
        if self.robust:
            W = robust_weights(g, logt, W)
        r, Wp = residual(g, logt, W)
        Wn = W / np.maximum(Wp, 1e-300)[:, :, None]
        D = (Jg / np.maximum(g, 1e-9)[:, :, None]).reshape(n, p, j, k)
        Jr = (D - (Wn[:, :, None, :] @ D)).reshape(n, p * j, k)
        target = (Jr @ theta[:, :, None])[..., 0] - r.reshape(n, p * j)
        # Fixed rows (prior, top, damping) as normal equations.
        fixed = [(np.sqrt(lam / _GRID_PRIOR.size) * B_p, np.sqrt(lam / _GRID_PRIOR.size) * (prior_target - a_p))] \
            if lam else []
        st = np.sqrt(self.top_weight)
        top_J = top_phi @ B_g  # (n, k)
        top_rhs = -(top_phi @ a_g)
        M0 = np.zeros((n, k, k))
        v0 = np.zeros((n, k))
        for Af, bf in fixed:
            Af = np.broadcast_to(Af, (n,) + Af.shape[-2:])
            M0 += Af.transpose(0, 2, 1) @ Af
            v0 += (Af.transpose(0, 2, 1) @ bf[..., None])[..., 0]
        M0 += st * st * top_J[:, :, None] * top_J[:, None, :]
        v0 += st * st * top_J * top_rhs[:, None]
        M0 += 1e-16 * np.eye(k)
        out = np.empty((nb, n, GRID.size))
        for i in range(n):
            # A draw weights whole pixels, so its normal equations are count-weighted sums of
            # per-pixel blocks: (P, k, k) and (P, k) once, then one small matrix product per draw.
            w = (W[i] / n_valid[i])[:, :, None]  # (P, J, 1)
            Ji = Jr[i].reshape(p, j, k)
            pix_M = np.einsum("pjk,pjl->pkl", Ji * w, Ji).reshape(p, k * k)
            pix_v = np.einsum("pjk,pj->pk", Ji * w, target[i].reshape(p, j))
            M = (counts[:, i] @ pix_M).reshape(nb, k, k) + M0[i]
            v = counts[:, i] @ pix_v + v0[i]
            jitter = 1e-12 * np.maximum(np.einsum("bkk->b", M) / k, 1e-300)
            L = np.linalg.cholesky(M + jitter[:, None, None] * np.eye(k))
            y = np.linalg.solve(L, v[..., None])[..., 0]
            try:
                th = monotone_lstsq(L.transpose(0, 2, 1), y, G, h)
            except (np.linalg.LinAlgError, FitError):
                th = np.linalg.solve(M, v[..., None])[..., 0]
            out[:, i] = a_g[None, :] + th @ B_g.T
        return out

    @staticmethod
    def _top_functional(z, valid, width=0.05):
        """Per problem, weights phi (N, 1024) on grid values: phi . g = slope above the top valid code minus slope below."""
        n = z.shape[0]
        zc = highest_valid_code(z, valid, empty=0.98)
        zc = np.clip(zc, 2 * width, 1 - 1.0 / 1023)
        ic = np.rint(zc * 1023).astype(int)
        il = np.rint((zc - width) * 1023).astype(int)
        phi = np.zeros((n, GRID.size))
        r = np.arange(n)
        up = 1.0 / (1.0 - GRID[ic])
        down = 1.0 / (GRID[ic] - GRID[il])
        phi[r, -1] += up
        phi[r, ic] -= up + down
        phi[r, il] += down
        return phi

    @staticmethod
    def _step(m, A, b, G, h, k, n_extra, theta):
        from ...models.base import _batched_lstsq, monotone_lstsq

        # The least-squares problems have thousands of rows and a few dozen columns: reduce
        # each to its q x q triangular factor (Cholesky of the normal matrix) first.
        A, b = _compress(A, b)
        if G is None:
            return _batched_lstsq(A, b)
        Gq = np.concatenate([G, np.zeros((G.shape[0], n_extra))], axis=1)
        try:
            return monotone_lstsq(A, b, Gq, h)
        except (np.linalg.LinAlgError, FitError):
            return _batched_lstsq(A, b)  # the cost check and the final monotone check still apply

    def _initial_log_times(self, m, theta0, z, valid):
        """Exposure ratios of consecutive shots through the starting curve (median over pixels)."""
        n, p, j = z.shape
        g0 = self._eval(m, np.tile(theta0, (n, 1)), z.reshape(n, p * j))[0].reshape(n, p, j)
        steps = median_log_steps(np.log(np.maximum(g0, 1e-9)), valid)
        # Shots with no overlapping valid pixels: assume one stop.
        steps = np.where(np.isfinite(steps) & (steps > 0), steps, np.log(2.0))
        return bounded_log_times(np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1))
