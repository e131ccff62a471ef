"""Gamma model: ``f(x) = x ** gamma`` (1 parameter)."""

import numpy as np

from .base import NonlinearModel
from .registry import register_model

_TINY = 1e-12


@register_model
class GammaModel(NonlinearModel):
    """``f(x) = x ** gamma`` with ``gamma > 0``; always monotone, f(0)=0, f(1)=1.

    ``params[:, 0]`` is ``gamma``.  Fitted by batched Levenberg-Marquardt from
    a log-log least-squares start.  For an inverse curve the same formula is
    fitted to ``g``.
    """

    name = "gamma"
    default_k = 1
    k_range = (1, 1)

    @property
    def label(self):
        return "Gamma"

    def _logx(self, x):
        x = np.asarray(x, float)
        cache = getattr(self, "_log_cache", None)
        if cache is None or cache[0].shape != x.shape or not np.array_equal(cache[0], x):
            zero = x <= 0
            cache = (x.copy(), np.log(np.where(zero, 1.0, x)), zero)
            self._log_cache = cache
        return cache[1], cache[2]

    def evaluate(self, params, x):
        logx, zero = self._logx(x)
        g = np.atleast_2d(params)[:, :1]
        out = g * logx[None, :]
        np.exp(out, out=out)  # x ** g, faster than np.power
        out[:, zero] = 0.0
        return out

    def value_and_jacobian(self, params, x):
        logx, _ = self._logx(x)
        f = self.evaluate(params, x)
        return f, (f * logx[None, :])[:, :, None]

    def separable_jacobian(self, params, x):
        logx, _ = self._logx(x)
        f = self.evaluate(params, x)
        return f, f * logx, np.ones((logx.size, 1))

    def project(self, params):
        return np.clip(params, 1e-3, 1e3)

    def initial(self, x, y, w):
        x = np.asarray(x, float)
        ok = (x > 1e-3) & (x < 1 - 1e-3)
        lx = np.log(np.where(ok, x, 0.5))
        ly = np.log(np.clip(y, 1e-6, 1.0))
        ww = ok[None, :] * (1.0 if w is None else w) * (y > 1e-6)
        num = np.sum(ww * lx * ly, axis=1)
        den = np.sum(ww * lx * lx, axis=1)
        g = np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)
        return np.clip(g, 1e-2, 1e2)[:, None]
