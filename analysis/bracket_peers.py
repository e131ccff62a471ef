"""Peer tools for exposure-bracket calibration, behind one interface.

Every peer takes ``images`` (list of uint8 RGB arrays (H, W, 3), one scene at
several exposures) and ``times`` (exposure times, seconds or relative, any
order) and returns 3 inverse ``crfkit.Curve`` objects (R, G, B) on the 1024
grid with g(0) = 0 and g(1) = 1, or raises :class:`PeerFailed`.  With
``raw=True`` it returns the tool's own (256, 3) response instead (linear
radiance per 8-bit level, RGB, unnormalised, non-finite values kept).

Peers (see analysis/README_peers.md for installing them):

* ``OpenCV Debevec``, ``OpenCV Robertson``: ``cv2.createCalibrateDebevec()``
  / ``cv2.createCalibrateRobertson()`` with OpenCV's defaults.
* ``pfstools Robertson``, ``pfstools Mitsunaga-Nayar``: ``pfsinhdrgen`` on an
  hdrgen script of binary PPMs, piped into ``pfshdrcalibrate -c robertson |
  mitsunaga -s response.m`` (defaults otherwise); the saved per-channel table
  is parsed.  Mitsunaga-Nayar also re-estimates the exposure ratios: only its
  response is used.
* ``colour-hdri Debevec 1997``: ``colour_hdri.camera_response_functions_Debevec1997``
  on an ``ImageStack`` built in memory (data = level / 255, f/1, ISO 100).

All raw responses are normalised the same way (:func:`inverse_from_levels`).
"""

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import crfkit
from crfkit.curves import GRID

#: Largest fraction of non-finite values in a raw (256, 3) response that
#: :func:`inverse_from_levels` fills by interpolation; more is a failure.
MAX_NONFINITE = 0.2


class PeerFailed(ValueError):
    """A peer tool failed, or its response is unusable.

    Attributes
    ----------
    nonfinite_fraction : float or None
        Fraction of the raw (256, 3) response that was NaN or infinite, when
        that was the reason (OpenCV's Robertson leaves levels no sample
        reached undefined).
    peer : str or None
    """

    def __init__(self, message, nonfinite_fraction=None, peer=None):
        super().__init__(message)
        self.nonfinite_fraction = nonfinite_fraction
        self.peer = peer


# ----------------------------------------------------------------------------- normalisation
def inverse_from_levels(resp, max_nonfinite=MAX_NONFINITE):
    """(256, 3) linear response per 8-bit level -> 3 inverse Curves on the grid.

    Levels 0 and 255 are clipped codes, not response values: OpenCV's Robertson
    sets each level's radiance to the (weighted) mean of the pixels at that level,
    and its weights are not 0 at the ends, so level 255 gets the mean radiance of
    every saturated pixel (on Memorial 17x level 254) and level 0 that of every
    black one.  Normalising at level 255 then squashed the whole curve.  So level
    255 is extrapolated from 253-254 (E = 1 where the curve reaches the top code,
    crfkit's f(1) = 1) and level 0 is 0 (f(0) = 0), for every method alike.
    Non-finite levels (never seen by the method) are interpolated from their
    neighbours; negative values are clipped to 0; the curve is made
    non-decreasing (running maximum), divided by its level-255 value, resampled
    on the grid (linear interpolation) and projected onto monotone curves.

    Each curve's ``metadata['nonfinite_fraction']`` is the fraction of the
    whole (256, 3) response that was non-finite.

    Raises
    ------
    PeerFailed
        More than ``max_nonfinite`` of the values are non-finite (the
        exception's ``nonfinite_fraction`` says how many).
    """
    out = []
    resp = np.asarray(resp, float)
    if resp.shape != (256, 3):
        raise PeerFailed(f"expected a (256, 3) response, got shape {resp.shape}")
    bad = ~np.isfinite(resp)
    frac = float(bad.mean())
    if frac > max_nonfinite:
        raise PeerFailed(f"non-finite response ({int(bad.sum())} of {resp.size} values)",
                         nonfinite_fraction=frac)
    for c in range(3):
        g = resp[:, c].copy()
        ok = np.isfinite(g)
        if ok.sum() < 2:
            raise PeerFailed(f"channel {c}: fewer than 2 finite response values", nonfinite_fraction=frac)
        g[~ok] = np.interp(np.flatnonzero(~ok), np.flatnonzero(ok), g[ok])  # levels the method never saw
        g[0], g[255] = 0.0, g[254] + max(g[254] - g[253], 0.0)
        g = np.maximum.accumulate(np.clip(g, 0, None))
        if not g[-1] > 0:
            raise PeerFailed(f"channel {c}: response is 0 everywhere", nonfinite_fraction=frac)
        g = g / g[-1]
        inv = crfkit.Curve(np.interp(GRID, np.arange(256) / 255.0, g), "inverse", validate="none")
        inv = inv.monotonized()
        out.append(inv.copy(metadata={"nonfinite_fraction": frac}))
    return out


