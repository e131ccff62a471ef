"""Training data of the masked U-Net, synthesised on the fly.

Two kinds of samples, both dicts of float32 tensors ``input`` (the linearised
LDR, (3, P, P), [0, 1]), ``valid`` (``M = 1 - M_sat``, (3, P, P), [0, 1]) and
``target`` (linear HDR on the scale of ``input``, (3, P, P), >= 0):

* :class:`InpaintingDataset` (pre-training): ordinary photos (linearised with
  the sRGB inverse by :func:`crfkit.synthesis.load_linear_images`) with random
  irregular holes (strokes and ellipses); the target is the photo itself.
* :class:`HDRPairDataset` (fine-tuning): HDR crops through the estimators'
  synthetic camera (:func:`crfkit.synthesis.synthesize`: noise, clipping, a
  DoRF training CRF, 8 bits, JPEG q90-100) at an exposure chosen so that a
  random 3-35 % of the crop clips; the input is the 8-bit result linearised
  with the exact inverse of the CRF used, the target the noise-free exposed HDR
  crop (unclipped).  Optionally ("train as you test", ``assumed_curve_prob``),
  a share of the samples is linearised with an assumed curve instead (gamma 2,
  optionally jittered), as :func:`crfkit.restore` does when the camera's curve
  is unknown, and the target is rescaled the way the evaluation aligns its
  ground truth (:func:`crfkit.restoration.evaluation.fit_scale`: the median log
  ratio of input to target over the unsaturated pixels whose linearised value
  exceeds 1e-3 in every channel).

Patch sampling (REFERENCE.md section 7): each HDR sample draws up to
``candidates`` crops and keeps the first one that is both *saturated* (mean
``M_sat`` in a range) and *textured*, else the saturated one with the highest
texture score.  The score (:func:`texture_score`) is the mean gradient
magnitude of the detail layer (log luminance minus its bilateral-filtered base,
sigma_color = 100, sigma_space = 10) over the well-exposed pixels, and
"textured" means above a threshold (0.85 in the slide).  Those constants were
stated for 8-bit-like units, so log luminance is expressed in "log codes":
``255 * (ln(Y + 1/255) - ln(1/255)) / ln(256)``, which maps the dynamic range of
an 8-bit image (1/255 .. 1) onto 0 .. 255; a bilateral sigma_color of 100 codes
is then about 1.8 nats (a factor of 6 in luminance), an edge-stopping scale.
The score is computed on the noise-free exposed crop clipped at 1.

Threshold scaling: in these units the slide's 0.85 (a luminance change of
about 1.9 % per pixel) marks *every* patch as textured: on ``hdr_training``
(short side 384, 128-pixel patches, exposures of this module) saturated
patches score 1.2 to 26 log codes per pixel, median about 6.6, because log
units amplify the fine noise and texture of dark areas.  To keep the point of
the rule (prefer the textured half) the default threshold is 0.85 x 8 = 6.8,
about the median score; ``texture_threshold`` changes it.

Sample ``i`` depends only on ``(seed, i)``, so data are independent of the
number of DataLoader workers and of a resume point.
"""

from dataclasses import asdict, dataclass

import numpy as np

from .._optional import require
from ..curves import GRID
from ..errors import ValidationError
from ..synthesis.pipeline import SynthesisConfig, _crop, synthesize
from .base import saturation_mask

torch = require("torch", "torch", feature="the restoration training data")

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
_LOG_FLOOR = 1.0 / 255.0


