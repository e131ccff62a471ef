"""Synthetic exposure brackets with known camera response functions.

Brackets are rendered from the real HDR photographs in
``$CRFKIT_DATA/hdr_training`` through the 10 DoRF test curves (the Liu et al.
split, ``crfkit.synthesis.sources.dorf_split``), with the synthetic camera of
REFERENCE.md section 6: shot-like plus Gaussian noise on the exposed
irradiance, clipping to [0, 1], the CRF, 8-bit quantisation and JPEG
(quality 90 to 100).  Unlike the single-image training data, one camera
takes the whole bracket: the noise levels and the JPEG quality are drawn once
per bracket, the noise itself independently per exposure.

Used by the bracket-calibration analyses (``import bracket_synth`` after
putting this folder on ``sys.path``).  ``python analysis/bracket_synth.py``
renders a few cases and prints every available peer's inverse-CRF RMSE.
"""

import os
from pathlib import Path

import numpy as np

import crfkit
from crfkit.synthesis.pipeline import SynthesisConfig, _jpeg, apply_forward
from crfkit.synthesis.sources import dorf_split, load_linear_image

#: Ordinary views with a moderate to high dynamic range, in the order
#: ``synthetic_cases`` takes them (OpenEXR sample photos and Poly Haven
#: panoramas, whose horizon band ``load_linear_image`` keeps).
DEFAULT_IMAGES = (
    "MtTamWest.exr",  # outdoor landscape, sky
    "Desk.exr",  # interior, lamp, deep shadows
    "chinese_garden_1k.hdr",  # outdoor, Poly Haven
    "Cannon.exr",  # low dynamic range
    "leadenhall_market_1k.hdr",  # interior with bright windows
    "GoldenGate.exr",
    "StillLife.exr",  # very bright highlights
    "rooitou_park_1k.hdr",
)

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _channel_values(forward_curve):
    """Forward CRF(s) -> (3, 1024) array (one curve for all channels, or one per channel)."""
    if isinstance(forward_curve, crfkit.Curve):
        vals = [forward_curve.as_kind("forward").values] * 3
    elif isinstance(forward_curve, (list, tuple)) and len(forward_curve) == 3 \
            and not np.isscalar(forward_curve[0]):
        vals = [c.as_kind("forward").values if isinstance(c, crfkit.Curve) else np.asarray(c, float)
                for c in forward_curve]
    else:
        v = np.asarray(forward_curve, float)
        vals = [v] * 3 if v.ndim == 1 else list(v)
    vals = np.asarray(vals, float)
    if vals.shape != (3, crfkit.GRID.size):
        raise ValueError(f"forward_curve must give 3 curves of {crfkit.GRID.size} samples, got {vals.shape}")
    return vals


def render_bracket(linear, forward_curve, times, rng, noise=True, jpeg_quality=(90, 100)):
    """Render an exposure bracket of one scene through a known camera.

    Parameters
    ----------
    linear : ndarray, float, (H, W, 3)
        Scene radiance (>= 0), on the scale where ``linear * t`` is the
        normalised sensor irradiance of an exposure of time ``t`` (1 clips).
    forward_curve : Curve, (1024,) array, or 3 of them (one per channel)
        The forward CRF.
    times : sequence of float
        Exposure times, in the order the images are returned.
    rng : numpy.random.Generator
    noise : bool or (float, float)
        True draws the noise levels once per bracket as REFERENCE.md section 6
        does (shot-like ``sigma_s ~ U(0, 0.08/6)`` times ``sqrt(E)``, Gaussian
        ``sigma_r ~ U(0, 0.005)``); a pair gives ``(sigma_s, sigma_r)``; False
        renders without noise.
    jpeg_quality : (int, int) or int or None
        Inclusive range of the JPEG quality (drawn once per bracket), a fixed
        quality, or None for no JPEG (plain 8-bit quantisation).

    Returns
    -------
    list of ndarray, uint8, (H, W, 3)
        RGB images, ``f(clip(linear * t + noise, 0, 1))`` quantised (and JPEG'd).
    """
    linear = np.maximum(np.asarray(linear, np.float32), 0.0)
    vals = _channel_values(forward_curve)
    cfg = SynthesisConfig()
    if noise is True:
        sigma_s, sigma_r = rng.uniform(0.0, cfg.shot_max), rng.uniform(0.0, cfg.read_max)
    elif noise is False or noise is None:
        sigma_s = sigma_r = 0.0
    else:
        sigma_s, sigma_r = (float(v) for v in noise)
    if jpeg_quality is None:
        quality = None
    elif np.isscalar(jpeg_quality):
        quality = int(jpeg_quality)
    else:
        lo, hi = jpeg_quality
        quality = int(rng.integers(lo, hi + 1))
    out = []
    for t in times:
        exposed = linear * np.float32(t)
        if sigma_s > 0 or sigma_r > 0:
            std = np.sqrt(sigma_s**2 * exposed + sigma_r**2).astype(np.float32)
            exposed = exposed + std * rng.standard_normal(exposed.shape, dtype=np.float32)
        sensor = np.clip(exposed, 0.0, 1.0)
        ldr = np.stack([apply_forward(sensor[..., c], vals[c]) for c in range(3)], axis=-1)
        ldr = np.round(ldr * 255.0).astype(np.uint8)
        if quality is not None:
            ldr = _jpeg(ldr, quality)
        out.append(ldr)
    return out


