"""Sparse samples of a curve: ``(x, y)`` pairs with optional weights.

This is what chart photographs give: a few (irradiance, brightness) pairs per
channel, possibly weighted by their reliability.
"""

from dataclasses import dataclass, field

import numpy as np

from .._validation import as_float_array, check_unit_range
from ..errors import ValidationError
from .curve import check_kind


@dataclass
class Samples:
    """Samples ``y = f(x)`` of one or several curves at shared abscissae ``x``.

    Parameters
    ----------
    x : array_like, shape (m,)
        Abscissae in [0, 1] (irradiance for a forward curve).
    y : array_like, shape (m,) or (N, m)
        Ordinates in [0, 1].
    weights : array_like, optional
        Non-negative, broadcastable to ``y``; 0 drops a sample.
    kind : {'forward', 'inverse'}
    name : str
    metadata : dict
    """

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray = None
    kind: str = "forward"
    name: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.x = as_float_array(self.x, "samples x", ndim=1)
        self.y = as_float_array(self.y, "samples y", ndim=(1, 2))
        if self.y.shape[-1] != self.x.size:
            raise ValidationError(f"samples y has {self.y.shape[-1]} values per curve but x has {self.x.size}")
        check_unit_range(self.x, "samples x", tol=1e-6)
        check_unit_range(self.y, "samples y", tol=1e-6)
        # Values within the tolerance outside [0, 1] are rounding: the models' x = 0
        # and x = 1 rules (f(0) = 0, f(1) = 1) must see them as the endpoints.
        self.x = np.clip(self.x, 0.0, 1.0)
        if self.weights is not None:
            w = as_float_array(self.weights, "samples weights")
            try:
                w = np.broadcast_to(w, self.y.shape)
            except ValueError:
                raise ValidationError(
                    f"weights of shape {w.shape} do not match samples of shape {self.y.shape}"
                ) from None
            if np.any(w < 0):
                raise ValidationError("samples weights must be >= 0")
            self.weights = w
        check_kind(self.kind)

    @property
    def n_curves(self):
        return 1 if self.y.ndim == 1 else self.y.shape[0]

    def __len__(self):
        return self.x.size