def from_inverse_levels(resp, max_nonfinite=MAX_NONFINITE):
    """Like :func:`inverse_from_levels` but returns the 3 forward Curves."""
    return [inv.inverse() for inv in inverse_from_levels(resp, max_nonfinite)]


def best_scale_rmse(curve, true_curve):
    """RMSE of ``s * curve`` to ``true_curve`` with the least-squares scale ``s``.

    A bracket fixes an inverse CRF only up to a factor; the normalisation
    g(1) = 1 of :func:`inverse_from_levels` hangs on the top levels, which
    JPEG ringing around saturated areas corrupts.  This oracle-scaled RMSE
    (it uses the true curve) measures the shape alone: a lower bound on what
    any normalisation of the same response could score.
    """
    g = np.asarray(curve.values if isinstance(curve, crfkit.Curve) else curve, float)
    t = np.asarray(true_curve.values if isinstance(true_curve, crfkit.Curve) else true_curve, float)
    s = float(g @ t) / max(float(g @ g), 1e-30)
    return float(np.sqrt(np.mean((s * g - t) ** 2)))


# ----------------------------------------------------------------------------- inputs
def _check_inputs(images, times):
    imgs = [np.asarray(i) for i in images]
    t = np.asarray(times, float).ravel()
    if len(imgs) < 2:
        raise ValueError(f"a bracket needs at least 2 images, got {len(imgs)}")
    if len(imgs) != t.size:
        raise ValueError(f"{len(imgs)} images but {t.size} exposure times")
    if not (np.all(np.isfinite(t)) and np.all(t > 0)):
        raise ValueError(f"exposure times must be positive and finite, got {t.tolist()}")
    for i in imgs:
        if i.dtype != np.uint8 or i.ndim != 3 or i.shape[2] != 3:
            raise ValueError(f"images must be uint8 RGB (H, W, 3), got {i.dtype} {i.shape}")
        if i.shape != imgs[0].shape:
            raise ValueError(f"images differ in shape: {i.shape} vs {imgs[0].shape}")
    return imgs, t


def _finish(resp, raw, peer, max_nonfinite):
    resp = np.asarray(resp, float)
    if raw:
        return resp
    try:
        curves = inverse_from_levels(resp, max_nonfinite)
    except PeerFailed as exc:
        exc.peer = peer
        raise
    return [c.copy(name=f"{peer} {ch}") for c, ch in zip(curves, "RGB")]


# ----------------------------------------------------------------------------- OpenCV
def _bgr(imgs):
    return [np.ascontiguousarray(i[..., ::-1]) for i in imgs]


def opencv_debevec(images, times, raw=False, samples=70, lambda_=10.0, random=False,
                   max_nonfinite=MAX_NONFINITE):
    """``cv2.createCalibrateDebevec(samples, lambda_, random)`` (OpenCV's defaults)."""
    import cv2

    imgs, t = _check_inputs(images, times)
    try:
        resp = cv2.createCalibrateDebevec(samples, lambda_, random).process(_bgr(imgs), t.astype(np.float32))
    except cv2.error as exc:
        raise PeerFailed(f"OpenCV Debevec: {exc}", peer="OpenCV Debevec") from exc
    return _finish(resp[:, 0, ::-1], raw, "OpenCV Debevec", max_nonfinite)


