"""How well the irradiance scale of a CRF can be identified from 8-bit data.

A chart (or any scene) seen through a curve ``f`` with f(1) = 1 gives the curve
in units of an unknown irradiance scale, and only up to where the output clips:
an 8-bit camera writes 255 for every ``E`` above the onset ``E_c``, the first
``E`` where ``f(E) >= 254.5 / 255``.  The ideal observation is therefore the
shape ``u -> f(u * E_c)`` for ``u`` in [0, 1] (the irradiance measured in units
of the clipping point), with ``E_c`` itself unseen: many DoRF curves plateau
before E = 1, and the output is the same wherever between ``E_c`` and 1 the
plateau starts.

A *scale rule* supplies an assumed onset ``E_hat`` (a constant, or a function
of the observed shape); the curve is then recovered as

    f_hat(E) = f(E * E_c / E_hat)                      for E <= E_hat,
    f_hat(E) = linear from f(E_c) at E_hat to 1 at E = 1   above,

which is exact when ``E_hat = E_c`` up to the filled (clipped) part, where the
error is below ``1 - 254.5/255``.  :func:`onset_rmse` tabulates the RMSE of
that recovery on the 1024 grid for every curve and assumed onset, the raw
material for measuring what any rule can achieve (``analysis/dcrf_identifiability.py``).
"""

import numpy as np

from ..curves import GRID
from ..errors import ValidationError

#: Brightness above which an 8-bit camera writes its top code (255).
CLIP_LEVEL = 254.5 / 255.0


def clipping_onset(values, level=CLIP_LEVEL):
    """First irradiance where a forward curve on the 1024 grid reaches ``level``.

    Linear interpolation between the grid points around the crossing.

    Parameters
    ----------
    values : array_like (1024,) or (n, 1024)
        Forward curve(s) on :data:`~crfkit.curves.GRID`, monotone, f(1) = 1.
    level : float
        Brightness treated as clipped.

    Returns
    -------
    float or ndarray (n,)
    """
    v = np.atleast_2d(np.asarray(values, float))
    if v.shape[1] != GRID.size:
        raise ValidationError(f"curves must be sampled on the {GRID.size}-point grid, got {v.shape[1]} points")
    if np.any(v[:, -1] < level):
        raise ValidationError(f"a curve never reaches the clipping level {level:.5f} (f(1) < level)")
    i = np.argmax(v >= level, axis=1)
    j = np.maximum(i - 1, 0)
    rows = np.arange(len(v))
    lo, hi = v[rows, j], v[rows, i]
    frac = np.where(hi > lo, (level - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0)
    out = np.where(i == 0, 0.0, GRID[j] + np.clip(frac, 0, 1) * (GRID[i] - GRID[j]))
    return out if np.ndim(values) == 2 else float(out[0])


def rescaled_curve(values, assumed_onset, level=CLIP_LEVEL):
    """The curve recovered from its clipped observation with an assumed onset (module notes).

    Parameters
    ----------
    values : array_like (1024,)
        The true forward curve.
    assumed_onset : float
        ``E_hat`` in (0, 1]: where the rule places the clipping point.

    Returns
    -------
    ndarray (1024,)
    """
    v = np.asarray(values, float)
    e_hat = float(assumed_onset)
    if not 0.0 < e_hat <= 1.0:
        raise ValidationError(f"the assumed onset must lie in (0, 1], got {assumed_onset}")
    e_c = clipping_onset(v, level)
    out = np.interp(np.minimum(GRID, e_hat) * (e_c / e_hat), GRID, v)
    top = np.interp(e_c, GRID, v)
    if e_hat < 1.0:
        above = GRID > e_hat
        # What lies above the onset is unseen (all 255): the straight fill to f(1) = 1.
        out[above] = top + (1.0 - top) * (GRID[above] - e_hat) / (1.0 - e_hat)
    return out


def onset_rmse(curves, assumed_onsets, level=CLIP_LEVEL):
    """RMSE on the 1024 grid of every curve recovered with every assumed onset.

    Parameters
    ----------
    curves : array_like (n, 1024)
        True forward curves.
    assumed_onsets : array_like (m,)
        Candidate ``E_hat`` values in (0, 1].

    Returns
    -------
    ndarray (n, m)
        ``rmse[i, k]`` for curve ``i`` recovered assuming onset ``assumed_onsets[k]``;
        the oracle (``E_hat`` = the curve's own onset) gives at most ``1 - level``.
    """
    curves = np.atleast_2d(np.asarray(curves, float))
    onsets = np.atleast_1d(np.asarray(assumed_onsets, float))
    out = np.empty((len(curves), len(onsets)))
    for i, v in enumerate(curves):
        for k, e in enumerate(onsets):
            out[i, k] = np.sqrt(np.mean((rescaled_curve(v, e, level) - v) ** 2))
    return out
