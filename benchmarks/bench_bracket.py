"""Benchmark: calibrate and merge a 5-exposure 12-megapixel bracket, crfkit against OpenCV.

Run from the repository root::

    CRFKIT_DATA=../shared/data python benchmarks/bench_bracket.py [--quick]

The bracket is rendered in memory (not timed): a 4000x3000 textured radiance
map spanning about 12 stops, through the sRGB curve, 5 exposures one stop apart,
8-bit.  Timed, best of ``--repeats`` after one warm-up call of each (imports,
basis loading and caches in place):

* crfkit calibration: ``calibrate_bracket(images, times, bootstrap=0)`` (the
  curves and times) and, separately, with the default 20-draw bootstrap band;
* crfkit merge: ``merge_bracket(images, times, crf=cal)`` (default weights: noise-aware, with the highlight taper),
  and the same with ``deghost=True`` (no target; no peer removes ghosts);
* OpenCV: ``createCalibrateDebevec().process`` and ``createMergeDebevec().process``
  on the same images (BGR copies made outside the timing);
* alignment (no target): a bracket of the same size and exposures of a scene with
  detail at every scale (blurred noise: median-threshold bitmaps need edges), the
  frames but the middle one moved by a few pixels (not timed), then
  ``crfkit.bracket.merge.align_images`` against OpenCV's ``createAlignMTB().process``,
  and how many frames each restored exactly.

Prints the times and the ratios; targets: calibration under 1 s, merge within
1.5x of OpenCV's merge.  ``--quick``: a 1000x750 bracket, one repeat (for tests).
"""

import argparse
import os
import platform
import sys
import time

import numpy as np


def render(h, w, seed=0):
    import crfkit

    rng = np.random.default_rng(seed)
    # Smooth log-radiance field (about 12 stops) times per-pixel texture and colour.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    logr = 6.0 * np.sin(xx / w * 3.1) * np.cos(yy / h * 2.3) + rng.normal(0, 0.3, (h, w)).astype(np.float32)
    rad = np.exp2(logr)[..., None] * np.array([1.0, 0.8, 0.6], np.float32)
    lut = crfkit.Curve.srgb().to_lut(65536).astype(np.float32)
    times = 2.0 ** np.arange(-2, 3)
    imgs = []
    for t in times:
        lin = np.clip(rad * (t / 64.0), 0, 1)
        imgs.append(np.round(lut[(lin * 65535).astype(np.int64)] * 255).astype(np.uint8))
    return imgs, times


def best(fn, repeats):
    out, ts = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import cv2

    import crfkit
    from crfkit.bracket import calibrate_bracket, merge_bracket

    h, w = (750, 1000) if args.quick else (3000, 4000)
    repeats = 1 if args.quick else args.repeats
    imgs, times = render(h, w)
    bgr = [np.ascontiguousarray(i[..., ::-1]) for i in imgs]
    t32 = times.astype(np.float32)
    # warm-up
    cal = calibrate_bracket(imgs, times=times, bootstrap=0)
    merge_bracket(imgs, times=times, crf=cal)
    resp = cv2.createCalibrateDebevec().process(bgr, t32)
    cv2.createMergeDebevec().process(bgr, t32, resp)

    t_cal, cal = best(lambda: calibrate_bracket(imgs, times=times, bootstrap=0), repeats)
    t_cal_band, _ = best(lambda: calibrate_bracket(imgs, times=times), repeats)
    t_merge, hdr = best(lambda: merge_bracket(imgs, times=times, crf=cal), repeats)
    t_deghost, _ = best(lambda: merge_bracket(imgs, times=times, crf=cal, deghost=True), repeats)
    t_ocv_cal, resp = best(lambda: cv2.createCalibrateDebevec().process(bgr, t32), repeats)
    t_ocv_merge, _ = best(lambda: cv2.createMergeDebevec().process(bgr, t32, resp), repeats)
    from crfkit.bracket.merge import align_images

    # Median-threshold bitmaps need edges: the bench scene above is one smooth field and per-pixel
    # noise (its bitmaps barely change with a shift of a few pixels, and both tools miss most shifts),
    # so the alignment gets a scene of detail at every scale (blurred noise), the same size and exposures.
    rng = np.random.default_rng(1)
    detail = cv2.GaussianBlur(rng.uniform(0, 1, (h, w)).astype(np.float32), (0, 0), 2)
    detail = (detail - detail.min()) / (detail.max() - detail.min())
    lut = crfkit.Curve.srgb().to_lut(65536).astype(np.float32)
    scene = [np.round(lut[(np.clip(detail * t / 4.0, 0, 1) * 65535).astype(np.int64)] * 255).astype(np.uint8)
             for t in times]
    scene = [np.repeat(im[..., None], 3, axis=2) for im in scene]
    shifts = [(3, -5), (-4, 2), (0, 0), (5, 4), (-2, -6)]  # (dy, dx); the middle frame is both tools' reference
    moved = [np.roll(im, s, axis=(0, 1)) for im, s in zip(scene, shifts)]
    moved_bgr = [np.ascontiguousarray(m[..., ::-1]) for m in moved]
    t_align, aligned = best(lambda: align_images(moved), repeats)

    def opencv_align():
        dst = [m.copy() for m in moved_bgr]
        cv2.createAlignMTB().process(moved_bgr, dst)
        return [d[..., ::-1] for d in dst]

    t_ocv_align, ocv_aligned = best(opencv_align, repeats)
    inner = (slice(16, -16), slice(16, -16))

    def restored(out):
        return sum(np.array_equal(a[inner], b[inner]) for a, b in zip(out, scene))

    print(f"bracket: 5 exposures, {w}x{h} ({w * h / 1e6:.1f} MP), best of {repeats}")
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, NumPy {np.__version__}, "
          f"OpenCV {cv2.__version__}, OpenCV threads {cv2.getNumThreads()}")
    print(f"crfkit calibrate (curves + times)      {t_cal:8.3f} s   target < 1 s: {'met' if t_cal < 1 else 'NOT met'}")
    print(f"crfkit calibrate with 20-draw band     {t_cal_band:8.3f} s")
    print(f"OpenCV CalibrateDebevec                {t_ocv_cal:8.3f} s   crfkit / OpenCV = {t_cal / t_ocv_cal:.2f}")
    print(f"crfkit merge (default weights)         {t_merge:8.3f} s")
    print(f"OpenCV MergeDebevec                    {t_ocv_merge:8.3f} s   crfkit / OpenCV = {t_merge / t_ocv_merge:.2f} "
          f"(target <= 1.5: {'met' if t_merge / t_ocv_merge <= 1.5 else 'NOT met'})")
    print(f"crfkit merge, deghost=True (no target) {t_deghost:8.3f} s   / OpenCV MergeDebevec = "
          f"{t_deghost / t_ocv_merge:.2f}")
    print(f"crfkit align_images                     {t_align:8.3f} s   frames restored: {restored(aligned)} of 5")
    print(f"OpenCV AlignMTB                        {t_ocv_align:8.3f} s   frames restored: {restored(ocv_aligned)} of 5; "
          f"crfkit / OpenCV = {t_align / t_ocv_align:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
