"""Evaluation of restoration methods on LDR crops with ground-truth HDR.

Data: pairs ``NAME.png`` (display-referred LDR input) + ``NAME.exr`` (linear
ground truth), by default the 7 crops of Santos, Ren & Kalantari (2020) in
``$CRFKIT_DATA/santos2020_hdr_crops``.

Protocol (per crop)
-------------------
1. The input is linearised with one inverse CRF for all methods (default
   ``gamma:2``, the curve Santos et al. assume; the crops' real curves are
   unknown) and restored by each method through :func:`crfkit.restore`.
2. Saturated region ``S``: pixels where any channel of the input exceeds
   ``tau`` (the soft mask ``M_sat > 0`` on any channel).
3. Scale: the ground truth has an arbitrary scale, so it is multiplied by
   ``s = exp(median(log L - log G))`` over the pixels outside ``S`` whose
   linearised value ``L`` exceeds 1e-3 in every channel (dark pixels carry
   quantisation noise).  Every method leaves those pixels equal to ``L``, so one
   scale per crop serves all methods, and the aligned ground truth is on the
   scale where the input's white is 1.
4. Errors, inside ``S`` and over the whole image, all three channels:

   * log-domain L1: ``mean |log(1 + P) - log(1 + G)|`` (the domain of the
     network's loss; lower is better);
   * mu-law PSNR: both images divided by the aligned ground truth's maximum,
     encoded with ``T(x) = log(1 + mu x) / log(1 + mu)``, ``mu = 500``, and
     ``PSNR = 10 log10(1 / MSE)`` (higher is better; predictions above the
     ground-truth maximum are not clipped).
"""

import csv
import io
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._stats import paired_bootstrap_interval
from ..errors import DataNotFoundError, MissingDependencyError, ValidationError
from .base import TAU, saturation_mask

#: Folder of the Santos et al. crops under a data root.
DATASET = "santos2020_hdr_crops"
#: Default inverse CRF of the evaluation (Santos et al.'s assumption).
DEFAULT_CRF = "gamma:2"
DEFAULT_METHODS = ("clip", "highlight-expansion", "masked-unet")
BASELINES = ("clip", "highlight-expansion")
MU = 500.0
#: Linear values below this are left out of the scale fit.
SCALE_FLOOR = 1e-3
METRICS = ("log_l1_sat", "psnr_sat", "log_l1_all", "psnr_all")
_LOWER_IS_BETTER = {"log_l1_sat": True, "psnr_sat": False, "log_l1_all": True, "psnr_all": False}


# -- data ------------------------------------------------------------------------------------
def find_crops(data=None):
    """The (LDR, HDR) pairs of the evaluation set.

    Parameters
    ----------
    data : str or Path, optional
        A folder holding ``NAME.png`` + ``NAME.exr`` pairs, or a data root with
        a ``santos2020_hdr_crops`` sub-folder.  Default: ``$CRFKIT_DATA/santos2020_hdr_crops``.

    Returns
    -------
    list of (name, png path, exr path), sorted by name

    Raises
    ------
    DataNotFoundError
        No folder or no pairs found; the message says where it looked.
    """
    if data is not None:
        root = Path(data).expanduser()
        if not root.is_dir():
            raise DataNotFoundError(f"evaluation data folder not found: {root}")
        folder = root / DATASET if (root / DATASET).is_dir() and not any(root.glob("*.exr")) else root
    else:
        env = os.environ.get("CRFKIT_DATA")
        if not env:
            raise DataNotFoundError(
                f"evaluation data not found: pass --data DIR (a folder of NAME.png + NAME.exr pairs) or set "
                f"CRFKIT_DATA to a folder holding {DATASET}/"
            )
        folder = Path(env).expanduser() / DATASET
        if not folder.is_dir():
            raise DataNotFoundError(f"CRFKIT_DATA={env!r} holds no {DATASET}/ folder; pass --data DIR")
    pairs = []
    for png in sorted(folder.glob("*.png")):
        exr = png.with_suffix(".exr")
        if exr.is_file():
            pairs.append((png.stem, png, exr))
    if not pairs:
        raise DataNotFoundError(f"{folder}: no NAME.png + NAME.exr pairs found")
    return pairs


# -- metrics ---------------------------------------------------------------------------------
def saturated_region(display, tau=TAU):
    """Pixels with any channel above ``tau``: bool (H, W) (``M_sat > 0`` on any channel)."""
    return np.any(saturation_mask(display, tau) > 0, axis=2)


