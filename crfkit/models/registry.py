"""The model registry: name -> model class.

Built-in models register themselves with :func:`register_model`; third-party
packages add models through the ``crfkit.models`` entry-point group (a module
whose import registers its classes, or a class object).
"""

from .._registry import Registry

_REGISTRY = Registry("model", "crfkit.models", lambda obj: isinstance(obj, type) and hasattr(obj, "fit_samples"))
MODELS = _REGISTRY.classes


def register_model(cls):
    """Class decorator adding a :class:`~crfkit.models.base.CRFModel` subclass."""
    return _REGISTRY.register(cls)


def get_model_class(name):
    """The model class registered as ``name`` (case-insensitive)."""
    return _REGISTRY.get_class(name)


def get_model(name, k=None, kind="forward", **options):
    """Instantiate a registered model: ``get_model('emor', k=11)``."""
    if not isinstance(name, str):
        return name  # already a model instance
    return get_model_class(name)(k=k, kind=kind, **options)
