"""The :class:`Curve` type: one camera response function on the standard grid.

A forward CRF ``f`` maps normalised irradiance ``E`` in [0, 1] to normalised
brightness ``B = f(E)`` in [0, 1]; an inverse CRF ``g = f^-1`` maps brightness
back to irradiance.  Both are stored as 1024 samples on ``linspace(0, 1, 1024)``,
the grid of DoRF and EMoR, so that curves from any source compare sample by
sample.
"""

import numbers
from collections.abc import Mapping

import numpy as np

from .._validation import as_float_array
from ..errors import NotMonotoneError, ValidationError

#: Number of samples of every curve.
GRID_SIZE = 1024
#: The common abscissa: ``linspace(0, 1, 1024)``.
GRID = np.linspace(0.0, 1.0, GRID_SIZE)
GRID.setflags(write=False)

KINDS = ("forward", "inverse")

# Tolerances for checks; values are in normalised units.
MONOTONE_TOL = 1e-9
ENDPOINT_TOL = 1e-6
#: A curve whose values span less than this (max - min) is flat: no camera response.
FLAT_TOL = 1e-6


def plain(value):
    """``value`` with NumPy scalars turned into Python ones, so that ``repr`` reads ``nan``, not ``np.float64(nan)``."""
    return value.item() if isinstance(value, np.generic) and not isinstance(value, np.void) else value


def check_metadata(metadata, what):
    """``metadata`` (None or a mapping) as a new dict, or a ValidationError naming ``what``."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"{what} must be a dict (JSON object), got {type(metadata).__name__} {short_repr(metadata)}")
    return dict(metadata)


def short_repr(value):
    """A one-line ``repr`` of at most 40 characters, NumPy scalars shown as plain numbers."""
    text = " ".join(repr(plain(value)).split())
    return text if len(text) <= 40 else text[:37] + "..."


def flat_rows(values):
    """Indices of the rows of ``values`` (1024,) or (N, 1024) that have no range (flat) or non-finite values."""
    vals = np.atleast_2d(np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        bad = ~np.all(np.isfinite(vals), axis=-1) | ~(np.ptp(vals, axis=-1) > FLAT_TOL)
    return np.flatnonzero(bad)


def check_not_flat(curves, where=None):
    """Raise :class:`ValidationError` when a curve is flat (max - min ~ 0) or not finite.

    Such a curve is no camera response: it maps every value to one and cannot be
    inverted.  Monotone curves with flat stretches (clipped tops) pass.

    Parameters
    ----------
    curves : Curve, CurveSet or sequence of Curve
    where : str, optional
        Where the curves come from (a file name), for the message.

    Returns
    -------
    ``curves``
    """
    items = [curves] if isinstance(curves, Curve) else list(curves)
    for i, c in enumerate(items):
        vals = c.values
        if flat_rows(vals).size:
            label = f"curve {c.name!r}" if c.name else f"curve {i}"
            src = f" in {where}" if where else ""
            finite = vals[np.isfinite(vals)]
            how = (f"flat (constant {float(finite[0]):.4g})" if finite.size == vals.size
                   else "not finite (NaN or inf values)")
            raise ValidationError(f"{label}{src} is {how}: not a camera response (it cannot be inverted)")
    return curves


def check_kind(kind):
    if kind not in KINDS:
        raise ValidationError(f"kind must be 'forward' or 'inverse', got {short_repr(kind)}")
    return kind


def other_kind(kind):
    return "inverse" if kind == "forward" else "forward"


def invert_values(values):
    """Invert monotone curves sampled on :data:`GRID`, row by row.

    Parameters
    ----------
    values : ndarray, shape (1024,) or (N, 1024)
        Monotone non-decreasing samples in [0, 1].

    Returns
    -------
    ndarray, same shape
        ``g`` on the grid with ``g(f(E)) = E`` and ``f(g(B)) = B`` for the
        piecewise-linear ``f``; a value taken by a flat run of ``f`` (several
        ``E`` giving one ``B``) maps to the middle of the run, values between
        two runs to the segment joining the end of one and the start of the
        next, and the endpoints are pinned to ``g(0) = 0`` and ``g(1) = 1``
        when ``f`` reaches 0 and 1.
    """
    vals = np.atleast_2d(values)
    out = np.empty_like(vals, dtype=np.float64)
    for i, row in enumerate(vals):
        # np.unique sorts; a monotone row keeps its order, so each run of equal
        # values is contiguous: it starts at ``start`` and ends at ``start + counts - 1``.
        uniq, start, counts = np.unique(row, return_index=True, return_counts=True)
        first, last = GRID[start], GRID[start + counts - 1]
        # Knots (level, start of its run), (level, end of its run): between two
        # levels g joins the end of one run to the start of the next (exact
        # inverse of the piecewise-linear f even next to flat runs).
        out[i] = np.interp(GRID, np.repeat(uniq, 2), np.column_stack([first, last]).ravel())
        pos = np.minimum(np.searchsorted(uniq, GRID), uniq.size - 1)
        on_level = uniq[pos] == GRID
        out[i, on_level] = 0.5 * (first + last)[pos[on_level]]
        if row[0] <= 0.0:
            out[i, 0] = 0.0
        if row[-1] >= 1.0:
            out[i, -1] = 1.0
    return out.reshape(np.shape(values))


def monotone_violation(values):
    """Largest decrease between consecutive samples (0 for monotone rows)."""
    d = np.diff(np.atleast_2d(values), axis=-1)
    return np.maximum(-d.min(axis=-1), 0.0)


def srgb_encode(linear):
    """The sRGB transfer function (IEC 61966-2-1): linear values in [0, 1] -> encoded values in [0, 1].

    The one definition behind :meth:`Curve.srgb` and :func:`crfkit.io.preview.tone_map`'s encoding."""
    x = np.asarray(linear, dtype=np.float64)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


