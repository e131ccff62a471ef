"""The model registry: name -> model class.

Built-in models register themselves with :func:`register_model`; third-party
packages add models through the ``crfkit.models`` entry-point group (a module
whose import registers its classes, or a class object).
"""

import inspect

from .._registry import Registry
from ..errors import ValidationError

_REGISTRY = Registry("model", "crfkit.models", lambda obj: isinstance(obj, type) and hasattr(obj, "fit_samples"))
MODELS = _REGISTRY.classes


def register_model(cls):
    """Class decorator adding a :class:`~crfkit.models.base.CRFModel` subclass."""
    return _REGISTRY.register(cls)


def get_model_class(name):
    """The model class registered as ``name`` (case-insensitive)."""
    if not isinstance(name, str):
        _REGISTRY._load_entry_points()
        raise ValidationError(f"model must be a name among {', '.join(sorted(MODELS))}, got {name!r}")
    return _REGISTRY.get_class(name)


def constructor_options(cls):
    """Names of the keyword options ``cls(k=..., kind=..., **options)`` accepts beyond ``k`` and ``kind``.

    Returns ``None`` when the constructor takes ``**kwargs`` (any name is accepted).
    """
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return None
    return {n for n, p in params.items() if p.kind != p.VAR_POSITIONAL} - {"self", "k", "kind"}


def get_model(name, k=None, kind="forward", **options):
    """Instantiate a registered model: ``get_model('emor', k=11)``.

    Parameters
    ----------
    name : str or CRFModel
        A name from :data:`crfkit.MODELS` (``'gamma'``, ``'polynomial'``,
        ``'ggcm'``, ``'emor'``, ``'pca'``, case-insensitive), or a model
        instance, which is returned unchanged (``k``, ``kind`` and options are
        then ignored).
    k : int, optional
        Number of parameters (the model's default when omitted).
    kind : {'forward', 'inverse'}
    **options
        Constructor options of the model (``pin_zero`` for polynomial,
        ``basis`` for pca, ``path`` for emor).

    Raises
    ------
    ValidationError
        ``name`` is neither a str nor a model instance, or an option is unknown
        to the model.
    UnknownNameError
        No model is registered under ``name``.
    """
    from .base import CRFModel

    if isinstance(name, CRFModel):
        return name  # already a model instance
    cls = get_model_class(name)
    valid = constructor_options(cls)
    if valid is not None:
        unknown = set(options) - valid
        if unknown:
            raise ValidationError(
                f"unknown option(s) {sorted(unknown)} for model {cls.name!r}; valid: {', '.join(sorted(valid | {'k', 'kind'}))}"
            )
    return cls(k=k, kind=kind, **options)
