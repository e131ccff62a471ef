"""Cross-channel mixing after the tone curve, estimated from a bracket.

Camera JPEG engines do not stop at a per-channel tone curve: a saturation or
colour adjustment applied to the *encoded* values (e.g. in YCbCr) mixes the
channels after the curve, ``I = S f(x)``.  Per-channel inverse curves cannot
undo that; ``x = g(A I)`` with ``A = S^-1`` can.  A bracket determines ``A``:
with the right matrix, per-channel curves make every pixel's values scale
with the exposure; with a wrong one they cannot.

The estimate (:func:`estimate_code_matrix`) works on the sampled pixels.  For
a trial ``A`` (rows summing to 1, so greys stay grey: 6 free entries), free
piecewise-linear inverse curves are fitted by linear least squares to
``g(A z_k) = (t_k / t_i) g(A z_i)`` over pairs of exposures; ``A`` minimises
the error of the codes predicted through those curves, ``z_k`` from ``z_i``
and back, in the code domain.  Measuring the error on the observed codes
matters: measured on linear values, collapsing every channel onto one grey
mixture averages the noise away and wins.

A pure power law hides the mixing: with ``f(x) = x^gamma``,
``S f(t E) = t^gamma S f(E)``, which per-channel curves fit exactly.  Real
responses (toe, shoulder) are not power laws, so real brackets show it; a
ridge prior keeps ``A`` at the identity unless the data ask clearly, and the
matrix is phased in with how much it lowers the code error (``PRIOR``,
``MIN_GAIN``, ``FULL_GAIN``).

On the 20 Middlebury brackets (real JPEGs against their RAW) this lowers the
linearisation error of the default calibration by a fifth (0.050 to 0.039); see
the bracket calibration guide and ``analysis/results/bracket/mixing.md``.
"""

import numpy as np

from ..errors import FitError

#: Knots of the free inverse curves used while estimating the matrix.
KNOTS = 24
#: Most exposure pairs used (deterministic subsample).
MAX_PAIRS = 2000
#: Weight of the curves' second differences (per knot, against relative residuals).
SMOOTHNESS = 0.01
#: Ridge weight pulling the matrix towards the identity, relative to the code error without
#: mixing: a matrix must lower the error clearly to move far from the identity (a scene with
#: few colours, or a camera that does not mix, leaves the error flat in A).
PRIOR = 1.0
#: A clipped channel spoils a mixed code it enters when it may bias that code by more than this
#: (half an 8-bit code step): see :func:`leaked_clipping`.
LEAK = 0.5 / 255
#: The matrix is used when it lowers the code error by more than MIN_GAIN (a share), in full
#: from FULL_GAIN on, in part in between.
MIN_GAIN = 0.02
FULL_GAIN = 0.08

_OFF = ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))


def matrix_from_params(p):
    """3x3 code matrix with rows summing to 1 from its 6 off-diagonal parameters."""
    A = np.eye(3)
    for v, (i, j) in zip(p, _OFF):
        A[i, j] = v
    return A / A.sum(axis=1, keepdims=True)


def _pairs(z, valid, log_times, seed):
    """Codes of pixel pairs in two exposures (all channels valid in both) and the exposure ratios."""
    J = z.shape[1]
    ok = valid.all(axis=2)  # a mixed channel is only as good as the worst channel in it
    zi, zk, r = [], [], []
    for j in range(J):
        for k in range(j + 1, J):
            m = ok[:, j] & ok[:, k]
            zi.append(z[m, j])
            zk.append(z[m, k])
            r.append(np.full(int(m.sum()), np.exp(log_times[k] - log_times[j])))
    zi, zk, r = np.concatenate(zi), np.concatenate(zk), np.concatenate(r)
    if len(r) > MAX_PAIRS:
        keep = np.sort(np.random.default_rng(seed).choice(len(r), MAX_PAIRS, replace=False))
        zi, zk, r = zi[keep], zk[keep], r[keep]
    return zi, zk, r


_KNOTS = np.linspace(0.0, 1.0, KNOTS + 1)


