"""The camera-pipeline mode of the synthetic camera (``SynthesisConfig(camera_pipeline=True)``).

What a real camera does between the sensor and the JPEG, beyond the plain
synthetic camera of :mod:`.pipeline`:

1. the scene (linear sRGB primaries) is seen through a real camera's colour
   filters: ``raw = diag(w) @ N @ scene``, where ``N`` is the camera's
   sRGB -> camera-RGB matrix (LibRaw's ``cam_xyz`` times the sRGB -> XYZ
   matrix, rows normalised to sum 1, as dcraw does) and ``w`` the camera's raw
   response to white (the row sums before the normalisation, i.e. the inverse
   of its daylight white-balance multipliers) times a random illuminant cast;
2. a mild optical blur (lens and anti-aliasing filter, Gaussian sigma drawn
   from ``optical_blur``), shot and read noise on the raw values, clipping at the sensor's white;
3. a Bayer mosaic (one of the four RGGB phases) demosaicked by OpenCV
   (bilinear or edge-aware, at random);
4. white-balance gains ``1 / w`` with a small random error, then the
   camera RGB -> sRGB matrix ``N^-1`` (rows sum to 1: white stays white),
   clipped to [0, 1];
5. mild edge-preserving denoising (a bilateral filter blended in with a random
   strength);
6. a slightly different curve per channel: the drawn curve ``f`` becomes
   ``f + a_c f (1 - f) + b_c f (1 - f)(1 - 2 f)`` with ``a``, ``b`` summing to
   zero over the channels, so the mean of the three curves is exactly ``f``
   and each stays monotone (``|a_c| + |b_c| < 1``) with ``f(0) = 0``, ``f(1) = 1``;
7. unsharp-mask sharpening with a random strength (after the curve, as
   cameras sharpen the rendered image);
8. 8 bits and JPEG, as before.

The training target stays the drawn curve ``f`` (the mean of the three channel
curves; its inverse is what the networks predict), and the linear target image
is the noise-free output of steps 1 and 4 (what a perfect linearisation of the
JPEG recovers).

Colour matrices: ``libraw_cam_xyz.csv`` (LibRaw's ``adobe_coeff`` table,
791 three-colour cameras; see its PROVENANCE.md), found at an explicit path,
else under ``$CRFKIT_DATA`` (``camera_color_matrices/`` or the root), else in
crfkit's data cache.  Every random draw comes from the sample's generator.
"""

import csv
import functools
from pathlib import Path

import numpy as np

from .._optional import require
from ..errors import DataNotFoundError, ValidationError

CAMERA_MATRICES_FILE = "libraw_cam_xyz.csv"
CAMERA_MATRICES_SUBDIRS = ("camera_color_matrices", "")

#: linear sRGB (D65) -> XYZ
XYZ_FROM_SRGB = np.array([[0.4124564, 0.3575761, 0.1804375],
                          [0.2126729, 0.7151522, 0.0721750],
                          [0.0193339, 0.1191920, 0.9503041]])

#: OpenCV conversion of a mosaic whose red sample sits at (row % 2, col % 2) == (dy, dx)
_BAYER_CODES = {(0, 0): "COLOR_BayerBG2RGB", (0, 1): "COLOR_BayerGB2RGB",
                (1, 0): "COLOR_BayerGR2RGB", (1, 1): "COLOR_BayerRG2RGB"}


def find_camera_matrices(path=None):
    """Path of ``libraw_cam_xyz.csv``: ``path`` (a file or a folder), else ``$CRFKIT_DATA``, else the cache."""
    from ..data.paths import data_roots

    roots = []
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        if not p.is_dir():
            raise DataNotFoundError(f"camera colour matrices not found at the path given: {p}")
        roots = [p]
    else:
        roots = [root for _label, root in data_roots()]
    looked = []
    for root in roots:
        for sub in CAMERA_MATRICES_SUBDIRS:
            c = (root / sub / CAMERA_MATRICES_FILE) if sub else (root / CAMERA_MATRICES_FILE)
            if c.is_file():
                return c
            looked.append(str(c))
    raise DataNotFoundError(
        f"{CAMERA_MATRICES_FILE} (LibRaw camera colour matrices) not found (looked in {', '.join(looked)}); "
        "set CRFKIT_DATA to a folder holding camera_color_matrices/ or pass color_matrices=PATH")


