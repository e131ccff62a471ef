"""Plot of a bracket calibration: curves, bootstrap bands and samples (``crfkit[plot]``)."""

import numpy as np

from ..curves.curve import GRID
from ..plotting import _new_figure, _save, check_plot_path

_COLOURS = ("tab:red", "tab:green", "tab:blue")


def plot_calibration(cal, path=None, title=None, max_points=1500, seed=0):
    """Draw the forward curves with their 95 % bootstrap bands and the samples.

    The samples are plotted at the irradiance the calibration assigns them
    (pixel irradiance x exposure), so their spread around the curve shows the fit.

    Returns
    -------
    matplotlib Figure
    """
    p, fmt = check_plot_path(path)
    fig, (ax,) = _new_figure("plotting a bracket calibration", figsize=(6.5, 4.8))
    rng = np.random.default_rng(seed)
    shared = len(set(map(tuple, np.round(cal.curves.values[:, ::64], 9)))) == 1
    channels = [0] if shared else range(len(cal.curves))
    for c in channels:
        colour = "black" if shared else _COLOURS[c % 3]
        name = "shared" if shared else cal.curves.names[c]
        if c < len(cal.points):
            x, z = cal.points[c]
            if len(x) > max_points:
                keep = rng.choice(len(x), max_points, replace=False)
                x, z = x[keep], z[keep]
            ax.plot(np.clip(x, 0, 1.05), z, ".", ms=1.5, alpha=0.25, color=colour)
        if cal.band is not None:
            ax.fill_between(GRID, cal.band[c, 0], cal.band[c, 1], color=colour, alpha=0.25, lw=0)
        ax.plot(GRID, cal.curves.values[c], color=colour, lw=1.4, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("normalised irradiance E (1 = clipping)")
    ax.set_ylabel("brightness f(E)")
    band = " with 95% bootstrap bands" if cal.band is not None else ""
    ax.set_title(title or f"{cal.method}{band}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, p, fmt)
    return fig
