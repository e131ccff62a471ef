"""``lin2004``: radiometric calibration from colour mixtures at edges (Lin, Gu, Yamazaki & Shum 2004).

Idea of the method: a pixel on the boundary between two uniformly coloured
regions sees a fraction of each, so its *irradiance* is a convex blend of the
two region irradiances: the three irradiance colours are collinear in RGB.  A
non-linear response bends the blend, so the observed triple is not collinear;
the inverse response is the curve that makes the linearised triples collinear
again.  The curve is an inverse EMoR curve (Grossberg & Nayar's inverse basis)
and a Gaussian prior on its coefficients, learned from the DoRF *training*
curves (never the 10 test curves), keeps it among real responses where the
edges say little.

This implementation (written for crfkit from the paper's description; no
training, no torch):

1. Edge candidates: pixels whose grey-level gradient is large and maximal
   along the gradient direction (quantised to the 4 axis/diagonal directions).
2. For each candidate, a (2R+1) x (2T+1) window aligned with the edge normal:
   the two outer strips on either side must be uniform (per-channel spread
   below ``uniform``), differ clearly, and be unclipped; the pixels on the
   edge line must lie between the two region colours in every channel and
   be a real mixture (blend fraction in 0.1 .. 0.9); the profile across the
   edge must be monotone in every channel (texture, ringing and sharpening
   halos are not).  Each accepted (region 1, region 2, edge pixel) is one triple.
3. The coefficients minimise the robust sum of the triples' squared
   normalised distances to collinearity
   ``|u x v| / |u|^2`` (u = g(M1) - g(M2), v = g(I) - g(M2)) plus the prior's
   Mahalanobis term, with a penalty on any decrease of g
   (``scipy.optimize.least_squares`` from the prior mean, analytic Jacobian).
   Triples are weighted so that every brightness range of edge pixels counts
   alike (the paper's concern that a few well-represented colours dominate).

With too few triples the estimate is the prior mean (the typical DoRF inverse
curve) with an :class:`~crfkit.estimators.UnreliableEstimateWarning`.

Where it works and where it does not (measured; ``analysis/results/estimators_real.md``):
on images whose edges are clean blurred steps between flat regions it
recovers held-out DoRF curves far better than gamma 2.2 (``tests/test_lin2004.py``);
on natural photographs the edge triples are not consistent with the model at
the true curve (their collinearity cost there is no lower than at the prior
mean), and the estimate is worse than the prior mean.  The Middlebury chart
crops have hard, unblended patch edges, so it mostly returns the prior mean there.
"""

import warnings
from functools import lru_cache

import numpy as np

from ..curves import Curve, CurveSet
from ..errors import ValidationError
from .base import Estimator, UnreliableEstimateWarning

#: Normal directions (dy, dx) and their tangents.
_DIRS = ((0, 1), (1, 0), (1, 1), (1, -1))
GRID = 1024


@lru_cache(maxsize=4)
def _prior(k):
    """Inverse-EMoR table (k+1, 1024) and the Gaussian prior (mean, inverse Cholesky) of k coefficients.

    The prior is fitted to the projections of the 191 DoRF training curves'
    inverses (Liu et al.'s RandomState(730) split; the 10 test curves are never used).
    """
    from ..data import load_curves, load_emor

    emor = load_emor(inverse=True)
    g0 = np.asarray(emor.mean, dtype=np.float64)
    H = np.asarray(emor.components, dtype=np.float64)[:k]
    inv = load_curves("dorf-train").inverse()
    vals = np.asarray(inv.values, dtype=np.float64)
    coef = (vals - g0) @ H.T  # orthonormal rows: projection
    mu = coef.mean(axis=0)
    cov = np.cov(coef, rowvar=False) + 1e-8 * np.eye(k)
    # residual r = L^T (c - mu) with cov^-1 = L L^T gives r.r = Mahalanobis^2
    L = np.linalg.cholesky(np.linalg.inv(cov))
    table = np.vstack([g0, H])
    return table, mu, L


def _basis_at(table, v):
    """``table`` (K+1, GRID) linearly interpolated at values ``v`` (any shape): (..., K+1)."""
    x = np.clip(v, 0.0, 1.0) * (GRID - 1)
    lo = np.minimum(x.astype(np.int64), GRID - 2)
    fr = (x - lo)[..., None]
    return table.T[lo] * (1.0 - fr) + table.T[lo + 1] * fr


