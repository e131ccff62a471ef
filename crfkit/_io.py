"""Atomic file writes and output-path checks.

A crash or an error never leaves a half-written output: every write goes to a
temporary file beside the target, then is renamed onto it (``os.replace`` is
atomic on POSIX and Windows).  The temporary name is unique per process,
thread and call, so concurrent saves to one path never share a temporary file;
the last rename wins and every reader sees a complete file.
"""

import contextlib
import errno
import os
import tempfile
import threading
import uuid
from pathlib import Path

import numpy as np

from .errors import ValidationError


def _describe_suffixes(suffixes):
    return " or ".join(suffixes)


def check_output_path(path, suffixes=None, expected=None, what="output"):
    """Check, before any work, that ``path`` can be written; return it as a ``Path``.

    Parameters
    ----------
    path : str or path-like
        The file to be written.
    suffixes : sequence of str, optional
        Accepted lower-case suffixes (with the dot); ``None`` accepts any.
    expected : str, optional
        How to describe the accepted names in the error (default: the suffixes).
    what : str
        What the path is, for the message (``"output"``, ``"--plot"``, ...).

    Raises
    ------
    ValidationError
        The suffix is not accepted, the folder does not exist, the path is a
        folder, or the folder refuses writes (read-only file system,
        permissions); the message names the path.
    """
    out = Path(path)
    if suffixes is not None and out.suffix.lower() not in tuple(s.lower() for s in suffixes):
        raise ValidationError(f"{what} {out}: use {expected or 'a ' + _describe_suffixes(suffixes) + ' file name'}")
    if out.is_dir():
        raise ValidationError(f"{what} {out} is a folder; give a file name")
    parent = out.parent
    if not parent.exists():
        raise ValidationError(f"{what} {out}: folder {parent} does not exist")
    if not parent.is_dir():
        raise ValidationError(f"{what} {out}: {parent} is not a folder")
    # A probe file finds read-only file systems and refused folders even as root (os.access does not)
    try:
        fd, probe = tempfile.mkstemp(prefix=".crfkit-probe-", dir=parent)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:  # the folder exists (checked above), yet takes no new files (e.g. /proc)
            reason = f"folder {parent} takes no new files: {reason}"
        raise ValidationError(f"{what} {out}: cannot write the file ({reason})") from None
    os.close(fd)
    os.unlink(probe)
    return out


def _file_keys(path):
    """What identifies the file at ``path``: its resolved path and, when it exists, its (device, inode).

    Two paths with a key in common name one file (``os.path.samefile`` when both exist; the
    resolved paths otherwise), whatever their spelling: relative or absolute, ``..``, symbolic
    or hard links.
    """
    p = Path(path)
    try:
        keys = [("path", os.path.normcase(str(p.resolve())))]
    except (OSError, RuntimeError):  # e.g. a symbolic link loop
        keys = [("path", os.path.normcase(os.path.abspath(p)))]
    try:
        st = os.stat(p)
    except (OSError, ValueError):
        return keys
    return keys + [("inode", st.st_dev, st.st_ino)]


class InputFiles:
    """The files a command reads, to refuse before any work an output that would replace one of them.

    ``inputs`` holds paths (described as "the input") or ``(description, path)`` pairs, e.g.
    ``("the --curve file", "cam.crfs")``; ``None`` entries are skipped.  Each input is looked
    at once, so checking every output of a large batch stays linear.
    """

    def __init__(self, inputs=()):
        self._index = {}
        for item in inputs:
            label, path = item if isinstance(item, tuple) else ("the input", item)
            if path is None:
                continue
            for key in _file_keys(path):
                self._index.setdefault(key, (label, path))

    def find(self, output):
        """``(description, path)`` of the input that writing ``output`` would replace, or ``None``."""
        for key in _file_keys(output):
            if key in self._index:
                return self._index[key]
        return None

    def check(self, output, what="-o"):
        """Raise :class:`ValidationError` when writing ``output`` would replace one of the inputs."""
        if output is None or str(output) == "-":
            return
        found = self.find(output)
        if found is not None:
            label, src = found
            raise ValidationError(f"{what} {output} would overwrite {label} {src}: choose another name")


def check_not_input(output, inputs, what="-o"):
    """Refuse, before any work, an ``output`` that names one of ``inputs`` (see :class:`InputFiles`)."""
    InputFiles(inputs).check(output, what)


def check_distinct_outputs(*outputs):
    """Refuse two outputs that name one file: ``(option, path)`` pairs, ``None`` paths skipped."""
    seen = InputFiles()
    for what, path in outputs:
        if path is None or str(path) == "-":
            continue
        found = seen.find(path)
        if found is not None:
            raise ValidationError(f"{found[0]} {found[1]} and {what} {path} name the same file: choose another "
                                  f"name for one of them")
        for key in _file_keys(path):
            seen._index.setdefault(key, (what, path))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a unique temporary path beside ``path``; rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if not path.parent.exists():
        raise ValidationError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ValidationError(f"cannot write {path}: it is a folder")
    # Unique between processes, threads and calls (the pid alone is shared by threads); created
    # with O_EXCL and mode 0o666 so that the umask decides the final file's permissions, as for
    # any ordinary write (mkstemp would leave every output readable by its owner only).
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise ValidationError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_savez(path, **arrays):
    """``np.savez`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def atomic_write_text(path, text):
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def atomic_write_bytes(path, data):
    """Write bytes to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
