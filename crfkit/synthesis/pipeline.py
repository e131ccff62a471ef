"""The synthetic camera: exposure, noise, clipping, CRF, 8-bit, JPEG (optionally a camera pipeline, :mod:`.camera`)."""

from dataclasses import asdict, dataclass

import numpy as np

from .._optional import require
from ..curves import GRID
from ..errors import ValidationError


@dataclass
class SynthesisConfig:
    """Parameters of the synthetic camera (defaults: Liu et al., REFERENCE.md s.6).

    Attributes
    ----------
    patch : int or None
        Crop size (square); None keeps the whole image.
    exposure_stops : float
        Exposure scale ``2**U(-s, s)`` applied after normalising the crop's
        median luminance to ``anchor``.
    anchor : float
        Median luminance of a crop before the random exposure.
    shot_max, read_max : float
        Shot noise std ``sigma_s * sqrt(E)`` with ``sigma_s ~ U(0, shot_max)``
        (variance proportional to the signal) plus read noise ``sigma_r ~ U(0, read_max)``.
    jpeg_quality : (int, int)
        Inclusive JPEG quality range; None disables JPEG.
    over, under : int
        8-bit gray levels counted as over- (>=) and under-exposed (<=).
    max_bad_fraction : float
        Samples with more over- or under-exposed pixels than this are redrawn.
    max_tries : int
        Redraws before a sample is accepted anyway.
    flip : bool
        Random horizontal flips.
    camera_pipeline : bool
        Render (a share ``camera_fraction`` of) the samples through the camera
        pipeline of :mod:`crfkit.synthesis.camera`: a real camera's colour
        matrix and white balance, noise on the raw values, a Bayer mosaic and
        demosaicking, mild denoising, slightly different curves per channel
        (their mean is the drawn curve, which stays the target), sharpening.
        Off by default: the plain camera above, bit for bit as before.
    camera_fraction : float
        Share of the samples rendered through the camera pipeline when it is on
        (1: all; otherwise one extra uniform draw per sample decides).
    color_matrices : str or None
        ``libraw_cam_xyz.csv`` (a file or folder); None: ``$CRFKIT_DATA``, then the cache.
    illuminant_spread, wb_error : float
        Std of the log illuminant cast (red against blue) and of the per-channel
        log white-balance error.
    channel_curve_jitter : float
        Range ``U(-j, j)`` of the per-channel curve perturbations (capped at 0.3).
    denoise_max, sharpen_max : float
        Upper ends of the uniform denoising blend and unsharp-mask amount.
    optical_blur : (float, float)
        Range of the Gaussian sigma (pixels) of the lens / anti-aliasing blur before the mosaic.
    tone_curves : float
        Share of the samples whose drawn forward curve ``f`` is composed with a
        random contrast tone curve ``T`` (:mod:`crfkit.synthesis.tone`): the
        camera applies ``T(f)`` and ``T(f)`` is the sample's curve (the training
        target).  0 (default) draws nothing extra: the output is bit for bit as before.
    """

    patch: int = 128
    exposure_stops: float = 3.0
    anchor: float = 0.1
    shot_max: float = 0.08 / 6
    read_max: float = 0.005
    jpeg_quality: tuple = (90, 100)
    over: int = 249
    under: int = 6
    max_bad_fraction: float = 0.5
    max_tries: int = 20
    flip: bool = True
    camera_pipeline: bool = False
    camera_fraction: float = 1.0
    color_matrices: str = None
    illuminant_spread: float = 0.25
    wb_error: float = 0.05
    channel_curve_jitter: float = 0.1
    denoise_max: float = 0.6
    sharpen_max: float = 0.8
    optical_blur: tuple = (0.4, 0.9)
    tone_curves: float = 0.0

    def to_dict(self):
        return asdict(self)


def apply_forward(linear, forward_values):
    """Apply a forward CRF (1024 samples on the grid) to linear values in [0, 1]."""
    return np.interp(linear, GRID, forward_values).astype(np.float32)


