"""Estimating a CRF from chart samples.

Per channel, the samples are ``B_i = f(s * X_i)``: ``X`` the relative irradiance
(RAW values, or reference x exposure), ``B`` the JPEG value, ``s`` an unknown
scale (where the irradiance reaches the curve's saturation, f(1) = 1).  For a
trial ``s`` the monotone curve is fitted in closed form (a small constrained
least-squares problem); ``s`` itself is found by a coarse log-spaced search
refined with Brent's method, minimising the weighted RMSE in brightness, within
the bracket that clipped and unclipped samples set (:func:`scale_bracket`).

How well the scale is identified: a shoulder near saturation fits a slightly
stretched or shrunk curve about as well, and 1 % of scale error costs
0.002-0.01 RMSE on the grid.  Clipped samples bound the scale to the gap between
the brightest unclipped and the dimmest clipped level; with a 1/3-stop bracket of
the ColorChecker's grey row that gap is up to 0.21 stop (16 %), so within it
the choice rests on the curve model.  Where nothing clipped the scale is bounded
from above only and the estimate is flagged.

Curve families (``method``):

* ``'emor'`` (default, k = 4) or ``'pca'`` / ``'polynomial'``: the core models
  through :func:`crfkit.fit` with ``monotone=True``.  EMoR's basis curves all
  satisfy f(0) = 0 and f(1) = 1, so the endpoints hold by construction; a
  low-dimensional model interpolates sensibly between the chart's sparse
  levels and extrapolates above the brightest usable patch.  This is the
  default because chart data rarely covers the top of the range (clipped
  patches are rejected) and the model's prior fills it in.
* ``'smooth'``: a non-parametric fit: f on 65 knots as a cumulative sum of
  non-negative increments (monotone, f(0) = 0; f(1) = 1 as a heavily weighted
  row), with a second-difference roughness penalty; PCHIP to the 1024 grid.
  The irradiance scale comes from an EMoR-k fit (a free-form curve fits any
  scale about equally well); only the shape is model-free.  Use it to build
  datasets that are scored against the model families (a set built with
  EMoR-k lies in EMoR-k's span, and the table would score EMoR perfectly).

The colour-aware fit (:func:`fit_crf_colour`) models ``JPEG = f(M . RAW)`` with a
3x3 matrix (Chakrabarti, Scharstein & Zickler, BMVC 2009).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import least_squares, lsq_linear, minimize_scalar

from ..curves import GRID, Curve
from ..errors import FitError, ValidationError

CHANNELS = ("R", "G", "B")
METHODS = ("emor", "pca", "polynomial", "smooth")


@dataclass
class CRFEstimate:
    """What :func:`fit_crf` and :func:`fit_crf_colour` return.

    Attributes
    ----------
    curves : list of Curve (3)
        Forward CRFs of R, G, B on the 1024 grid (f(0) = 0, f(1) = 1, monotone).
    scale : ndarray (3,)
        Per-channel factor mapping the relative irradiance to E in [0, 1]
        (for the colour-aware fit: ones; the matrix carries the scale).
    rmse : ndarray (3,)
        Weighted RMSE of the fit on the usable samples, in brightness units.
    n_samples : ndarray (3,) int
    method : str
        e.g. ``'EMoR-6'``, ``'smooth'``, ``'EMoR-6 colour (3x3)'``.
    matrix : ndarray (3, 3) or None
        The colour-aware fit's M.
    x, y, w : ndarray (n, 3)
        The samples as used: E = scale * irradiance (or M . RAW), brightness, weight.
    flags : list of str
    scale_bounds : ndarray (3, 2) or None
        Per channel, the bracket ``[lo, hi]`` on the scale from clipped and
        unclipped samples (:func:`scale_bracket`); ``lo`` is NaN where nothing
        clipped (the scale is then not identified by the data).
    """

    curves: list
    scale: np.ndarray
    rmse: np.ndarray
    n_samples: np.ndarray
    method: str
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    matrix: np.ndarray = None
    flags: list = field(default_factory=list)
    scale_bounds: np.ndarray = None

    def inverse_curves(self):
        return [c.inverse() for c in self.curves]


def _min_samples(method, k):
    return 6 if method == "smooth" else int(k) + 2


def _smooth_fit(x, y, w, knots=65, lam=1e-3):
    """Monotone penalised least squares on ``knots`` knots; returns values on GRID.

    Knots are spaced quadratically (dense near 0, where CRFs are steepest); the
    roughness penalty is on the change of slope between neighbouring segments.
    ``lam`` = 1e-3 was chosen on the data at hand: on synthetic charts with the
    scale known the median shape error is 0.0011 (1e-4: 0.0013, 1e-2: 0.0018) and
    on Middlebury it gives smoother curves with an equal or slightly lower
    held-out linearisation error than 1e-4 (0.0721 vs 0.0726).
    """
    t = np.linspace(0.0, 1.0, knots) ** 2
    idx = np.clip(np.searchsorted(t, x, side="right") - 1, 0, knots - 2)
    frac = (x - t[idx]) / np.diff(t)[idx]
    a = np.zeros((x.size, knots))
    a[np.arange(x.size), idx] = 1 - frac
    a[np.arange(x.size), idx + 1] = frac
    # f = C d with d >= 0 the increments (f_0 = 0 is the first knot).
    c = np.tril(np.ones((knots, knots)))[:, 1:]
    sw = np.sqrt(w)
    h = np.diff(t)
    slope = (np.diff(np.eye(knots), axis=0) / h[:, None]) @ c       # segment slopes
    curv = np.diff(slope, axis=0) * np.sqrt(h[1:] + h[:-1])[:, None] / 2  # slope change, weighted by span
    pen = np.sqrt(lam * max(w.sum(), 1.0))
    big = 100.0 * np.sqrt(max(w.sum(), 1.0))
    mat = np.vstack([sw[:, None] * (a @ c), pen * curv, big * c[-1:]])
    rhs = np.concatenate([sw * y, np.zeros(curv.shape[0]), [big]])  # last row: f(1) = 1
    res = lsq_linear(mat, rhs, bounds=(0, np.inf), method="bvls")
    f = np.maximum.accumulate(np.clip(c @ res.x / max((c @ res.x)[-1], 1e-12), 0, 1))
    return PchipInterpolator(t, f)(GRID)


#: A saturated patch only says f(E) >= this (its pixels sit at the top code value).
SATURATED = 1.0 - 2.0 / 255.0


def _fit_once(x, y, w, method, k, options):
    if method == "smooth":
        return _smooth_fit(x, y, w, **options)
    from ..fitting import fit

    return np.clip(fit((x, y, w), model=method, k=k, monotone=True, **options).curve.values, 0.0, 1.0)


def _fit_channel(x, y, w, method, k, options, censor_iterations=1):
    """Monotone fit of one channel; returns (values on GRID, weighted rmse on the samples).

    Saturated samples (y = 1) are censored observations, f(E) >= SATURATED: their
    target is raised to the current prediction when that is above the bound
    (a few fixed-point steps), so they constrain without pulling the curve to 1.
    """
    sat = (y >= 0.999) & (w > 0)
    target = y.copy()
    vals = _fit_once(x, target, w, method, k, options)
    for _ in range(censor_iterations if sat.any() else 0):
        pred = np.interp(x[sat], GRID, vals)
        target[sat] = np.clip(pred, SATURATED, 1.0)
        vals = _fit_once(x, target, w, method, k, options)
    y = target
    pred = np.interp(x, GRID, vals)
    rmse = float(np.sqrt(np.sum(w * (pred - y) ** 2) / max(w.sum(), 1e-12)))
    return vals, rmse


#: Lowest E at which a curve may reach its top code.  Every one of DoRF's 201
#: curves first reaches 0.998 at E >= 0.907, so a sample that clips bounds the
#: scale from below: s * X_clipped >= SATURATION_ONSET.
SATURATION_ONSET = 0.9


def scale_bracket(xr, y, w, onset=SATURATION_ONSET):
    """Bounds on the irradiance scale ``s`` from clipped and unclipped samples.

    With f monotone and f(1) = 1, an unclipped sample (f(s X) < 1) has s X < 1,
    and a clipped one (f(s X) >= SATURATED) has s X >= ``onset``.  So the scale
    lies between ``onset / X`` of the dimmest clipped sample and ``1 / X`` of the
    brightest unclipped one.

    Returns
    -------
    lo, hi : float
        ``lo`` is None when nothing clipped: the data then bound the scale only
        from above, and where E = 1 lies is left to the curve model's prior.
    """
    usable = w > 0
    unsat, sat = usable & (y < 0.999), usable & (y >= 0.999)
    hi = 1.0 / xr[unsat].max() if unsat.any() else None
    lo = onset / xr[sat].min() if sat.any() else None
    if hi is None:
        hi = 1.0 / xr[sat].min()  # all clipped: callers reject this before fitting
    if lo is not None and lo >= hi:
        # Noise or a patch misread can invert the bracket; keep a narrow window at its top.
        lo = 0.97 * hi
    return lo, hi


def _search_scale(xr, y, w, method, k, options, lo=None, hi=None, floor=0.03, n_grid=16):
    """Scale minimising the fit RMSE within ``[lo, hi]``; returns (scale, values on GRID, rmse, E).

    ``lo`` and ``hi`` come from :func:`scale_bracket`; without ``lo`` (nothing
    clipped) the search goes down to ``floor * hi``.  Searched on a log grid,
    refined with Brent's method.  (Before the bracket, the search ran over
    0.03-3x and found scales up to 64 % off: a shoulder fits a stretched or
    shrunk curve about equally well.)
    """
    if hi is None:
        lo, hi = scale_bracket(xr, y, w)
    lo = floor * hi if lo is None else lo

    def objective(logs):
        e = np.clip(np.exp(logs) * xr, 0.0, 1.0)
        return _fit_channel(e, y, w, method, k, options)[1]

    grid = np.linspace(np.log(lo), np.log(hi), n_grid)
    vals = np.array([objective(g) for g in grid])
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, n_grid - 1)]
    best = grid[i]
    if b > a:
        r = minimize_scalar(objective, bounds=(a, b), method="bounded", options={"xatol": 1e-3})
        if r.fun <= vals[i]:
            best = r.x
    s = float(np.exp(best))
    e = np.clip(s * xr, 0.0, 1.0)
    fitted, rmse = _fit_channel(e, y, w, method, k, options)
    return s, fitted, rmse, e


#: ColorChecker patches of the neutral row (white ... black).
NEUTRAL_PATCHES = (18, 19, 20, 21, 22, 23)


def select_patches(samples, patches):
    """Weights (n, 3) keeping only the chosen patches ('all', 'neutral' or indices)."""
    w = samples.weight.copy()
    if isinstance(patches, str):
        if patches == "all":
            return w
        if patches != "neutral":
            raise ValidationError(f"patches must be 'all', 'neutral' or a list of indices, got {patches!r}")
        if samples.patch.max() < max(NEUTRAL_PATCHES):
            return w  # not a 24-patch chart: nothing is known to be neutral
        keep = NEUTRAL_PATCHES
    else:
        keep = [int(i) for i in patches]
    w[~np.isin(samples.patch, keep)] = 0.0
    return w


def fit_crf(samples, method="emor", k=4, name="", scale=None, patches="neutral", **options):
    """Estimate R, G, B CRFs from chart samples, each with its own irradiance scale.

    Parameters
    ----------
    samples : ChartSamples
    method : {'emor', 'pca', 'polynomial', 'smooth'}
        Curve family (see the module notes); core model options (``basis`` for
        pca, ``pin_zero`` for polynomial) pass through ``options``.
    k : int
        Parameters of the model (ignored by ``'smooth'``).
    name : str
        Camera name, for messages.
    scale : sequence of 3 floats, optional
        Known factors mapping the relative irradiance to E in [0, 1]; skips the search.
    patches : 'neutral', 'all' or list of int
        Patches that take part.  Default ``'neutral'``: the ColorChecker's grey
        row, whose channels are not mixed by the camera's colour processing
        (matrix, gamut mapping), so the per-channel curve is the tone curve
        alone.  On the Middlebury pairs the chromatic patches raise the
        per-channel residuals from about 0.005 to 0.02-0.08 and make the
        linearisation of held-out shots worse; the colour-aware fit
        (:func:`fit_crf_colour`) is the model that uses them.

    Returns
    -------
    CRFEstimate

    Raises
    ------
    FitError
        Too few usable samples in a channel for the model asked.
    """
    if method not in METHODS:
        raise ValidationError(f"unknown calibration method {method!r}; use one of {', '.join(METHODS)}")
    need = _min_samples(method, k)
    weight = select_patches(samples, patches)
    n = ((weight > 0) & (samples.brightness < 0.999)).sum(axis=0)  # saturated samples only bound the curve
    if n.max() == 0 and (weight > 0).any():
        raise FitError(f"{name or 'chart samples'}: all usable patches are clipped (saturated); expose the chart darker")
    if n.min() < need:
        c = int(np.argmin(n))
        raise FitError(
            f"{name or 'chart samples'}: channel {CHANNELS[c]} has {int(n[c])} usable unclipped samples; {method} with k={k} "
            f"needs at least {need}"
        )
    curves, scales, rmses, xs, brackets, unidentified = [], [], [], [], [], []
    for c in range(3):
        xr, y, w = samples.irradiance[:, c], samples.brightness[:, c], weight[:, c].copy()
        w[~np.isfinite(xr) | (xr <= 0)] = 0.0
        xr = np.nan_to_num(xr, nan=0.0)
        lo, hi = scale_bracket(xr, y, w)
        brackets.append((np.nan if lo is None else lo, hi))
        if lo is None:
            unidentified.append(CHANNELS[c])
        if scale is None and method == "smooth":
            # A non-parametric curve fits any scale about equally well, so the
            # scale comes from the EMoR fit and only the shape from the smooth fit.
            s = _search_scale(xr, y, w, "emor", k, {}, lo, hi)[0]
            e = np.clip(s * xr, 0, 1)
            vals, rmse = _fit_channel(e, y, w, method, k, options)
        elif scale is None:
            s, vals, rmse, e = _search_scale(xr, y, w, method, k, options, lo, hi)
        else:
            s = float(scale[c])
            e = np.clip(s * xr, 0, 1)
            vals, rmse = _fit_channel(e, y, w, method, k, options)
        curves.append(Curve(vals, "forward", f"{name}/{CHANNELS[c]}" if name else CHANNELS[c]).monotonized())
        scales.append(s)
        rmses.append(rmse)
        xs.append(e)
    label = "smooth" if method == "smooth" else _label(method, k, options)
    flags = _flags(samples, weight, np.column_stack(xs))
    if unidentified and scale is None:
        flags.append(f"irradiance scale not identified in {''.join(unidentified)} (no clipped sample): "
                     "bounded above only, placed by the curve model's shape")
    return CRFEstimate(curves, np.array(scales), np.array(rmses), n, label, np.column_stack(xs),
                       samples.brightness.copy(), weight, None, flags, np.array(brackets, float))


def _label(method, k, options):
    if method == "emor":
        return f"EMoR-{k}"
    if method == "pca":
        return f"PCA({options.get('basis', 'dorf')})-{k}"
    return f"Poly{'0' if options.get('pin_zero') else ''}-{k}"


def _flags(samples, weight, e):
    flags = []
    if samples.kind == "single":
        flags.append("single JPEG: reference values only (weakest input)")
    ok = weight > 0
    top = np.array([e[ok[:, c], c].max() for c in range(3)])
    if top.min() < 0.6:
        flags.append(f"extrapolated above E={top.min():.2f} (no usable sample brighter)")
    n = ok.sum(axis=0)
    if n.min() < 12:
        flags.append(f"few samples ({int(n.min())} in a channel)")
    return flags


def fit_crf_colour(samples, method="emor", k=4, name="", iterations=6, **options):
    """Colour-aware fit ``JPEG_c = f_c((M . RAW)_c)`` with a 3x3 matrix M.

    Alternates (Chakrabarti et al., BMVC 2009): with the curves fixed, M is the
    least-squares solution of ``g(JPEG) = RAW . M^T`` refined on the brightness
    residual; with M fixed, each channel's monotone curve is refitted.  Started
    from the per-channel fit on the neutral patches (M diagonal).  All patches
    usable in all three channels take part.

    Returns
    -------
    CRFEstimate
        ``matrix`` holds M (RAW -> E in [0, 1]); ``scale`` is ones.
    """
    init = fit_crf(samples, method=method, k=k, name=name, patches="neutral", **options)
    ok = np.all(samples.weight > 0, axis=1) & np.all(np.isfinite(samples.irradiance), axis=1)
    need = _min_samples(method, k) + 3
    if ok.sum() < need:
        raise FitError(f"{name or 'chart samples'}: {int(ok.sum())} patches usable in all channels; the colour fit needs {need}")
    raw, jpg = samples.irradiance[ok], samples.brightness[ok]
    m = np.diag(init.scale)
    curves = [c.values for c in init.curves]

    def predict(mvec, curves):
        e = np.clip(raw @ mvec.reshape(3, 3).T, 0.0, 1.0)
        return np.column_stack([np.interp(e[:, c], GRID, curves[c]) for c in range(3)]), e

    for _ in range(iterations):
        inv = [Curve(v, "forward").monotonized().inverse().values for v in curves]
        lin = np.column_stack([np.interp(jpg[:, c], GRID, inv[c]) for c in range(3)])
        m0, *_ = np.linalg.lstsq(raw, lin, rcond=None)
        r = least_squares(lambda p: (predict(p, curves)[0] - jpg).ravel(), m0.T.ravel(), method="lm")
        m = r.x.reshape(3, 3)
        e = np.clip(raw @ m.T, 0.0, 1.0)
        curves = [_fit_channel(e[:, c], jpg[:, c], np.ones(len(e)), method, k, options)[0] for c in range(3)]
    pred, e = predict(m.ravel(), curves)
    rmse = np.sqrt(np.mean((pred - jpg) ** 2, axis=0))
    out = [Curve(np.clip(v, 0, 1), "forward", f"{name}/{CHANNELS[c]}" if name else CHANNELS[c]).monotonized()
           for c, v in enumerate(curves)]
    label = ("smooth" if method == "smooth" else _label(method, k, options)) + " colour (3x3)"
    return CRFEstimate(out, np.ones(3), rmse, np.full(3, int(ok.sum())), label, e, jpg, np.ones_like(jpg), m,
                       list(init.flags))


def fit_inverse_colour(samples, k=4, name=""):
    """Inverse curves fitted on the linearisation criterion: ``g(JPEG) ~ RAW . M^T``.

    Each channel's inverse CRF is inverse-EMoR-``k`` (``g0 + sum c_n hinv_n``,
    so g(0) = 0 and g(1) = 1), and the coefficients minimise the relative
    residual ``||g(JPEG) - RAW . M^T|| / ||g(JPEG)||`` with M the least-squares
    3x3 matrix (eliminated in closed form: the residual is g(JPEG) minus its
    projection on the span of the RAW channels).  This is the criterion
    :func:`linearisation_error` scores; fitting it in the linear domain weights
    the top of the curve, where a shoulder turns small brightness errors into
    large linear ones, as the check does (the brightness-domain fits do not).
    Monotonicity is a penalty on negative slopes.  Needs RAW+JPEG pairs; all
    patches usable and unclipped in all three channels take part.  The target is
    the linearisation up to a 3x3 matrix: where E = 1 lies (the curve's scale)
    is set only by g(1) = 1, so the forward curves are not meant for the
    1024-grid comparison with a reference curve.

    Returns
    -------
    CRFEstimate
        Forward curves (inverted); ``matrix`` the RAW -> E matrix at the optimum
        (scaled so that E = 1 at the brightest sample's largest channel).

    Raises
    ------
    FitError
        Fewer usable patches than the fit needs.
    """
    from scipy.optimize import least_squares as _lsq

    from ..data import load_emor

    ok = (np.all(samples.weight > 0, axis=1) & np.all(samples.brightness < 0.999, axis=1)
          & np.all(np.isfinite(samples.irradiance), axis=1))
    need = 3 * int(k) + 3
    if ok.sum() < need:
        raise FitError(f"{name or 'chart samples'}: {int(ok.sum())} patches usable in all channels; the inverse colour fit needs {need}")
    jpg, raw = samples.brightness[ok], samples.irradiance[ok]
    basis = load_emor(inverse=True)
    g0, h = basis.mean, basis.components[: int(k)]
    q, _ = np.linalg.qr(raw)
    a = [np.stack([np.interp(jpg[:, c], GRID, hn) for hn in h], axis=1) for c in range(3)]
    a0 = [np.interp(jpg[:, c], GRID, g0) for c in range(3)]
    slopes = np.diff(np.vstack([g0, h]), axis=1)

    def lin(p):
        p = p.reshape(3, -1)
        return np.column_stack([a0[c] + a[c] @ p[c] for c in range(3)])

    def residual(p):
        g = lin(p)
        r = (g - q @ (q.T @ g)).ravel() / np.linalg.norm(g)
        # A decreasing inverse is penalised hard (10x the slope deficit on the grid).
        mono = np.concatenate([np.minimum(slopes[0] + pc @ slopes[1:], 0.0) for pc in p.reshape(3, -1)])
        return np.concatenate([r, 10.0 * mono])

    start = fit_crf(samples, method="smooth", k=min(int(k), 6), name=name)
    p0 = np.concatenate([h @ (c.inverse().values - g0) for c in start.curves])
    res = _lsq(residual, p0, method="trf")
    p = res.x.reshape(3, -1)
    inv = [Curve(np.maximum.accumulate(np.clip(g0 + p[c] @ h, 0.0, 1.0)), "inverse") for c in range(3)]
    g = lin(res.x)
    m, *_ = np.linalg.lstsq(raw, g, rcond=None)
    m = m.T / max(g.max(), 1e-12)
    curves = [c.as_kind("forward").monotonized() for c in inv]
    curves = [Curve(c.values, "forward", f"{name}/{CHANNELS[i]}" if name else CHANNELS[i]) for i, c in enumerate(curves)]
    e = np.clip(raw @ m.T, 0.0, 1.0)
    pred = np.column_stack([np.interp(e[:, c], GRID, curves[c].values) for c in range(3)])
    rmse = np.sqrt(np.mean((pred - jpg) ** 2, axis=0))
    return CRFEstimate(curves, np.ones(3), rmse, np.full(3, int(ok.sum())), f"inverse EMoR-{k} + 3x3 (linear domain)",
                       e, jpg, np.ones_like(jpg), m, list(start.flags))


def linearisation_error(inverse_curves, jpeg, raw, mask=None):
    """Relative error of linearised JPEG values against RAW after the best 3x3 matrix.

    Parameters
    ----------
    inverse_curves : sequence of 3 Curve (inverse) or callables
        g_R, g_G, g_B mapping brightness in [0, 1] to linear values.
    jpeg : ndarray (n, 3)
        JPEG values in [0, 1] (patch means).
    raw : ndarray (n, 3)
        Linear RAW values of the same patches (any scale).
    mask : ndarray (n,) bool, optional
        Rows to use (default: all).

    Returns
    -------
    float
        ``||g(JPEG) - RAW . M^T|| / ||g(JPEG)||`` with M (which includes the
        scale) the least-squares 3x3 matrix: 0 for a perfect linearisation up to
        a colour transform.  Scale-free, so curves that darken or brighten
        everything are compared fairly.
    """
    jpeg, raw = np.asarray(jpeg, float), np.asarray(raw, float)
    if mask is not None:
        jpeg, raw = jpeg[mask], raw[mask]
    if len(jpeg) < 6:
        raise ValidationError(f"linearisation error needs at least 6 usable patches, got {len(jpeg)}")
    lin = np.column_stack([np.asarray(g(jpeg[:, c]), float) for c, g in enumerate(inverse_curves)])
    m, *_ = np.linalg.lstsq(raw, lin, rcond=None)
    return float(np.linalg.norm(lin - raw @ m) / np.linalg.norm(lin))
