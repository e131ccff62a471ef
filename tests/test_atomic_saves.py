"""Concurrent saves to one path never fail, never tear and leave no temporary file.

Issue 12, defect 2: the temporary file was named after the process id only, so
threads saving the same path shared it (up to 42 % of saves failed and final
files were corrupt).  Each writer below saves distinct payloads to one path
while a reader keeps loading it: every save must succeed, every load must see
one complete payload, and only the target file may remain.
"""

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from crfkit._io import atomic_path, atomic_savez, atomic_write_bytes, atomic_write_text
from crfkit.curves import CurveSet
from crfkit.models.pca import PCABasis

N_THREADS = 8
SAVES_PER_WRITER = 12


# -- payloads: writer w, save i -> a distinct, checkable object ----------------------------------
def curveset_payload(w, i):
    grid = np.linspace(0.0, 1.0, 1024)
    vals = np.stack([grid ** (0.3 + 0.01 * w + 0.0001 * i), grid])
    return CurveSet(vals, "forward", [f"w{w}", f"i{i}"], [{"w": w}, {"i": i}], {"writer": w, "save": i})


def basis_payload(w, i):
    rng = np.random.default_rng(1000 * w + i)
    comps = np.linalg.qr(rng.standard_normal((1024, 3)))[0].T
    return PCABasis(rng.random(1024), comps, np.array([0.5, 0.3, 0.1]), "forward", f"w{w}-i{i}", {"w": w, "i": i})


def text_payload(w, i):
    # ~200 kB: large enough that a torn or interleaved write would show
    line = f"writer {w} save {i} " + "x" * 80 + "\n"
    return line * 2000


def bytes_payload(w, i):
    return bytes([w, i]) * 50_000


def savez_payload(w, i):
    return {"a": np.full((64, 64), 1000 * w + i, dtype=np.int64), "b": np.array([w, i])}


def _basis_equal(a, b):
    return (
        np.array_equal(a.mean, b.mean)
        and np.array_equal(a.components, b.components)
        and np.array_equal(a.explained_variance_ratio, b.explained_variance_ratio)
        and a.kind == b.kind
        and a.source == b.source
        and a.attrs == b.attrs
    )