def bracket_times(n_exposures, stop=1.0, rng=None):
    """Exposure times ``2**(stop * (k - (n-1)/2))``, k = 0..n-1, times a base.

    The geometric centre of the bracket (the middle exposure for odd n) has
    time 1 x base, so a scene exposed for the middle image stays well exposed
    whatever n.  Without ``rng`` the base is 1; with it the base is
    ``2**U(-2, 2)`` (calibration is invariant to the absolute scale of the
    times: this checks that a method does not depend on it).
    """
    if n_exposures < 2:
        raise ValueError(f"a bracket needs at least 2 exposures, got {n_exposures}")
    k = np.arange(n_exposures) - (n_exposures - 1) / 2.0
    base = 1.0 if rng is None else 2.0 ** rng.uniform(-2.0, 2.0)
    return base * 2.0 ** (stop * k)


def _cover_crop(img, size):
    """Scale ``img`` so it covers ``size`` = (H, W), then crop the centre."""
    import cv2

    h, w = img.shape[:2]
    th, tw = size
    scale = max(th / h, tw / w)
    if abs(scale - 1.0) > 1e-9:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (max(tw, round(w * scale)), max(th, round(h * scale))), interpolation=interp)
    h, w = img.shape[:2]
    y, x = (h - th) // 2, (w - tw) // 2
    return np.ascontiguousarray(img[y : y + th, x : x + tw])


def load_scene(name, size=(384, 512), data=None):
    """One HDR photograph of ``hdr_training`` as linear RGB float32 of ``size`` (H, W).

    Panoramas keep their horizon band (``load_linear_image``); the image is
    scaled to cover ``size`` and centre-cropped.  The scale is the file's.
    """
    data = Path(data or os.environ["CRFKIT_DATA"])
    li = load_linear_image(data / "hdr_training" / name, short_side=None)
    return _cover_crop(li.pixels, size)


def normalise_exposure(linear, t_mid=1.0, anchor=0.5):
    """Scale the scene so that, at exposure ``t_mid``, the log-midpoint of the
    luminance's 50th and 99th percentiles lands at ``anchor`` (mid-range):
    the middle exposure is well exposed, with its brightest 1 % or so clipped
    only in high-contrast scenes."""
    lum = linear @ _LUMA
    p50, p99 = np.percentile(lum, [50, 99])
    mid = np.sqrt(max(p50, 1e-12) * max(p99, 1e-12))
    return (linear * np.float32(anchor / (mid * t_mid))).astype(np.float32)


def test_curves():
    """The 10 DoRF test curves (forward CurveSet) of the Liu et al. split."""
    return dorf_split()[1]


