"""Building a curve set from cameras' chart photographs.

Each camera is calibrated independently (joblib, in parallel); a camera that
fails (missing or corrupt file, no chart, too few usable patches, missing
exposure times...) is listed with the reason and the build goes on.  Finished
cameras are cached as JSON beside the output (``<output>.partial/``) keyed by
their input files and the options, so an interrupted build resumes where it
stopped; the cache is removed once the output is written (atomically).

Crash and concurrency safety: a build holds an exclusive lock on
``<output>.lock`` (an OS lock, released by the kernel even when the process is
killed) from before the first camera to the end, so a second build of the same
output stops at once with a one-line error instead of racing on the cache; a
build starts by removing the temporaries a killed build left (a half-written
``.crfs`` beside the output, half-written cache entries), and leaves neither a
lock file, nor a cache folder, nor a temporary behind when it ends, whether it
succeeds or every camera fails.  A cache entry that cannot be written is
skipped with a warning (the build goes on; only resuming is lost).
"""

import contextlib
import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_write_text, check_output_path
from ..curves import CurveSet
from ..errors import CrfkitError, ValidationError

CHANNELS = ("R", "G", "B")


def _calibrate(spec, method, k):
    from ..calibration import (
        as_layout, fit_crf, fit_crf_colour, samples_from_bracket_files, samples_from_pair_files,
    )

    missing = [str(p) for p in spec.files() if not Path(p).is_file()]
    if missing:
        raise ValidationError(f"input file not found: {missing[0]}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
    method = spec.options.get("method", method)
    k = check_k(spec.options["k"], "k") if "k" in spec.options else k  # before the images are read
    layout = as_layout(spec.layout, name=spec.name)
    if spec.kind == "raw+jpeg":
        samples = samples_from_pair_files(spec.inputs, layout, name=spec.name)
    else:
        samples = samples_from_bracket_files(spec.inputs, layout, name=spec.name)
    est = fit_crf(samples, method=method, k=k, name=spec.name)
    colour = None
    if spec.kind == "raw+jpeg":
        try:
            c = fit_crf_colour(samples, method=method, k=k, name=spec.name)
            colour = {"method": c.method, "matrix": np.round(c.matrix, 6).tolist(),
                      "rmse": np.round(c.rmse, 6).tolist()}
        except CrfkitError as exc:
            colour = {"error": str(exc)}
    return samples, est, colour


def build_camera(spec, method="smooth", k=4):
    """Calibrate one camera; never raises for a user-data problem.

    Returns
    -------
    dict
        ``{'camera', 'ok': True, 'values' (3 x 1024 list), 'metadata' (3 dicts)}``
        or ``{'camera', 'ok': False, 'reason'}``.
    """
    from ..calibration import sha256

    try:
        samples, est, colour = _calibrate(spec, method, k)
    except CrfkitError as exc:
        return {"camera": spec.name, "ok": False, "reason": " ".join(str(exc).split())}
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. a decoder's own error on a corrupt file
        return {"camera": spec.name, "ok": False, "reason": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
    inputs = [{"path": str(p), "sha256": sha256(p)} for p in spec.files()]
    metas = []
    for c, ch in enumerate(CHANNELS):
        used = est.w[:, c] > 0
        metas.append({
            "camera": spec.name, "channel": ch, "year": spec.year, "inputs": inputs, "kind": samples.kind,
            "method": est.method,
            "residuals": {"rmse": round(float(est.rmse[c]), 6), "n_samples": int(used.sum()),
                          "scale": float(est.scale[c])},
            "flags": list(est.flags),
            "rejected": samples.rejected,
            "samples": {"x": np.round(est.x[used, c], 6).tolist(), "y": np.round(est.y[used, c], 6).tolist()},
            **({"colour_fit": {key: (val[c] if key == "rmse" else val) for key, val in colour.items()}}
               if colour and "error" not in colour else {}),
            **({"colour_fit_error": colour["error"]} if colour and "error" in colour else {}),
        })
    return {"camera": spec.name, "ok": True, "values": [np.round(cv.values, 8).tolist() for cv in est.curves],
            "metadata": metas}


def _cache_key(spec, method, k):
    h = hashlib.sha256()
    h.update(json.dumps([spec.name, spec.kind, str(spec.layout), spec.year, spec.options, method, k]).encode())
    for p in spec.files():
        try:
            st = Path(p).stat()
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(f"{p}:missing".encode())
    return h.hexdigest()[:16]


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def check_jobs(n_jobs):
    """Validate ``n_jobs`` (before anything is created): an int >= 1, or -1 for one per core.

    joblib's other negative values (-2: all cores but one, ...) are refused: ``-j -5`` is far
    more likely a typo than a request for "all cores but four".
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or not (n_jobs >= 1 or n_jobs == -1):
        raise ValidationError(f"-j (n_jobs) must be >= 1 (cameras built in parallel), or -1 for one per core; "
                              f"got {n_jobs!r}")
    return int(n_jobs)


def check_k(k, what="-k (k)"):
    """Validate a model's parameter count: an int >= 1 (the model checks its own upper bound)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValidationError(f"{what} must be a positive integer, got {k!r}")
    return int(k)


def check_build_output(output, what="output"):
    """Check before any work that ``output`` can be written (a ``.crfs`` in a writable folder)."""
    return check_output_path(output, (".crfs",), "a .crfs file name (a crfkit curve set)", what=what)


class BuildLockedError(ValidationError):
    """Another build of the same output is running."""


@contextlib.contextmanager
def _build_lock(output):
    """Hold an exclusive OS lock on ``<output>.lock`` for the whole build; remove the file at the end.

    The kernel drops the lock when its process dies (even by SIGKILL), so a killed build never
    blocks the next one; a left lock file is reused.  After locking, the path must still name
    the locked file: otherwise a finishing build removed it in between and we lock afresh.
    """
    path = output.with_name(output.name + ".lock")
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ValidationError(f"cannot write {path} (the build's lock file): {exc.strerror or exc}") from None
        try:
            _lock_fd(fd)
        except BlockingIOError:
            os.close(fd)
            raise BuildLockedError(f"another build is writing {output} (its lock {path.name} is held); wait for it "
                                   "to finish or choose another output") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked, so no other build holds a lock on a removed file
        os.close(fd)


def _lock_fd(fd):
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _is_temporary(name, target):
    """Is ``name`` a temporary that crfkit._io.atomic_path makes for ``target`` (``.NAME.UNIQUE.tmpSUFFIX``)?

    (tests/test_build_crash.py fails if atomic_path's naming drifts from this pattern.)
    """
    unique = r"[A-Za-z0-9_-]+"
    return re.fullmatch(rf"\.{re.escape(target.name)}\.{unique}\.tmp{re.escape(target.suffix)}", name) is not None


def _remove_stale_temporaries(output, cache):
    """Remove what killed builds left: a half-written output temporary, half-written cache entries.

    Only called under the build lock, so no running build owns them.
    """
    for f in output.parent.iterdir():  # not glob: the name may hold glob characters
        if _is_temporary(f.name, output):
            with contextlib.suppress(OSError):
                f.unlink()
    if cache.is_dir():
        for f in cache.iterdir():
            if f.name.startswith("."):
                with contextlib.suppress(OSError):
                    f.unlink()


def _remove_cache(cache):
    if not cache.is_dir():
        return
    for f in cache.iterdir():
        with contextlib.suppress(OSError):
            f.unlink()
    with contextlib.suppress(OSError):
        cache.rmdir()


def build_dataset(cameras, output, method="smooth", k=4, n_jobs=2, resume=True, progress=True, attrs=None):
    """Calibrate every camera and save the curve set.

    Parameters
    ----------
    cameras : sequence of CameraSpec
    output : str or Path
        The ``.crfs`` file to write (atomically).
    method, k :
        Curve family and parameter count (see :func:`crfkit.calibration.fit_crf`);
        a camera's manifest entry may override them.  Default ``'smooth'`` (the
        scale from EMoR-``k``, the shape model-free) so that the built curves do not
        lie in any model's span and the comparison table stays fair.
    n_jobs : int
        Cameras calibrated in parallel (>= 1; -1: one per core).
    resume : bool
        Reuse finished cameras cached in ``<output>.partial/``.
    progress : bool
        Show a tqdm progress bar (on stderr).
    attrs : dict, optional
        Set attributes (dataset name, description...).

    Returns
    -------
    curves : CurveSet
        Three curves per successful camera, named ``<camera>/R|G|B``;
        ``attrs['failed']`` lists the failed cameras with the reason.
    failed : list of dict

    Raises
    ------
    ValidationError
        No camera was given, ``n_jobs`` is neither >= 1 nor -1, ``k`` is not a valid
        parameter count for ``method``, the output cannot be written (checked
        before any camera is built), another build of the same output is running
        (:class:`BuildLockedError`), or every camera failed (the reasons are in
        the message).
    """
    cameras = list(cameras)
    if not cameras:
        raise ValidationError("no cameras to build")
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise ValidationError("camera names must be unique")
    n_jobs = check_jobs(n_jobs)
    k = check_k(k)
    output = check_build_output(output)
    if method in ("emor", "pca", "smooth", "polynomial"):
        # A bad k or a missing basis file is one problem for the whole build, not one per camera
        # ('smooth' takes its irradiance scale from an EMoR fit).
        from ..models import get_model

        model = get_model("emor" if method == "smooth" else method, k=k)
        if method != "polynomial":
            model.basis_arrays()
    cache = output.with_name(output.name + ".partial")
    with _build_lock(output):
        _remove_stale_temporaries(output, cache)
        try:
            cache.mkdir(exist_ok=True)
        except OSError as exc:
            warnings.warn(f"cannot create the resume cache {cache} ({exc.strerror or exc}); building without it")
            cache = None
        try:
            curves, failed = _build(cameras, names, output, cache, method, k, n_jobs, resume, progress, attrs)
        except BaseException:
            if cache is not None and cache.is_dir() and not any(cache.iterdir()):
                with contextlib.suppress(OSError):
                    cache.rmdir()  # nothing to resume from (e.g. every camera failed): leave no empty folder
            raise
        if cache is not None:
            _remove_cache(cache)
    return curves, failed


def _build(cameras, names, output, cache, method, k, n_jobs, resume, progress, attrs):
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    results, todo = {}, []
    for spec in cameras:
        key = _cache_key(spec, method, k)
        f = None if cache is None else cache / f"{_safe(spec.name)}.json"
        if resume and f is not None and f.is_file():
            try:
                doc = json.loads(f.read_text())
                if doc.get("key") == key:
                    results[spec.name] = doc["result"]
                    continue
            except (OSError, ValueError, KeyError, AttributeError):
                pass  # a damaged cache entry is simply recomputed
        todo.append((spec, key, f))

    def run(spec, key, f):
        res = build_camera(spec, method, k)
        problem = None
        if res["ok"] and f is not None:  # failures are retried on the next run
            try:
                atomic_write_text(f, json.dumps({"key": key, "result": res}))
            except (CrfkitError, OSError) as exc:  # only resuming is lost: the build goes on
                problem = f"cannot cache camera {spec.name!r} in {f.parent} ({' '.join(str(exc).split())}); " \
                          "an interrupted build will recompute it"
        return res, problem

    bar = tqdm(total=len(cameras), initial=len(results), desc="cameras", unit="camera", disable=not progress)
    try:
        jobs = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(run)(*t) for t in todo)
        for res, problem in jobs:
            if problem:
                warnings.warn(problem)
            results[res["camera"]] = res
            bar.set_postfix_str(res["camera"][:20])
            bar.update(1)
    finally:
        bar.close()
    ok = [results[n] for n in names if results[n]["ok"]]
    failed = [{"camera": n, "reason": results[n]["reason"]} for n in names if not results[n]["ok"]]
    if not ok:
        raise ValidationError("every camera failed: " + "; ".join(f"{f['camera']}: {f['reason']}" for f in failed))
    values = np.array([v for r in ok for v in r["values"]])
    curve_names = [f"{r['camera']}/{ch}" for r in ok for ch in CHANNELS]
    metas = [m for r in ok for m in r["metadata"]]
    set_attrs = {**(attrs or {}), "method": method, "k": k, "cameras": [r["camera"] for r in ok], "failed": failed}
    curves = CurveSet(np.clip(values, 0, 1), "forward", curve_names, metas, set_attrs,
                      name=(attrs or {}).get("name", output.stem))
    curves.save(output)
    return curves, failed