def _load_npz(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


#: kind -> (file name, payload(w, i), save(payload, path), load(path), identify(loaded) -> (w, i) or None)
KINDS = {
    "curveset": (
        "set.crfs",
        curveset_payload,
        lambda obj, p: obj.save(p),
        CurveSet.load,
        lambda cs: (cs.attrs["writer"], cs.attrs["save"]) if cs == curveset_payload(cs.attrs["writer"], cs.attrs["save"]) else None,
    ),
    "npz-basis": (
        "basis.npz",
        basis_payload,
        lambda obj, p: obj.save(p),
        PCABasis.load,
        lambda b: (b.attrs["w"], b.attrs["i"]) if _basis_equal(b, basis_payload(b.attrs["w"], b.attrs["i"])) else None,
    ),
    "text": (
        "out.txt",
        text_payload,
        lambda obj, p: atomic_write_text(p, obj),
        lambda p: Path(p).read_text(),
        lambda t: (int(t.split()[1]), int(t.split()[3])) if t == text_payload(int(t.split()[1]), int(t.split()[3])) else None,
    ),
    "bytes": (
        "out.bin",
        bytes_payload,
        lambda obj, p: atomic_write_bytes(p, obj),
        lambda p: Path(p).read_bytes(),
        lambda b: (b[0], b[1]) if b == bytes_payload(b[0], b[1]) else None,
    ),
    "savez": (
        "arrays.npz",
        savez_payload,
        lambda obj, p: atomic_savez(p, **obj),
        _load_npz,
        lambda z: (int(z["b"][0]), int(z["b"][1]))
        if set(z) == {"a", "b"} and np.array_equal(z["a"], savez_payload(*map(int, z["b"]))["a"])
        else None,
    ),
}


def _only_target_left(folder, name):
    left = sorted(p.name for p in Path(folder).iterdir())
    assert left == [name], f"leftover files: {[n for n in left if n != name]}"


class Reader(threading.Thread):
    """Keeps loading the target while writers save; records every torn or failed read."""

    def __init__(self, path, load, identify):
        super().__init__(daemon=True)
        self.path, self.load, self.identify = path, load, identify
        self.stop = threading.Event()
        self.reads = 0
        self.bad = []

    def run(self):
        while not self.stop.is_set():
            if not self.path.exists():
                continue
            try:
                who = self.identify(self.load(self.path))
            except Exception as exc:  # noqa: BLE001 - any failed read is a torn file
                self.bad.append(f"{type(exc).__name__}: {exc}")
                continue
            self.reads += 1
            if who is None:
                self.bad.append("content is no writer's payload")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_concurrent_saves_from_threads(kind, tmp_path):
    name, payload, save, load, identify = KINDS[kind]
    path = tmp_path / name
    errors = []
    barrier = threading.Barrier(N_THREADS)

    def writer(w):
        objs = [payload(w, i) for i in range(SAVES_PER_WRITER)]
        barrier.wait()  # start together: the saves really overlap
        for obj in objs:
            try:
                save(obj, path)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}")

    reader = Reader(path, load, identify)
    reader.start()
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader.stop.set()
    reader.join()
    assert not errors, f"{len(errors)} of {N_THREADS * SAVES_PER_WRITER} saves failed, first: {errors[0]}"
    assert not reader.bad, f"{len(reader.bad)} of {reader.reads + len(reader.bad)} reads torn, first: {reader.bad[0]}"
    who = identify(load(path))
    assert who is not None and 0 <= who[0] < N_THREADS and 0 <= who[1] < SAVES_PER_WRITER
    _only_target_left(tmp_path, name)


_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import test_atomic_saves as t
    folder, w, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    jobs = [(kind, t.KINDS[kind], [t.KINDS[kind][1](w, i) for i in range(n)]) for kind in sorted(t.KINDS)]
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # wait for the go: every process saves at once
    for i in range(n):
        for kind, (name, _, save, _, _), objs in jobs:
            save(objs[i], folder + "/" + name)
    """
)


def test_concurrent_saves_from_processes(tmp_path):
    """Four processes save every kind of file to the same paths at once (one start-up for all kinds)."""
    n_procs = 4
    script = _WRITER_SCRIPT.format(tests=str(Path(__file__).parent))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), str(w), str(SAVES_PER_WRITER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for w in range(n_procs)
    ]
    readers = []
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for kind, (name, _, _, load, identify) in sorted(KINDS.items()):
            readers.append((kind, Reader(tmp_path / name, load, identify)))
            readers[-1][1].start()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for _, r in readers:
            r.stop.set()
            r.join()
    failed = [err for rc, err in results if rc != 0]
    assert not failed, f"{len(failed)} writer process(es) failed: {failed[0][-500:]}"
    for kind, r in readers:
        assert not r.bad, f"{kind}: {len(r.bad)} of {r.reads + len(r.bad)} reads torn, first: {r.bad[0]}"
    for kind, (name, _, _, load, identify) in KINDS.items():
        who = identify(load(tmp_path / name))
        assert who is not None and 0 <= who[0] < n_procs, kind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(k[0] for k in KINDS.values())


def test_failed_save_leaves_target_and_no_temporary(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("writer crashed")
    assert path.read_text() == "old"
    _only_target_left(tmp_path, "keep.txt")


def test_saved_file_has_the_usual_permissions(tmp_path):
    """The temporary file is private while written; the saved file gets the umask's mode."""
    old = os.umask(0o022)
    os.umask(old)
    path = tmp_path / "set.crfs"
    curveset_payload(0, 0).save(path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~old
