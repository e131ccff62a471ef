"""The paper's questions on a built dataset: fit quality, uniqueness, change over time.

:func:`analyse` computes the numbers (JSON-friendly); :func:`write_report`
writes ``report.md``, ``report.json`` and the figures (``crfkit[plot]``).

Distances between cameras are the mean over R, G, B of the RMSE between their
curves on the 1024 grid (the convention of the model-comparison table).
"""

import json
from pathlib import Path

import numpy as np

from .._io import atomic_write_text, check_output_path
from ..curves import GRID, Curve, CurveSet
from ..errors import ValidationError

CHANNELS = ("R", "G", "B")


def camera_curves(curves):
    """Group a build's curves by camera: dict camera -> (3, 1024) array (R, G, B)."""
    groups = {}
    for i, name in enumerate(curves.names):
        cam, _, ch = name.rpartition("/")
        if not cam or ch not in CHANNELS:
            raise ValidationError(
                f"curve {name!r} is not named <camera>/R|G|B; this set was not built by crfkit build-dataset"
            )
        groups.setdefault(cam, [None] * 3)[CHANNELS.index(ch)] = i
    out = {}
    for cam, idx in groups.items():
        if None in idx:
            raise ValidationError(f"camera {cam!r} lacks channel {CHANNELS[idx.index(None)]}")
        out[cam] = curves.values[idx]
    return out


def pairwise_rmse(per_camera):
    """(C, C) matrix of mean-over-channels RMSE between cameras' curves."""
    v = np.stack(list(per_camera.values()))  # (C, 3, 1024)
    d = np.sqrt(np.mean((v[:, None] - v[None, :]) ** 2, axis=-1))  # (C, C, 3)
    return d.mean(axis=-1)


def analyse(curves):
    """Per-camera fit quality, uniqueness and change over time of a built dataset.

    Parameters
    ----------
    curves : CurveSet
        Written by :func:`crfkit.dcrf.build_dataset`.

    Returns
    -------
    dict
        ``cameras`` (per camera: year, kind, method, rmse per channel, samples,
        flags, nearest neighbour and its distance, distance to sRGB and to gamma
        2.2), ``pairwise`` (names and matrix), ``nearest`` summary, ``years``
        (when at least two cameras have one: Spearman correlation of year with
        the distance to sRGB), ``failed``.
    """
    per_cam = camera_curves(curves)
    names = list(per_cam)
    meta = {}
    for i, n in enumerate(curves.names):
        meta.setdefault(n.rpartition("/")[0], []).append(curves.metadata[i])
    d = pairwise_rmse(per_cam) if len(names) > 1 else np.zeros((1, 1))
    srgb, g22 = Curve.srgb().values, Curve.gamma(2.2).values
    cams = []
    for j, cam in enumerate(names):
        md = meta[cam]
        others = [i for i in range(len(names)) if i != j]
        nn = min(others, key=lambda i: d[j, i]) if others else None
        v = per_cam[cam]
        cams.append({
            "camera": cam, "year": md[0].get("year"), "kind": md[0].get("kind"), "method": md[0].get("method"),
            "rmse": [m.get("residuals", {}).get("rmse") for m in md],
            "n_samples": [m.get("residuals", {}).get("n_samples") for m in md],
            "colour_fit_rmse": [m.get("colour_fit", {}).get("rmse") for m in md],
            "flags": md[0].get("flags", []),
            "nearest": names[nn] if nn is not None else None,
            "nearest_rmse": float(d[j, nn]) if nn is not None else None,
            "rmse_to_srgb": float(np.sqrt(np.mean((v - srgb) ** 2, axis=1)).mean()),
            "rmse_to_gamma22": float(np.sqrt(np.mean((v - g22) ** 2, axis=1)).mean()),
            "channel_spread": float(np.sqrt(np.mean((v - v.mean(0)) ** 2))),
        })
    out = {"name": curves.name, "n_cameras": len(names), "cameras": cams,
           "pairwise": {"names": names, "rmse": np.round(d, 6).tolist()},
           "failed": list(curves.attrs.get("failed", []))}
    if len(names) > 1:
        off = d[~np.eye(len(names), dtype=bool)]
        nnd = np.array([c["nearest_rmse"] for c in cams])
        out["nearest"] = {"min": float(nnd.min()), "median": float(np.median(nnd)), "max": float(nnd.max()),
                          "pairwise_median": float(np.median(off)), "pairwise_max": float(off.max())}
    years = [(c["year"], c["rmse_to_srgb"], c["camera"]) for c in cams if c["year"] is not None]
    if len(years) >= 2:
        from scipy.stats import spearmanr

        y = np.array([t[0] for t in years], float)
        s = np.array([t[1] for t in years])
        rho = spearmanr(y, s).statistic if len(set(y)) > 1 else float("nan")
        slope = float(np.polyfit(y, s, 1)[0]) if len(set(y)) > 1 else float("nan")
        out["years"] = {"cameras": [t[2] for t in years], "years": y.astype(int).tolist(),
                        "rmse_to_srgb": np.round(s, 6).tolist(), "spearman_rho": float(rho),
                        "slope_per_year": slope}
    return out


