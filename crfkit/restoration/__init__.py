"""Saturated-region restoration and the single-image HDR pipeline.

Methods are found through the ``crfkit.restoration`` entry-point group (the
built-ins are registered there too), so a third party adds one by packaging
alone::

    [options.entry_points]
    crfkit.restoration =
        my-method = mypkg.module:MyRestorer

where ``MyRestorer`` subclasses :class:`crfkit.restoration.Restorer`.  Entry
points are loaded only when a method is used, so torch is imported only then.
"""

from ..plugins import PluginRegistry
from .base import TAU, Restorer, progress_bar, saturation_mask, show_progress

GROUP = "crfkit.restoration"

# built-ins, used when crfkit runs from a source tree without installed metadata
_REGISTRY = PluginRegistry(GROUP, Restorer, "restoration method", {
    "masked-unet": "crfkit.restoration.masked_unet:MaskedUNetRestorer",
    "clip": "crfkit.restoration.baselines:ClipRestorer",
    "highlight-expansion": "crfkit.restoration.baselines:HighlightExpansionRestorer",
})
_REGISTERED = _REGISTRY.registered


def register_restorer(name, cls=None):
    """Register a restoration class in this process (also usable as a decorator)."""
    return _REGISTRY.register(name, cls)


def available_restorers():
    """Names of all restoration methods (entry points, built-ins, in-process), without importing them."""
    return _REGISTRY.names()


def get_restorer_class(name):
    """The restoration class registered as ``name``.

    Raises
    ------
    UnknownNameError
        No method of that name.
    MissingDependencyError
        The method needs an extra (e.g. ``crfkit[torch]``) that is missing.
    """
    return _REGISTRY.get(name)


def get_restorer(name, **options):
    """A restoration instance, its options checked first: ``get_restorer('masked-unet', weights=PATH)``.

    Build it once and pass it as ``crfkit.restore(image, method=instance)`` for
    each image of a batch: the weights are read only here.

    Raises
    ------
    UnknownNameError
        Unknown method, or an option it does not take (the valid ones are listed).
    ValidationError
        A bad option value.
    MissingDependencyError, DataNotFoundError, ParseError
        Missing torch, missing or unreadable weights.
    """
    return _REGISTRY.create(name, **options)


def restore(image, crf="gamma:2.2", method="masked-unet", **options):
    """Single-image HDR: linearise ``image`` and restore its saturated regions.

    See :func:`crfkit.restoration.pipeline.restore` (the full documentation).
    """
    from .pipeline import restore as _restore

    return _restore(image, crf=crf, method=method, **options)


__all__ = [
    "GROUP",
    "TAU",
    "Restorer",
    "available_restorers",
    "get_restorer",
    "get_restorer_class",
    "progress_bar",
    "register_restorer",
    "restore",
    "saturation_mask",
    "show_progress",
]