def _curves(q):
    """Inverse curves' knot values (3, KNOTS + 1) from log increments: monotone, 0 at 0, 1 at 1."""
    inc = np.exp(np.clip(q.reshape(3, KNOTS), -30, 30))
    g = np.concatenate([np.zeros((3, 1)), np.cumsum(inc, axis=1)], axis=1)
    return g / g[:, -1:]


def _interp3(u, xs, ys):
    return np.stack([np.interp(u[:, c], xs[c], ys[c]) for c in range(3)], axis=1)


def _residuals(p, zi, zk, r, free, prior=0.0):
    """Code-domain errors of predicting each code of a pair from the other, and the curves' roughness."""
    g = _curves(p[: 3 * KNOTS])
    A = matrix_from_params(p[3 * KNOTS:]) if free else np.eye(3)
    Ai = np.linalg.inv(A)
    X = np.broadcast_to(_KNOTS, (3, KNOTS + 1))
    li, lk = _interp3(np.clip(zi @ A.T, 0, 1), X, g), _interp3(np.clip(zk @ A.T, 0, 1), X, g)
    fwd = _interp3(li * r[:, None], g, X) @ Ai.T - zk
    back = _interp3(lk / r[:, None], g, X) @ Ai.T - zi
    scale = 1.0 / np.sqrt(2 * zi.size)
    rough = np.diff(p[: 3 * KNOTS].reshape(3, KNOTS), 2, axis=1).ravel() * SMOOTHNESS
    parts = [fwd.ravel() * scale, back.ravel() * scale, rough]
    if free:
        parts.append(prior * p[3 * KNOTS:])
    return np.concatenate(parts)


def _dg_dq(q):
    """(3, KNOTS + 1, KNOTS) derivatives of the normalised knot values by the log increments."""
    inc = np.exp(np.clip(q.reshape(3, KNOTS), -30, 30))
    total = inc.sum(axis=1)
    g = _curves(q)
    step = (np.arange(KNOTS + 1)[:, None] > np.arange(KNOTS)[None, :]).astype(float)  # knot m above increment n
    return (inc / total[:, None])[:, None, :] * (step[None] - g[:, :, None])


def _hat(u, K=KNOTS):
    """(n, K + 1) interpolation weights of u in [0, 1] on the uniform knots, and the segment index."""
    s = np.clip(u, 0.0, 1.0) * K
    i = np.minimum(s.astype(int), K - 1)
    frac = s - i
    W = np.zeros((u.size, K + 1))
    rows = np.arange(u.size)
    W[rows, i] = 1.0 - frac
    W[rows, i + 1] = frac
    return W, i


def _inverse_terms(m, g):
    """For F = interp(m, g, knots): dF/dm (n,) and dF/dg (n, K + 1)."""
    K = len(g) - 1
    i = np.clip(np.searchsorted(g, m, side="right") - 1, 0, K - 1)
    inside = (m >= g[0]) & (m <= g[-1])
    dg = g[i + 1] - g[i]
    h = 1.0 / K
    dFdm = np.where(inside, h / dg, 0.0)
    D = np.zeros((m.size, K + 1))
    rows = np.arange(m.size)
    D[rows, i] = np.where(inside, h * (m - g[i + 1]) / dg ** 2, 0.0)
    D[rows, i + 1] = np.where(inside, -h * (m - g[i]) / dg ** 2, 0.0)
    return dFdm, D


