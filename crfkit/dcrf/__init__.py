"""DCRF-style CRF datasets built from chart photographs, and their analysis.

* :mod:`~crfkit.dcrf.manifest`: cameras to build, from a TOML manifest or the
  built-in ``middlebury`` recipe.
* :mod:`~crfkit.dcrf.build`: per-camera calibration (parallel, resumable) into a
  :class:`~crfkit.CurveSet` with curves named ``<camera>/R|G|B``.
* :mod:`~crfkit.dcrf.report`: fit quality, uniqueness (pairwise RMSE between
  cameras, nearest neighbours), change over time, figures.
"""

from .build import build_camera, build_dataset
from .manifest import CameraSpec, load_manifest, middlebury_recipe

__all__ = ["CameraSpec", "build_camera", "build_dataset", "load_manifest", "middlebury_recipe"]
