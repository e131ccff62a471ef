"""Synthetic chart photographs rendered through known CRFs (for validation).

A ColorChecker image is drawn from reference linear values (patches on a dark
surround), multiplied by an exposure, passed through a known CRF, given
Gaussian noise, quantised to 8 bits and JPEG-compressed (OpenCV), then decoded
again: what a camera JPEG of the chart would look like if the camera's colour
processing were the identity.
"""

import numpy as np

from ..charts.layouts import ChartLayout
from ..errors import ValidationError


def render_chart(reference, rows=4, cols=6, patch=24, gap=8):
    """Linear image (H, W, 3) of a chart with ``reference`` (P, 3) patch values and its layout."""
    ref = np.clip(np.asarray(reference, float), 0, None)
    if len(ref) != rows * cols:
        raise ValidationError(f"reference has {len(ref)} patches, the layout {rows}x{cols}")
    pitch = patch + gap
    h, w = rows * pitch + gap, cols * pitch + gap
    img = np.full((h, w, 3), 0.02)
    for i, v in enumerate(ref):
        r, c = divmod(i, cols)
        img[gap + r * pitch: gap + r * pitch + patch, gap + c * pitch: gap + c * pitch + patch] = v
    half = gap / 2.0
    corners = [(half, half), (w - half, half), (w - half, h - half), (half, h - half)]
    return img, ChartLayout.from_corners(np.array(corners) - 0.5, rows, cols, sample_fraction=0.5,
                                         source="synthetic chart")


def camera_jpeg(linear, curves, exposure=1.0, noise=0.004, quality=90, seed=0):
    """Render a linear image through per-channel CRFs to a decoded 8-bit JPEG.

    Parameters
    ----------
    linear : ndarray (H, W, 3)
        Linear irradiance (>= 0).
    curves : Curve or sequence of 3 Curves
        Forward CRFs of R, G, B.
    exposure : float
        Multiplies the irradiance before the curve (values above 1 clip).
    noise : float
        Standard deviation of Gaussian noise added to the brightness.
    quality : int or None
        JPEG quality (OpenCV); None skips compression.

    Returns
    -------
    ndarray (H, W, 3) uint8
    """
    curves = list(curves) if isinstance(curves, (list, tuple)) else [curves] * 3
    e = np.clip(np.asarray(linear, float) * float(exposure), 0, 1)
    b = np.stack([curves[c](e[..., c]) for c in range(3)], axis=-1)
    rng = np.random.default_rng(seed)
    b = b + rng.normal(0.0, noise, b.shape)
    out = np.clip(np.rint(b * 255.0), 0, 255).astype(np.uint8)
    if quality is None:
        return out
    import cv2

    ok, buf = cv2.imencode(".jpg", out[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValidationError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
