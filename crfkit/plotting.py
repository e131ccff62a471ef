"""Plots of curves, fits and the model-comparison table.

Matplotlib is an optional extra (``pip install 'crfkit[plot]'``): it is
imported only when a function here is called, and a missing install raises
:class:`crfkit.MissingDependencyError` naming the extra.

Every function returns the matplotlib :class:`~matplotlib.figure.Figure`.
Without ``ax`` the figure is a stand-alone ``Figure`` drawn by the Agg
renderer (no pyplot, no display needed, nothing kept in pyplot's global
state); pass ``ax`` (e.g. from ``matplotlib.pyplot.subplots()``) to draw into
your own figure.  With ``path`` the figure is also saved, atomically (a
temporary file in the same folder, then ``os.replace``), in the format given
by the suffix: ``.png``, ``.pdf`` or ``.svg``.
"""

from pathlib import Path

import numpy as np

from ._optional import require
from .errors import ValidationError

#: File suffixes accepted by ``path`` and the matplotlib format of each.
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

_AXIS_LABEL = {"forward": "irradiance E", "inverse": "brightness B"}
_VALUE_LABEL = {"forward": "brightness B = f(E)", "inverse": "irradiance E = g(B)"}
_MARKERS = "osD^v<>pPhX*dH8"


def check_plot_path(path):
    """Validate an output path before any drawing; returns (Path, format) or (None, None)."""
    if path is None:
        return None, None
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValidationError(
            f"cannot save a plot as {p.name!r}: the file name must end in one of "
            f"{', '.join(FORMATS)} (the suffix picks the format)"
        )
    if not p.parent.exists():
        raise ValidationError(f"cannot write {p}: folder {p.parent} does not exist")
    return p, fmt


def _new_figure(feature, ax=None, figsize=(6.0, 4.5), nrows=1, height_ratios=None):
    """Return (figure, axes) for drawing: the figure of ``ax``, or a new Agg figure."""
    require("matplotlib", "plot", feature=feature)
    if ax is not None:
        return ax.figure, [ax]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    if nrows == 1:
        return fig, [fig.add_subplot()]
    axes = fig.subplots(nrows, 1, sharex=True, gridspec_kw={"height_ratios": height_ratios})
    return fig, list(axes)


def _save(fig, path, fmt):
    """Save ``fig`` to ``path`` atomically (temporary file beside it, then os.replace)."""
    if path is None:
        return
    from ._io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=150)


def _as_curve_list(curves):
    from .curves import Curve, CurveSet

    if isinstance(curves, Curve):
        return [curves]
    if isinstance(curves, CurveSet):
        return list(curves)
    if isinstance(curves, (list, tuple)):
        bad = [type(c).__name__ for c in curves if not isinstance(c, Curve)]
        if bad:
            raise ValidationError(
                f"plot_curves takes Curve objects; got {', '.join(sorted(set(bad)))} in the list"
            )
        if not curves:
            raise ValidationError("plot_curves got an empty list of curves")
        return list(curves)
    raise ValidationError(
        f"plot_curves takes a Curve, a CurveSet or a list of Curve, got {type(curves).__name__}"
    )


