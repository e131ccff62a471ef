"""The solver interface, the registry, and helpers shared by the solvers."""

import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np

from ...curves.curve import GRID
from ..._registry import Registry
from ...errors import ValidationError


@dataclass
class SolverResult:
    """What a solver returns for N problems (channels, or bootstrap draws x channels).

    Attributes
    ----------
    inverse : ndarray (N, 1024)
        Inverse CRFs on :data:`crfkit.GRID`: monotone, ``g(0) = 0``, ``g(1) = 1``
        (1 is the irradiance that just reaches the clipping level).
    log_times : ndarray (N, J)
        Log relative exposures used (given, or estimated), first exposure at 0.
    info : dict
    """

    inverse: np.ndarray
    log_times: np.ndarray
    info: dict = field(default_factory=dict)


class BracketSolver:
    """Base class: recovers inverse CRFs from bracket samples.

    Subclasses set ``name``, store their options in ``__init__`` (scikit-learn
    style: no work there) and implement :meth:`solve`.

    Attributes
    ----------
    estimates_times : bool
        True when the solver can estimate unknown exposure ratios itself.
    """

    name = "base"
    aliases = ()
    estimates_times = False
    label = "base"

    def solve(self, z, valid, log_times, code_max=255, start=None):
        """Recover inverse CRFs.

        Parameters
        ----------
        z : ndarray (N, P, J)
            Normalised codes in [0, 1] of P pixels in J exposures (shortest first) for N problems.
        valid : ndarray (N, P, J) bool
            Entries usable (not clipped, not at the noise floor).
        log_times : ndarray (N, J) or None
            Log exposures (None: unknown, estimated when :attr:`estimates_times`).
        code_max : int
            255 for 8-bit codes, 65535 for 16-bit.
        start : ndarray, optional
            A previous solution's ``info['params']`` (N, p) to start from (bootstrap
            draws start from the full fit); solvers without parameters ignore it.

        Returns
        -------
        SolverResult
        """
        raise NotImplementedError

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({opts})"


_REGISTRY = Registry("bracket method", "crfkit.bracket_solvers",
                     lambda obj: isinstance(obj, type) and issubclass(obj, BracketSolver),
                     normalise=lambda name: name.lower().replace("_", "-"), plural="methods")
SOLVERS = _REGISTRY.classes


def register_solver(cls):
    """Class decorator adding a :class:`BracketSolver` subclass to :data:`SOLVERS`."""
    return _REGISTRY.register(cls)


def get_solver_class(name):
    """The solver class registered as ``name`` (case-insensitive, ``_`` as ``-``)."""
    return _REGISTRY.get_class(name)


def get_solver(name, **options):
    """Instantiate a registered solver; unknown options raise a ValidationError naming the valid ones."""
    if isinstance(name, BracketSolver):
        if options:
            raise ValidationError("options cannot be given with a solver instance")
        return name
    cls = get_solver_class(name)
    valid = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    has_kwargs = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
    unknown = set(options) - valid
    if unknown and not has_kwargs:
        raise ValidationError(f"unknown option(s) {sorted(unknown)} for bracket method {cls.name!r}; "
                              f"valid: {', '.join(sorted(valid)) or 'none'}")
    return cls(**options)


# -- shared helpers ----------------------------------------------------------------------------
def levels_to_inverse(g_levels, seen=None):
    """Linear inverse response per code level (N, L) -> inverse curves on the grid (N, 1024).

    Levels no sample reached (``seen`` False) are interpolated from their
    neighbours, never left undefined; level 0 is 0 (f(0) = 0); the curve is made
    non-decreasing and scaled so that the top level is 1 (f(1) = 1 at clipping).
    """
    g = np.array(g_levels, dtype=np.float64, copy=True)
    n, levels = g.shape
    idx = np.arange(levels)
    for i in range(n):
        ok = np.isfinite(g[i]) & (g[i] > 0)
        if seen is not None:
            ok &= seen[i]
        ok[0] = False
        if ok.sum() < 2:
            raise ValidationError("too few code levels were reached to define a response")
        good = np.flatnonzero(ok)
        gi = np.interp(idx, good, g[i, good])  # flat beyond the last seen level...
        hi = good[-1]
        if hi < levels - 1:  # ...except at the top: continue the slope of the last seen levels (log domain)
            lo = good[max(0, len(good) - 8)]
            slope = (np.log(g[i, hi]) - np.log(g[i, lo])) / max(hi - lo, 1)
            gi[hi + 1:] = g[i, hi] * np.exp(slope * (idx[hi + 1:] - hi))
        gi[0] = 0.0
        gi = np.maximum.accumulate(np.maximum(gi, 0.0))
        g[i] = gi / gi[-1]
    x_levels = idx / (levels - 1)
    return np.stack([np.interp(GRID, x_levels, gi) for gi in g])


