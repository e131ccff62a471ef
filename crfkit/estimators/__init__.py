"""Single-image CRF estimators, found through the ``crfkit.estimators`` entry points.

Built in (registered in crfkit's own package metadata, exactly like a third
party's plugin): ``crf-net`` (Li & Peers 2017) and ``linearization-net``
(Liu et al. 2020).  A package adds one by packaging alone::

    [options.entry_points]
    crfkit.estimators =
        my-method = mypkg.module:MyEstimator

where ``MyEstimator`` subclasses :class:`crfkit.estimators.Estimator`.  Entry
points are loaded only when an estimator is used, so torch is imported only
then.
"""

from ..plugins import PluginRegistry
from .base import Estimator, UnreliableEstimateWarning, prepare_image

GROUP = "crfkit.estimators"

# built-ins, used when crfkit runs from a source tree without installed metadata
_REGISTRY = PluginRegistry(GROUP, Estimator, "estimator", {
    "crf-net": "crfkit.estimators.crf_net:CRFNetEstimator",
    "linearization-net": "crfkit.estimators.linearization_net:LinearizationNetEstimator",
})
_REGISTERED = _REGISTRY.registered


def register_estimator(name, cls=None):
    """Register an estimator class in this process (also usable as a decorator)."""
    return _REGISTRY.register(name, cls)


def available_estimators():
    """Names of all estimators (entry points, built-ins, in-process), without importing them."""
    return _REGISTRY.names()


def get_estimator_class(name):
    """The estimator class registered as ``name``.

    Raises
    ------
    UnknownNameError
        No estimator of that name.
    MissingDependencyError
        The estimator needs an extra (e.g. ``crfkit[torch]``) that is missing.
    """
    return _REGISTRY.get(name)


def get_estimator(name, **options):
    """An estimator instance: ``get_estimator('crf-net', weights=PATH)``."""
    return get_estimator_class(name)(**options)


def estimate(image, method="linearization-net", **options):
    """Estimate the inverse CRF of one image.

    Parameters
    ----------
    image : array_like
        uint8 (preferred: the nets were trained on 8-bit JPEG-like data),
        uint16 or float in [0, 1]; grayscale, RGB or RGBA.
    method : str
        An estimator name (:func:`available_estimators`).
    **options
        Passed to the estimator, e.g. ``weights='my.pt'``, ``device='cpu'``.

    Returns
    -------
    Curve
        The inverse CRF (kind ``'inverse'``), monotone with g(0) = 0 and
        g(1) = 1, shared by the channels (or a CurveSet of one per channel for
        methods that estimate that).
    """
    return get_estimator(method, **options).estimate(image)


__all__ = [
    "GROUP",
    "Estimator",
    "UnreliableEstimateWarning",
    "available_estimators",
    "estimate",
    "get_estimator",
    "get_estimator_class",
    "prepare_image",
    "register_estimator",
]