class Curve:
    """A camera response function sampled on the 1024-point grid.

    Parameters
    ----------
    values : array_like, shape (1024,)
        Samples of the curve at :data:`GRID`. Domain and range are [0, 1].
    kind : {'forward', 'inverse'}
        ``'forward'`` for ``B = f(E)``, ``'inverse'`` for ``E = g(B)``.
    name : str, optional
        Identifier, e.g. ``'agfacolor-futura-100CDRed'`` or ``'camera/R'``.
    metadata : dict, optional
        JSON-serialisable information kept with the curve.
    validate : {'basic', 'strict', 'none'}
        ``'basic'`` (default) checks length and finiteness; ``'strict'`` also
        checks range, endpoints ``f(0)=0, f(1)=1`` and monotonicity.

    Notes
    -----
    Use :meth:`from_samples` for data on another abscissa.
    """

    __slots__ = ("_values", "kind", "name", "metadata")

    def __init__(self, values, kind="forward", name="", metadata=None, validate="basic"):
        arr = as_float_array(values, f"curve {name!r} values" if name else "curve values", ndim=1)
        if arr.shape[0] != GRID_SIZE:
            raise ValidationError(
                f"curve values must have {GRID_SIZE} samples (the grid linspace(0, 1, {GRID_SIZE})), "
                f"got {arr.shape[0]}; use Curve.from_samples(x, y) to resample"
            )
        arr = arr.copy()
        arr.setflags(write=False)
        self._values = arr
        self.kind = check_kind(kind)
        self.name = str(name)
        self.metadata = check_metadata(metadata, "curve metadata")
        if validate == "strict":
            self.check()
        elif validate not in ("basic", "none"):
            raise ValidationError(f"validate must be 'basic', 'strict' or 'none', got {validate!r}")

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_samples(cls, x, y, kind="forward", name="", metadata=None, method="pchip"):
        """Resample a curve given at arbitrary increasing ``x`` onto the grid.

        ``method='pchip'`` (shape preserving, keeps monotone data monotone) or
        ``'linear'``. Values outside the sampled range are held at the end values.
        """
        x = as_float_array(x, "x", ndim=1)
        y = as_float_array(y, "y", ndim=1)
        if x.shape != y.shape:
            raise ValidationError(f"x and y must have the same length, got {x.size} and {y.size}")
        if x.size < 2:
            raise ValidationError(f"need at least 2 samples to resample a curve, got {x.size}")
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        if np.any(np.diff(x) <= 0):
            raise ValidationError("x must not contain duplicate values")
        if method == "linear" or x.size < 3:
            vals = np.interp(GRID, x, y)
        elif method == "pchip":
            from scipy.interpolate import PchipInterpolator

            vals = PchipInterpolator(x, y, extrapolate=False)(GRID)
            vals = np.where(GRID < x[0], y[0], np.where(GRID > x[-1], y[-1], vals))
        else:
            raise ValidationError(f"method must be 'pchip' or 'linear', got {method!r}")
        return cls(vals, kind=kind, name=name, metadata=metadata)

    @classmethod
    def identity(cls, kind="forward", name="linear"):
        """The linear response ``f(E) = E``."""
        return cls(GRID, kind=kind, name=name)

    @classmethod
    def gamma(cls, gamma, kind="forward", name=None):
        """``f(E) = E ** (1 / gamma)`` as a forward curve (display-style gamma).

        ``Curve.gamma(2.2)`` is the usual "gamma 2.2" camera curve; its inverse
        is ``B ** 2.2``.  With ``kind='inverse'`` the inverse curve is returned.
        """
        if (isinstance(gamma, (bool, np.bool_)) or not isinstance(gamma, numbers.Real)
                or not np.isfinite(gamma) or gamma <= 0):
            raise ValidationError(f"gamma must be a positive number, got {short_repr(gamma)}")
        fwd = cls(GRID ** (1.0 / gamma), "forward", name or f"gamma {gamma:g}")
        return fwd.as_kind(kind)

    @classmethod
    def srgb(cls, kind="forward"):
        """The sRGB transfer function (IEC 61966-2-1) as a forward curve."""
        fwd = cls(np.clip(srgb_encode(GRID), 0, 1), "forward", "sRGB")
        return fwd.as_kind(kind)

    # -- basic protocol ------------------------------------------------------------
    @property
    def values(self):
        """Read-only samples at :data:`GRID`, shape (1024,)."""
        return self._values

    @property
    def x(self):
        return GRID

    def __len__(self):
        return GRID_SIZE

    def __array__(self, dtype=None, copy=None):
        return np.array(self._values, dtype=dtype, copy=True)

    def __repr__(self):
        return f"Curve(name={self.name!r}, kind={self.kind!r}, range=[{self._values[0]:.4g}, {self._values[-1]:.4g}])"

    def __eq__(self, other):
        if not isinstance(other, Curve):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.name == other.name
            and self.metadata == other.metadata
            and np.array_equal(self._values, other._values)
        )

    __hash__ = None

    def copy(self, **changes):
        """A copy with some of ``values``, ``kind``, ``name``, ``metadata`` replaced."""
        kw = dict(values=self._values, kind=self.kind, name=self.name, metadata=dict(self.metadata))
        kw.update(changes)
        return Curve(**kw)

    # -- evaluation ----------------------------------------------------------------
    def __call__(self, x):
        """Evaluate at any points of [0, 1] by linear interpolation.

        Inputs outside [0, 1] are clamped to the domain. Returns float64 with the
        shape of ``x``.
        """
        try:
            raw = np.asarray(x)
            if raw.dtype.kind not in "biufO":  # strings, complex, dates: no points of [0, 1]
                raise TypeError(f"dtype {raw.dtype}")
            x = raw.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(
                f"curve {self.name!r} is evaluated at numbers in [0, 1], got {type(x).__name__} {short_repr(x)}"
            ) from None
        return np.interp(x, GRID, self._values)

    def inverse(self):
        """The inverse curve on the same grid (forward <-> inverse).

        Raises
        ------
        NotMonotoneError
            When the curve decreases anywhere; call :meth:`monotonized` first.
        ValidationError
            When the curve is flat (constant): no camera response.
        """
        viol = float(monotone_violation(self._values)[0])
        if viol > MONOTONE_TOL:
            raise NotMonotoneError(
                f"curve {self.name!r} is not monotone (drops by up to {viol:.3g}) and cannot be "
                "inverted; use curve.monotonized() first"
            )
        check_not_flat(self)
        vals = invert_values(np.maximum.accumulate(self._values))
        meta = dict(self.metadata)
        return Curve(vals, other_kind(self.kind), self.name, meta)

    def as_kind(self, kind):
        """This curve if it is of ``kind``, else its inverse."""
        return self if self.kind == check_kind(kind) else self.inverse()

    def monotonized(self):
        """The closest (least-squares) non-decreasing curve, clipped to [0, 1]."""
        from scipy.optimize import isotonic_regression

        vals = isotonic_regression(self._values).x
        return self.copy(values=np.clip(vals, 0.0, 1.0))

    def rmse(self, other):
        """Root-mean-square difference to another curve (or array) on the grid."""
        other_vals = other.values if isinstance(other, Curve) else np.asarray(other, float)
        return float(np.sqrt(np.mean((self._values - other_vals) ** 2)))

    # -- checks --------------------------------------------------------------------
    def is_monotone(self, tol=MONOTONE_TOL):
        return bool(monotone_violation(self._values)[0] <= tol)

    def problems(self, tol=ENDPOINT_TOL):
        """List of human-readable problems with the curve (empty when valid)."""
        v = self._values
        out = []
        if v.min() < -tol or v.max() > 1 + tol:
            out.append(f"values outside [0, 1] (min {v.min():.4g}, max {v.max():.4g})")
        if abs(v[0]) > tol:
            out.append(f"starts at {v[0]:.4g} instead of 0")
        if abs(v[-1] - 1) > tol:
            out.append(f"ends at {v[-1]:.4g} instead of 1")
        viol = float(monotone_violation(v)[0])
        if viol > MONOTONE_TOL:
            out.append(f"not monotone (drops by up to {viol:.3g})")
        return out

    def check(self, tol=ENDPOINT_TOL):
        """Raise :class:`ValidationError` unless the curve is a valid CRF.

        Valid means values in [0, 1], ``f(0) = 0``, ``f(1) = 1`` (within ``tol``)
        and monotone non-decreasing.
        """
        probs = self.problems(tol)
        if probs:
            cls = NotMonotoneError if len(probs) == 1 and probs[0].startswith("not monotone") else ValidationError
            raise cls(f"curve {self.name!r} is not a valid {self.kind} CRF: " + "; ".join(probs))
        return self

    # -- images --------------------------------------------------------------------
    def apply(self, image, **kwargs):
        """Pass an image through this curve (see :func:`crfkit.curves.image.apply_curve`)."""
        from .image import apply_curve

        return apply_curve(image, self, **kwargs)

    def linearize(self, image, **kwargs):
        """Linearise an image with this curve (see :func:`crfkit.curves.image.linearize`)."""
        from .image import linearize

        return linearize(image, self, **kwargs)

    def to_lut(self, levels=256):
        """Samples at ``arange(levels) / (levels - 1)``, e.g. an 8-bit lookup table."""
        return self(np.arange(levels) / (levels - 1))

    def plot(self, ax=None, **kwargs):
        """Plot the curve with matplotlib (needs ``crfkit[plot]``)."""
        from ..plotting import plot_curves

        return plot_curves([self], ax=ax, **kwargs)
