"""Crash and concurrency safety of ``crfkit build-dataset``.

A build is killed with SIGKILL at chosen points and rerun; the rerun's output must be
byte-identical to an uninterrupted build and no temporary, lock or cache may remain.  A second
build of the same output while one runs is refused in one line and cannot tear the output.  The
kill points are deterministic: the build runs in a subprocess through a small wrapper that
patches one function to stop at the point (it writes a marker file and waits), and the test
kills it once the marker appears.  The cameras are two synthetic ColorChecker JPEGs (no real
data needed); ``--method polynomial`` needs no basis file.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crfkit.cli import main

TIMEOUT = 120  # seconds for a paused build to reach its marker on a busy machine

# Runs the real command line with one function patched to pause at CRASH_AT; it waits there
# for SIGKILL or, with CRASH_GO set, until that file exists, then goes on.
WRAPPER = r'''
import io, os, sys, time
import numpy
import crfkit.dcrf.build as build
from crfkit import _io
from crfkit.cli import main

at, mark, go = os.environ["CRASH_AT"], os.environ["CRASH_MARK"], os.environ.get("CRASH_GO")

def pause(where):
    if where != at:
        return
    open(mark, "w").close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if go and os.path.exists(go):
            return
        time.sleep(0.02)
    sys.exit(3)  # never killed nor released: the test failed

real_build_camera = build.build_camera
def build_camera(spec, *a, **kw):
    pause("camera:" + spec.name)
    return real_build_camera(spec, *a, **kw)
build.build_camera = build_camera

real_write = build.atomic_write_text
def atomic_write_text(path, text):  # the resume cache's writes
    if at == "cache:" + path.stem:
        with _io.atomic_path(path) as tmp:
            open(tmp, "w").write(text[: len(text) // 2])
            pause(at)
            open(tmp, "w").write(text)
        return
    real_write(path, text)
build.atomic_write_text = atomic_write_text

real_savez = numpy.savez
def savez(file, *a, **kw):  # the final save of the .crfs (an npz archive)
    buf = io.BytesIO()
    real_savez(buf, *a, **kw)
    data = buf.getvalue()
    file.write(data[: len(data) // 2])
    file.flush()
    pause("save")
    file.write(data[len(data) // 2:])
numpy.savez = savez

for name in ("_remove_stale_temporaries", "_remove_cache"):  # just after locking; after the save
    def patched(*a, _real=getattr(build, name), _name=name, **kw):
        pause({"_remove_stale_temporaries": "locked", "_remove_cache": "cleanup"}[_name])
        return _real(*a, **kw)
    setattr(build, name, patched)

sys.exit(main(sys.argv[1:]))
'''


def write_manifest(path, cameras, jpegs):
    """A manifest of ``single`` cameras ``cam0``, ``cam1``... from the given JPEG paths."""
    corners = json.loads((cameras / "corners.json").read_text())
    lines = ['[dataset]', 'name = "crash"', '']
    for i, jpeg in enumerate(jpegs):
        lines += ['[[camera]]', f'name = "cam{i}"', 'kind = "single"', f'jpeg = {json.dumps(str(jpeg))}',
                  f'layout = {{ corners = {json.dumps(corners)}, rows = 4, cols = 6 }}', '']
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def cameras(tmp_path_factory):
    """A manifest of two synthetic single-JPEG cameras (gamma 1.8 and 2.6)."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("colour")
    import crfkit
    from crfkit.calibration.synthetic import camera_jpeg, render_chart
    from crfkit.charts import colorchecker_reference

    d = tmp_path_factory.mktemp("cams")
    lin, lay = render_chart(colorchecker_reference())
    (d / "corners.json").write_text(json.dumps(lay.corners.tolist()))
    for i, g in enumerate((1.8, 2.6)):
        img = camera_jpeg(lin, crfkit.Curve.gamma(g), exposure=0.85, seed=i, quality=None)
        assert cv2.imwrite(str(d / f"c{i}.jpg"), img[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    write_manifest(d / "m.toml", d, [d / "c0.jpg", d / "c1.jpg"])
    (d / "wrapper.py").write_text(WRAPPER)
    return d


def args(cameras, out, *extra):
    return ["build-dataset", str(cameras / "m.toml"), "-o", str(out), "-j", "1", "--quiet",
            "--method", "polynomial", *extra]


@pytest.fixture(scope="module")
def reference(cameras, tmp_path_factory):
    """An uninterrupted build's bytes."""
    out = tmp_path_factory.mktemp("ref") / "out.crfs"
    assert main(args(cameras, out)) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.crfs"]
    return out.read_bytes()


def start_paused(cameras, out, at, go=None):
    """Start a build that stops at ``at``; return the process once it is there."""
    mark = out.parent / f"mark-{at.replace(':', '-')}"
    env = {**os.environ, "CRASH_AT": at, "CRASH_MARK": str(mark), "PYTHONWARNINGS": "ignore"}
    if go:
        env["CRASH_GO"] = str(go)
    proc = subprocess.Popen([sys.executable, str(cameras / "wrapper.py"), *args(cameras, out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    while not mark.exists():
        if proc.poll() is not None:
            pytest.fail(f"the build ended (rc {proc.returncode}) before reaching {at}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the build did not reach {at} within {TIMEOUT} s")
        time.sleep(0.02)
    mark.unlink()
    return proc


def kill(proc):
    proc.kill()  # SIGKILL on POSIX: no cleanup handler runs
    proc.communicate(timeout=30)
    assert proc.returncode == -9


def leftovers(folder, out):
    return sorted(p.name for p in folder.iterdir() if p.name != out.name and not p.name.startswith("mark-"))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_and_concurrent_builds_end_in_identical_output(cameras, reference, tmp_path, capsys):
    out = tmp_path / "out.crfs"
    cache = tmp_path / "out.crfs.partial"

    # 1. Killed while calibrating the second camera: the first is cached, nothing else is written.
    kill(start_paused(cameras, out, "camera:cam1"))
    assert not out.exists() and (cache / "cam0.json").is_file()

    # 2. Killed half-way through writing the second camera's cache entry: a hidden temporary remains.
    kill(start_paused(cameras, out, "cache:cam1"))
    assert not out.exists() and [p.name for p in cache.iterdir() if p.name.startswith(".cam1.json.")]

    # 3. Killed half-way through the final save: a half-written hidden temporary beside the output.
    kill(start_paused(cameras, out, "save"))
    assert not out.exists()
    temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.crfs.")]
    assert temps and temps[0].stat().st_size > 0
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "run 3 cleans run 2's temporary"

    # 4. Killed after the save, before the cache is removed; meanwhile a second build of the same
    #    output is refused in one line and leaves the first one's output whole.
    proc = start_paused(cameras, out, "cleanup")
    assert out.read_bytes() == reference
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.crfs.")], "run 4 cleans run 3's temporary"
    capsys.readouterr()
    assert main(args(cameras, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another build is writing" in err[0] and str(out) in err[0], err
    kill(proc)
    assert out.read_bytes() == reference

    # 5. The rerun finishes from the cache, while a build started meanwhile with the real console
    #    script is refused in one line (the one that holds the lock wins; no torn output).
    go = tmp_path / "go"
    first = start_paused(cameras, out, "locked", go=go)
    second = subprocess.run([sys.executable, "-m", "crfkit", *args(cameras, out)], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crfkit build-dataset: error: another build is writing"), lines
    go.touch()
    _, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err
    go.unlink()
    assert out.read_bytes() == reference
    assert leftovers(tmp_path, out) == []


def test_a_cache_that_cannot_be_written_is_skipped(cameras, tmp_path, monkeypatch, capsys):
    """A failed cache write costs only the resume: the build goes on, with a one-line warning."""
    import crfkit
    import crfkit.dcrf.build as build

    def refuse(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(build, "atomic_write_text", refuse)
    one = write_manifest(tmp_path / "one.toml", cameras, [cameras / "c0.jpg"])
    out = tmp_path / "one.crfs"
    rc = main(["build-dataset", str(one), "-o", str(out), "-j", "1", "--quiet", "--method", "polynomial"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "warning: cannot cache camera 'cam0'" in err and "No space left" in err
    assert len(crfkit.CurveSet.load(out)) == 3
    assert leftovers(tmp_path, out) == ["one.toml"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # imageio's, hidden outside pytest too
def test_failed_builds_leave_nothing(cameras, tmp_path, capsys):
    """-j 0 and a build in which every camera fails: one line, exit 2, no output, cache or lock."""
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    manifest = write_manifest(tmp_path / "bad.toml", cameras, [bad, tmp_path / "missing.jpg"])
    out = tmp_path / "out.crfs"
    for extra in (["-j", "0"], []):
        argv = ["build-dataset", str(manifest), "-o", str(out), "--quiet", "--method", "polynomial", *(extra or ["-j", "1"])]
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0], err
        assert ("-j" in err[0]) if extra else ("every camera failed" in err[0]), err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jpg", "bad.toml"]


def test_stale_temporaries_are_recognised_narrowly():
    from crfkit.dcrf.build import _is_temporary

    out = Path("d/out.crfs")
    assert _is_temporary(".out.crfs.k2j_9x1a.tmp.crfs", out)
    assert _is_temporary(".out.crfs.25156-140270065027968-7472f84b6c09.tmp.crfs", out)
    for name in ("out.crfs", ".out.crfs.lock", ".out.crfsx.abc.tmp.crfs", ".other.crfs.abc.tmp.crfs",
                 ".out.crfs.abc.tmp.npz"):
        assert not _is_temporary(name, out), name
