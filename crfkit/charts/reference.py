"""ColorChecker reference values (colour-science data, ``crfkit[charts]``)."""

import numpy as np

from .._optional import require
from ..errors import UnknownNameError

#: The default chart: X-Rite's 24-patch ColorChecker, formulation after November 2014.
DEFAULT_CHART = "ColorChecker24 - After November 2014"


def colorchecker_reference(chart=DEFAULT_CHART, colourspace="sRGB"):
    """Linear RGB of the 24 ColorChecker patches under the colourspace's white.

    The chart's xyY values (colour-science ``CCS_COLOURCHECKERS``, measured under
    D50) are converted to XYZ, chromatically adapted (CAT02) to the colourspace's
    whitepoint and converted to *linear* RGB.

    Parameters
    ----------
    chart : str
        A key of ``colour.CCS_COLOURCHECKERS``.
    colourspace : str
        A key of ``colour.RGB_COLOURSPACES``.

    Returns
    -------
    ndarray (24, 3)
        Linear RGB, patch order dark skin ... black; the white patch is about
        0.88 and the black one 0.03.  Out-of-gamut values (cyan's red, about
        -0.04) are kept: callers drop samples outside [0, 1].
    """
    colour = require("colour", "charts", "ColorChecker reference values")
    try:
        cc = colour.CCS_COLOURCHECKERS[chart]
    except KeyError:
        raise UnknownNameError(
            f"unknown colour chart {chart!r}; known: {', '.join(sorted(colour.CCS_COLOURCHECKERS.keys()))}"
        ) from None
    xyy = np.array(list(cc.data.values()), dtype=float)
    xyz = colour.xyY_to_XYZ(xyy)
    return np.asarray(
        colour.XYZ_to_RGB(xyz, colourspace, illuminant=cc.illuminant, chromatic_adaptation_transform="CAT02"),
        dtype=float,
    )
