"""Gamma model: ``f(x) = x ** gamma`` (1 parameter).

The gamma curve is GGCM with a constant exponent, so it shares GGCM's
evaluation, Jacobian and log-log starting fit; only the name, the parameter
range and the table label differ.
"""

import numpy as np

from .ggcm import GGCMModel
from .registry import register_model


@register_model
class GammaModel(GGCMModel):
    """``f(x) = x ** gamma`` with ``gamma > 0``; always monotone, f(0)=0, f(1)=1.

    ``params[:, 0]`` is ``gamma``.  Fitted by batched Levenberg-Marquardt from
    a log-log least-squares start.  For an inverse curve the same formula is
    fitted to ``g``.
    """

    name = "gamma"
    default_k = 1
    #: ``x ** gamma`` with ``gamma >= 1e-3`` (see :meth:`project`) never decreases.
    always_monotone = True
    k_range = (1, 1)

    @property
    def label(self):
        return "Gamma"

    def project(self, params):
        return np.clip(params, 1e-3, 1e3)

    def initial(self, x, y, w):
        return np.clip(super().initial(x, y, w), 1e-2, 1e2)
