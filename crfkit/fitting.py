"""``crfkit.fit``: one entry point for fitting any registered model to a curve,
a curve set, an array of curves or sparse samples."""

import inspect
from dataclasses import dataclass, field

import numpy as np

from ._threads import single_threaded_blas
from ._validation import as_float_array, check_unit_range
from .curves import GRID, GRID_SIZE, Curve, CurveSet
from .curves.curve import KINDS
from .curves.samples import Samples
from .errors import FitError, ValidationError
from .models import get_model
from .models.base import CRFModel
from .models.registry import constructor_options

_RANGE_TOL = 1e-6


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : CRFModel
        The fitted model object (its ``label``, e.g. ``'EMoR-11'``).
    params : ndarray, shape (p,) for one curve or (N, p) for several
    curves : Curve or CurveSet
        The fitted curve(s) on the 1024 grid.
    rmse : float or ndarray (N,)
        RMSE against the data: over the 1024 grid for curves, over the samples
        (those with non-zero weight) for samples.
    names : list of str
    """

    model: CRFModel
    params: np.ndarray
    curves: object
    rmse: object
    names: list = field(default_factory=list)
    data_kind: str = "curves"  # 'curves' or 'samples'

    @property
    def model_name(self):
        return self.model.name

    @property
    def label(self):
        return self.model.label

    @property
    def n_params(self):
        return self.model.n_params

    @property
    def k(self):
        return self.model.k

    @property
    def curve(self):
        """The single fitted curve (first one when several were fitted)."""
        return self.curves if isinstance(self.curves, Curve) else self.curves[0]

    @property
    def mean_rmse(self):
        return float(np.mean(self.rmse))

    def to_dict(self):
        """JSON-friendly summary."""
        return {
            "model": self.model.name,
            "label": self.model.label,
            "n_params": self.n_params,
            "names": self.names,
            "params": np.asarray(self.params).tolist(),
            "rmse": np.asarray(self.rmse).tolist(),
        }

    def __repr__(self):
        r = f"{self.rmse:.6g}" if np.ndim(self.rmse) == 0 else f"mean {self.mean_rmse:.6g} over {len(self.rmse)}"
        return f"FitResult({self.label}, rmse={r})"


def _split_options(model_name, options):
    """Separate model-constructor options (``pin_zero``, ``basis``...) from fit options."""
    from .models.registry import get_model_class

    if isinstance(model_name, CRFModel):
        cls = type(model_name)
    elif isinstance(model_name, str):
        cls = get_model_class(model_name)
    else:
        raise ValidationError(f"model must be a model name (str) or a CRFModel instance, got {type(model_name).__name__}")
    fit_params = set(inspect.signature(cls.fit_samples).parameters) - {"self", "x", "y", "weights", "monotone"}
    ctor = constructor_options(cls)
    if ctor is None:  # a constructor taking **kwargs: the options that are not fit options go to it
        ctor = set(options) - fit_params
    if isinstance(model_name, CRFModel):
        ctor = set()  # an instance is already built: only fit options apply
    model_opts = {k: v for k, v in options.items() if k in ctor}
    fit_opts = {k: v for k, v in options.items() if k in fit_params}
    unknown = set(options) - set(model_opts) - set(fit_opts)
    if unknown:
        valid = sorted(ctor | fit_params | {"kind", "weights", "monotone"})
        raise ValidationError(
            f"unknown option(s) {sorted(unknown)} for model {cls.name!r}; valid: {', '.join(valid)}"
        )
    return model_opts, fit_opts


def _as_curve_values(data, kind):
    """Return (values (N,1024), kind, names, single?) for curve-like data."""
    if isinstance(data, Curve):
        return data.values[None, :], data.kind, [data.name], True
    if isinstance(data, CurveSet):
        return data.values, data.kind, list(data.names), False
    arr = as_float_array(data, "curve values", ndim=(1, 2))
    single = arr.ndim == 1
    arr = np.atleast_2d(arr)
    if arr.shape[1] != GRID_SIZE:
        raise ValidationError(
            f"curve values must have {GRID_SIZE} samples per curve (the grid linspace(0, 1, {GRID_SIZE})), "
            f"got {arr.shape[1]}; pass sparse data as (x, y) samples instead"
        )
    return arr, kind or "forward", [str(i) for i in range(arr.shape[0])], single


def fit(data, model="emor", k=None, *, kind=None, weights=None, monotone=False, **options):
    """Fit a CRF model to curves or to samples.

    Parameters
    ----------
    data : Curve, CurveSet, array_like (1024,) or (N, 1024), Samples, or tuple
        Curves on the 1024 grid, or sparse samples ``(x, y)`` / ``(x, y, w)``
        with ``x`` (m,) and ``y`` (m,) or (N, m). All values in [0, 1].
    model : str or CRFModel
        A name from :data:`crfkit.MODELS` (``'gamma'``, ``'polynomial'``,
        ``'ggcm'``, ``'emor'``, ``'pca'``) or a model instance.
    k : int, optional
        Number of parameters (the model's default when omitted).
    kind : {'forward', 'inverse'} or None, optional
        For arrays and samples (curves carry their own kind).  Inverse curves
        use the inverse EMoR basis.  None (default): ``'forward'`` for arrays,
        the data's own kind otherwise.
    weights : array_like, optional
        Per-sample weights (broadcast to the data's shape).
    monotone : bool
        Constrain the fitted curve to be non-decreasing on the grid: the result
        drops nowhere by more than ``crfkit.curves.curve.MONOTONE_TOL`` (what
        :meth:`Curve.inverse` accepts), or a :class:`FitError` says why not.
    **options
        Model options (``pin_zero`` for polynomial, ``basis`` for pca, ``path``
        for emor) and fit options (``regularization`` for linear models).

    Returns
    -------
    FitResult
        Finite parameters (p,) or (N, p) and curves on the 1024 grid.

    Raises
    ------
    ValidationError
        Bad data or arguments (shape, range, NaN, complex, unknown option...).
    FitError
        The data cannot determine the model's parameters (too few distinct
        sample points: the rank is checked, not the count), or a monotone fit
        is impossible or numerically out of reach.

    Examples
    --------
    >>> c = crfkit.load_curves("dorf")[0]               # doctest: +SKIP
    >>> crfkit.fit(c, model="emor", k=11).rmse          # doctest: +SKIP
    0.00035...
    """
    if not isinstance(monotone, (bool, np.bool_)):
        raise ValidationError(f"monotone must be True or False, got {monotone!r}")
    if kind is not None and not (isinstance(kind, str) and kind in KINDS):
        raise ValidationError(f"kind must be 'forward' or 'inverse' (or None: the data's own kind), got {kind!r}")
    if isinstance(data, tuple):
        if len(data) not in (2, 3):
            raise ValidationError(f"sample tuples must be (x, y) or (x, y, weights), got {len(data)} items")
        data = Samples(*data, kind=kind or "forward")
    if isinstance(data, Samples):
        kind = data.kind if kind is None else kind
        x, y = data.x, data.y
        single = y.ndim == 1
        y2 = np.atleast_2d(y)
        w = data.weights if weights is None else weights
        names = [data.name] if single else [f"{data.name}{i}" for i in range(y2.shape[0])]
        data_kind = "samples"
    else:
        y2, kind_d, names, single = _as_curve_values(data, kind)
        kind = kind_d if kind is None or isinstance(data, (Curve, CurveSet)) else kind
        x = GRID
        w = weights
        data_kind = "curves"
    if y2.shape[0] == 0:
        raise ValidationError("no curves to fit (empty set)")
    check_unit_range(y2, "curve values" if data_kind == "curves" else "samples y", tol=_RANGE_TOL)
    if w is not None:
        w = as_float_array(w, "weights")
        try:
            w = np.broadcast_to(w, y2.shape)
        except ValueError:
            raise ValidationError(f"weights of shape {np.shape(w)} do not match data of shape {y2.shape}") from None
        if np.any(w < 0):
            raise ValidationError("weights must be >= 0")

    model_opts, fit_opts = _split_options(model, options)
    m = model if isinstance(model, CRFModel) else get_model(model, k=k, kind=kind, **model_opts)
    with single_threaded_blas():
        params = m.fit_samples(x, y2, weights=w, monotone=bool(monotone), **fit_opts)
        fitted = m.curves(params)
    # The models raise FitError for what they can foresee; this is the last line:
    # a FitResult always holds finite numbers.
    bad = ~(np.all(np.isfinite(params), axis=1) & np.all(np.isfinite(fitted), axis=1))
    if bad.any():
        raise FitError(
            f"fitting {m.label} to {names[int(np.flatnonzero(bad)[0])]!r} gave non-finite values; "
            "the data do not determine this model: use a smaller k or more samples"
        )
    if data_kind == "curves":
        rmse = np.sqrt(np.mean((fitted - y2) ** 2, axis=1))
    else:
        pred = m.evaluate(params, x)
        mask = np.ones_like(y2) if w is None else (w > 0).astype(float)
        rmse = np.sqrt(np.sum(mask * (pred - y2) ** 2, axis=1) / np.maximum(mask.sum(axis=1), 1))
    meta = {"model": m.name, "label": m.label, "n_params": m.n_params, "monotone": bool(monotone)}
    if single:
        src_meta = data.metadata if isinstance(data, (Curve, Samples)) else {}
        curves = Curve(fitted[0], kind, names[0], {**src_meta, "fit": meta}, validate="none")
        return FitResult(m, params[0], curves, float(rmse[0]), names, data_kind)
    src_meta = data.metadata if isinstance(data, CurveSet) else [{} for _ in names]
    curves = CurveSet(
        fitted, kind, names, [{**md, "fit": meta} for md in src_meta],
        {"fitted_with": m.label}, name=getattr(data, "name", "") and f"{data.name} ({m.label})",
    )
    return FitResult(m, params, curves, rmse, names, data_kind)