def opencv_robertson(images, times, raw=False, max_iter=30, threshold=0.01, max_nonfinite=MAX_NONFINITE):
    """``cv2.createCalibrateRobertson(max_iter, threshold)`` (OpenCV's defaults).

    Levels no pixel reached come back NaN/inf: filled by interpolation when
    they are at most ``max_nonfinite`` of the response, else PeerFailed with
    ``nonfinite_fraction``.
    """
    import cv2

    imgs, t = _check_inputs(images, times)
    try:
        resp = cv2.createCalibrateRobertson(max_iter, threshold).process(_bgr(imgs), t.astype(np.float32))
    except cv2.error as exc:
        raise PeerFailed(f"OpenCV Robertson: {exc}", peer="OpenCV Robertson") from exc
    return _finish(resp[:, 0, ::-1], raw, "OpenCV Robertson", max_nonfinite)


def opencv_methods(images, times):
    """Both OpenCV calibrations as forward Curves: ``(results, failures)`` dicts by name."""
    res, failed = {}, {}
    for name, fn in [("OpenCV Debevec", opencv_debevec), ("OpenCV Robertson", opencv_robertson)]:
        try:
            res[name] = [c.inverse() for c in fn(images, times)]
        except PeerFailed as exc:
            failed[name] = str(exc)
    return res, failed


def _opencv_response(response, images, times):
    """A response for cv2's Merge*: (256, 1, 3) float32 BGR, > 0."""
    if response is None:
        return None
    if isinstance(response, str):
        fn = {"debevec": opencv_debevec, "robertson": opencv_robertson}[response.lower()]
        response = fn(images, times)
    if isinstance(response, (list, tuple)) and len(response) == 3 and isinstance(response[0], crfkit.Curve):
        resp = np.stack([c.as_kind("inverse").to_lut(256) for c in response], axis=1)
    else:
        resp = np.asarray(response, float).reshape(256, 3)
    resp = np.where(np.isfinite(resp), resp, 0.0)
    floor = 1e-6 * max(float(resp.max()), 1e-30)
    resp = np.maximum(resp, floor)  # MergeDebevec takes its log
    return np.ascontiguousarray(resp[:, ::-1].reshape(256, 1, 3).astype(np.float32))


def opencv_merge_debevec(images, times, response=None):
    """``cv2.createMergeDebevec().process``: the HDR radiance map, float32 RGB (H, W, 3).

    ``response``: None (OpenCV's default: a linear response), ``'debevec'`` or
    ``'robertson'`` (calibrate with that OpenCV method first), a (256, 3)
    linear response in RGB order (e.g. a peer's ``raw=True`` output), or 3
    inverse Curves (sampled at the 256 levels).
    """
    import cv2

    imgs, t = _check_inputs(images, times)
    resp = _opencv_response(response, imgs, t)
    merge = cv2.createMergeDebevec()
    bgr = _bgr(imgs)
    t32 = t.astype(np.float32)
    out = merge.process(bgr, t32) if resp is None else merge.process(bgr, t32, resp)
    return np.ascontiguousarray(out[..., ::-1])


# ----------------------------------------------------------------------------- pfstools
PFSTOOLS_TIMEOUT = 300.0


def _run(cmd, timeout, **kw):
    """subprocess.run in its own process group, all of which is killed on timeout."""
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=subprocess.PIPE, **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise
    return proc.returncode, out, err


def _tail(err, n=500):
    return err.decode(errors="replace")[-n:]


def _write_ppm(path, rgb):
    h, w = rgb.shape[:2]
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(np.ascontiguousarray(rgb, np.uint8).tobytes())