def edge_triples(img, radius=4, half_length=2, grad_min=0.06, uniform=0.025, min_contrast=0.08,
                 max_candidates=40000, seed=0, monotone=True):
    """Colour triples (region 1, region 2, edge pixel) of linearly blended edges.

    Parameters
    ----------
    img : ndarray, float (H, W, 3) in [0, 1]
    radius : int
        Window half-width along the edge normal: the regions are the two
        outermost pixel rows on each side (offsets ``radius-1``, ``radius``);
        edge pixels are offsets -1, 0, 1.
    half_length : int
        Window half-length along the edge.
    grad_min : float
        Smallest grey-level gradient (central difference over 2 pixels) of a candidate.
    uniform : float
        Largest per-channel standard deviation within a region.
    min_contrast : float
        Smallest Euclidean distance between the two region colours.
    max_candidates : int
        Candidates examined at most (a seeded random subset of a large image).
    seed : int
    monotone : bool
        Keep only windows whose profile across the edge (averaged along it)
        is monotone in every channel.

    Returns
    -------
    ndarray, float64 (n, 3, 3)
        ``[:, 0]`` region 1, ``[:, 1]`` region 2, ``[:, 2]`` the edge pixel (RGB).
    """
    H, W, _ = img.shape
    gray = img.mean(axis=2, dtype=np.float32)
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, 1:-1] = gray[:, 2:] - gray[:, :-2]
    gy[1:-1, :] = gray[2:, :] - gray[:-2, :]
    mag = np.hypot(gx, gy)
    m = radius + half_length + 1
    cand = mag > grad_min
    cand[:m, :] = cand[-m:, :] = False
    cand[:, :m] = cand[:, -m:] = False
    ys, xs = np.nonzero(cand)
    if ys.size == 0:
        return np.zeros((0, 3, 3))
    rng = np.random.default_rng(seed)
    if ys.size > max_candidates:
        keep = np.sort(rng.choice(ys.size, max_candidates, replace=False))
        ys, xs = ys[keep], xs[keep]
    ax, ay = np.abs(gx[ys, xs]), np.abs(gy[ys, xs])
    # quantised normal direction: 0 along x, 1 along y, 2/3 diagonals
    diag = np.where(gx[ys, xs] * gy[ys, xs] > 0, 2, 3)
    d = np.where(ax > 2.414 * ay, 0, np.where(ay > 2.414 * ax, 1, diag))
    out = []
    ks = np.arange(-radius, radius + 1)
    ts = np.arange(-half_length, half_length + 1)
    for di, (ny, nx) in enumerate(_DIRS):
        sel = d == di
        if not sel.any():
            continue
        y0, x0 = ys[sel], xs[sel]
        # non-maximum suppression along the normal
        mc = mag[y0, x0]
        nms = (mc >= mag[y0 + ny, x0 + nx]) & (mc > mag[y0 - ny, x0 - nx])
        y0, x0 = y0[nms], x0[nms]
        if y0.size == 0:
            continue
        ty, tx = -nx, ny  # tangent: the normal turned by 90 degrees
        yy = y0[:, None, None] + ks[None, :, None] * ny + ts[None, None, :] * ty
        xx = x0[:, None, None] + ks[None, :, None] * nx + ts[None, None, :] * tx
        win = img[yy, xx].astype(np.float64)  # (n, 2R+1, 2T+1, 3)
        s1 = win[:, :2].reshape(len(y0), -1, 3)
        s2 = win[:, -2:].reshape(len(y0), -1, 3)
        m1, m2 = s1.mean(1), s2.mean(1)
        ok = (s1.std(1).max(1) < uniform) & (s2.std(1).max(1) < uniform)
        ok &= np.linalg.norm(m1 - m2, axis=1) > min_contrast
        lo, hi = np.minimum(m1, m2), np.maximum(m1, m2)
        # clipped regions carry no irradiance: the blend would not be linear
        ok &= (hi.max(1) < 0.97) & (lo.min(1) > 0.01)
        if monotone:
            # a blurred step rises (or falls) steadily from one region to the other in every
            # channel; texture, ringing and sharpening halos do not
            prof = win.mean(axis=2)  # (n, 2R+1, 3), averaged along the edge
            step = np.diff(prof, axis=1) * np.sign(m2 - m1)[:, None, :]
            ok &= np.all(step >= -0.006, axis=(1, 2))
        if not ok.any():
            continue
        m1, m2, lo, hi, win = m1[ok], m2[ok], lo[ok], hi[ok], win[ok]
        diff = m1 - m2
        den = np.einsum("ij,ij->i", diff, diff)
        for k in (-1, 0, 1):
            p = win[:, radius + k, half_length]
            tol = 0.01
            between = np.all((p >= lo - tol) & (p <= hi + tol), axis=1)
            alpha = np.einsum("ij,ij->i", p - m2, diff) / den
            good = between & (alpha > 0.1) & (alpha < 0.9)
            if good.any():
                out.append(np.stack([m1[good], m2[good], p[good]], axis=1))
    if not out:
        return np.zeros((0, 3, 3))
    return np.concatenate(out)