def plot_curves(curves, ax=None, path=None, title=None, **kw):
    """Plot camera response functions on [0, 1].

    Parameters
    ----------
    curves : Curve, CurveSet or list of Curve
        Forward curves are drawn against irradiance, inverse curves against
        brightness (a list mixing both gets neutral axis labels).
    ax : matplotlib Axes, optional
        Axes to draw into; by default a new figure.
    path : str or Path, optional
        Also save the figure here (``.png``, ``.pdf`` or ``.svg``).
    title : str, optional
        Axes title; by default the curve set's name, if any.
    **kw
        Passed to ``Axes.plot`` (e.g. ``color``, ``lw``, ``alpha``).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValidationError
        For an unsupported ``path`` suffix, a missing output folder, or
        something other than curves.
    MissingDependencyError
        When matplotlib is not installed.

    Notes
    -----
    Up to 12 curves get a legend with their names; larger sets are drawn thin
    and translucent, without a legend.
    """
    from .curves import CurveSet

    path, fmt = check_plot_path(path)
    items = _as_curve_list(curves)
    fig, (ax,) = _new_figure("plotting curves", ax)
    many = len(items) > 12
    style = {"lw": 0.7, "alpha": 0.45} if many else {"lw": 1.5}
    style.update(kw)
    for c in items:
        ax.plot(c.x, c.values, label=None if many else (c.name or None), **style)
    kinds = {c.kind for c in items}
    if len(kinds) == 1:
        kind = kinds.pop()
        ax.set_xlabel(_AXIS_LABEL[kind])
        ax.set_ylabel(_VALUE_LABEL[kind])
    else:
        ax.set_xlabel("input (irradiance for forward curves, brightness for inverse ones)")
        ax.set_ylabel("output")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.grid(True, alpha=0.3)
    if title is None and isinstance(curves, CurveSet) and curves.name:
        title = f"{curves.name} ({len(items)} curves)"
    if title:
        ax.set_title(title)
    if not many and any(c.name for c in items):
        ax.legend(fontsize="small")
    _save(fig, path, fmt)
    return fig


def _data_xy(data, index):
    """(x, y, kind, name) of the data a fit was made to."""
    from .curves import Curve, CurveSet
    from .curves.samples import Samples

    if isinstance(data, tuple):
        if len(data) not in (2, 3):
            raise ValidationError(f"sample tuples must be (x, y) or (x, y, weights), got {len(data)} items")
        data = Samples(*data)
    if isinstance(data, CurveSet):
        data = data[index]
    if isinstance(data, Curve):
        return data.x, data.values, data.kind, data.name, False
    if isinstance(data, Samples):
        y = data.y if data.y.ndim == 1 else data.y[index]
        return data.x, y, data.kind, data.name, True
    raise ValidationError(
        "plot_fit takes the fitted data as a Curve, CurveSet, Samples or (x, y) tuple, "
        f"got {type(data).__name__}"
    )


