"""crfkit: camera response functions: model, measure, invert.

The core (curves, models, fitting, data, tables) needs only NumPy and SciPy
(and scikit-learn for PCA bases).  Torch, matplotlib, chart detection and RAW
decoding are optional extras imported only when used.
"""

from ._version import __version__
from .curves import GRID, GRID_SIZE, Curve, CurveSet, apply_curve, linearize
from .data import load_curves, load_dorf, load_emor
from .errors import (
    ChecksumError,
    CrfkitError,
    DataNotFoundError,
    FitError,
    MissingDependencyError,
    NotMonotoneError,
    ParseError,
    UnknownNameError,
    ValidationError,
)

_LAZY = {
    # name -> (module, attribute): keeps `import crfkit` light
    "fit": ("crfkit.fitting", "fit"),
    "FitResult": ("crfkit.fitting", "FitResult"),
    "Samples": ("crfkit.curves.samples", "Samples"),
    "MODELS": ("crfkit.models", "MODELS"),
    "get_model": ("crfkit.models", "get_model"),
    "register_model": ("crfkit.models", "register_model"),
    "PCABasis": ("crfkit.models.pca", "PCABasis"),
    "compare_models": ("crfkit.evaluation.table", "compare_models"),
    "estimate": ("crfkit.estimators", "estimate"),
    "restore": ("crfkit.restoration", "restore"),
    "calibrate_bracket": ("crfkit.bracket", "calibrate_bracket"),
    "merge_bracket": ("crfkit.bracket", "merge_bracket"),
    "tone_map": ("crfkit.io.preview", "tone_map"),
}


def __getattr__(name):
    import importlib.util

    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # Sub-packages on first access (crfkit.models, crfkit.evaluation, ...).
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'crfkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "GRID",
    "GRID_SIZE",
    "ChecksumError",
    "CrfkitError",
    "Curve",
    "CurveSet",
    "DataNotFoundError",
    "FitError",
    "MissingDependencyError",
    "NotMonotoneError",
    "ParseError",
    "UnknownNameError",
    "ValidationError",
    "__version__",
    "apply_curve",
    "linearize",
    "load_curves",
    "load_dorf",
    "restore",
    "load_emor",
    *_LAZY,
]
