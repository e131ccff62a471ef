"""Held-out evaluation of single-image CRF estimators against fixed-curve baselines.

Every (test curve, held-out image) pair is rendered once through the synthetic
camera (a reproducible draw per pair: exposure, noise, 8-bit, JPEG; redrawn
while more than half the pixels are over- or under-exposed).  Each method's
inverse CRF is scored by its RMSE against the true inverse on the 1024-point
grid, and by the RMSE of the linearised image against the clipped linear
ground truth.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._stats import paired_bootstrap_interval
from ..curves import Curve
from ..errors import ValidationError

#: The estimators of the held-out evaluation when none are named (``crfkit evaluate-estimators``).
DEFAULT_METHODS = ("crf-net", "linearization-net")
BASELINES = ("g0 (mean inverse EMoR)", "gamma 2.2", "sRGB inverse", "f0^-1 (inverted mean EMoR)")


@dataclass
class EvalResult:
    """Per-pair scores of every method.

    Attributes
    ----------
    methods : list of str
    curve_rmse, lin_rmse : dict of str -> ndarray (n_pairs,)
    pairs : list of (curve name, image name)
    seconds : dict of str -> float
        Total estimation time per method.
    info : dict
    """

    methods: list
    curve_rmse: dict
    lin_rmse: dict
    pairs: list
    seconds: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def summary(self):
        """Rows ``(method, mean curve RMSE, median, mean lin RMSE, seconds/image)``."""
        n = max(len(self.pairs), 1)
        return [
            (m, float(np.mean(self.curve_rmse[m])), float(np.median(self.curve_rmse[m])),
             float(np.mean(self.lin_rmse[m])), self.seconds.get(m, 0.0) / n)
            for m in self.methods
        ]

    def best_baseline(self):
        base = [m for m in self.methods if m in BASELINES]
        return min(base, key=lambda m: float(np.mean(self.curve_rmse[m])))

    def to_markdown(self):
        best = self.best_baseline()
        b_mean = float(np.mean(self.curve_rmse[best]))
        b_lin = float(np.mean(self.lin_rmse[best]))
        lines = [
            "| method | inverse-CRF RMSE (mean) | (median) | linearisation RMSE (mean) | vs best baseline (curve RMSE) | pairs better than best baseline | s / image |",
            "|---|---|---|---|---|---|---|",
        ]
        for m, mean, med, lin, sec in self.summary():
            if m == best:
                rel, wins = "best baseline", "-"
            else:
                rel = f"{100 * (mean - b_mean) / b_mean:+.1f}%"
                wins = f"{100 * float(np.mean(self.curve_rmse[m] < self.curve_rmse[best])):.0f}%"
            lines.append(f"| {m} | {mean:.5f} | {med:.5f} | {lin:.5f} | {rel} | {wins} | {sec:.3f} |")
        lines.append("")
        lines.append(f"Best baseline by mean inverse-CRF RMSE: {best} ({b_mean:.5f}; linearisation {b_lin:.5f}).")
        for m in self.methods:
            if m in BASELINES:
                continue
            d = self.curve_rmse[m] - self.curve_rmse[best]
            # paired bootstrap of the mean difference: how sure is the sign?
            lo, hi = paired_bootstrap_interval(d)
            verdict = "beats" if hi < 0 else ("is worse than" if lo > 0 else "does not clearly differ from")
            lines.append(
                f"{m} {verdict} the best baseline: mean difference {d.mean():+.5f} "
                f"(95% paired-bootstrap interval {lo:+.5f} .. {hi:+.5f}) in inverse-CRF RMSE; "
                f"linearisation RMSE {np.mean(self.lin_rmse[m]):.5f} vs {b_lin:.5f}."
            )
        return "\n".join(lines) + "\n"

    def to_dict(self):
        return {
            "methods": self.methods,
            "pairs": [list(p) for p in self.pairs],
            "curve_rmse": {m: [float(v) for v in self.curve_rmse[m]] for m in self.methods},
            "lin_rmse": {m: [float(v) for v in self.lin_rmse[m]] for m in self.methods},
            "seconds": self.seconds,
            "summary": [dict(zip(("method", "curve_rmse_mean", "curve_rmse_median", "lin_rmse_mean", "s_per_image"), r))
                        for r in self.summary()],
            "best_baseline": self.best_baseline(),
            "info": self.info,
        }


def baseline_curves():
    """The fixed inverse curves compared against: g0, gamma 2.2, the sRGB inverse and the inverse of f0.

    ``f0^-1`` is what an untrained CRF-net predicts (its head starts at the
    mean forward EMoR curve ``f0``); it is not the same curve as ``g0``, so a
    CRF-net must be compared with it too.
    """
    from ..data import load_emor

    g0 = np.asarray(load_emor(inverse=True).mean, dtype=np.float64).copy()
    g0 = np.maximum.accumulate(np.clip(g0, 0, 1))
    g0[0], g0[-1] = 0.0, 1.0
    f0 = np.maximum.accumulate(np.clip(np.asarray(load_emor(inverse=False).mean, dtype=np.float64), 0, 1))
    f0[0], f0[-1] = 0.0, 1.0
    f0_inv = np.maximum.accumulate(np.clip(Curve(f0, kind="forward").inverse().values, 0, 1))  # round-off
    f0_inv[0], f0_inv[-1] = 0.0, 1.0
    return {
        BASELINES[0]: Curve(g0, kind="inverse", name="g0"),
        BASELINES[1]: Curve.gamma(2.2, kind="inverse"),
        BASELINES[2]: Curve.srgb(kind="inverse"),
        BASELINES[3]: Curve(f0_inv, kind="inverse", name="f0^-1"),
    }


def render_pairs(images, curves, seed=0, config=None):
    """Render every (curve, image) pair once; yields ``(curve index, image index, ldr, target)``."""
    from ..synthesis import SynthesisConfig, synthesize

    cfg = config or SynthesisConfig(patch=None, flip=False)
    for ci in range(len(curves)):
        for ii, im in enumerate(images):
            rng = np.random.default_rng([seed, ci, ii])
            for _ in range(cfg.max_tries):
                ldr, target, bad = synthesize(im.pixels, curves.values[ci], rng, cfg)
                if bad <= cfg.max_bad_fraction:
                    break
            yield ci, ii, ldr, target


def evaluate(images, curves, estimators, seed=0, progress=False):
    """Score estimators and the baselines on every (curve, image) pair.

    Parameters
    ----------
    images : list of LinearImage
        Held-out linear images.
    curves : CurveSet
        Held-out forward curves (the 10 DoRF test curves).
    estimators : dict of str -> Estimator
    seed : int

    Returns
    -------
    EvalResult
    """
    from ..curves import linearize

    if len(images) == 0 or len(curves) == 0:
        raise ValidationError("evaluation needs at least one image and one curve")
    base = baseline_curves()
    methods = list(estimators) + list(base)
    true_inv = curves.inverse().values
    crv = {m: [] for m in methods}
    lin = {m: [] for m in methods}
    secs = {m: 0.0 for m in methods}
    pairs = []
    total = len(curves) * len(images)
    from tqdm.auto import tqdm

    for ci, ii, ldr, target in tqdm(render_pairs(images, curves, seed), total=total, disable=not progress,
                                    desc="evaluate", dynamic_ncols=True):
        pairs.append((curves.names[ci], images[ii].name))
        for m in methods:
            t = time.perf_counter()
            if m in base:
                g = base[m]
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the synthetic pairs are checked for exposure already
                    g = estimators[m].estimate(ldr)
            secs[m] += time.perf_counter() - t
            crv[m].append(float(np.sqrt(np.mean((np.asarray(g.values) - true_inv[ci]) ** 2))))
            lin[m].append(float(np.sqrt(np.mean((linearize(ldr, g) - target) ** 2))))
    info = {"n_curves": len(curves), "n_images": len(images), "seed": seed,
            "curves": list(curves.names), "images": [im.name for im in images]}
    return EvalResult(methods, {m: np.array(v) for m, v in crv.items()}, {m: np.array(v) for m, v in lin.items()},
                      pairs, secs, info)


def default_image_dirs():
    """``$CRFKIT_DATA/hdr_training`` and ``$CRFKIT_DATA/photos_training`` where they exist."""
    import os
    from pathlib import Path

    root = os.environ.get("CRFKIT_DATA")
    if not root:
        return []
    return [str(Path(root) / d) for d in ("hdr_training", "photos_training") if (Path(root) / d).is_dir()]


def run_evaluation(image_dirs=None, methods=DEFAULT_METHODS, weights=None, test_fraction=0.15,
                   max_images=None, seed=0, progress=False, threads=None):
    """Held-out images of ``image_dirs`` x the 10 DoRF test curves; returns an :class:`EvalResult`."""
    from ..errors import DataNotFoundError
    from ..synthesis import dorf_split, find_training_images, load_linear_images, split_images
    from . import get_estimator

    dirs = list(image_dirs or default_image_dirs())
    if not dirs:
        raise DataNotFoundError("no image folders: pass --images DIR or set CRFKIT_DATA (with hdr_training/, photos_training/)")
    _, test_paths = split_images(find_training_images(dirs), test_fraction)
    if max_images:
        test_paths = test_paths[: int(max_images)]
    _, test_curves = dorf_split()
    weights = weights or {}
    ests = {}
    for m in methods:
        opts = {"threads": threads} if threads else {}
        if weights.get(m):
            opts["weights"] = weights[m]
        ests[m] = get_estimator(m, **opts)
    # an image smaller than an estimator's patch cannot be scored by it: leave such images out
    min_size = max([getattr(e, "min_size", 32) for e in ests.values()] + [32])
    images = load_linear_images(test_paths, short_side=384, min_size=min_size)
    res = evaluate(images, test_curves, ests, seed=seed, progress=progress)
    res.info["image_dirs"] = dirs
    res.info["test_fraction"] = test_fraction
    res.info["weights"] = {m: str(getattr(e, "weights_path", "")) for m, e in ests.items()}
    return res
