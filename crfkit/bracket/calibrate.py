"""``crfkit.calibrate_bracket``: camera response curves from an exposure bracket of any scene."""

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._threads import single_threaded_blas
from ..curves import Curve, CurveSet
from ..curves.curve import GRID
from ..errors import ValidationError
from .inputs import as_bracket
from .samples import CLIP, sample_bracket
from .solvers import get_solver, get_solver_class

CHANNELS = ("R", "G", "B")
DEFAULT_METHOD = "model"
#: The default model: a monotone polynomial of degree 6 (needs no data).  Against the PCA
#: basis of the 191 DoRF training curves (15 components, the default before) it was better on
#: the real Middlebury cameras (known and unknown times), on the synthetic DoRF-test brackets
#: and in stability, within 4 % on the rest (analysis/results/bracket/middlebury.md and the
#: results page, "A polynomial default").
DEFAULT_MODEL = "polynomial"
#: ``model='pca'`` without ``basis=``: the 191 DoRF training curves (the 10 test curves of
#: Liu et al.'s split are never seen).
DEFAULT_BASIS = "dorf-train"
#: Parameters per model when ``k`` is not given (other models: their own default).
DEFAULT_KS = {"polynomial": 6, "pca": 15, "emor": 15}
#: The default times prior for unknown exposures: the mean and 3 principal components of
#: modern cameras' chart-calibrated curves (10 Middlebury cameras; ``modern_times_prior``).
#: Measured: Middlebury 1.025x OpenCV Debevec with the true ratios (built without the
#: scored camera) against 2.43x with EMoR; synthetic DoRF-test-curve brackets: see
#: analysis/results/bracket/synthetic.md.
DEFAULT_TIMES_PRIOR = "modern"
#: Above this median RMS code error (fraction of full scale) a calibration warns that the curves
#: cannot explain the bracket.  The 20 Middlebury camera brackets stay at or under 0.028 in every
#: channel (0.023 median over channels); frobisher shifted by 6 and 12 pixels gives 0.078.
POOR_FIT_RMSE = 0.04
#: Components and prior weight of the model that estimates unknown exposure ratios:
#: few components, so that the curve family cannot trade shape for exposure.
TIMES_K, TIMES_PRIOR_WEIGHT = 3, 0.3
#: The 'modern' curve model (``model='pca', basis='modern'``): the same modern cameras' curves
#: as the times prior, 8 components by default (the best of k = 3..8 on Middlebury, leave one
#: camera out; it did not beat the DoRF-train default: analysis/results/bracket/modern_model.md).
MODERN_BASIS = "modern"
MODERN_BASIS_K = 8


def _modern(n_components, source):
    from ..models.pca import PCABasis
    from . import _modern_prior as mp

    comps = np.array(mp.COMPONENTS)[:n_components]
    return PCABasis(np.array(mp.MEAN), comps, np.array(mp.EXPLAINED_VARIANCE_RATIO)[:len(comps)],
                    "inverse", source, {"n_curves": mp.N_CURVES, "cameras": list(mp.CAMERAS)})


def modern_times_prior():
    """The shipped modern-camera times prior: a :class:`~crfkit.models.pca.PCABasis` of inverse curves.

    The mean inverse CRF and 3 principal components of crfkit's chart calibration of
    the 10 Middlebury cameras (2 illuminations each, 60 curves; Apache-2.0 source
    data, see ``crfkit/bracket/_modern_prior.py``), built by ``analysis/bracket_times_prior.py``.
    """
    from . import _modern_prior as mp

    return _modern(TIMES_K, mp.SOURCE)


def modern_basis():
    """The 'modern' curve model's basis: the same curves as :func:`modern_times_prior`, all 8 components.

    Used by ``calibrate_bracket(model='pca', basis='modern')`` (``crfkit calibrate --basis modern``);
    default ``k`` is :data:`MODERN_BASIS_K`.  Its source is ``'modern'`` (labels read ``PCA(modern)-k``).
    """
    return _modern(MODERN_BASIS_K, MODERN_BASIS)