def parse_pfs_response(text):
    """Parse a ``pfshdrcalibrate -s`` response file into a (256, 3) array (RGB).

    The file holds Octave-style matrices (``# name: IR`` ... ``# rows: 256``),
    one per channel (``IR``, ``IG``, ``IB``, or ``IY`` with ``--luminance``,
    then the weights ``W``), with columns log10(response), camera output
    level, response.  The response column is returned, indexed by level.
    """
    blocks, name, rows = {}, None, []
    for line in text.splitlines():
        m = re.match(r"#\s*name:\s*(\S+)", line)
        if m:
            if name is not None:
                blocks[name] = rows
            name, rows = m.group(1), []
            continue
        line = line.strip()
        if not line or line.startswith("#") or name is None:
            continue
        rows.append([float(v) for v in line.split()])
    if name is not None:
        blocks[name] = rows
    chans = ["IR", "IG", "IB"] if all(k in blocks for k in ("IR", "IG", "IB")) else ["IY"] * 3
    out = np.full((256, 3), np.nan)
    for c, key in enumerate(chans):
        if key not in blocks:
            raise PeerFailed(f"pfshdrcalibrate response file has no {key} table (tables: {sorted(blocks)})")
        arr = np.asarray(blocks[key], float)
        if arr.ndim != 2 or arr.shape[1] < 3:
            raise PeerFailed(f"pfshdrcalibrate response table {key} has an unexpected layout {arr.shape}")
        lev = arr[:, 1].astype(int)
        keep = (lev >= 0) & (lev < 256)
        out[lev[keep], c] = arr[keep, 2]
    return out


def _pfstools(images, times, method, peer, raw, timeout, extra_args, max_nonfinite):
    for exe in ("pfsinhdrgen", "pfshdrcalibrate", "pfsin", "pfsinppm", "pfstag"):
        if shutil.which(exe) is None:
            raise PeerFailed(f"{exe} not found (apt-get install pfstools)", peer=peer)
    imgs, t = _check_inputs(images, times)
    with tempfile.TemporaryDirectory(prefix="crfkit_pfs_") as d:
        d = Path(d)
        if re.search(r"\s", str(d)):
            raise PeerFailed(f"temporary folder {d} has a space in its path (pfsinhdrgen cannot handle it)",
                             peer=peer)
        lines = []
        for k, (img, tk) in enumerate(zip(imgs, t)):
            p = d / f"exposure_{k:02d}.ppm"
            _write_ppm(p, img)
            lines.append(f"{p} {1.0 / float(tk):.12g} 1 100 0")  # file, 1/time, aperture, ISO, 0
        (d / "bracket.hdrgen").write_text("\n".join(lines) + "\n")
        stream, resp_file = d / "frames.pfs", d / "response.m"
        try:
            with open(stream, "wb") as f:
                rc, _, err = _run(["pfsinhdrgen", str(d / "bracket.hdrgen")], timeout, stdout=f, cwd=d)
            if rc != 0:
                raise PeerFailed(f"pfsinhdrgen exited with {rc}: {_tail(err)}", peer=peer)
            with open(stream, "rb") as f:
                cmd = ["pfshdrcalibrate", "-c", method, "-s", str(resp_file), *extra_args]
                rc, _, err = _run(cmd, timeout, stdin=f, stdout=subprocess.DEVNULL, cwd=d)
        except subprocess.TimeoutExpired as exc:
            raise PeerFailed(f"{peer} timed out after {timeout:g} s", peer=peer) from exc
        if rc != 0 or not resp_file.is_file():
            raise PeerFailed(f"pfshdrcalibrate exited with {rc}: {_tail(err)}", peer=peer)
        try:
            resp = parse_pfs_response(resp_file.read_text())
        except PeerFailed as exc:
            exc.peer = peer
            raise
        except ValueError as exc:
            raise PeerFailed(f"cannot parse the pfshdrcalibrate response file: {exc}", peer=peer) from exc
    return _finish(resp, raw, peer, max_nonfinite)


def pfstools_robertson(images, times, raw=False, timeout=PFSTOOLS_TIMEOUT, extra_args=(),
                       max_nonfinite=MAX_NONFINITE):
    """``pfsinhdrgen bracket.hdrgen | pfshdrcalibrate -c robertson -s response.m``."""
    return _pfstools(images, times, "robertson", "pfstools Robertson", raw, timeout, extra_args,
                     max_nonfinite)


def pfstools_mitsunaga_nayar(images, times, raw=False, timeout=PFSTOOLS_TIMEOUT, extra_args=(),
                             max_nonfinite=MAX_NONFINITE):
    """``pfsinhdrgen bracket.hdrgen | pfshdrcalibrate -c mitsunaga -s response.m``.

    The method also re-estimates the exposure ratios; only the response is read.
    """
    return _pfstools(images, times, "mitsunaga", "pfstools Mitsunaga-Nayar", raw, timeout, extra_args,
                     max_nonfinite)