def fit_scale(linear, gt, valid, floor=SCALE_FLOOR):
    """Scale ``s`` with ``s * gt ~ linear`` on the ``valid`` pixels (median of log ratios).

    Parameters
    ----------
    linear, gt : ndarray, (H, W, 3)
        Linearised input and ground truth (any positive scale).
    valid : ndarray of bool, (H, W)
        Pixels to fit on (unsaturated); those with a channel of ``linear`` or
        ``gt`` at or below ``floor`` are left out.

    Returns
    -------
    float
    """
    ok = valid & np.all(linear > floor, axis=2) & np.all(gt > 0, axis=2)
    if not ok.any():
        raise ValidationError("cannot align the ground truth: no unsaturated pixel above the noise floor")
    ratio = np.log(linear[ok].astype(np.float64)) - np.log(gt[ok].astype(np.float64))
    return float(np.exp(np.median(ratio)))


def _region(a, region):
    return a if region is None else a[region]


def log_l1(pred, gt, region=None):
    """Mean ``|log(1 + P) - log(1 + G)|`` over ``region`` (bool (H, W); None: all pixels), 3 channels.

    Negative values (EXR compression) are treated as 0.  NaN for an empty region.
    """
    p, g = _region(pred, region), _region(gt, region)
    if p.size == 0:
        return float("nan")
    d = np.log1p(np.maximum(p.astype(np.float64), 0)) - np.log1p(np.maximum(g.astype(np.float64), 0))
    return float(np.mean(np.abs(d)))


def mu_law(h, mu=MU):
    """``T(h) = log(1 + mu h) / log(1 + mu)`` for ``h >= 0`` (negatives as 0); 1 at ``h = 1``."""
    return np.log1p(mu * np.maximum(np.asarray(h, np.float64), 0.0)) / np.log1p(mu)