def _coverage_weights(triples, bins=16):
    """Weights that give every brightness bin of the edge pixels the same total (capped at 20x)."""
    b = np.minimum((triples[:, 2].mean(1) * bins).astype(int), bins - 1)
    counts = np.bincount(b, minlength=bins).astype(float)
    w = 1.0 / counts[b]
    w = np.minimum(w / w.min(), 20.0)
    return w / w.mean()


class Lin2004Estimator(Estimator):
    """``lin2004``: inverse CRF from the collinearity of blended edge colours (no training, no torch).

    Parameters
    ----------
    k : int
        Inverse-EMoR coefficients (default 5, as in the paper).
    per_channel : bool or 'coupled'
        Estimate one curve per channel (a CurveSet of 3) instead of one shared
        curve, fitted jointly to the edge triples with the channels tied to
        their mean (``'coupled'``, the only way; True means it).  Channels
        share the prior; the edges must then carry colour.
    prior_weight : float
        Weight of the DoRF prior against the edge term (1: the default balance).
    max_triples : int
        Triples used at most (a seeded random subset; bounds the run time).
    min_triples : int
        Fewer triples than this: the prior mean is returned with a warning.
    seed : int
        Seed of the candidate and triple subsets (results are reproducible).
    threads : int, optional
        Accepted like the other estimators' option (``crfkit evaluate-estimators
        --threads``); the work is single-threaded numpy, so it changes nothing.

    Notes
    -----
    Lin, Gu, Yamazaki & Shum, "Radiometric calibration from a single image",
    CVPR 2004.  The distance is normalised by the squared region-colour
    distance, so dark and bright edges count alike and the scale of g does
    not matter.
    """

    name = "lin2004"
    min_size = 16
    per_channel_modes = ("coupled",)

    #: robust scale of the normalised collinearity residuals
    residual_scale = 0.05
    #: effective number of independent triples (edge pixels of one edge are not independent)
    effective_triples = 100.0
    #: require monotone edge profiles (edge_triples)
    monotone = True
    #: weight tying per-channel curves to their mean (prior units)
    channel_coupling = 3.0

    def __init__(self, k=5, per_channel=False, prior_weight=1.0, max_triples=1500, min_triples=30, seed=0,
                 threads=None):
        opts = self._check_values(dict(k=k, per_channel=per_channel, prior_weight=prior_weight,
                                       max_triples=max_triples, min_triples=min_triples, seed=seed,
                                       threads=threads))
        self.k = opts["k"]
        self.per_channel = opts["per_channel"]
        self.prior_weight = opts["prior_weight"]
        self.max_triples = opts["max_triples"]
        self.min_triples = opts["min_triples"]
        self.seed = opts["seed"]
        self._table, self._mu, self._L = _prior(self.k)
        self.last_n_triples = 0

    @classmethod
    def _check_values(cls, options):
        from ..plugins import check_count

        who = cls.name
        if "k" in options:
            options["k"] = check_count(options["k"], "k", who, 1, 25)
        if "per_channel" in options:
            from .base import check_per_channel

            options["per_channel"] = check_per_channel(options["per_channel"], who, cls.per_channel_modes)
        if "prior_weight" in options:
            pw = options["prior_weight"]
            try:
                pw = float(pw)
            except (TypeError, ValueError):
                raise ValidationError(f"{who}: prior_weight must be a number > 0, got {pw!r}") from None
            if not np.isfinite(pw) or pw <= 0:
                raise ValidationError(f"{who}: prior_weight must be a finite number > 0, got {pw!r}")
            options["prior_weight"] = pw
        for name in ("max_triples", "min_triples"):
            if name in options:
                options[name] = check_count(options[name], name, who, 1)
        if "seed" in options:
            options["seed"] = check_count(options["seed"], "seed", who, 0)
        if "threads" in options and options["threads"] is not None:
            from ..plugins import check_threads

            options["threads"] = check_threads(options["threads"], who)
        return options

    # ------------------------------------------------------------------ fitting
    def _curves(self, c):
        """(n_curves, GRID) inverse curves of coefficient rows ``c`` (n_curves, k)."""
        c = np.atleast_2d(c)
        return self._table[0] + c @ self._table[1:]

    def fit_triples(self, triples):
        """Coefficients (n_curves, k) that make ``triples`` (n, 3, 3) collinear after linearisation."""
        from scipy.optimize import least_squares

        n_c = 3 if self.per_channel else 1
        k = self.k
        P = n_c * k
        A = _basis_at(self._table, triples)  # (n, 3 points, 3 channels, k+1)
        # u = g(M1) - g(M2) and v = g(I) - g(M2) are linear in the coefficients: u = U0 + Ju x
        dU, dV = A[:, 0] - A[:, 1], A[:, 2] - A[:, 1]  # (n, 3, k+1)
        n = len(triples)
        Ju = np.zeros((n, 3, P))
        Jv = np.zeros((n, 3, P))
        for ch in range(3):
            cols = slice(0, k) if n_c == 1 else slice(ch * k, (ch + 1) * k)
            Ju[:, ch, cols] = dU[:, ch, 1:]
            Jv[:, ch, cols] = dV[:, ch, 1:]
        U0, V0 = dU[..., 0], dV[..., 0]
        # the edge term counts as at most `effective_triples` independent observations
        a = (np.sqrt(_coverage_weights(triples)) * np.sqrt(min(1.0, self.effective_triples / n))
             / self.residual_scale)
        prior_scale = np.sqrt(self.prior_weight)
        grid_b = _basis_at(self._table, np.linspace(0, 1, 65))  # (65, k+1)
        dgrid = np.diff(grid_b, axis=0)
        mu, L = self._mu, self._L
        pen = 50.0
        # per channel: the channels' curves are tied to their mean (in prior units), since
        # independent curves can flatten one channel and make any triple look collinear
        couple = self.channel_coupling if n_c > 1 else 0.0

        def cross(x, y):
            return np.stack([x[:, 1] * y[:, 2] - x[:, 2] * y[:, 1],
                             x[:, 2] * y[:, 0] - x[:, 0] * y[:, 2],
                             x[:, 0] * y[:, 1] - x[:, 1] * y[:, 0]], axis=1)

        def parts(x):
            u = U0 + np.einsum("ncp,p->nc", Ju, x)
            v = V0 + np.einsum("ncp,p->nc", Jv, x)
            cr = cross(u, v)
            ncr = np.sqrt(np.einsum("nc,nc->n", cr, cr)) + 1e-12
            uu = np.einsum("nc,nc->n", u, u) + 1e-12
            c = x.reshape(n_c, k)
            gv = grid_b[:, :1] + grid_b[:, 1:] @ c.T  # (65, n_c)
            dg = dgrid[:, :1] + dgrid[:, 1:] @ c.T  # (64, n_c)
            return u, v, cr, ncr, uu, c, gv, dg

        def residuals(x):
            u, v, cr, ncr, uu, c, gv, dg = parts(x)
            return np.concatenate([a * ncr / uu, ((c - mu) @ L).ravel() * prior_scale,
                                   ((c - c.mean(axis=0)) @ L).ravel() * couple,
                                   pen * np.minimum(dg, 0.0).ravel(),
                                   pen * (np.maximum(gv - 1.0, 0.0) + np.minimum(gv, 0.0)).ravel()])

        def jac(x):
            u, v, cr, ncr, uu, c, gv, dg = parts(x)
            dcr = cross(Ju, v[..., None]) + cross(u[..., None], Jv)  # (n, 3, P)
            dn = np.einsum("nc,ncp->np", cr, dcr) / ncr[:, None]
            duu = 2.0 * np.einsum("nc,ncp->np", u, Ju)
            jd = (a / uu)[:, None] * dn - (a * ncr / uu ** 2)[:, None] * duu
            jp = np.zeros((P, P))
            jc = np.zeros((P, P))
            jm = np.zeros((64 * n_c, P))
            jr = np.zeros((65 * n_c, P))
            for ch in range(n_c):
                cols = slice(ch * k, (ch + 1) * k)
                jp[cols, cols] = L.T * prior_scale
                for ch2 in range(n_c):
                    jc[cols, ch2 * k:(ch2 + 1) * k] = L.T * couple * ((ch == ch2) - 1.0 / n_c)
                # rows of the (points, n_c) arrays raveled C-order: point-major
                jm[ch::n_c, cols] = pen * (dg[:, ch] < 0)[:, None] * dgrid[:, 1:]
                act = (gv[:, ch] > 1.0) | (gv[:, ch] < 0.0)
                jr[ch::n_c, cols] = pen * act[:, None] * grid_b[:, 1:]
            return np.vstack([jd, jp, jc, jm, jr])

        # One start at the prior mean: on synthetic edges, starts 1.5 sd away along the
        # main prior direction converged to the same minimum.
        best = least_squares(residuals, np.tile(mu, n_c), jac=jac, loss="soft_l1", f_scale=1.0,
                             method="trf", max_nfev=100, x_scale="jac")
        return best.x.reshape(n_c, k)

    def estimate_inverse(self, image):
        img = np.asarray(image, dtype=np.float32)
        tiles = self._tiles(img)
        per_tile = max(1000, 40000 // len(tiles))  # the same candidate budget as one image
        triples = np.concatenate([edge_triples(t, seed=self.seed, monotone=self.monotone,
                                               max_candidates=per_tile) for t in tiles])
        if len(triples) > self.max_triples:
            rng = np.random.default_rng(self.seed)
            triples = triples[np.sort(rng.choice(len(triples), self.max_triples, replace=False))]
        self.last_n_triples = int(len(triples))
        if len(triples) < self.min_triples:
            warnings.warn(f"{self.name}: only {len(triples)} blended-edge colour triples found (need "
                          f"{self.min_triples}); returning the prior mean (typical DoRF inverse curve)",
                          UnreliableEstimateWarning, stacklevel=3)
            c = np.tile(self._mu, (3 if self.per_channel else 1, 1))
        else:
            c = self.fit_triples(triples)
        curves = [self._finish(g) for g in self._curves(c)]
        if self.per_channel:
            return CurveSet(np.stack(curves), kind="inverse", names=["R", "G", "B"], name=self.name)
        return Curve(curves[0], kind="inverse", name=self.name)

    #: pixels searched for edges at most; larger images are searched in random tiles
    max_search_pixels = 4_000_000
    tile = 512

    def _tiles(self, img):
        """The whole image, or seeded random ``tile`` x ``tile`` crops covering ``max_search_pixels``.

        Crops, not a resized image: resizing would blend pixels in the non-linear
        domain and fake the very edge mixtures the method measures.
        """
        H, W = img.shape[:2]
        if H * W <= self.max_search_pixels:
            return [img]
        t = self.tile
        ys, xs = np.arange(0, H - t + 1, t), np.arange(0, W - t + 1, t)
        grid = [(y, x) for y in ys for x in xs]
        n = max(1, min(len(grid), self.max_search_pixels // (t * t)))
        pick = np.random.default_rng(self.seed).choice(len(grid), n, replace=False)
        return [img[grid[i][0]:grid[i][0] + t, grid[i][1]:grid[i][1] + t] for i in np.sort(pick)]

    @staticmethod
    def _finish(g):
        """A valid inverse curve: within [0, 1], non-decreasing, g(0) = 0 and g(1) = 1."""
        g = np.maximum.accumulate(np.clip(g, 0.0, 1.0))
        g[0], g[-1] = 0.0, 1.0
        return g


__all__ = ["Lin2004Estimator", "edge_triples"]