_TOP_WIDTHS = (0.025, 0.05, 0.1, 0.2, 0.3)
#: The learned continuation stays within this factor of the straight one (log rise).
TOP_CAP = 3.0
_TOP_CACHE = {}


def _top_features(log_g, ic):
    """Log-slopes of curves (N, 1024) over windows ending at grid index ic (N, len(_TOP_WIDTHS))."""
    zc = GRID[ic]
    cols = []
    for w in _TOP_WIDTHS:
        il = max(int(np.rint((zc - w) * (GRID.size - 1))), 1)
        cols.append((log_g[:, ic] - log_g[:, il]) / max(GRID[ic] - GRID[il], 1e-9))
    return np.column_stack(cols)


def _learned_top(ic):
    """Regression of log(g(1) / g(z_c)) on the log-slopes below z_c, learned from the 191
    DoRF training curves (never the 10 test curves); None when DoRF is not available."""
    if ic in _TOP_CACHE:
        return _TOP_CACHE[ic]
    try:
        from ...data import load_curves

        train = load_curves("dorf-train").inverse().values
    except Exception:  # no DoRF here: the straight extrapolation is used instead
        _TOP_CACHE[ic] = None
        return None
    lg = np.log(np.maximum(train, 1e-9))
    X = np.column_stack([np.ones(len(lg)), _top_features(lg, ic) * (1.0 - GRID[ic])])
    y = lg[:, -1] - lg[:, ic]
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    _TOP_CACHE[ic] = coef
    return coef


_TOP_MODEL = {}


def _model_top(g, ic, window=0.4, k=5):
    """Continue a curve above grid index ic with the EMoR shape that best matches it below.

    The EMoR-k curve ``m`` (``m(1) = 1``) and a free scale ``s`` are fitted by least
    squares to ``s * g`` over ``[z_c - window, z_c]``; returns ``(s, m[ic:] / m[ic])``,
    the continuation relative to the curve's value at ``z_c``; None without EMoR data.
    """
    if "basis" not in _TOP_MODEL:
        try:
            from ...data import load_emor

            b = load_emor(inverse=True)
            _TOP_MODEL["basis"] = (b.mean, b.components[:k])
        except Exception:
            _TOP_MODEL["basis"] = None
    basis = _TOP_MODEL["basis"]
    if basis is None:
        return None
    mean, comps = basis
    il = max(int(np.rint((GRID[ic] - window) * (GRID.size - 1))), 1)
    sl = slice(il, ic + 1)
    # unknowns: c (k), t = 1/s:  mean + comps^T c - g t = 0  (least squares, g given)
    A = np.column_stack([comps[:, sl].T, -g[sl]])
    sol, *_ = np.linalg.lstsq(A, -mean[sl], rcond=None)
    m = mean + sol[:-1] @ comps
    if not (m[ic] > 0 and np.all(np.diff(m[ic:]) >= -1e-9)):
        return None
    return 1.0 / sol[-1], m[ic:] / m[ic]


def highest_valid_code(z, valid, empty=1.0):
    """(N,) the highest valid code of each problem of ``z, valid`` (N, P, J); ``empty`` where none is valid."""
    return np.array([z[i][valid[i]].max() if valid[i].any() else empty for i in range(z.shape[0])])


#: Fewest saturated and fewest unsaturated samples near the top for the clipping rule.
CLIPPING_MIN_SAMPLES = 20