@dataclass
class RestorationDataConfig:
    """Parameters of the restoration training samples.

    Attributes
    ----------
    patch : int
        Square crop size.
    clip_fraction : (float, float)
        Range of the fraction of crop pixels (brightest channel) exposed above 1.
    saturated_range : (float, float)
        Accepted range of the crop's mean ``M_sat``.
    candidates : int
        Crops tried per HDR sample (patch sampling).
    texture_threshold, sigma_color, sigma_space : float
        Texture score threshold and bilateral filter parameters in log codes (see module doc).
    hdr_max : float
        Ground truth is capped at this multiple of the clipping level (suns, lamps).
    hole_fraction : (float, float)
        Range of the hole area of the inpainting masks.
    assumed_curve_prob : float
        Probability that an HDR sample is linearised with the assumed gamma
        curve instead of the exact inverse of its CRF, with the target rescaled
        as the evaluation aligns its ground truth (see the module doc).  0 (the
        default): always the exact inverse, the behaviour before this option.
    assumed_gamma, assumed_gamma_jitter : float
        The assumed curve is ``L = B ** gamma`` with ``gamma`` drawn uniformly
        from ``assumed_gamma +- assumed_gamma_jitter`` (0: exactly ``assumed_gamma``).
    """

    patch: int = 128
    clip_fraction: tuple = (0.03, 0.35)
    saturated_range: tuple = (0.01, 0.6)
    candidates: int = 4
    texture_threshold: float = 6.8  # 0.85 x 8, see the module doc
    sigma_color: float = 100.0
    sigma_space: float = 10.0
    hdr_max: float = 1000.0
    hole_fraction: tuple = (0.05, 0.4)
    assumed_curve_prob: float = 0.0
    assumed_gamma: float = 2.0
    assumed_gamma_jitter: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.assumed_curve_prob <= 1.0:
            raise ValidationError(f"assumed_curve_prob must be in [0, 1], got {self.assumed_curve_prob}")
        if not 0.0 <= self.assumed_gamma_jitter < self.assumed_gamma:
            raise ValidationError(
                f"assumed_gamma_jitter must be in [0, assumed_gamma={self.assumed_gamma}), got {self.assumed_gamma_jitter}")

    def to_dict(self):
        return asdict(self)


def log_codes(linear):
    """Log luminance in 8-bit-like "log codes" (float32, (H, W)), 0 at Y = 0, 255 at Y = 1.

    Parameters
    ----------
    linear : ndarray, (H, W, 3), linear RGB (values above 1 map above 255).
    """
    y = np.maximum(np.asarray(linear, dtype=np.float32) @ _LUMA, 0.0)
    return (255.0 * (np.log(y + _LOG_FLOOR) - np.log(_LOG_FLOOR)) / np.log(1.0 + 1.0 / _LOG_FLOOR)).astype(np.float32)


def texture_score(linear, valid=None, sigma_color=100.0, sigma_space=10.0):
    """Mean detail-layer gradient magnitude over well-exposed pixels (REFERENCE.md section 7).

    Parameters
    ----------
    linear : ndarray, float, (H, W, 3)
        Linear image (relative scale; clipping to [0, 1] does not matter
        outside the mask).
    valid : ndarray, (H, W, 3) or (H, W), optional
        ``M`` (1 = well exposed); pixels with any channel below 1 are ignored.
    sigma_color, sigma_space : float
        Bilateral filter parameters, in log codes and pixels.

    Returns
    -------
    float
        Mean gradient magnitude of ``log_codes - bilateral(log_codes)`` in log
        codes per pixel; 0 when no pixel is valid.
    """
    cv2 = require("cv2", "torch", feature="synthesising restoration training data")

    lc = log_codes(linear)
    base = cv2.bilateralFilter(lc, d=int(2 * round(1.5 * sigma_space) + 1), sigmaColor=float(sigma_color),
                               sigmaSpace=float(sigma_space))
    gy, gx = np.gradient(lc - base)
    mag = np.sqrt(gx * gx + gy * gy)
    if valid is None:
        return float(mag.mean())
    v = np.asarray(valid)
    keep = (v.min(axis=2) if v.ndim == 3 else v) >= 0.999
    return float(mag[keep].mean()) if keep.any() else 0.0