def _is_modern(basis):
    return isinstance(basis, str) and basis.strip().lower() == MODERN_BASIS


def times_solver(times_prior=DEFAULT_TIMES_PRIOR):
    """The model solver that estimates unknown exposure ratios, with the curve family ``times_prior``."""
    from ..models.pca import PCABasis

    if isinstance(times_prior, str) and times_prior.lower() == "emor":
        return get_solver("model", model="emor", k=TIMES_K, prior=TIMES_PRIOR_WEIGHT)
    if isinstance(times_prior, str) and times_prior.lower() == "modern":
        times_prior = modern_times_prior()
    if isinstance(times_prior, PCABasis):
        k = min(TIMES_K, times_prior.n_components)
        return get_solver("model", model="pca", basis=times_prior, k=k, prior=TIMES_PRIOR_WEIGHT)
    from ..curves import CurveSet as _CS

    if not isinstance(times_prior, (str, _CS)) and not hasattr(times_prior, "__fspath__"):
        raise ValidationError(f"times_prior must be 'modern', 'emor', a curve set name or file, a CurveSet or a "
                              f"PCABasis, got {type(times_prior).__name__}")
    if not isinstance(times_prior, _CS):
        from ..data import load_curves

        times_prior = load_curves(str(times_prior))
    k = min(TIMES_K, len(times_prior) - 1)
    if k < 1:
        raise ValidationError("times_prior needs at least 2 curves")
    return get_solver("model", model="pca", basis=times_prior, k=k, prior=TIMES_PRIOR_WEIGHT)


@dataclass
class BracketCalibration:
    """The result of :func:`calibrate_bracket`.

    Attributes
    ----------
    curves : CurveSet
        Forward CRFs, one per channel (R, G, B; or one shared curve repeated).
    times : ndarray (n_images,)
        Relative exposures of the images in the order given: as given, read
        from EXIF, or estimated (then relative to the shortest exposure, 1).
    times_source : str
        ``'given'``, ``'exif'``, ``'exif (time x ISO / N^2)'`` or ``'estimated'``.
    rmse : ndarray (3,)
        Fit residual per channel: RMS difference between the observed codes and
        the codes the curve predicts from each pixel's irradiance (fraction of full
        scale; the irradiance is the inverse-variance weighted mean over the
        pixel's valid exposures).
    band : ndarray (3, 2, 1024) or None
        2.5 % and 97.5 % points of the forward curves over a bootstrap over
        sampled pixels (None when ``bootstrap=0``).
    method : str
        The solver and model used, e.g. ``'self-calibration (EMoR-5)'``.
    stats : dict
        Sampling statistics (candidates, shares rejected as moving, clipped, dark).
    """

    curves: CurveSet
    times: np.ndarray
    times_source: str
    rmse: np.ndarray
    band: object = None
    method: str = ""
    stats: dict = field(default_factory=dict)
    points: list = field(default_factory=list, repr=False)  # per channel (irradiance, code) samples, for plots
    raw: bool = False
    mixing: object = None  # (3, 3) code matrix A: x = g(A I); None: per-channel curves alone

    def inverse(self):
        """Inverse CRFs (brightness -> linear), one per channel: a CurveSet.

        With ``mixing`` they apply to the mixed codes ``A I``; the set's
        ``attrs['bracket']['mixing']`` carries ``A``, and :func:`crfkit.linearize`
        and :func:`crfkit.merge_bracket` apply it.
        """
        return self.curves.inverse()

    def linearize(self, image, dtype=np.float32):
        """Linearise an image of this camera (same shape; float32 unless ``dtype``)."""
        from ..curves import linearize

        # With mixing, the curves' attrs carry the matrix and linearize applies it first.
        return linearize(image, self.inverse(), dtype=dtype)

    @property
    def band_width(self):
        """Largest width of the bootstrap band per channel (nan without a band)."""
        if self.band is None:
            return np.full(len(self.curves), np.nan)
        return np.max(self.band[:, 1] - self.band[:, 0], axis=1)

    def to_dict(self):
        return {
            "method": self.method,
            "times": np.asarray(self.times).tolist(),
            "times_source": self.times_source,
            "rmse": np.round(self.rmse, 6).tolist(),
            "band_width": [None if not np.isfinite(v) else round(float(v), 6) for v in self.band_width],
            "stats": self.stats,
            "raw": self.raw,
            "mixing": None if self.mixing is None else np.round(np.asarray(self.mixing), 6).tolist(),
        }

    def save(self, path):
        """Write the forward curves as a ``.crfs`` curve set (atomically), with times, residuals and band."""
        attrs = dict(self.curves.attrs)
        attrs["bracket"] = self.to_dict()
        if self.band is not None:
            attrs["bracket"]["band"] = np.round(self.band, 5).tolist()
        cs = CurveSet(self.curves.values, "forward", self.curves.names, self.curves.metadata, attrs, self.curves.name)
        return cs.save(path)

    def plot(self, path=None, title=None):
        """Curves with their bootstrap bands and the samples (needs ``crfkit[plot]``)."""
        from .plot import plot_calibration

        return plot_calibration(self, path=path, title=title)

    def __repr__(self):
        return (f"BracketCalibration({self.method}, times={np.round(self.times, 6).tolist()} ({self.times_source}), "
                f"rmse={np.round(self.rmse, 4).tolist()})")


