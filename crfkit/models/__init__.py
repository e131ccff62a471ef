"""CRF model families behind one interface, registered by name.

``MODELS`` maps names to classes: ``gamma``, ``polynomial`` (alias ``poly``),
``ggcm``, ``emor``, ``pca``.  A new model is one new module that defines a
:class:`~crfkit.models.base.CRFModel` subclass decorated with
:func:`register_model` (or exposed through the ``crfkit.models`` entry point).
"""

from . import emor, gamma, ggcm, pca, polynomial  # noqa: F401  (registration)
from .base import CRFModel, LinearModel, NonlinearModel, batched_levenberg_marquardt
from .emor import EMoRModel
from .gamma import GammaModel
from .ggcm import GGCMModel
from .pca import PCABasis, PCAModel
from .polynomial import PolynomialModel
from .registry import MODELS, get_model, get_model_class, register_model

__all__ = [
    "CRFModel",
    "EMoRModel",
    "GGCMModel",
    "GammaModel",
    "LinearModel",
    "MODELS",
    "NonlinearModel",
    "PCABasis",
    "PCAModel",
    "PolynomialModel",
    "batched_levenberg_marquardt",
    "get_model",
    "get_model_class",
    "register_model",
]
