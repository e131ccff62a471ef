"""Single-image CRF estimators scored on real cameras (Middlebury-style JPEG/RAW folders).

Every registered estimator (:func:`crfkit.estimators.available_estimators`)
estimates an inverse CRF from each camera JPEG on its own; the fixed curves
(sRGB inverse, gamma 2.2), the camera's chart curve (built from the other
illumination's chart pairs, or read from a ``.crfs`` file) and a bracket
calibration of the same four JPEGs (exposure ratios from the RAW files) are
scored beside them as references.  The score of one JPEG is
:func:`crfkit.evaluation.real_camera.linearisation_error_blocks` (relative
error after the best 3x3 matrix on 8x8-pixel block means of unclipped pixels
with a RAW mean above 8/255), the one real-camera measure crfkit uses.

Intervals resample cameras (the JPEGs of one camera share its pipeline, so
they are not independent items): the 95 % percentile-bootstrap interval of a
method's mean error over cameras, and the paired-bootstrap interval of its
difference to the chart curve on the same cameras
(:func:`crfkit._stats.paired_bootstrap_interval`, seeded, so a report
regenerates identically).
"""

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._stats import paired_bootstrap_interval
from ..curves import Curve, CurveSet
from ..errors import CrfkitError, DataNotFoundError, MissingDependencyError, ValidationError
from .real_camera import linearisation_error_blocks, load_middlebury_brackets

#: Names of the reference rows.
SRGB = "sRGB inverse"
GAMMA = "gamma 2.2"
CHART = "chart curve (other illumination)"
BRACKET = "bracket calibration (same 4 JPEGs, RAW ratios)"


def fixed_curves():
    """The fixed inverse curves scored on every JPEG: ``{name: Curve}``."""
    return {SRGB: Curve.srgb(kind="inverse"), GAMMA: Curve.gamma(2.2, kind="inverse")}


def _per_camera(curves, where):
    """``{camera: CurveSet of 3 inverse curves}`` from a set named ``<camera>/R|G|B``."""
    names = list(curves.names or [])
    if len(names) != len(curves) or len(curves) % 3:
        raise ValidationError(f"{where}: expected 3 curves per camera named <camera>/R, /G, /B; "
                              f"got {len(curves)} curves")
    out = {}
    for i in range(0, len(curves), 3):
        cams = {n.rsplit("/", 1)[0] for n in names[i:i + 3]}
        tails = [n.rsplit("/", 1)[-1] for n in names[i:i + 3]]
        if len(cams) != 1 or tails != ["R", "G", "B"]:
            raise ValidationError(f"{where}: curves {i}..{i + 2} are {names[i:i + 3]}; "
                                  "expected <camera>/R, <camera>/G, <camera>/B")
        out[cams.pop()] = curves[[i, i + 1, i + 2]].as_kind("inverse")
    return out


def chart_curves(root, illumination=1, n_jobs=1, cameras=None):
    """Each camera's chart curves built by :func:`crfkit.dcrf.build_dataset` from one illumination.

    Parameters
    ----------
    root : str or Path
        A Middlebury-style folder (``tags.json`` and one folder per camera).
    illumination : int
        The illumination whose RAW+JPEG chart pairs calibrate the curves.
    n_jobs : int
        Cameras calibrated in parallel.
    cameras : sequence of str, optional
        Only these camera folders (default all).

    Returns
    -------
    dict of str -> CurveSet
        Camera folder name -> its 3 inverse curves (R, G, B); cameras whose
        calibration failed are absent.

    Raises
    ------
    DataNotFoundError, ValidationError
        As :func:`crfkit.dcrf.middlebury_recipe` / :func:`crfkit.dcrf.build_dataset`.
    """
    import tempfile

    from ..dcrf import build_dataset, middlebury_recipe

    attrs, cams = middlebury_recipe(root, illumination)
    if cameras is not None:
        cams = [c for c in cams if c.name in set(cameras)]
        if not cams:
            raise DataNotFoundError(f"{root}: none of the cameras {list(cameras)} has chart pairs")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curves, _failed = build_dataset(cams, Path(tmp) / "charts.crfs", progress=False, attrs=attrs,
                                        n_jobs=n_jobs, resume=False)
    return _per_camera(curves, f"chart curves built from {root}")