#: A channel whose usable samples hold fewer distinct 8-bit levels than this, or span less than
#: COVERAGE_SPAN of the code range, is mostly extrapolated: say so.
COVERAGE_LEVELS = 16
COVERAGE_SPAN = 0.5


def _warn_narrow_coverage(samples):
    """Warn for channels whose samples cover too little of the code range (a flat or tiny scene)."""
    narrow = []
    for c, name in enumerate(CHANNELS[:samples.z.shape[2]]):
        zc = samples.z[..., c][samples.valid[..., c]]
        if zc.size == 0:
            continue
        levels = np.unique(np.rint(zc * 255)).size
        if levels < COVERAGE_LEVELS or zc.max() - zc.min() < COVERAGE_SPAN:
            narrow.append(f"{name} {zc.min():.2f}..{zc.max():.2f} ({levels} levels)")
    if narrow:
        warnings.warn("the samples cover little of the code range (" + ", ".join(narrow) + "): the curve elsewhere "
                      "is the model's extrapolation, not a measurement; photograph a scene with a wider range of "
                      "tones", stacklevel=3)


def _check_default_basis():
    """The default basis is learned from DoRF, a download: where it cannot be had, say so before
    any work, naming the basis shipped with crfkit as the way round."""
    from ..data import _find_dorf
    from ..errors import DataNotFoundError

    try:
        _find_dorf()
    except DataNotFoundError as exc:
        raise DataNotFoundError(f"the default basis (PCA of the DoRF training curves) needs DoRF: {exc}; "
                                "or calibrate with basis='modern' (--basis modern), which ships with crfkit") from None


def _warn_poor_fit(rmse, raw):
    """Warn when the curves cannot explain the bracket: a code error several times a good calibration's.

    The moving-pixel test only sees pixels that get darker in a longer exposure, so a shifted
    bracket (a few pixels: hand-held) or wrong exposure times pass it; the fit residual does not.
    """
    if raw or not np.any(np.isfinite(rmse)):
        return
    typical = float(np.nanmedian(rmse))
    if typical > POOR_FIT_RMSE:
        warnings.warn(f"the curves fit this bracket poorly (RMS code error {typical:.3f} of full scale; good "
                      f"brackets stay under {POOR_FIT_RMSE:g}): the images may be misaligned (align them: "
                      "--align, or align=True), the scene may have moved, or the exposure times may be wrong",
                      stacklevel=3)


