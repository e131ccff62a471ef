"""Finding a 24-patch ColorChecker in a full photograph (``crfkit[charts]``).

colour-checker-detection's offline segmentation method finds the chart's
quadrilateral and resolves its orientation against the reference colours;
crfkit turns it into a :class:`~crfkit.charts.layouts.ChartLayout` in the
image's own pixels so that any image of the same geometry (the RAW of a
RAW+JPEG pair, the HDR a JPEG was rendered from) is sampled at the same places.
"""

import numpy as np

from .._optional import require
from ..errors import ValidationError
from .layouts import ChartLayout


def _as_display_float(image):
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValidationError(f"chart detection needs an RGB image, got shape {img.shape}")
    img = img[:, :, :3]
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    return np.clip(img.astype(np.float32), 0.0, 1.0)


def detect_chart(image, name="image", sample_fraction=0.5):
    """Detect a ColorChecker Classic (4 x 6) in a display-referred RGB photograph.

    Parameters
    ----------
    image : ndarray (H, W, 3)
        uint8/uint16, or float in [0, 1] (values above 1 are clipped); RGB order.
    name : str
        The file name, for the error message.
    sample_fraction : float
        Side of the sampled square as a fraction of the patch pitch.

    Returns
    -------
    ChartLayout
        A corners layout in the image's pixel coordinates (when several charts
        are found, the largest).

    Raises
    ------
    ValidationError
        No chart was found (the message names ``name``).
    """
    ccd = require("colour_checker_detection", "charts", "chart detection")
    img = _as_display_float(image)
    h, w = img.shape[:2]
    portrait = h > w
    # The detector turns portrait images itself; turning them here keeps the
    # coordinate mapping ours.
    work = np.ascontiguousarray(np.rot90(img, k=-1)) if portrait else img
    try:
        found = ccd.detect_colour_checkers_segmentation(work, additional_data=True)
    except Exception as exc:  # the detector raises assorted OpenCV errors on odd inputs
        raise ValidationError(f"{name}: chart detection failed ({type(exc).__name__}: {exc})") from None
    if not found:
        raise ValidationError(f"{name}: no 24-patch colour chart found in the photograph")
    settings = ccd.SETTINGS_SEGMENTATION_COLORCHECKER_CLASSIC
    scale = work.shape[1] / float(settings["working_width"])

    def area(q):
        q = np.asarray(q, float)
        return 0.5 * abs(np.dot(q[:, 0], np.roll(q[:, 1], 1)) - np.dot(q[:, 1], np.roll(q[:, 0], 1)))

    best = max(found, key=lambda d: area(d.quadrilateral))
    q = np.asarray(best.quadrilateral, dtype=float) * scale
    # The detector maps q[0..3] to the rectified chart's (right, top), (right, bottom),
    # (left, bottom), (left, top); reorder to TL, TR, BR, BL.
    corners = q[[3, 0, 1, 2]]
    if portrait:
        # np.rot90(k=-1): work[y', x'] = img[h - 1 - x', y']  ->  x = y', y = h - 1 - x'
        corners = np.column_stack([corners[:, 1], (h - 1) - corners[:, 0]])
    return ChartLayout.from_corners(corners, 4, 6, sample_fraction=sample_fraction, source=f"detected in {name}")
