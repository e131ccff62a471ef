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

from ..errors import MissingDependencyError, UnknownNameError, ValidationError
from .base import TAU, Restorer, saturation_mask

GROUP = "crfkit.restoration"

# built-ins, used when crfkit runs from a source tree without installed metadata
_BUILTIN = {
    "masked-unet": "crfkit.restoration.masked_unet:MaskedUNetRestorer",
    "clip": "crfkit.restoration.baselines:ClipRestorer",
    "highlight-expansion": "crfkit.restoration.baselines:HighlightExpansionRestorer",
}
_REGISTERED = {}


def register_restorer(name, cls=None):
    """Register a restoration class in this process (also usable as a decorator)."""

    def deco(c):
        if not (isinstance(c, type) and issubclass(c, Restorer)):
            raise ValidationError(f"restoration method {name!r} must be a subclass of crfkit.restoration.Restorer")
        _REGISTERED[name] = c
        return c

    return deco(cls) if cls is not None else deco


def available_restorers():
    """Names of all restoration methods (entry points, built-ins, in-process), without importing them."""
    from ..plugins import entry_points

    return sorted(set(entry_points(GROUP)) | set(_BUILTIN) | set(_REGISTERED))


def get_restorer_class(name):
    """The restoration class registered as ``name``.

    Raises
    ------
    UnknownNameError
        No method of that name.
    MissingDependencyError
        The method needs an extra (e.g. ``crfkit[torch]``) that is missing.
    """
    import importlib

    from ..plugins import entry_points

    if name in _REGISTERED:
        return _REGISTERED[name]
    eps = entry_points(GROUP)
    try:
        if name in eps:
            cls = eps[name].load()
        elif name in _BUILTIN:
            module, _, attr = _BUILTIN[name].partition(":")
            cls = getattr(importlib.import_module(module), attr)
        else:
            raise UnknownNameError(f"unknown restoration method {name!r}; available: {', '.join(available_restorers())}")
    except (UnknownNameError, MissingDependencyError):
        raise
    except ImportError as exc:
        raise MissingDependencyError(f"restoration method {name!r} cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Restorer)):
        raise ValidationError(f"restoration method {name!r} ({cls!r}) is not a subclass of crfkit.restoration.Restorer")
    return cls


def get_restorer(name, **options):
    """A restoration instance: ``get_restorer('masked-unet', weights=PATH)``."""
    return get_restorer_class(name)(**options)


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
    "register_restorer",
    "restore",
    "saturation_mask",
]