def plot_fit(data_curve_or_samples, fit_result, path=None, *, index=0, title=None):
    """Plot data against a fitted curve, with the residuals below.

    Parameters
    ----------
    data_curve_or_samples : Curve, CurveSet, Samples or tuple (x, y)
        The data given to :func:`crfkit.fit`.
    fit_result : FitResult
        What :func:`crfkit.fit` returned for that data.
    path : str or Path, optional
        Also save the figure here (``.png``, ``.pdf`` or ``.svg``).
    index : int
        Which curve to show when several were fitted at once.
    title : str, optional
        Figure title; by default the model label and RMSE.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: data and fit (top), residual ``fit - data`` (bottom).
    """
    path, fmt = check_plot_path(path)
    try:
        params = np.atleast_2d(fit_result.params)
        model = fit_result.model
    except AttributeError:
        raise ValidationError(
            f"plot_fit takes the FitResult returned by crfkit.fit, got {type(fit_result).__name__}"
        ) from None
    if not 0 <= index < params.shape[0]:
        raise ValidationError(f"index {index} is out of range for a fit of {params.shape[0]} curve(s)")
    x, y, kind, name, sparse = _data_xy(data_curve_or_samples, index)
    from .curves import GRID

    fitted_grid = model.evaluate(params[index : index + 1], GRID)[0]
    if not sparse and x.shape == GRID.shape:
        fitted_x = fitted_grid
    else:
        fitted_x = model.evaluate(params[index : index + 1], x)[0]
    rmse = np.atleast_1d(fit_result.rmse)[index]
    fig, (ax, axr) = _new_figure("plotting a fit", None, figsize=(6.0, 5.5), nrows=2, height_ratios=(3, 1))
    if sparse:
        ax.plot(x, y, "o", ms=4, color="k", label=f"data {name}".strip())
    else:
        ax.plot(x, y, color="k", lw=2.2, alpha=0.5, label=f"data {name}".strip())
    ax.plot(GRID, fitted_grid, color="C3", lw=1.2, label=f"{model.label} fit")
    ax.set_ylabel(_VALUE_LABEL[kind])
    ax.set_xlim(0.0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    resid = fitted_x - y
    if sparse:
        axr.axhline(0.0, color="0.6", lw=0.8)
        axr.plot(x, resid, "o", ms=3, color="C3")
    else:
        axr.axhline(0.0, color="0.6", lw=0.8)
        axr.plot(x, resid, color="C3", lw=1.0)
    axr.set_xlabel(_AXIS_LABEL[kind])
    axr.set_ylabel("fit - data")
    axr.grid(True, alpha=0.3)
    if title is None:
        title = f"{model.label} ({model.n_params} parameters): RMSE {rmse:.3g}"
    fig.suptitle(title)
    _save(fig, path, fmt)
    return fig


def plot_rmse_vs_params(table, path=None, ax=None):
    """Mean RMSE (log scale) against the number of parameters, from a comparison table.

    Parameters
    ----------
    table : ComparisonTable
        From :func:`crfkit.compare_models`.
    path : str or Path, optional
        Also save the figure here (``.png``, ``.pdf`` or ``.svg``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    One series (colour, joined in order of parameter count) per row (curve
    set); one marker shape per model column.  Held-out ``(cv)`` columns use the
    marker of their in-sample column, unfilled, joined to it by a dotted line.
    Empty (NaN) cells are skipped.
    """
    path, fmt = check_plot_path(path)
    try:
        rows, columns, n_params = table.rows, table.columns, table.n_params
        values = np.asarray(table.values, float)
    except AttributeError:
        raise ValidationError(
            "plot_rmse_vs_params takes a ComparisonTable (from crfkit.compare_models), "
            f"got {type(table).__name__}"
        ) from None
    fig, (ax,) = _new_figure("plotting the model-comparison table", ax, figsize=(7.5, 5.0))
    from matplotlib.lines import Line2D

    base_cols = [c for c in columns if not c.endswith(" (cv)")]
    marker = {c: _MARKERS[i % len(_MARKERS)] for i, c in enumerate(base_cols)}
    for i, row in enumerate(rows):
        color = f"C{i % 10}"
        pts = [(n_params[c], values[i, j], c) for j, c in enumerate(columns)
               if not c.endswith(" (cv)") and np.isfinite(values[i, j]) and values[i, j] > 0]
        pts.sort(key=lambda t: (t[0], t[1]))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=color, lw=0.8, alpha=0.5)
        for k, v, c in pts:
            ax.plot([k], [v], marker[c], color=color, ms=7, ls="none")
        for j, c in enumerate(columns):
            if not c.endswith(" (cv)"):
                continue
            v = values[i, j]
            if not (np.isfinite(v) and v > 0):
                continue
            base = c[: -len(" (cv)")]
            m = marker.get(base, "o")
            k = n_params.get(c, n_params.get(base))
            ax.plot([k], [v], m, mfc="none", mec=color, mew=1.5, ms=8, ls="none")
            if base in columns and np.isfinite(values[i, columns.index(base)]):
                ax.plot([k, k], [values[i, columns.index(base)], v], ":", color=color, lw=1.0)
    ax.set_yscale("log")
    ks = sorted({n_params[c] for c in columns if c in n_params})
    if ks and ks[0] > 0:
        ax.set_xscale("log")
        from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

        ax.xaxis.set_major_locator(FixedLocator(ks))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("number of parameters")
    ax.set_ylabel("mean RMSE")
    ax.grid(True, which="major", alpha=0.3)
    row_handles = [
        Line2D([], [], color=f"C{i % 10}", marker="s", ls="-", label=r) for i, r in enumerate(rows)
    ]
    col_handles = [
        Line2D([], [], color="0.3", marker=marker[c], ls="none", label=f"{c} ({n_params.get(c, '?')})")
        for c in base_cols
    ]
    if any(c.endswith(" (cv)") for c in columns):
        col_handles.append(
            Line2D([], [], color="0.3", marker="o", mfc="none", ls="none", label="held-out (cv)")
        )
    leg = ax.legend(handles=row_handles, title="curve set", loc="upper right", fontsize="small")
    ax.add_artist(leg)
    ax.legend(handles=col_handles, title="model (parameters)", loc="lower left", fontsize="x-small", ncol=2)
    ax.set_title("Model comparison: mean RMSE against number of parameters")
    _save(fig, path, fmt)
    return fig