# ----------------------------------------------------------------------------- colour-hdri
def _blas_limit(n_threads):
    """Context limiting BLAS threads (threadpoolctl), or a no-op without it / with None."""
    import contextlib

    if n_threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n_threads)


def colour_hdri_stack(images, times):
    """A colour-hdri ``ImageStack`` in memory: each image's data is level / 255, f/1, ISO 100."""
    from colour_hdri import Image, ImageStack
    from colour_hdri.utilities.image import Metadata

    stack = ImageStack()
    for img, t in zip(images, times):
        stack.append(Image(None, img.astype(np.float64) / 255.0,
                           Metadata(f_number=1.0, exposure_time=float(t), iso=100.0)))
    return stack


def colour_hdri_debevec(images, times, raw=False, max_nonfinite=MAX_NONFINITE, blas_threads=1, **kwargs):
    """``colour_hdri.camera_response_functions_Debevec1997`` with its defaults.

    The stack is built in memory: each image's data is level / 255 (float),
    its metadata f/1, ISO 100 and the exposure time.  ``kwargs`` go to the
    colour-hdri function (e.g. ``l_s``, ``sampling_function_kwargs``).

    Its cost is a dense least-squares solve per channel ((1000 n + 257) x
    1256 for n exposures).  ``blas_threads`` (default 1, None for the BLAS
    default) limits the BLAS threads for the call: on a loaded 2-core machine
    multi-threaded OpenBLAS made it 6x slower; the result is the same (1e-13).
    """
    try:
        from colour_hdri import camera_response_functions_Debevec1997
    except ImportError as exc:
        raise PeerFailed(f"colour-hdri is not installed ({exc})", peer="colour-hdri Debevec 1997") from exc
    stack = colour_hdri_stack(*_check_inputs(images, times))
    try:
        with np.errstate(all="ignore"), _blas_limit(blas_threads):
            resp = camera_response_functions_Debevec1997(stack, **kwargs)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise PeerFailed(f"colour-hdri Debevec 1997: {exc}", peer="colour-hdri Debevec 1997") from exc
    return _finish(resp, raw, "colour-hdri Debevec 1997", max_nonfinite)


# ----------------------------------------------------------------------------- registry
PEERS = {
    "OpenCV Debevec": opencv_debevec,
    "OpenCV Robertson": opencv_robertson,
    "pfstools Robertson": pfstools_robertson,
    "pfstools Mitsunaga-Nayar": pfstools_mitsunaga_nayar,
    "colour-hdri Debevec 1997": colour_hdri_debevec,
}


def _missing_note(name):
    if name.startswith("OpenCV"):
        if importlib.util.find_spec("cv2") is None:
            return "OpenCV not installed (pip install opencv-python)"
        return None
    if name.startswith("pfstools"):
        missing = [e for e in ("pfsinhdrgen", "pfshdrcalibrate", "pfsin", "pfsinppm", "pfstag")
                   if shutil.which(e) is None]
        if missing:
            return f"pfstools not installed (apt-get install pfstools; missing {', '.join(missing)})"
        return None
    if name.startswith("colour-hdri"):
        if importlib.util.find_spec("colour_hdri") is None:
            return "colour-hdri not installed (pip install colour-hdri)"
        return None
    return None


class PeerDict(dict):
    """A name -> function dict of peers, with ``missing``: name -> why it is unavailable."""

    missing: dict


def available_peers():
    """The peers whose tool is installed (a :class:`PeerDict`; ``.missing`` notes the others)."""
    out = PeerDict()
    out.missing = {}
    for name, fn in PEERS.items():
        note = _missing_note(name)
        if note is None:
            out[name] = fn
        else:
            out.missing[name] = note
    return out


def raw_response(peer, images, times, **kwargs):
    """The peer's own (256, 3) response (linear, RGB, unnormalised) for ``peer`` (a PEERS name)."""
    return PEERS[peer](images, times, raw=True, **kwargs)