def _jacobian(p, zi, zk, r, free, prior=0.0, base=None):
    """Jacobian of :func:`_residuals`: analytic in the curves, finite differences in A (``base``: the
    residuals at ``p`` when already known)."""
    q = p[: 3 * KNOTS]
    g = _curves(q)
    dgdq = _dg_dq(q)
    A = matrix_from_params(p[3 * KNOTS:]) if free else np.eye(3)
    Ai = np.linalg.inv(A)
    n = len(r)
    scale = 1.0 / np.sqrt(2 * zi.size)
    n_rough = 3 * (KNOTS - 2)
    J = np.zeros((6 * n + n_rough + (6 if free else 0), len(p)))
    for block, (src, ratio) in enumerate(((zi, r), (zk, 1.0 / r))):
        u = np.clip(src @ A.T, 0, 1)
        for c in range(3):
            W, _ = _hat(u[:, c])
            m = (W @ g[c]) * ratio
            dFdm, D = _inverse_terms(m, g[c])
            dy_dg = dFdm[:, None] * ratio[:, None] * W + D  # (n, K + 1)
            dy_dq = dy_dg @ dgdq[c]  # (n, K)
            for d in range(3):
                rows = slice(block * 3 * n + d, (block + 1) * 3 * n, 3)
                J[rows, c * KNOTS:(c + 1) * KNOTS] = Ai[d, c] * dy_dq * scale
    D2 = np.diff(np.eye(KNOTS), 2, axis=0) * SMOOTHNESS
    for c in range(3):
        J[6 * n + c * (KNOTS - 2): 6 * n + (c + 1) * (KNOTS - 2), c * KNOTS:(c + 1) * KNOTS] = D2
    if free:
        base = _residuals(p, zi, zk, r, True, prior) if base is None else base
        for j in range(3 * KNOTS, len(p)):
            step = np.zeros_like(p)
            step[j] = 1e-6
            J[:, j] = (_residuals(p + step, zi, zk, r, True, prior) - base) / 1e-6
    return J


def estimate_code_matrix(z, valid, log_times, seed=0):
    """Estimate the 3x3 matrix A such that per-channel curves linearise ``A z``.

    Parameters
    ----------
    z : ndarray (P, J, 3), float in [0, 1]
        Sampled codes of P pixels in J exposures sorted from shortest to longest.
    valid : ndarray (P, J, 3) bool
        Usable codes (unclipped, above the noise floor, consistent).
    log_times : ndarray (J,)
        Log exposures in the same order (given or estimated).
    seed : int
        Seed of the subsample of exposure pairs.

    Returns
    -------
    A : ndarray (3, 3)
        Rows sum to 1 (greys stay grey); the identity when the data give no
        reason to mix.
    rms : tuple of float
        RMS code-domain prediction error with the identity and with ``A``
        (fractions of full scale).

    Raises
    ------
    FitError
        Fewer than 50 pixel pairs usable in all three channels.
    """
    from scipy.optimize import least_squares

    from ..errors import ValidationError

    z, valid, log_times = np.asarray(z, float), np.asarray(valid, bool), np.asarray(log_times, float)
    if z.ndim != 3 or z.shape[2] != 3 or valid.shape != z.shape:
        raise ValidationError(f"z must have shape (P, J, 3) and valid the same shape, got {z.shape} and {valid.shape}")
    if log_times.shape != (z.shape[1],) or not np.all(np.isfinite(log_times)):
        raise ValidationError(f"log_times must be {z.shape[1]} finite values (one per exposure), got shape "
                              f"{log_times.shape}")
    if not np.all((z[valid] >= 0) & (z[valid] <= 1)):
        raise ValidationError("the valid codes z must lie in [0, 1] (fractions of full scale)")
    if z.shape[1] < 2:
        raise FitError("the colour mixing needs at least two exposures")
    zi, zk, r = _pairs(z, valid, log_times, seed)
    if len(r) < 50:
        raise FitError(f"only {len(r)} pixel pairs are usable in all three channels; "
                               "the colour mixing needs at least 50 (pass mixing=False)")
    # Per-channel curves first (A = I), then the curves and A together.
    q0 = np.tile(np.log(np.diff(_KNOTS ** 2.2) + 1e-4), 3)
    last = {}

    def residuals(p, *args):
        last["p"], last["f"] = p.copy(), _residuals(p, *args)
        return last["f"]

    def jacobian(p, *args):
        # least_squares asks for the Jacobian where it has just evaluated the residuals: reuse them.
        known = last["f"] if "p" in last and np.array_equal(last["p"], p) else None
        return _jacobian(p, *args, base=known)

    first = least_squares(residuals, q0, jac=jacobian, args=(zi, zk, r, False), max_nfev=100, tr_solver="lsmr")
    n = 6 * len(r)
    rms0 = float(np.sqrt(np.sum(first.fun[:n] ** 2)))
    sol = least_squares(residuals, np.concatenate([first.x, np.zeros(6)]), jac=jacobian,
                        args=(zi, zk, r, True, PRIOR * rms0), max_nfev=150, tr_solver="lsmr")
    A = matrix_from_params(sol.x[3 * KNOTS:])
    rms1 = float(np.sqrt(np.sum(sol.fun[:n] ** 2)))
    gain = 1.0 - rms1 / rms0 if rms0 > 0 else 0.0
    # Phased in with the gain, not switched at a threshold: a calibration should not jump when a
    # subset of the same data lands on the other side of it.
    weight = float(np.clip((gain - MIN_GAIN) / (FULL_GAIN - MIN_GAIN), 0.0, 1.0)) if np.isfinite(gain) else 0.0
    if weight == 0.0 or abs(np.linalg.det(A)) < 0.05:
        return np.eye(3), (rms0, rms0)
    return np.eye(3) + weight * (A - np.eye(3)), (rms0, rms1)