def random_irregular_mask(size, rng, hole_fraction=(0.05, 0.4)):
    """A random hole mask of strokes and ellipses.

    Parameters
    ----------
    size : int
        Square side in pixels.
    rng : numpy.random.Generator
    hole_fraction : (float, float)
        Target hole area range; shapes are added until a drawn target is reached.

    Returns
    -------
    ndarray, float32, (size, size), 1 inside holes, 0 elsewhere.
    """
    cv2 = require("cv2", "torch", feature="synthesising restoration training data")

    target = rng.uniform(*hole_fraction)
    m = np.zeros((size, size), np.uint8)
    for _ in range(64):
        if m.mean() / 255.0 >= target:
            break
        if rng.random() < 0.5:  # a stroke: a random walk of thick line segments
            x, y = rng.integers(0, size, 2)
            thick = int(rng.integers(max(2, size // 40), max(3, size // 8)))
            for _ in range(int(rng.integers(2, 8))):
                ang = rng.uniform(0, 2 * np.pi)
                ln = rng.uniform(size / 16, size / 3)
                nx = int(np.clip(x + ln * np.cos(ang), 0, size - 1))
                ny = int(np.clip(y + ln * np.sin(ang), 0, size - 1))
                cv2.line(m, (int(x), int(y)), (nx, ny), 255, thick)
                x, y = nx, ny
        else:  # a blob, like a highlight
            c = tuple(int(v) for v in rng.integers(0, size, 2))
            axes = tuple(int(v) for v in rng.integers(max(2, size // 32), max(3, size // 5), 2))
            cv2.ellipse(m, c, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return (m > 127).astype(np.float32)


def assumed_linearization(display, gamma=2.0):
    """``display ** gamma`` (float32): the linearisation by an assumed gamma curve."""
    return np.power(np.asarray(display, dtype=np.float32), np.float32(gamma)).astype(np.float32)


def aligned_scale(linear, target, display):
    """The evaluation's ground-truth scale for a training target, or None when it cannot be fitted.

    ``exp(median(log L - log T))`` over the pixels with no channel of
    ``display`` above tau and every channel of ``linear`` above the
    evaluation's floor (:func:`crfkit.restoration.evaluation.fit_scale`).
    """
    from .evaluation import fit_scale, saturated_region

    try:
        return fit_scale(linear, target, ~saturated_region(display))
    except ValidationError:
        return None


def _tensors(linear, valid, target):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32).transpose(2, 0, 1))  # noqa: E731
    return {"input": t(linear), "valid": t(valid), "target": t(target)}


class InpaintingDataset(torch.utils.data.Dataset):
    """Photos with random irregular holes (pre-training); see the module doc.

    Parameters
    ----------
    images : sequence of LinearImage or ndarray (H, W, 3)
        Linear photos in [0, 1].
    seed : int
    config : RestorationDataConfig, optional
    """

    def __init__(self, images, seed=0, config=None, length=2**31 - 1):
        self.images = list(images)
        if not self.images:
            raise ValidationError("InpaintingDataset needs at least one image")
        self.seed = int(seed)
        self.config = config or RestorationDataConfig()
        self.length = int(length)

    def __len__(self):
        return self.length

    def sample(self, index):
        """The numpy sample ``index``: dict of ``input``, ``valid``, ``target`` (P, P, 3) float32."""
        cv2 = require("cv2", "torch", feature="synthesising restoration training data")

        cfg = self.config
        rng = np.random.default_rng([self.seed, 1, int(index)])
        i = int(rng.integers(len(self.images)))
        crop = np.clip(_crop(getattr(self.images[i], "pixels", self.images[i]), cfg.patch, rng, True), 0.0, 1.0)
        hole = random_irregular_mask(cfg.patch, rng, cfg.hole_fraction)
        if rng.random() < 0.5:  # soft edges like the soft saturation mask
            hole = np.clip(cv2.GaussianBlur(hole, (0, 0), 1.0) * 1.5, 0.0, 1.0)
        valid = np.repeat(1.0 - hole[:, :, None], 3, axis=2).astype(np.float32)
        # holes read as clipped white, as saturated pixels do after linearisation
        inp = valid * crop + (1.0 - valid)
        return {"input": inp, "valid": valid, "target": crop}

    def __getitem__(self, index):
        s = self.sample(index)
        return _tensors(s["input"], s["valid"], s["target"])


class HDRPairDataset(torch.utils.data.Dataset):
    """Synthetic (LDR, HDR) pairs from HDR images (fine-tuning); see the module doc.

    Parameters
    ----------
    images : sequence of LinearImage or ndarray (H, W, 3)
        Linear HDR images (any scale).
    curves : CurveSet
        Forward CRFs (the DoRF training split).
    seed : int
    config : RestorationDataConfig, optional
    synthesis : SynthesisConfig, optional
        Noise and JPEG settings of the camera (its ``patch`` and exposure
        settings are not used: the crop and exposure are chosen here).
    """

    def __init__(self, images, curves, seed=0, config=None, synthesis=None, length=2**31 - 1):
        self.images = list(images)
        if not self.images:
            raise ValidationError("HDRPairDataset needs at least one image")
        self.forward = np.asarray(curves.values, dtype=np.float32)
        self.inverse = np.asarray(curves.inverse().values, dtype=np.float32)
        self.seed = int(seed)
        self.config = config or RestorationDataConfig()
        self.synthesis = synthesis or SynthesisConfig(patch=None, flip=False)
        self.length = int(length)

    def __len__(self):
        return self.length

    def _candidate(self, rng):
        cfg = self.config
        i = int(rng.integers(len(self.images)))
        crop = _crop(getattr(self.images[i], "pixels", self.images[i]), cfg.patch, rng, True)
        bright = crop.max(axis=2)
        q = float(np.quantile(bright, 1.0 - rng.uniform(*cfg.clip_fraction)))
        exposure = 1.0 / q if q > 1e-8 else 1.0 / (float(bright.max()) + 1e-8)
        label = int(rng.integers(len(self.forward)))
        ldr, _, _ = synthesize(crop, self.forward[label], rng, self.synthesis, exposure=exposure)
        display = ldr.astype(np.float32) / 255.0
        target = np.minimum(crop * np.float32(exposure), cfg.hdr_max).astype(np.float32)
        valid = 1.0 - saturation_mask(display)
        gamma, scale = None, 1.0
        # drawn only when the option is on, so that the default keeps the old samples exactly
        if cfg.assumed_curve_prob > 0 and rng.random() < cfg.assumed_curve_prob:
            j = cfg.assumed_gamma_jitter
            gamma = float(cfg.assumed_gamma + (rng.uniform(-j, j) if j > 0 else 0.0))
            linear = assumed_linearization(display, gamma)
            scale = aligned_scale(linear, target, display)
            if scale is None:  # nothing unsaturated above the floor to align on: the exact inverse
                gamma, scale = None, 1.0
            else:
                target = np.minimum(target * np.float32(scale), cfg.hdr_max).astype(np.float32)
        if gamma is None:
            linear = np.interp(display, GRID, self.inverse[label]).astype(np.float32)
        return {"input": linear, "valid": valid, "target": target, "display": display, "image": i, "label": label,
                "saturated": float(1.0 - valid.mean()), "assumed_gamma": gamma, "target_scale": float(scale)}

    def sample(self, index):
        """The numpy sample ``index`` (dict; also ``display``, ``image``, ``label``, ``saturated``, ``texture``, ``textured``)."""
        cfg = self.config
        rng = np.random.default_rng([self.seed, 2, int(index)])
        best, best_key = None, None
        lo, hi = cfg.saturated_range
        for _ in range(max(1, cfg.candidates)):
            c = self._candidate(rng)
            ok = lo <= c["saturated"] <= hi
            c["texture"] = texture_score(np.minimum(c["target"], 1.0), c["valid"], cfg.sigma_color, cfg.sigma_space) if ok else 0.0
            c["textured"] = c["texture"] > cfg.texture_threshold
            if ok and c["textured"]:
                return c
            key = (ok, c["texture"], c["saturated"])
            if best_key is None or key > best_key:
                best, best_key = c, key
        return best

    def __getitem__(self, index):
        s = self.sample(index)
        return _tensors(s["input"], s["valid"], s["target"])


class PhaseDataset(torch.utils.data.Dataset):
    """Inpainting samples for the first ``pretrain_steps`` steps, HDR pairs after.

    Index ``i`` belongs to step ``i // per_step`` (``per_step`` = batch size x
    world size, as in :class:`crfkit.synthesis.dataset.StepBatchSampler`).
    """

    def __init__(self, hdr, inpainting=None, pretrain_steps=0, per_step=1):
        self.hdr, self.inpainting = hdr, inpainting
        self.pretrain_steps = int(pretrain_steps) if inpainting is not None else 0
        self.per_step = int(per_step)

    def __len__(self):
        return 2**31 - 1

    def phase(self, step):
        return "inpaint" if step < self.pretrain_steps else "hdr"

    def __getitem__(self, index):
        ds = self.inpainting if self.phase(int(index) // self.per_step) == "inpaint" else self.hdr
        return ds[index]