def mu_psnr(pred, gt, region=None, norm=None, mu=MU):
    """PSNR (dB) of mu-law encoded images over ``region``.

    Both images are divided by ``norm`` (default: ``gt.max()``) and encoded
    with :func:`mu_law`; ``PSNR = 10 log10(1 / MSE)``, inf for identical
    images, NaN for an empty region.
    """
    if norm is None:
        norm = float(np.max(gt))
    if not norm > 0:
        raise ValidationError(f"mu-law PSNR: the normalisation must be positive, got {norm}")
    p, g = _region(pred, region), _region(gt, region)
    if p.size == 0:
        return float("nan")
    mse = float(np.mean((mu_law(p / norm, mu) - mu_law(g / norm, mu)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def fitted_exponent(display, gt, valid):
    """Exponent ``k`` of a log-log fit ``G ~ c * B**k`` on valid pixels (diagnostic of the unknown CRF)."""
    ok = valid & np.all(display > 0.05, axis=2) & np.all(gt > 0, axis=2)
    if ok.sum() < 10:
        return float("nan")
    x = np.log(display[ok].astype(np.float64)).ravel()
    y = np.log(gt[ok].astype(np.float64)).ravel()
    return float(np.polyfit(x, y, 1)[0])


# -- results ---------------------------------------------------------------------------------
@dataclass
class RestorationEvaluation:
    """Scores of every method on every crop.

    Attributes
    ----------
    methods : list of str
        Methods that ran.
    crops : list of str
    scores : dict
        ``scores[method][metric]`` -> ndarray (n_crops,) for :data:`METRICS`.
    seconds : dict of str -> ndarray (n_crops,)
    crop_info : list of dict
        Per crop: ``saturated_fraction``, ``scale``, ``fitted_exponent``, ``gt_max``.
    skipped : dict of str -> str
        Methods that could not run, with the reason.
    info : dict
        ``crf``, ``tau``, ``data`` folder, ``figures``, ``warnings`` (issued
        while loading the methods, e.g. a note stored with the weights).
    """

    methods: list
    crops: list
    scores: dict
    seconds: dict
    crop_info: list
    skipped: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def mean(self, method, metric):
        v = np.asarray(self.scores[method][metric], float)
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else float("nan")

    def wins(self, method, against, metric):
        """Crops where ``method`` is strictly better than ``against`` on ``metric``."""
        a, b = np.asarray(self.scores[method][metric]), np.asarray(self.scores[against][metric])
        return int(np.sum(a < b) if _LOWER_IS_BETTER[metric] else np.sum(a > b))

    def to_markdown(self):
        """Markdown: mean table, per-crop tables inside the saturated regions, notes."""
        base = [m for m in BASELINES if m in self.methods]
        lines = [
            "| method | log-L1 in saturated (mean) | mu-PSNR in saturated (dB) | log-L1 whole image | "
            "mu-PSNR whole image (dB) | s / crop |",
            "|---|---|---|---|---|---|",
        ]
        for m in self.methods:
            lines.append(
                f"| {m} | {self.mean(m, 'log_l1_sat'):.4f} | {self.mean(m, 'psnr_sat'):.2f} | "
                f"{self.mean(m, 'log_l1_all'):.4f} | {self.mean(m, 'psnr_all'):.2f} | "
                f"{float(np.mean(self.seconds[m])):.3f} |"
            )
        lines.append("")
        for m in self.methods:
            if m in BASELINES:
                continue
            for b in base:
                lsat = self.mean(m, "log_l1_sat")
                lb = self.mean(b, "log_l1_sat")
                rel = 100 * (lsat - lb) / lb if lb else float("nan")
                dp = self.mean(m, "psnr_sat") - self.mean(b, "psnr_sat")
                # per-crop paired differences: with few crops the interval says how settled the sign is
                d_l1 = np.asarray(self.scores[m]["log_l1_sat"], float) - np.asarray(self.scores[b]["log_l1_sat"], float)
                d_db = np.asarray(self.scores[m]["psnr_sat"], float) - np.asarray(self.scores[b]["psnr_sat"], float)
                (l1_lo, l1_hi), (db_lo, db_hi) = paired_bootstrap_interval(d_l1), paired_bootstrap_interval(d_db)
                lines.append(
                    f"- {m} vs {b}, inside the saturated regions: log-L1 {rel:+.1f}% "
                    f"(better on {self.wins(m, b, 'log_l1_sat')}/{len(self.crops)} crops; mean difference "
                    f"{d_l1.mean():+.4f}, 95% paired-bootstrap interval over crops {l1_lo:+.4f} .. {l1_hi:+.4f}), "
                    f"mu-PSNR {dp:+.2f} dB (better on {self.wins(m, b, 'psnr_sat')}/{len(self.crops)} crops; "
                    f"interval {db_lo:+.2f} .. {db_hi:+.2f} dB)."
                )
        for m, why in self.skipped.items():
            lines.append(f"- {m} skipped: {why}")
        for note in self.info.get("warnings", []):
            lines.append(f"- warning from {note}")
        for title, metric, fmt in (("log-L1 inside the saturated region (lower is better)", "log_l1_sat", "{:.4f}"),
                                   ("mu-PSNR inside the saturated region, dB (higher is better)", "psnr_sat", "{:.2f}")):
            lines += ["", f"Per crop: {title}.", "",
                      "| crop | saturated pixels | GT scale | fitted exponent | " + " | ".join(self.methods) + " |",
                      "|---|---|---|---|" + "---|" * len(self.methods)]
            for i, c in enumerate(self.crops):
                ci = self.crop_info[i]
                vals = " | ".join(fmt.format(self.scores[m][metric][i]) for m in self.methods)
                lines.append(f"| {c} | {100 * ci['saturated_fraction']:.1f}% | {ci['scale']:.4g} | "
                             f"{ci['fitted_exponent']:.2f} | {vals} |")
        return "\n".join(lines) + "\n"

    def to_rows(self):
        """Rows (dicts) per crop and method, then the mean per method (crop ``'mean'``)."""
        rows = []
        for m in self.methods:
            for i, c in enumerate(self.crops):
                row = {"crop": c, "method": m, "saturated_fraction": self.crop_info[i]["saturated_fraction"]}
                row.update({k: float(self.scores[m][k][i]) for k in METRICS})
                row["seconds"] = float(self.seconds[m][i])
                rows.append(row)
            row = {"crop": "mean", "method": m,
                   "saturated_fraction": float(np.mean([ci["saturated_fraction"] for ci in self.crop_info]))}
            row.update({k: self.mean(m, k) for k in METRICS})
            row["seconds"] = float(np.mean(self.seconds[m]))
            rows.append(row)
        return rows

    def to_csv(self):
        buf = io.StringIO()
        rows = self.to_rows()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["crop", "method"], lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        return buf.getvalue()

    def to_dict(self):
        def num(v):
            v = float(v)
            return v if np.isfinite(v) else None

        return {
            "methods": list(self.methods),
            "crops": list(self.crops),
            "scores": {m: {k: [num(v) for v in self.scores[m][k]] for k in METRICS} for m in self.methods},
            "mean": {m: {k: num(self.mean(m, k)) for k in METRICS} for m in self.methods},
            "seconds": {m: [float(v) for v in self.seconds[m]] for m in self.methods},
            "crop_info": [{k: num(v) for k, v in ci.items()} for ci in self.crop_info],
            "skipped": dict(self.skipped),
            "info": {k: (str(v) if isinstance(v, Path) else v) for k, v in self.info.items()},
        }


# -- figures ---------------------------------------------------------------------------------
def _thumb(img, factor):
    if factor <= 1:
        return img
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    return img[:h, :w].reshape(h // factor, factor, w // factor, factor, -1).mean(axis=(1, 3))


def save_figure(path, name, display, panels, gt, region, max_side=200):
    """Side-by-side figure: input, each method's result, ground truth (PNG via matplotlib, atomically).

    Row 1: every HDR image 2 stops darker than the input's white, gamma 2.2;
    row 2: mu-law (mu = 500) normalised by the ground truth's 99.5th
    percentile (clipped at 1), with the saturated region outlined on the input.

    Parameters
    ----------
    path : Path
    name : str
        Crop name (title).
    display : ndarray, float, (H, W, 3), [0, 1]
        The LDR input.
    panels : list of (label, ndarray (H, W, 3))
        Linear HDR results on the aligned scale.
    gt : ndarray, (H, W, 3)
        Aligned ground truth.
    region : ndarray of bool, (H, W)
    """
    from .._optional import require

    require("matplotlib", "plot", feature="restoration figures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .._io import atomic_path

    factor = max(1, int(np.ceil(max(display.shape[:2]) / max_side)))
    cols = [("input (LDR)", display, None)] + [(lab, None, img) for lab, img in panels] + [("ground truth", None, gt)]
    norm = float(np.percentile(gt, 99.5)) or 1.0
    fig = Figure(figsize=(2.0 * len(cols), 4.3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(cols))
    for j, (label, ldr, hdr) in enumerate(cols):
        if ldr is not None:
            top = _thumb(ldr, factor)
            bottom = top.copy()
            edge = _thumb(region[:, :, None].astype(np.float32), factor)[:, :, 0]
            bottom[(edge > 0) & (edge < 1)] = (1.0, 0.0, 1.0)  # outline of the saturated region
        else:
            h = _thumb(np.maximum(hdr, 0), factor)
            top = np.clip(h / 4.0, 0, 1) ** (1 / 2.2)
            bottom = np.clip(mu_law(h / norm), 0, 1)
        axes[0, j].imshow(np.clip(top, 0, 1), interpolation="nearest")
        axes[1, j].imshow(np.clip(bottom, 0, 1), interpolation="nearest")
        axes[0, j].set_title(label, fontsize=8)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("-2 EV, gamma 2.2", fontsize=7)
    axes[1, 0].set_ylabel("mu-law / GT p99.5", fontsize=7)
    fig.suptitle(name, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    buf.seek(0)
    from PIL import Image  # a dependency of imageio

    with Image.open(buf) as im:
        # a 256-colour palette keeps the committed figures small (about 3x smaller than RGBA)
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    with atomic_path(path) as tmp:
        small.save(tmp, format="PNG", optimize=True)
    return path


# -- run -------------------------------------------------------------------------------------
def _load_methods(methods, method_options):
    """Restorer instances by name; methods whose weights/extras are missing are skipped with the reason."""
    from . import get_restorer

    loaded, skipped, notes = {}, {}, []
    for m in methods:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loaded[m] = get_restorer(m, **(method_options or {}).get(m, {}))
            # e.g. a note stored with the weights: kept with the results instead of scrolling past
            notes += [f"{m}: {' '.join(str(w.message).split())}" for w in caught]
        except (DataNotFoundError, MissingDependencyError) as exc:
            skipped[m] = " ".join(str(exc).split())
    return loaded, skipped, notes


def run_evaluation(data=None, crf=DEFAULT_CRF, methods=DEFAULT_METHODS, method_options=None, figures=None,
                   tau=TAU, progress=False):
    """Evaluate restoration methods on (LDR, ground-truth HDR) pairs.

    Parameters
    ----------
    data : str or Path, optional
        See :func:`find_crops`.
    crf : str, Curve or CurveSet
        Inverse CRF for every crop (see :func:`crfkit.restoration.pipeline.resolve_inverse_crf`).
    methods : sequence of str
        Restoration methods; a method whose weights or extra are missing is
        skipped (listed in ``skipped``); an unknown name raises.
    method_options : dict of str -> dict, optional
        Options per method, e.g. ``{'masked-unet': {'weights': PATH, 'threads': 2}}``.
    figures : str or Path, optional
        Folder for one PNG per crop (needs ``crfkit[plot]``).
    tau : float
        Saturation threshold.
    progress : bool
        Print one line per crop to stderr.

    Returns
    -------
    RestorationEvaluation
    """
    import sys

    from ..io.hdr import read_hdr
    from ..io.images import read_image
    from . import available_restorers
    from .pipeline import _display, _linearize, _prepare, resolve_inverse_crf, restore_with_info

    from ..errors import UnknownNameError

    methods = list(dict.fromkeys(methods))
    if not methods:
        raise ValidationError("no restoration methods given")
    names = available_restorers()
    for m in methods:
        if m not in names:
            raise UnknownNameError(f"unknown restoration method {m!r}; available: {', '.join(names)}")
    fig_dir = None
    if figures is not None:
        from .._optional import require

        require("matplotlib", "plot", feature="restoration figures")
        fig_dir = Path(figures)
        fig_dir.mkdir(parents=True, exist_ok=True)
    pairs = find_crops(data)
    loaded, skipped, notes = _load_methods(methods, method_options)
    run = [m for m in methods if m in loaded]
    if not run:
        raise DataNotFoundError("no restoration method could run: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    scores = {m: {k: [] for k in METRICS} for m in run}
    seconds = {m: [] for m in run}
    crop_info = []
    for name, png, exr in pairs:
        ldr = _prepare(read_image(png, mode="any"), who=str(png))
        display = _display(ldr).astype(np.float32, copy=False)
        gt = read_hdr(exr)
        if gt.shape != display.shape:
            raise ValidationError(f"{exr}: ground truth of shape {gt.shape} does not match {png} {display.shape}")
        g = resolve_inverse_crf(crf, ldr)
        linear = _linearize(ldr, g)
        region = saturated_region(display, tau)
        scale = fit_scale(linear, gt, ~region)
        gt_al = gt * np.float32(scale)
        norm = float(gt_al.max())
        crop_info.append({"saturated_fraction": float(region.mean()), "scale": scale,
                          "fitted_exponent": fitted_exponent(display, gt, ~region), "gt_max": norm})
        panels = []
        for m in run:
            t = time.perf_counter()
            out, _ = restore_with_info(ldr, crf=g, method=loaded[m], tau=tau)
            seconds[m].append(time.perf_counter() - t)
            scores[m]["log_l1_sat"].append(log_l1(out, gt_al, region))
            scores[m]["psnr_sat"].append(mu_psnr(out, gt_al, region, norm=norm))
            scores[m]["log_l1_all"].append(log_l1(out, gt_al))
            scores[m]["psnr_all"].append(mu_psnr(out, gt_al, norm=norm))
            if fig_dir is not None:
                panels.append((m, out))
        if fig_dir is not None:
            save_figure(fig_dir / f"{name}.png", name, display, panels, gt_al, region)
        if progress:
            line = ", ".join(f"{m} {scores[m]['log_l1_sat'][-1]:.3f}" for m in run)
            print(f"{name}: {100 * region.mean():.1f}% saturated; log-L1 in saturated region: {line}", file=sys.stderr)
    return RestorationEvaluation(
        methods=run,
        crops=[p[0] for p in pairs],
        scores={m: {k: np.array(v) for k, v in s.items()} for m, s in scores.items()},
        seconds={m: np.array(v) for m, v in seconds.items()},
        crop_info=crop_info,
        skipped=skipped,
        info={"crf": crf if isinstance(crf, str) else getattr(crf, "name", "curve"), "tau": tau,
              "data": str(pairs[0][1].parent), "figures": str(fig_dir) if fig_dir else None,
              "mu": MU, "scale_floor": SCALE_FLOOR, "warnings": notes},
    )


__all__ = [
    "BASELINES",
    "DATASET",
    "DEFAULT_CRF",
    "DEFAULT_METHODS",
    "METRICS",
    "RestorationEvaluation",
    "find_crops",
    "fit_scale",
    "fitted_exponent",
    "log_l1",
    "mu_law",
    "mu_psnr",
    "run_evaluation",
    "saturated_region",
    "save_figure",
]
