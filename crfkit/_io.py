"""Atomic file writes and output-path checks.

A crash or an error never leaves a half-written output: every write goes to a
temporary file beside the target, then is renamed onto it (``os.replace`` is
atomic on POSIX and Windows).  The temporary name is unique per process,
thread and call, so concurrent saves to one path never share a temporary file;
the last rename wins and every reader sees a complete file.
"""

import contextlib
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
        raise ValidationError(f"{what} {out}: cannot write in folder {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return out


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