def _jpeg(img8, quality):
    cv2 = require("cv2", "torch", feature="synthesising training images (JPEG encoding)")

    ok, buf = cv2.imencode(".jpg", img8[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise ValidationError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def _crop(pixels, patch, rng, flip):
    h, w = pixels.shape[:2]
    if patch is not None:
        if h < patch or w < patch:
            raise ValidationError(f"image of {h}x{w} is smaller than the patch size {patch}")
        y = int(rng.integers(0, h - patch + 1))
        x = int(rng.integers(0, w - patch + 1))
        pixels = pixels[y : y + patch, x : x + patch]
    if flip and rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(pixels)


def synthesize(linear, forward_values, rng, config=None, exposure=None):
    """Render one linear crop through the synthetic camera (no redraws).

    Parameters
    ----------
    linear : ndarray, float32, (H, W, 3)
        Linear crop, any scale.
    forward_values : ndarray, (1024,)
        Forward CRF on the grid.
    rng : numpy.random.Generator
    config : SynthesisConfig, optional
    exposure : float, optional
        Use this exposure gain instead of the random one (restoration data
        chooses it so that part of the crop clips); no random number is drawn
        for it then.

    Returns
    -------
    ldr : ndarray, uint8, (H, W, 3)
        What the camera writes (after JPEG, if enabled).
    target : ndarray, float32, (H, W, 3)
        The exposed, noise-free irradiance clipped to [0, 1]: what a perfect
        linearisation of ``ldr`` recovers.
    bad_fraction : float
        Largest of the over- and under-exposed pixel fractions of ``ldr``.
    """
    cfg = config or SynthesisConfig()
    if exposure is None:
        lum = linear @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
        med = float(np.median(lum))
        # a crop that is almost all black would get an absurd gain; its mean is a safer anchor
        ref = med if med > 1e-6 else float(lum.mean()) + 1e-6
        exposure = cfg.anchor / ref * 2.0 ** rng.uniform(-cfg.exposure_stops, cfg.exposure_stops)
    exposed = linear * np.float32(exposure)
    if cfg.camera_pipeline and (cfg.camera_fraction >= 1.0 or rng.random() < cfg.camera_fraction):
        from .camera import camera_render

        rendered, target = camera_render(exposed, forward_values, rng, cfg)
        ldr = np.round(rendered * 255.0).astype(np.uint8)
        return _finish(ldr, target, rng, cfg)
    sigma_s = rng.uniform(0.0, cfg.shot_max)
    sigma_r = rng.uniform(0.0, cfg.read_max)
    std = np.sqrt(sigma_s**2 * np.maximum(exposed, 0.0) + sigma_r**2).astype(np.float32)
    noisy = exposed + std * rng.standard_normal(exposed.shape, dtype=np.float32)
    sensor = np.clip(noisy, 0.0, 1.0)
    ldr = np.round(apply_forward(sensor, forward_values) * 255.0).astype(np.uint8)
    return _finish(ldr, np.clip(exposed, 0.0, 1.0).astype(np.float32), rng, cfg)


def _finish(ldr, target, rng, cfg):
    """JPEG (if enabled) and the exposure check."""
    if cfg.jpeg_quality is not None:
        lo, hi = cfg.jpeg_quality
        ldr = _jpeg(ldr, rng.integers(lo, hi + 1))
    gray = ldr.mean(axis=2)
    bad = max(float((gray >= cfg.over).mean()), float((gray <= cfg.under).mean()))
    return ldr, target, bad


def synthesize_sample(images, curves, rng, config=None):
    """Draw one training sample: an image, a crop, a curve, then the camera.

    Parameters
    ----------
    images : sequence of ndarray or LinearImage
    curves : CurveSet
        Forward curves to draw from (e.g. the DoRF training split).
    rng : numpy.random.Generator
    config : SynthesisConfig, optional

    Returns
    -------
    dict
        ``ldr`` (uint8 (P, P, 3)), ``target`` (float32 (P, P, 3)), ``label``
        (curve index), ``image`` (image index), ``bad_fraction``, ``tries``;
        with ``config.tone_curves > 0`` also ``forward`` (the curve the camera
        applied: ``curves.values[label]``, or its composition with a tone curve)
        and ``tone`` (``(strength, steepness, pivot)`` or None).
    """
    cfg = config or SynthesisConfig()
    if len(images) == 0:
        raise ValidationError("no images to synthesise from")
    values = curves.values
    for tries in range(1, cfg.max_tries + 1):
        i = int(rng.integers(len(images)))
        pix = getattr(images[i], "pixels", images[i])
        crop = _crop(pix, cfg.patch, rng, cfg.flip)
        label = int(rng.integers(len(values)))
        forward, tone = values[label], None
        if cfg.tone_curves > 0 and (cfg.tone_curves >= 1.0 or rng.random() < cfg.tone_curves):
            from .tone import compose_tone, draw_tone_params

            tone = draw_tone_params(rng)
            forward = compose_tone(forward, *tone)
        ldr, target, bad = synthesize(crop, forward, rng, cfg)
        if bad <= cfg.max_bad_fraction:
            break
    out = {"ldr": ldr, "target": target, "label": label, "image": i, "bad_fraction": bad, "tries": tries}
    if cfg.tone_curves > 0:
        out.update(forward=np.asarray(forward), tone=tone)
    return out