def load_chart_curves(path):
    """Chart curves from a ``.crfs`` file built by ``crfkit build-dataset``: ``{camera: CurveSet}``.

    Raises
    ------
    DataNotFoundError, ParseError
        Missing or unreadable file.
    ValidationError
        The curves are not named ``<camera>/R|G|B`` in threes.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataNotFoundError(f"chart curves file not found: {p}")
    return _per_camera(CurveSet.load(p), str(p))


@dataclass
class RealEvaluation:
    """Errors of every method on every JPEG of a real set.

    Attributes
    ----------
    methods : list of str
        In table order: estimators, then the references.
    cameras : list of str
    errors : dict of str -> ndarray (n_cameras, n_exposures)
        :func:`linearisation_error_blocks` per JPEG; NaN where the method
        failed or is unavailable (no chart curve for that camera).
    reasons : dict of str -> list of str
        Why each NaN happened (``"<camera> e<k>: <reason>"``).
    seconds : dict of str -> float
        Estimation time per JPEG (estimators only); not written by
        :meth:`to_dict` unless asked, so reports stay reproducible.
    info : dict
    """

    methods: list
    cameras: list
    errors: dict
    reasons: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def camera_means(self, method):
        """Mean error per camera over its JPEGs (NaN for a camera where every JPEG failed)."""
        e = self.errors[method]
        ok = np.isfinite(e)
        with np.errstate(invalid="ignore"):
            return np.where(ok.any(axis=1),
                            np.nansum(np.where(ok, e, 0.0), axis=1) / np.maximum(ok.sum(1), 1),
                            np.nan)

    def reference(self):
        """The method the others are compared with: the chart curve if scored, else the sRGB inverse."""
        if CHART in self.methods and np.isfinite(self.camera_means(CHART)).any():
            return CHART
        return SRGB if SRGB in self.methods else self.methods[0]

    def summary(self, n_boot=2000, seed=0):
        """One dict per method: mean, its 95 % interval, difference to the reference with its interval.

        The mean is over the cameras where the method gave a score (mean of
        camera means); the difference and ratio are over the cameras both
        methods scored.
        """
        ref = self.reference()
        r = self.camera_means(ref)
        rows = []
        for m in self.methods:
            c = self.camera_means(m)
            ok = np.isfinite(c)
            row = {"method": m, "n_cameras": int(ok.sum()),
                   "n_failed_jpegs": int((~np.isfinite(self.errors[m])).sum()),
                   "mean": float(np.mean(c[ok])) if ok.any() else float("nan"),
                   "ci": [float("nan"), float("nan")], "ratio_to_reference": float("nan"),
                   "difference_to_reference": float("nan"), "difference_ci": [float("nan"), float("nan")]}
            if ok.sum() >= 2:
                row["ci"] = list(paired_bootstrap_interval(c[ok], n_boot=n_boot, seed=seed))
            both = ok & np.isfinite(r)
            if m != ref and both.sum() >= 2:
                d = c[both] - r[both]
                row["ratio_to_reference"] = float(c[both].mean() / r[both].mean())
                row["difference_to_reference"] = float(d.mean())
                row["difference_ci"] = list(paired_bootstrap_interval(d, n_boot=n_boot, seed=seed))
            elif m == ref:
                row["ratio_to_reference"] = 1.0
            rows.append(row)
        return rows

    def to_markdown(self, decimals=4):
        """The summary table and the per-camera table (camera means over the JPEGs)."""
        ref = self.reference()
        f = f"{{:.{decimals}f}}"

        def fmt(v):
            return "-" if not np.isfinite(v) else f.format(v)

        lines = [f"| method | mean error | 95% interval | ratio to {ref} "
                 "| difference to it (95% paired interval) | cameras | failed JPEGs |",
                 "|---|---|---|---|---|---|---|"]
        for row in self.summary():
            lo, hi = row["ci"]
            dlo, dhi = row["difference_ci"]
            diff = ("-" if row["method"] == ref or not np.isfinite(row["difference_to_reference"]) else
                    f"{row['difference_to_reference']:+.{decimals}f} "
                    f"({dlo:+.{decimals}f} .. {dhi:+.{decimals}f})")
            ci = "-" if not np.isfinite(lo) else f"{fmt(lo)} .. {fmt(hi)}"
            ratio = "reference" if row["method"] == ref else (
                "-" if not np.isfinite(row["ratio_to_reference"]) else f"{row['ratio_to_reference']:.3f}")
            lines.append(f"| {row['method']} | {fmt(row['mean'])} | {ci} | {ratio} | {diff} | "
                         f"{row['n_cameras']}/{len(self.cameras)} | {row['n_failed_jpegs']} |")
        lines += ["", "Per camera (mean over its JPEGs):", "",
                  "| camera | " + " | ".join(self.methods) + " |",
                  "|---|" + "---|" * len(self.methods)]
        means = {m: self.camera_means(m) for m in self.methods}
        for i, cam in enumerate(self.cameras):
            lines.append(f"| {cam} | " + " | ".join(fmt(means[m][i]) for m in self.methods) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self, timings=False):
        """Everything as JSON-ready values (no timings unless ``timings=True``)."""
        out = {"methods": self.methods, "cameras": self.cameras,
               "errors": {m: [[None if not np.isfinite(v) else float(v) for v in row]
                              for row in self.errors[m]] for m in self.methods},
               "reasons": self.reasons, "summary": self.summary(), "reference": self.reference(),
               "info": self.info}
        if timings:
            out["seconds_per_jpeg"] = self.seconds
        return out


def _gives_per_channel(name):
    """Whether estimator ``name`` (no variant suffix) can give per-channel curves (False if it cannot load)."""
    from ..estimators import get_estimator_class

    if ":" in name:
        return False
    try:
        return bool(getattr(get_estimator_class(name), "per_channel_modes", ()))
    except CrfkitError:
        return False


def _score(curves, jpeg, raw, block, fit):
    return linearisation_error_blocks(curves, jpeg, raw, block, fit=fit)


def evaluate_real(root=None, methods=None, *, cameras=None, illumination=2, chart=True, bracket=True,
                  weights=None, options=None, fit="matrix", block=8, progress=False, per_channel=None):
    """Score estimators, fixed curves, chart and bracket calibrations on a Middlebury-style folder.

    Parameters
    ----------
    root : str or Path, optional
        The folder of camera folders (``wb1i{L}e{E}-jpg.png`` / ``-raw.png``);
        default ``$CRFKIT_DATA/middlebury_chart_pairs``.
    methods : sequence of str, optional
        Estimator names, or per-channel variants ``NAME:per-channel`` /
        ``NAME:per-channel=MODE`` (:func:`crfkit.estimators.parse_method`),
        scored with their three curves; default every registered estimator
        whose extra is installed (the others are listed in
        ``info['skipped_estimators']``), each followed by its per-channel
        variant where it has one.
    cameras : sequence of str, optional
        Camera folders to use (default all).
    illumination : int
        The illumination whose JPEGs are scored (2: the upstream test half).
    chart : bool, str, Path or dict
        True: build each camera's chart curves from the *other* illumination
        (``3 - illumination``) when the folder has a ``tags.json`` chart
        layout (else no chart row); a path: a ``.crfs`` of
        ``<camera>/R|G|B`` curves; a dict ``{camera: curves}``; False: no chart row.
    bracket : bool
        Also score :func:`crfkit.bracket.calibrate_bracket` on the same
        JPEGs with the RAW-measured exposure ratios.
    weights : dict, optional
        ``{method: weights path}`` (an estimator's entry also serves its per-channel variants).
    options : dict, optional
        ``{method: {option: value}}`` passed to :func:`crfkit.estimators.get_estimator`
        (likewise).
    fit : {'matrix', 'gain'}
        The measure's colour fit (:func:`linearisation_error_blocks`).
    block : int
        Block side of the measure.
    progress : bool
        A progress bar over the JPEGs on stderr.
    per_channel : bool, optional
        Add ``NAME:per-channel`` after every estimator that can give
        per-channel curves (default: only when ``methods`` is None).

    Returns
    -------
    RealEvaluation

    Raises
    ------
    DataNotFoundError
        Missing folder or files.
    ValidationError
        A JPEG and its RAW of different sizes (the message names the JPEG),
        bad arguments.
    UnknownNameError, MissingDependencyError
        An unknown estimator, or one named in ``methods`` whose extra is missing.
    """
    import sys

    from tqdm import tqdm

    from ..estimators import PER_CHANNEL_SUFFIX, available_estimators, get_estimator, parse_method

    if illumination not in (1, 2):
        raise ValidationError(f"illumination must be 1 or 2, got {illumination!r}")
    if fit not in ("matrix", "gain"):
        raise ValidationError(f"fit must be 'matrix' or 'gain', got {fit!r}")
    weights, options = dict(weights or {}), dict(options or {})
    if isinstance(methods, str):
        raise ValidationError(f"methods must be a list of estimator names, got the string {methods!r}")
    names = list(available_estimators()) if methods is None else [str(m) for m in methods]
    if per_channel is None:
        per_channel = methods is None
    names = list(dict.fromkeys(names))
    for m in names:
        parse_method(m)  # a malformed variant fails before anything is read
    bases = {parse_method(m)[0] for m in names}
    for m in list(weights) + list(options):
        if m not in names and m not in bases:
            raise ValidationError(f"weights/options given for {m!r}, which is not among the methods {names}")
    brackets = load_middlebury_brackets(root, illuminations=(illumination,), cameras=cameras)
    base = Path(brackets[0].jpeg_paths[0]).parent.parent
    # build every estimator first: an unknown name or missing extra fails before minutes of work
    ests, skipped = {}, {}
    for m in names:
        name = parse_method(m)[0]  # a variant takes its estimator's weights and options unless given its own
        opts = dict(options.get(m, options.get(name, {})))
        if m in weights or name in weights:
            opts["weights"] = weights.get(m, weights.get(name))
        try:
            ests[m] = get_estimator(m, **opts)
        except MissingDependencyError as exc:
            if methods is not None:  # asked for by name: say so
                raise
            skipped[m] = str(exc)  # "every registered estimator" means every usable one
            continue
        variant = m + PER_CHANNEL_SUFFIX
        if per_channel and variant not in names and _gives_per_channel(m):
            ests[variant] = get_estimator(variant, **opts)  # right after its estimator in the tables
    names = list(ests)

    cams = [b.camera for b in brackets]
    charts = {}
    if chart is True and not (base / "tags.json").is_file():
        chart = False  # no chart layout: no chart row ("where available")
    if chart is True:
        charts = chart_curves(base, 3 - illumination, cameras=cams)
    elif isinstance(chart, dict):
        charts = dict(chart)
    elif chart not in (False, None):
        charts = load_chart_curves(chart)

    refs = dict(fixed_curves())
    methods_all = (names + list(refs) + ([CHART] if chart not in (False, None) else [])
                   + ([BRACKET] if bracket else []))
    cams = [b.camera for b in brackets]
    n_exp = max(b.n_exposures for b in brackets)
    errors = {m: np.full((len(cams), n_exp), np.nan) for m in methods_all}
    reasons = {m: [] for m in methods_all}
    seconds = {m: [] for m in names}

    def put(m, i, k, fn):
        try:
            errors[m][i, k] = fn()
        except CrfkitError as exc:
            reasons[m].append(f"{cams[i]} e{k + 1}: {type(exc).__name__}: {exc}")

    bar = tqdm(total=sum(b.n_exposures for b in brackets), desc="real-camera evaluation", unit="JPEG",
               file=sys.stderr, disable=not progress, leave=False)
    for i, b in enumerate(brackets):
        bracket_curves, bracket_reason = None, ""
        if bracket:
            from ..bracket import calibrate_bracket

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    bracket_curves = calibrate_bracket(b.jpegs, times=b.raw_ratios, bootstrap=0).inverse()
            except CrfkitError as exc:
                bracket_reason = f"{type(exc).__name__}: {exc}"
        for k, (jpeg, raw) in enumerate(zip(b.jpegs, b.raws)):
            for m, est in ests.items():
                def run(est=est, jpeg=jpeg):
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        g = est.estimate(jpeg)
                    seconds[m].append(time.perf_counter() - t0)
                    return g
                put(m, i, k, lambda run=run: _score(run(), jpeg, raw, block, fit))
            for m, g in refs.items():
                put(m, i, k, lambda g=g: _score(g, jpeg, raw, block, fit))
            if CHART in errors:
                if b.camera in charts:
                    put(CHART, i, k, lambda: _score(charts[b.camera], jpeg, raw, block, fit))
                else:
                    reasons[CHART].append(f"{b.camera} e{k + 1}: no chart curve for this camera")
            if bracket:
                if bracket_curves is not None:
                    put(BRACKET, i, k, lambda: _score(bracket_curves, jpeg, raw, block, fit))
                else:
                    reasons[BRACKET].append(f"{b.camera} e{k + 1}: {bracket_reason}")
            bar.update(1)
    bar.close()
    info = {"root_name": base.name, "illumination": illumination, "n_cameras": len(cams),
            "n_exposures": n_exp,
            "fit": fit, "block": block, "raw_floor": "8/255",
            "chart": ("built from illumination %d" % (3 - illumination)) if chart is True else
            ("given" if chart not in (False, None) else "none"),
            "bootstrap": "cameras resampled, 2000 draws, seed 0"}
    if skipped:
        info["skipped_estimators"] = skipped
    return RealEvaluation(methods_all, cams, errors, reasons,
                          {m: float(np.mean(v)) if v else float("nan") for m, v in seconds.items()}, info)


__all__ = ["BRACKET", "CHART", "GAMMA", "SRGB", "RealEvaluation", "chart_curves", "evaluate_real",
           "fixed_curves", "load_chart_curves"]