def clipping_log_level(inverse, z, valid, log_times, code_max=255, min_samples=CLIPPING_MIN_SAMPLES):
    """Log irradiance at which the codes saturate, read off the saturated samples (censoring).

    A sample that is saturated in one exposure and valid in another says that its irradiance
    times that exposure reached the clipping level.  Each pixel's irradiance comes from its
    valid exposures through the fitted curve, so ``X = log E + log t`` of every top-half sample
    is known in the curve's own units, and the share of saturated samples, as a function of
    ``X``, steps up at the clipping level.  The step is located as the single change point of
    that share (the split of the samples sorted by ``X`` that maximises
    ``n_below * n_above * (share_above - share_below)^2``).  A change point, rather than the
    threshold with the fewest misclassified samples, because the share above the step need
    not reach 1: JPEG ringing and chroma subsampling put pixels of saturated areas at codes
    just below the top.  This measures ``g(1)`` instead of extrapolating to it.

    Parameters
    ----------
    inverse : ndarray (N, 1024)
        Fitted inverse curves, any scale.
    z, valid : ndarray (N, P, J)
        Codes in [0, 1] and their validity (as given to the solver).
    log_times : ndarray (N, J)
    code_max : int

    Returns
    -------
    ndarray (N,)
        Log of the clipping irradiance in the units of ``inverse``; NaN where the samples do not
        tell (fewer than ``min_samples`` saturated or unsaturated top-half samples of pixels
        valid elsewhere, or a level not above the highest valid code's).
    """
    n = inverse.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        zi, vi = z[i], valid[i]
        if not vi.any():
            continue
        log_g = np.log(np.maximum(np.interp(zi, GRID, inverse[i]), 1e-12))
        # Irradiance per pixel from its valid exposures, brighter codes trusted more (the logs
        # of dark codes are noisy).
        w = np.where(vi, np.maximum(zi, 0.05), 0.0)
        wsum = w.sum(axis=1)
        has = wsum > 0
        log_e = (w * (log_g - log_times[i][None, :])).sum(axis=1) / np.where(has, wsum, 1.0)
        x = log_e[:, None] + log_times[i][None, :]
        # Saturated: within 1.5 codes of the highest code seen (a channel may saturate below 255).
        saturated = zi >= zi.max() - 1.5 / code_max
        top_half = (zi >= 0.5) & has[:, None]
        xs, lab = x[top_half], saturated[top_half].astype(np.float64)
        n_sat = int(lab.sum())
        if n_sat < min_samples or lab.size - n_sat < min_samples:
            continue
        order = np.argsort(xs, kind="stable")
        xs, lab = xs[order], lab[order]
        below = np.cumsum(lab)[:-1]
        n_below = np.arange(1, lab.size)
        n_above = lab.size - n_below
        share_below, share_above = below / n_below, (n_sat - below) / n_above
        split = n_below * n_above * np.clip(share_above - share_below, 0.0, None) ** 2
        split[xs[1:] <= xs[:-1]] = 0.0  # split between distinct values only: ties are ordered arbitrarily
        b = int(np.argmax(split))
        level = 0.5 * (xs[b] + xs[b + 1])
        top_valid = np.log(max(np.interp(zi[vi].max(), GRID, inverse[i]), 1e-12))
        if split[b] > 0 and np.isfinite(level) and level > top_valid:
            out[i] = level
    return out


#: The rules of :func:`normalise_top` that read the clipping level measured from the saturated samples.
MEASURED_TOP_RULES = ("clipping", "combined")