def camera_matrices_from_cam_xyz(cam_xyz):
    """sRGB -> camera matrices (rows sum to 1) and the cameras' raw response to white.

    Parameters
    ----------
    cam_xyz : ndarray, (N, 3, 3)
        XYZ -> camera RGB (dcraw's ``cam_xyz``, any scale).

    Returns
    -------
    cam_from_srgb : ndarray, (N, 3, 3)
        Rows normalised to sum 1 (camera white maps to camera white).
    white : ndarray, (N, 3)
        The raw response to sRGB white, normalised to a maximum of 1 (the inverse
        of the daylight white-balance multipliers, up to scale).
    srgb_from_cam : ndarray, (N, 3, 3)
        The inverse of ``cam_from_srgb`` (rows sum to 1 too).
    """
    cam_xyz = np.asarray(cam_xyz, dtype=np.float64)
    cam_rgb = cam_xyz @ XYZ_FROM_SRGB
    sums = cam_rgb.sum(axis=2)
    white = sums / sums.max(axis=1, keepdims=True)
    cam_from_srgb = cam_rgb / sums[:, :, None]
    srgb_from_cam = np.linalg.inv(cam_from_srgb)
    return cam_from_srgb, white, srgb_from_cam


@functools.lru_cache(maxsize=4)
def _load(path_str):
    rows, names = [], []
    with open(path_str, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r.get("n_channels") != "3":
                continue
            try:
                m = np.array([float(r[f"c{k}"]) for k in range(9)]).reshape(3, 3)
            except (KeyError, TypeError, ValueError):
                continue
            rows.append(m)
            names.append(f"{r['make']} {r['model_prefix']}")
    if not rows:
        raise ValidationError(f"{path_str}: no three-channel camera matrices")
    cam_xyz = np.stack(rows)
    with np.errstate(all="ignore"):
        ok = np.isfinite(cam_xyz).all(axis=(1, 2)) & (np.abs(np.linalg.det(cam_xyz)) > 1e-6)
        sums = (cam_xyz[ok] @ XYZ_FROM_SRGB).sum(axis=2)
    idx = np.flatnonzero(ok)[(sums > 0).all(axis=1)]
    cam, white, inv = camera_matrices_from_cam_xyz(cam_xyz[idx])
    # keep plausible cameras: positive diagonal, no wild coefficients, a sane white balance
    good = ((np.diagonal(inv, axis1=1, axis2=2) > 0.3).all(axis=1) & (np.abs(inv).max(axis=(1, 2)) < 4.0)
            & (white.min(axis=1) > 0.2))
    idx = idx[good]
    return ([names[i] for i in idx], cam[good].astype(np.float32), white[good].astype(np.float32),
            inv[good].astype(np.float32))


def load_camera_matrices(path=None):
    """The usable cameras of ``libraw_cam_xyz.csv``.

    Returns
    -------
    dict
        ``names`` (list), ``cam_from_srgb`` (N, 3, 3), ``white`` (N, 3),
        ``srgb_from_cam`` (N, 3, 3), ``path``; see :func:`camera_matrices_from_cam_xyz`.
        Cameras with 4 colours, a singular or implausible matrix (a non-positive
        diagonal entry below 0.3, a coefficient beyond +-4, a channel's white
        response under 0.2 of the largest) are left out.
    """
    p = find_camera_matrices(path)
    names, cam, white, inv = _load(str(Path(p).resolve()))
    return {"names": names, "cam_from_srgb": cam, "white": white, "srgb_from_cam": inv, "path": str(p)}


def channel_curves(forward, rng, jitter):
    """Three monotone curves whose mean is ``forward`` (1024 samples on the grid).

    ``f_c = f + a_c f (1 - f) + b_c f (1 - f)(1 - 2 f)`` with ``a``, ``b`` drawn
    from ``U(-jitter, jitter)`` and centred over the channels; the slope factor
    ``1 + a_c (1 - 2 f) + b_c (1 - 6 f + 6 f^2)`` stays positive while
    ``|a_c| + |b_c| < 1`` (``jitter`` is capped at 0.3, so both stay below 0.4).

    Returns
    -------
    ndarray, float64, (3, 1024)
    """
    jitter = min(float(jitter), 0.3)
    f = np.clip(np.asarray(forward, dtype=np.float64), 0.0, 1.0)
    a = rng.uniform(-jitter, jitter, 3)
    b = rng.uniform(-jitter, jitter, 3)
    a -= a.mean()
    b -= b.mean()
    w1 = f * (1.0 - f)
    w2 = w1 * (1.0 - 2.0 * f)
    return f[None] + a[:, None] * w1[None] + b[:, None] * w2[None]


def _mosaic(raw, dy, dx):
    """Keep one colour per pixel: red at (dy, dx) of each 2x2 cell, blue opposite, green elsewhere."""
    h, w = raw.shape[:2]
    yy = (np.arange(h) % 2)[:, None]
    xx = (np.arange(w) % 2)[None, :]
    chan = np.ones((h, w), dtype=np.intp)
    chan[(yy == dy) & (xx == dx)] = 0
    chan[(yy == 1 - dy) & (xx == 1 - dx)] = 2
    return np.take_along_axis(raw, chan[:, :, None], axis=2)[:, :, 0]


def demosaic(raw, rng, cv2):
    """Bayer-mosaic ``raw`` (H, W, 3) in [0, 1] at a random phase and demosaic it (16 bits, OpenCV)."""
    dy, dx = int(rng.integers(2)), int(rng.integers(2))
    edge_aware = bool(rng.random() < 0.5)
    mono = np.round(_mosaic(raw, dy, dx) * 65535.0).astype(np.uint16)
    code = getattr(cv2, _BAYER_CODES[(dy, dx)] + ("_EA" if edge_aware else ""))
    return cv2.cvtColor(mono, code).astype(np.float32) / np.float32(65535.0)


def camera_render(exposed, forward_values, rng, cfg):
    """Steps 1-7 of the module docstring for an exposed linear crop.

    Returns
    -------
    out : ndarray, float32, (H, W, 3)
        The rendered image in [0, 1] before quantisation.
    target : ndarray, float32, (H, W, 3)
        The noise-free linear output (after white balance and the matrix), in [0, 1].
    """
    cv2 = require("cv2", "torch", feature="the camera-pipeline synthesis (demosaicking, filters)")
    mats = load_camera_matrices(cfg.color_matrices)
    k = int(rng.integers(len(mats["names"])))
    to_cam, white, to_srgb = mats["cam_from_srgb"][k], mats["white"][k], mats["srgb_from_cam"][k]
    # illuminant cast: warmer or cooler than daylight (red and blue in opposite directions), and a little green
    t = rng.normal(0.0, cfg.illuminant_spread)
    cast = np.exp(np.array([t, rng.normal(0.0, 0.05), -t]))
    w = (white * cast).astype(np.float32)
    w /= w.max()
    # the camera's white balance misses the illuminant a little
    gains = (1.0 / w) * np.exp(rng.normal(0.0, cfg.wb_error, 3)).astype(np.float32)
    gains /= gains[1]
    gains *= 1.0 / (w * gains).max()  # the brightest white channel is not pushed past its raw value

    # the lens and the anti-aliasing filter: no real sensor sees pixel-sharp detail through its mosaic
    blur_sigma = rng.uniform(*cfg.optical_blur)
    if blur_sigma > 0:
        exposed = cv2.GaussianBlur(np.ascontiguousarray(exposed, dtype=np.float32), (0, 0), blur_sigma)
    raw_clean = (exposed @ to_cam.T) * w
    sigma_s = rng.uniform(0.0, cfg.shot_max)
    sigma_r = rng.uniform(0.0, cfg.read_max)
    std = np.sqrt(sigma_s**2 * np.maximum(raw_clean, 0.0) + sigma_r**2).astype(np.float32)
    raw = np.clip(raw_clean + std * rng.standard_normal(raw_clean.shape, dtype=np.float32), 0.0, 1.0)
    raw = demosaic(raw, rng, cv2)

    mix = (to_srgb * gains[None, :]).astype(np.float32)  # C @ diag(gains)
    lin = np.clip(raw @ mix.T, 0.0, 1.0)
    target = np.clip(np.clip(raw_clean, 0.0, 1.0) @ mix.T, 0.0, 1.0).astype(np.float32)

    strength = rng.uniform(0.0, cfg.denoise_max)
    sigma_color = rng.uniform(0.02, 0.08)
    if strength > 0:
        smooth = cv2.bilateralFilter(np.ascontiguousarray(lin, dtype=np.float32), 5, sigma_color, 2.0)
        lin = lin + np.float32(strength) * (smooth - lin)

    from ..curves import GRID

    curves = channel_curves(forward_values, rng, cfg.channel_curve_jitter)
    out = np.empty_like(lin)
    for c in range(3):
        out[:, :, c] = np.interp(lin[:, :, c], GRID, curves[c])

    amount = rng.uniform(0.0, cfg.sharpen_max)
    sigma = rng.uniform(0.7, 1.5)
    if amount > 0:
        blur = cv2.GaussianBlur(out, (0, 0), sigma)
        out = np.clip(out + np.float32(amount) * (out - blur), 0.0, 1.0)
    return out.astype(np.float32), target