def synthetic_cases(n_images=2, n_exposures=(3, 5, 7), seed=0, size=(384, 512), stop=1.0,
                    images=None, curves=None, noise=True, jpeg_quality=(90, 100), random_base=True):
    """Synthetic brackets: DoRF test curves x HDR images x exposure counts.

    Parameters
    ----------
    n_images : int
        How many of ``DEFAULT_IMAGES`` to use (ignored when ``images`` is given).
    n_exposures : sequence of int
        Bracket sizes.
    seed : int
        Everything (noise, JPEG quality, time base) is drawn from
        ``SeedSequence([seed, image index, curve index, n])``: a case does not
        change when others are added or removed.
    size : (int, int)
        Image (H, W).
    stop : float
        Spacing of the exposures in stops.
    images : sequence of str, optional
        File names in ``$CRFKIT_DATA/hdr_training``.
    curves : CurveSet or sequence of Curve, optional
        Forward curves (default: the 10 DoRF test curves).
    noise, jpeg_quality
        As in :func:`render_bracket`.
    random_base : bool
        Multiply the times by a random ``2**U(-2, 2)`` (see :func:`bracket_times`).

    Yields
    ------
    dict
        ``image_name``, ``curve_name``, ``forward_curve`` (Curve),
        ``inverse_curve`` (its inverse, the target of a calibration),
        ``n_exposures``, ``times`` (ndarray, increasing), ``images`` (list of
        uint8 RGB (H, W, 3)), ``radiance`` (the scene, float32 (H, W, 3), on the
        scale where ``radiance * t`` clips at 1).
    """
    names = list(images) if images is not None else list(DEFAULT_IMAGES[:n_images])
    curve_list = list(curves if curves is not None else test_curves())
    for i, name in enumerate(names):
        scene = load_scene(name, size)
        for j, curve in enumerate(curve_list):
            for n in n_exposures:
                rng = np.random.default_rng(np.random.SeedSequence([seed, i, j, n]))
                times = bracket_times(n, stop, rng if random_base else None)
                t_mid = float(np.sqrt(times[0] * times[-1]))
                linear = normalise_exposure(scene, t_mid)
                imgs = render_bracket(linear, curve, times, rng, noise=noise, jpeg_quality=jpeg_quality)
                yield {"image_name": name, "curve_name": curve.name, "forward_curve": curve,
                       "inverse_curve": curve.inverse(), "n_exposures": n, "times": times, "images": imgs,
                       "radiance": linear}


def _demo():
    """Render cases and print each available peer's mean inverse-CRF RMSE (and timings)."""
    import argparse
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).parent))
    import bracket_peers

    ap = argparse.ArgumentParser(description=_demo.__doc__)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--curves", type=int, default=10)
    ap.add_argument("--exposures", type=int, nargs="+", default=[3, 5, 7])
    ap.add_argument("--stop", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    peers = bracket_peers.available_peers()
    for k, v in peers.missing.items():
        print(f"(not available: {k}: {v})")
    curves = test_curves()[: args.curves]
    rmse = {k: [] for k in peers}
    shape = {k: [] for k in peers}
    fails = {k: [] for k in peers}
    secs = {k: 0.0 for k in peers}
    n_cases = 0
    print("per case, for " + ", ".join(peers) + ": RMSE as normalised / with the best scale")
    for case in synthetic_cases(args.images, args.exposures, args.seed, curves=curves, stop=args.stop):
        n_cases += 1
        true_inv = case["inverse_curve"]
        row = []
        for name, fn in peers.items():
            t0 = time.perf_counter()
            try:
                inv = fn(case["images"], case["times"])
            except bracket_peers.PeerFailed as exc:
                fails[name].append(exc)
                row.append("fail")
                continue
            finally:
                secs[name] += time.perf_counter() - t0
            e = float(np.mean([c.rmse(true_inv) for c in inv]))
            rmse[name].append(e)
            shape[name].append(float(np.mean([bracket_peers.best_scale_rmse(c, true_inv) for c in inv])))
            row.append(f"{e:.4f}/{shape[name][-1]:.4f}")
        label = f"{case['image_name'][:14]:14s} {case['curve_name'][:24]:24s} n={case['n_exposures']}"
        print(label, " ".join(row), flush=True)
    print(f"\n{n_cases} cases; stop {args.stop}; inverse-CRF RMSE over successful cases "
          "(g(1) = 1 as normalised / with the oracle best scale), failures, time")
    for name in peers:
        r, sh = np.array(rmse[name]), np.array(shape[name])
        fr = [getattr(e, "nonfinite_fraction", None) for e in fails[name]]
        fr = [f for f in fr if f is not None]
        mean = lambda a: a.mean() if a.size else np.nan  # noqa: E731
        med = lambda a: np.median(a) if a.size else np.nan  # noqa: E731
        print(f"  {name:26s} mean {mean(r):.4f}  median {med(r):.4f}"
              f"  | best-scale mean {mean(sh):.4f} median {med(sh):.4f}"
              f"  failed {len(fails[name])}/{n_cases}"
              + (f" (non-finite fraction {min(fr):.2f}-{max(fr):.2f})" if fr else "")
              + f"  {secs[name] / n_cases:.2f} s/case")


if __name__ == "__main__":
    _demo()