def code_matrix_of(crf):
    """The code matrix a calibration or a saved calibration's curve set carries (None: none)."""
    import os

    if isinstance(crf, (str, os.PathLike)):
        from ..restoration.pipeline import resolve_inverse_crf

        crf = resolve_inverse_crf(crf)
    from ..curves.image import _mixing_matrix

    m = getattr(crf, "mixing", None)  # a BracketCalibration's; else its curve set's attrs
    m = _mixing_matrix(crf) if m is None else np.asarray(m, dtype=np.float64)
    if m is None:
        return None
    if m.shape != (3, 3) or not np.all(np.isfinite(m)) or abs(np.linalg.det(m)) < 1e-6:
        from ..errors import ValidationError

        raise ValidationError(f"the calibration's colour mixing matrix must be an invertible 3x3 matrix, "
                              f"got shape {m.shape}")
    return m


def mix_codes(image, matrix, clip):
    """An image's codes mixed by ``matrix`` as uint16 (H, W, 3).

    A mixed code spoilt by a clipped channel (:func:`leaked_clipping`), or whose own channel is
    clipped, is set to the top code: its true value is unknown, so the merge treats it as clipped.
    """
    from ..curves.image import _as_unit_float

    unit = _as_unit_float(np.asarray(image))
    mixed = np.clip(unit @ matrix.T, 0.0, 1.0)
    clipped = unit >= clip
    mixed[leaked_clipping(clipped, matrix, clip) | clipped] = 1.0
    return np.round(mixed * 65535.0).astype(np.uint16)


def leaked_clipping(clipped, matrix, clip):
    """(..., 3) True where a clipped channel may bias a mixed code by more than ``LEAK``.

    ``clipped`` (..., 3): the unmixed codes at or above the clipping level ``clip``.  A clipped
    code is known only to lie between ``clip`` and the largest code the camera's mixing
    ``S = matrix^-1`` can produce from per-channel values in [0, 1] (the sum of the positive
    entries of its row, at least 1); entering mixed code ``i`` with weight ``matrix[i, c]``, it
    biases that code by at most ``|matrix[i, c]|`` times that range.  For a nearly diagonal
    matrix the range is little more than ``1 - clip``, so the bound stays small and the samples
    stay.  A fixed threshold of 0.02 on the weight alone kept the blue samples where green clips
    in one calibration of Memorial Church (green's weight in blue 0.010) and dropped them in
    another (0.026, the same bracket at half size), and the top of the blue curve moved with it.
    """
    headroom = np.maximum(np.clip(np.linalg.inv(matrix), 0.0, None).sum(axis=1), 1.0) - clip
    bias = np.abs(matrix - np.diag(np.diag(matrix))) * np.maximum(headroom, 0.0)[None, :]
    leaks = bias > LEAK
    return np.stack([clipped[..., leaks[c]].any(axis=-1) for c in range(3)], axis=-1)


def mix_bracket(bracket, matrix, clip):
    """A copy of a bracket whose images are its codes mixed by ``matrix`` (:func:`mix_codes`, 16 bits)."""
    import dataclasses

    return dataclasses.replace(bracket, images=[mix_codes(img, matrix, clip) for img in bracket.images], bits=16)