def _solve(solver, z, valid, log_times, code_max, **hints):
    with single_threaded_blas():
        return solver.solve(z, valid, log_times, code_max, **hints)


def _forward(inverse_values):
    """Forward curve values (1024,) of inverse curve values."""
    return Curve(inverse_values, "inverse", validate="none").monotonized().inverse().values


def _fit_residual(inverse, z, valid, log_times):
    """Per problem: RMS of observed minus predicted codes over the valid samples, and (irradiance, code) points."""
    n, p, j = z.shape
    rmse, points = np.zeros(n), []
    for i in range(n):
        g = np.interp(z[i], GRID, inverse[i])
        w = valid[i] & (g > 0)
        lg = np.where(w, np.log(np.maximum(g, 1e-12)) - log_times[i][None, :], 0.0)
        cnt = w.sum(axis=1)
        # Each pixel's irradiance from its exposures weighted by their inverse log-domain
        # variance, (g / g')^2: a dark code's log value is noise, a mid-tone's is not.
        slope = np.interp(z[i], GRID, np.gradient(inverse[i], GRID))
        wv = np.where(w, (np.maximum(g, 1e-12) / np.maximum(slope, 1e-6)) ** 2, 0.0)
        logE = (wv * lg).sum(axis=1) / np.maximum(wv.sum(axis=1), 1e-300)
        x = np.exp(logE[:, None] + log_times[i][None, :])
        pred = np.interp(np.clip(x, 0, 1), inverse[i], GRID)
        use = w & (cnt[:, None] >= 2)
        rmse[i] = float(np.sqrt(np.mean((pred - z[i])[use] ** 2))) if use.any() else np.nan
        points.append((x[use], z[i][use]))
    return rmse, points


