"""Colour charts in photographs: layouts, reference values, detection, patch statistics.

* :mod:`~crfkit.charts.layouts`: where the patches are (boxes of a rectified crop,
  such as the Middlebury ``tags.json``, or four corners plus rows and columns).
* :mod:`~crfkit.charts.reference`: ColorChecker reference values from colour-science.
* :mod:`~crfkit.charts.detect`: finding a 24-patch ColorChecker in a full photograph
  with colour-checker-detection's offline segmentation (``crfkit[charts]``).
* :mod:`~crfkit.charts.patches`: robust patch statistics and rejection of clipped,
  dark and non-uniform patches.
"""

from .layouts import ChartLayout
from .patches import PatchStats, patch_stats

__all__ = ["ChartLayout", "PatchStats", "patch_stats", "detect_chart", "colorchecker_reference"]


def __getattr__(name):  # the optional-dependency parts load only when used
    if name == "detect_chart":
        from .detect import detect_chart

        return detect_chart
    if name == "colorchecker_reference":
        from .reference import colorchecker_reference

        return colorchecker_reference
    raise AttributeError(f"module 'crfkit.charts' has no attribute {name!r}")