def normalise_top(inverse, z_top, width=0.05, rule="straight", clip_level=None):
    """Set the scale of inverse curves from their shape below the highest valid code.

    No sample lies above the clipping threshold ``z_top``, so a curve's values
    there, and with ``g(1) = 1`` its whole scale, are an extrapolation.

    Parameters
    ----------
    inverse : ndarray (N, 1024)
    z_top : ndarray (N,)
        Highest valid code of each problem.
    rule : {'straight', 'learned', 'model', 'clipping', 'combined'}
        ``'straight'``: continue the log-slope of the last ``width`` of the
        curve up to code 1.  ``'learned'``: predict ``log g(1) - log g(z_top)``
        from the curve's log-slopes below ``z_top`` by a linear regression learned
        on the DoRF training curves (falls back to straight without DoRF).
        ``'model'``: continue with the EMoR-5 curve that best matches the curve's
        top 40 % up to a free scale (straight when that continuation is not monotone).
        ``'clipping'``: rise log-linearly from ``z_top`` to the measured clipping level
        ``clip_level`` (:func:`clipping_log_level`; straight where it is NaN).
        ``'combined'``: rise to the mean, in log, of the straight extrapolation's
        level and the measured one (straight where that is NaN): two estimates
        of the one scale, from the unsaturated and from the saturated samples.
    clip_level : ndarray (N,), optional
        Log clipping irradiance in the curves' units, for ``rule='clipping'`` or ``'combined'``.

    Returns
    -------
    ndarray (N, 1024): curves with ``g(1) = 1``, extrapolated above ``z_top``.
    """
    out = np.array(inverse, dtype=np.float64, copy=True)
    for i in range(out.shape[0]):
        zc = float(np.clip(z_top[i], 2 * width, 1.0 - 1.0 / (GRID.size - 1)))
        ic = int(np.rint(zc * (GRID.size - 1)))
        il = int(np.rint((zc - width) * (GRID.size - 1)))
        gc, gl = out[i, ic], out[i, il]
        if not (gc > 0 and gl > 0 and gc > gl):
            continue
        log_rise = (np.log(gc) - np.log(gl)) / (GRID[ic] - GRID[il]) * (1.0 - GRID[ic])
        if rule in MEASURED_TOP_RULES and clip_level is not None and np.isfinite(clip_level[i]) \
                and clip_level[i] > np.log(gc):
            measured = float(clip_level[i] - np.log(gc))
            log_rise = measured if rule == "clipping" else 0.5 * (log_rise + measured)
        if rule == "model":
            ratio = _model_top(out[i], ic)
            if ratio is not None:
                frac = (GRID[ic:] - GRID[ic]) / (1.0 - GRID[ic])
                shape = ratio[1]
                out[i, ic:] = gc * shape
                out[i] /= out[i, -1]
                continue
        coef = _learned_top(ic) if rule == "learned" else None
        if coef is not None:
            f = _top_features(np.log(np.maximum(out[i:i + 1], 1e-12)), ic)[0] * (1.0 - GRID[ic])
            if np.all(np.isfinite(f)):
                # Trust the regression near the straight continuation only: far from the
                # curves it was learned on (steep, noisy tops) it extrapolates wildly.
                straight = log_rise
                log_rise = float(np.clip(coef[0] + f @ coef[1:], straight / TOP_CAP, straight * TOP_CAP))
        frac = (GRID[ic:] - GRID[ic]) / (1.0 - GRID[ic])
        ext = gc * np.exp(log_rise * frac)
        out[i, ic:] = ext
        out[i] /= ext[-1]
    return out


def median_log_steps(log_g, usable, min_pairs=1):
    """Log exposure steps between consecutive exposures: medians over the pixels usable in both.

    Parameters
    ----------
    log_g : ndarray (N, P, J)
        Log linearised values of P pixels in J exposures (shortest first), N problems.
    usable : ndarray (N, P, J) bool
    min_pairs : int
        Fewest pixels usable in both exposures for a step to be measured.

    Returns
    -------
    ndarray (N, J - 1)
        ``median(log_g[:, :, j] - log_g[:, :, j - 1])``; NaN where fewer than ``min_pairs`` pixels.
    """
    both = usable[:, :, 1:] & usable[:, :, :-1]
    d = np.where(both, np.diff(log_g, axis=2), np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # steps without pairs: NaN, handled by the callers
        steps = np.nanmedian(d, axis=1)
    return np.where(both.sum(axis=1) >= min_pairs, steps, np.nan)


def quantise(z, levels):
    """Codes in [0, 1] -> level indices 0..levels-1."""
    return np.clip(np.rint(z * (levels - 1)), 0, levels - 1).astype(np.int64)


def hat_weight(z, floor=0.0, clip=1.0):
    """Debevec & Malik's triangle weight on [floor, clip], 0 outside, peaked mid-range."""
    mid = 0.5 * (floor + clip)
    w = np.where(z <= mid, z - floor, clip - z) / (clip - floor) * 2
    return np.clip(w, 0.0, None)


def check_option(value, name, low=None, high=None, integer=False):
    """A numeric solver option as an int or float within [low, high]; a ValidationError otherwise."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        v = int(value) if integer else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(f"option {name} must be {'an integer' if integer else 'a number'}, got {value!r}") from None
    if (low is not None and not v >= low) or (high is not None and not v <= high):
        bounds = f"in {low}..{high}" if low is not None and high is not None else (f">= {low}" if low is not None else f"<= {high}")
        raise ValidationError(f"option {name} must be {bounds}, got {value!r}")
    return v


def log_times_or_fail(log_times, solver):
    if log_times is None:
        raise ValidationError(f"bracket method {solver!r} needs exposure times (estimate them first)")
    return np.asarray(log_times, dtype=np.float64)