def _markdown(a):
    lines = [f"# CRF dataset report: {a['name']}", "", f"{a['n_cameras']} cameras built."]
    kinds = {c["kind"] for c in a["cameras"]}
    if "single" in kinds:
        lines.append("Cameras of kind `single` were calibrated from one JPEG and the chart's reference values "
                     "alone: the weakest input (unknown illumination and colour processing).")
    lines += ["", "## Per-camera fit quality", "",
              "RMSE of the fitted curve on its samples (brightness units), per channel; colour-aware "
              "`JPEG = f(M . RAW)` fit on all patches beside it where available.", "",
              "| camera | year | kind | method | samples R/G/B | rmse R/G/B | colour fit rmse R/G/B | "
              "nearest camera (RMSE) | RMSE to sRGB | flags |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in a["cameras"]:
        cf = "/".join(f"{v:.4f}" for v in c["colour_fit_rmse"]) if None not in c["colour_fit_rmse"] else ""
        nn = f"{c['nearest']} ({c['nearest_rmse']:.4f})" if c["nearest"] else ""
        lines.append(
            f"| {c['camera']} | {c['year'] or ''} | {c['kind']} | {c['method']} | "
            f"{'/'.join(str(n) for n in c['n_samples'])} | {'/'.join(f'{v:.4f}' for v in c['rmse'])} | {cf} | {nn} | "
            f"{c['rmse_to_srgb']:.4f} | {'; '.join(c['flags'])} |")
    if "nearest" in a:
        n = a["nearest"]
        lines += ["", "## How unique are the curves?", "",
                  f"Nearest-neighbour RMSE between cameras: min {n['min']:.4f}, median {n['median']:.4f}, "
                  f"max {n['max']:.4f}; all pairs: median {n['pairwise_median']:.4f}, max {n['pairwise_max']:.4f}. "
                  "See `pairwise_rmse.png` and `curves.png`; the full matrix is in `report.json`."]
    if "years" in a:
        y = a["years"]
        lines += ["", "## Change over time", "",
                  f"Spearman correlation of year with the RMSE to the sRGB curve: {y['spearman_rho']:.2f} "
                  f"(slope {y['slope_per_year']:+.5f} per year, {len(y['years'])} cameras, "
                  f"{min(y['years'])}-{max(y['years'])}); see `years.png`."]
    lines += ["", "## Failed cameras", ""]
    lines += [f"- {f['camera']}: {f['reason']}" for f in a["failed"]] or ["None."]
    return "\n".join(lines) + "\n"


def check_report_folder(outdir, what="output folder"):
    """Check before any work that the report can be written to ``outdir``; returns it as a ``Path``.

    The folder may exist (and must then take writes) or not (its parent must exist and take
    writes); an existing file of that name is refused.
    """
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ValidationError(f"{what} {outdir} is a file; give a folder for the report (created if missing)")
    if outdir.is_dir():
        check_output_path(outdir / "report.md", what=what)  # probes the folder itself
    else:
        check_output_path(outdir, what=what)  # probes the parent, where the folder will be made
    return outdir


def write_report(curves, outdir, plots=True):
    """Write ``report.md``, ``report.json`` and figures for a built dataset.

    Parameters
    ----------
    curves : CurveSet or path of a ``.crfs`` file
    outdir : str or Path
        Created if missing (its parent must exist); checked before any work.
    plots : bool
        Draw the figures (needs matplotlib).

    Returns
    -------
    dict
        The analysis (as in :func:`analyse`).
    """
    outdir = check_report_folder(outdir)
    if plots:
        from .._optional import require

        require("matplotlib", "plot", feature="the report's figures (or use plots=False / --no-plots)")
    if not isinstance(curves, CurveSet):
        curves = CurveSet.load(curves)
    a = analyse(curves)  # a set that is not a build fails here, before the folder is made
    outdir.mkdir(exist_ok=True)
    atomic_write_text(outdir / "report.json", json.dumps(a, indent=1))
    atomic_write_text(outdir / "report.md", _markdown(a))
    if plots:
        _plots(curves, a, outdir)
    return a


def _plots(curves, a, outdir):
    from ..plotting import _new_figure, _save

    per_cam = camera_curves(curves)
    names = list(per_cam)
    # Uniqueness: heatmap of pairwise distances.
    if len(names) > 1:
        d = np.array(a["pairwise"]["rmse"])
        fig, (ax,) = _new_figure("report heatmap", figsize=(1.0 + 0.45 * len(names), 0.6 + 0.4 * len(names)))
        im = ax.imshow(d, cmap="viridis")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        fig.colorbar(im, ax=ax, label="RMSE (mean over R, G, B)")
        ax.set_title("pairwise RMSE between cameras")
        _save(fig, outdir / "pairwise_rmse.png", "png")
    # All curves (green channel) with sRGB for reference.
    fig, axes = _new_figure("report curves", figsize=(11, 4))
    fig.clear()
    axs = fig.subplots(1, 3, sharey=True)
    for c, ax in enumerate(axs):
        for cam in names:
            ax.plot(GRID, per_cam[cam][c], lw=1, label=cam)
        ax.plot(GRID, Curve.srgb().values, "k--", lw=1, label="sRGB")
        ax.set_title(f"channel {CHANNELS[c]}")
        ax.set_xlabel("normalised irradiance")
    axs[0].set_ylabel("normalised brightness")
    axs[-1].legend(fontsize=6, loc="lower right")
    _save(fig, outdir / "curves.png", "png")
    # Per-camera fits: samples and fitted curve.
    fitdir = outdir / "fits"
    fitdir.mkdir(exist_ok=True)
    meta = {}
    for i, n in enumerate(curves.names):
        meta.setdefault(n.rpartition("/")[0], []).append(curves.metadata[i])
    for cam in names:
        fig, (ax,) = _new_figure("report fit", figsize=(5, 4))
        for c, col in enumerate(("tab:red", "tab:green", "tab:blue")):
            s = meta[cam][c].get("samples", {})
            ax.plot(s.get("x", []), s.get("y", []), "o", ms=3, color=col, alpha=0.6)
            ax.plot(GRID, per_cam[cam][c], color=col, lw=1.2, label=f"{CHANNELS[c]} rmse {meta[cam][c]['residuals']['rmse']:.4f}")
        ax.set_title(f"{cam} ({meta[cam][0].get('method')})")
        ax.set_xlabel("normalised irradiance")
        ax.set_ylabel("normalised brightness")
        ax.legend(fontsize=7)
        _save(fig, fitdir / f"{cam.replace('/', '_')}.png", "png")
    if "years" in a:
        y = a["years"]
        fig, (ax,) = _new_figure("report years", figsize=(5, 4))
        ax.plot(y["years"], y["rmse_to_srgb"], "o")
        for yy, ss, cam in zip(y["years"], y["rmse_to_srgb"], y["cameras"]):
            ax.annotate(cam, (yy, ss), fontsize=6)
        ax.set_xlabel("year")
        ax.set_ylabel("RMSE to the sRGB curve (mean over R, G, B)")
        ax.set_title(f"change over time (Spearman rho {y['spearman_rho']:.2f})")
        _save(fig, outdir / "years.png", "png")