def calibrate_bracket(images, times=None, method=DEFAULT_METHOD, model=None, k=None, *, shared=False,
                      n_samples=3000, seed=0, bootstrap=20, align=False, clip=CLIP, floor=None,
                      times_prior=DEFAULT_TIMES_PRIOR, mixing=None, **options):
    """Recover a camera's response curves from an exposure bracket of any scene.

    Parameters
    ----------
    images : sequence of ndarray (H, W, 3), sequence of paths, a folder, or a Bracket
        Two or more photographs of one static scene: uint8 or uint16 (or float
        in [0, 1]); files are JPEG, PNG or TIFF, 8 or 16 bits.
    times : sequence of float, optional
        Relative exposures (seconds), one per image.  Files: read from EXIF when
        omitted.  None for arrays (or files without EXIF): the ratios are
        estimated with the curve (methods ``model`` and ``mitsunaga-nayar``;
        the others use the ratios estimated by the default method).
    method : str
        A solver from :data:`crfkit.bracket.SOLVERS`: ``'model'`` (default:
        self-calibration constrained by ``model``), ``'debevec'``, ``'robertson'``,
        ``'mitsunaga-nayar'``.
    model : str, optional
        For ``method='model'``: ``'polynomial'`` (default: a monotone polynomial
        inverse curve; ``'pca'`` when ``basis=`` is given), ``'pca'`` (``basis=`` a curve set such as ``'dorf-train'``
        (default), ``'dorf'`` or a ``.crfs`` file built from your cameras, or
        ``'modern'``: the chart curves of 10 digital cameras shipped with crfkit,
        :func:`modern_basis`), ``'emor'``, ``'ggcm'``, ``'gamma'``.
    k : int, optional
        Model parameters (``model``; default 6 for ``polynomial``, 15 for ``pca``
        and ``emor``, 8 for ``basis='modern'``, the model's own default otherwise)
        or polynomial degree (``mitsunaga-nayar``).
    shared : bool
        One curve for the three channels instead of one per channel.
    n_samples : int
        Pixels sampled (stratified over brightness and image regions).
    seed : int
        Sampling and bootstrap seed: the result is a deterministic function of the input and the seed.
    bootstrap : int
        Bootstrap draws for the uncertainty band (0: none).
    align : bool
        Align the images first (OpenCV's median-threshold-bitmap alignment; ``crfkit[charts]``).
    clip, floor : float
        Codes (fraction of full scale) at or above ``clip`` count as clipped, at or below ``floor`` as noise.
        ``floor=None`` (default): 0.02, raised to the black level of brackets whose shortest
        exposure shows one (film scans, cameras with an offset; :func:`~crfkit.bracket.samples.black_floor`).
    times_prior : str, Path, CurveSet or PCABasis
        Unknown times only: the curves whose typical shape settles the exposure
        ratios (a bracket alone cannot tell a curve ``g`` with ratios ``r`` from
        ``g^gamma`` with ``r^gamma``): ``'modern'`` (default: the mean and 3
        components of 10 modern cameras' chart-calibrated curves, shipped with
        crfkit, :func:`modern_times_prior`), ``'emor'`` (the EMoR mean and 3
        components, from DoRF: film and early digital cameras; needs the DoRF
        data), or a curve set (``'dorf-train'``, a ``.crfs`` built with
        ``crfkit build-dataset`` from cameras like yours).  The curve itself is then fitted with
        ``method``/``model`` at the estimated ratios.
    mixing : bool or None
        Also estimate a 3x3 matrix ``A`` mixing the channels' codes before the
        per-channel inverse curves, ``x = g(A I)``: the colour processing JPEG
        engines apply after the tone curve (:mod:`crfkit.bracket.mixing`).  It
        is kept only where it lowers the fit error clearly (the result's
        ``mixing``; None when not kept).  None (default): on, except with
        ``shared`` (one curve cannot be mixed) and for RAW brackets.  On the
        20 Middlebury brackets it lowers the linearisation error against the
        RAW from 0.050 to 0.039 (``analysis/results/bracket/mixing.md``).
    **options
        Solver options (``prior``, ``noise``, ``basis`` for the model solver;
        ``smoothness`` for Debevec; ...).

    Returns
    -------
    BracketCalibration

    Raises
    ------
    ValidationError
        Fewer than two images, different sizes, times that do not match the images.
    FitError
        No usable pixels (all clipped, black or moving).

    Examples
    --------
    >>> cal = crfkit.calibrate_bracket(["a.jpg", "b.jpg", "c.jpg"], times=[1/60, 1/15, 1/4])  # doctest: +SKIP
    >>> hdr = crfkit.merge_bracket(["a.jpg", "b.jpg", "c.jpg"], times=cal.times, crf=cal)  # doctest: +SKIP
    """
    from .._validation import check_bool, check_int

    shared = check_bool(shared, "shared")
    align = check_bool(align, "align")
    mixing = (not shared) if mixing is None else check_bool(mixing, "mixing")
    if mixing and shared:
        raise ValidationError("mixing=True needs one curve per channel; it cannot be combined with shared=True")
    bracket = as_bracket(images, times)
    bootstrap = check_int(bootstrap, "bootstrap", 0, 1000)
    if bracket.raw:
        # RAW values are linear already: the response is the identity.
        ident = CurveSet(np.tile(GRID, (3, 1)), "forward", list(CHANNELS), attrs={"note": "RAW bracket: linear"})
        t = bracket.times if bracket.times is not None else np.ones(len(bracket))
        return BracketCalibration(ident, np.asarray(t, float), bracket.times_source, np.zeros(3), None,
                                  "RAW (linear, no curve needed)", {}, [], True)
    if align:
        from .merge import align_images

        bracket.images = align_images(bracket.images)
    sample_options = {key: options.pop(key) for key in ("edge_tol", "brightness_bins", "regions", "order_tol", "clip_margin")
                      if key in options}
    solver_opts = dict(options)
    cls = get_solver_class(method)
    if cls.name == "model":
        if model is None:  # the default model, or PCA when a basis is given
            model = "pca" if "basis" in solver_opts else DEFAULT_MODEL
        solver_opts.setdefault("model", model)
        modern = False
        if str(solver_opts["model"]).lower() == "pca":
            if "basis" not in solver_opts:
                _check_default_basis()
                solver_opts["basis"] = DEFAULT_BASIS
            if _is_modern(solver_opts["basis"]):
                solver_opts["basis"], modern = modern_basis(), True
        if k is not None:
            solver_opts["k"] = k
        elif modern:
            solver_opts["k"] = MODERN_BASIS_K
        elif str(solver_opts["model"]).lower() in DEFAULT_KS:
            solver_opts["k"] = DEFAULT_KS[str(solver_opts["model"]).lower()]
        from ..models.registry import get_model_class

        if "pin_zero" in get_model_class(solver_opts["model"]).__init__.__code__.co_varnames:
            solver_opts.setdefault("pin_zero", True)  # a bracket's response starts at 0
    elif k is not None:
        key = {"mitsunaga-nayar": "degree"}.get(cls.name)
        if key is None:
            raise ValidationError(f"k applies to method 'model' and 'mitsunaga-nayar', not {cls.name!r}")
        solver_opts[key] = k
    elif model is not None:
        raise ValidationError(f"model={model!r} applies to method 'model' only, not {cls.name!r}")
    solver = get_solver(cls.name, **solver_opts)
    s = sample_bracket(bracket, n_samples=n_samples, seed=seed, clip=clip, floor=floor, **sample_options)
    z = s.z.transpose(2, 0, 1)  # (C, P, J)
    valid = s.valid.transpose(2, 0, 1)
    if shared:
        z = z.reshape(1, -1, z.shape[2])
        valid = valid.reshape(1, -1, valid.shape[2])
    n = z.shape[0]
    code_max = s.code_max
    times_source = bracket.times_source
    if s.times is not None:
        log_times = np.tile(np.log(s.times), (n, 1))
    else:
        # Unknown exposures: estimate them with the curve, per channel, then share one set.
        est = times_solver(times_prior)
        first = _solve(est, z, valid, None, code_max)
        lt = first.log_times.mean(axis=0)
        log_times = np.tile(lt - lt[0], (n, 1))
        times_source = f"estimated, times prior {first.info['model']}"
        if cls.name == "mitsunaga-nayar":
            # Mitsunaga-Nayar refines the ratios' pattern from there, their range kept.
            mn = _solve(solver, z, valid, None, code_max, start=log_times)
            lt = mn.log_times.mean(axis=0)
            log_times = np.tile(lt - lt[0], (n, 1))
            times_source = "estimated by Mitsunaga-Nayar, range from the times prior"
    code_matrix = None
    if mixing and z.shape[0] == 3:
        from .mixing import estimate_code_matrix, leaked_clipping

        code_matrix, mixing_rms = estimate_code_matrix(s.z, s.valid, log_times[0], seed=seed)
        # Code error of the free-curve fit without and with the matrix (fractions of full scale).
        s.stats["mixing_code_rms"] = [round(v, 6) for v in mixing_rms]
    if code_matrix is not None and np.array_equal(code_matrix, np.eye(3)):
        code_matrix = None  # not kept: it did not lower the code error enough
    if code_matrix is not None:
        mixed = s.z @ code_matrix.T
        # A mixed code is unusable where its own channel is, or where a channel mixed into it
        # with a weight that matters is clipped (its true value is unknown); noisy dark codes
        # of the other channels are unbiased and stay.
        ok = s.valid & ~leaked_clipping(s.z >= clip, code_matrix, clip) & (mixed >= 0) & (mixed <= 1)
        z = np.clip(mixed, 0.0, 1.0).transpose(2, 0, 1)
        valid = ok.transpose(2, 0, 1).copy()
    draws = None
    if bootstrap:
        rng = np.random.default_rng(seed + 1)
        draws = rng.integers(0, z.shape[1], size=(bootstrap, z.shape[1]))
    one_step = bootstrap and cls.name == "model"
    if one_step:
        counts = np.stack([np.bincount(d, minlength=z.shape[1]) for d in draws]).astype(float)
        result = _solve(solver, z, valid, log_times, code_max, bootstrap_counts=np.repeat(counts[:, None], n, 1))
    else:
        result = _solve(solver, z, valid, log_times, code_max)
    inverse = result.inverse
    if "converged" in result.info and not np.all(result.info["converged"]):
        which = [CHANNELS[i] if not shared else "shared" for i in np.flatnonzero(~np.asarray(result.info["converged"]))]
        warnings.warn(f"the fit of channel(s) {', '.join(which)} did not converge in {solver.max_iter} iterations: "
                      "the curve is the last iterate", stacklevel=2)
    rmse, points = _fit_residual(inverse, z, valid, log_times)
    band = None
    if bootstrap:
        if "bootstrap_inverse" in result.info:
            # Linear models: each draw is one constrained Gauss-Newton step from the full fit.
            boot_inverse = result.info["bootstrap_inverse"].reshape(bootstrap * n, -1)
        else:
            # Other solvers: refit on each resampled pixel set, starting from the full fit.
            zb = np.concatenate([z[:, d] for d in draws])  # (bootstrap * n, P, J)
            vb = np.concatenate([valid[:, d] for d in draws])
            params = result.info.get("params")
            boot_solver = solver
            if params is not None and hasattr(solver, "max_iter"):
                boot_solver = copy.copy(solver)
                boot_solver.max_iter = min(int(solver.max_iter), 2)
            boot_inverse = _solve(boot_solver, zb, vb, np.tile(log_times, (bootstrap, 1)), code_max,
                                  start=None if params is None else np.tile(params, (bootstrap, 1))).inverse
        fwd = np.stack([_forward(v) for v in boot_inverse]).reshape(bootstrap, n, -1)
        band = np.stack([np.percentile(fwd, 2.5, axis=0), np.percentile(fwd, 97.5, axis=0)], axis=1)
    if shared:
        inverse = np.repeat(inverse, 3, axis=0)
        rmse = np.repeat(rmse, 3)
        points = points * 3
        band = None if band is None else np.repeat(band, 3, axis=0)
    fwd_curves = [_forward(v) for v in inverse]
    label = solver.label if cls.name != "model" else f"self-calibration ({result.info.get('model')})"
    names = [f"{c}" for c in CHANNELS]
    curves = CurveSet(np.stack(fwd_curves), "forward", names,
                      [{"channel": c, "method": label} for c in CHANNELS],
                      {"source": "bracket calibration", "method": label, "images": bracket.names},
                      name="bracket calibration")
    if code_matrix is not None:
        curves.attrs["bracket"] = {"mixing": code_matrix.tolist()}
    # Times back in the order the images were given.
    sorted_times = np.exp(log_times[0])
    times_out = np.empty(len(bracket))
    times_out[s.order] = sorted_times
    if times_source.startswith("estimated"):
        times_out = times_out / times_out.min()
    else:
        times_out = np.asarray(bracket.times, float)
    _warn_narrow_coverage(s)
    _warn_poor_fit(rmse, bracket.raw)
    if s.stats.get("usable_share", 1.0) < 0.05:
        warnings.warn(f"only {s.stats['usable_share']:.1%} of the pixels are usable (unclipped and above the noise "
                      "floor in two exposures): the curve is poorly determined", stacklevel=2)
    if code_matrix is not None:
        label += ", with colour mixing"
    return BracketCalibration(curves, times_out, times_source, rmse, band, label, s.stats, points,
                              mixing=code_matrix)
