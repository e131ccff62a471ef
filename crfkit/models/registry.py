"""The model registry: name -> model class.

Built-in models register themselves with :func:`register_model`; third-party
packages add models through the ``crfkit.models`` entry-point group (a module
whose import registers its classes, or a class object).
"""

from ..errors import UnknownNameError

MODELS = {}
_ALIASES = {}
_ENTRY_POINTS_LOADED = False


def register_model(cls):
    """Class decorator adding a :class:`~crfkit.models.base.CRFModel` subclass."""
    key = cls.name.lower()
    MODELS[key] = cls
    for alias in getattr(cls, "aliases", ()):
        _ALIASES[alias.lower()] = key
    return cls


def _load_entry_points():
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from ..plugins import load_group

    for obj in load_group("crfkit.models"):
        if isinstance(obj, type) and hasattr(obj, "fit_samples"):
            register_model(obj)


def get_model_class(name):
    """The model class registered as ``name`` (case-insensitive)."""
    _load_entry_points()
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in MODELS:
        raise UnknownNameError(f"unknown model {name!r}; valid models: {', '.join(sorted(MODELS))}")
    return MODELS[key]


def get_model(name, k=None, kind="forward", **options):
    """Instantiate a registered model: ``get_model('emor', k=11)``."""
    if not isinstance(name, str):
        return name  # already a model instance
    return get_model_class(name)(k=k, kind=kind, **options)
