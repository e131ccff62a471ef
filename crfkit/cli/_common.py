"""Helpers shared by the sub-commands."""

import sys
from pathlib import Path

from .._io import atomic_write_text, check_output_path
from ..errors import DataNotFoundError, ValidationError


def check_output(path, suffixes=None, expected=None, what="-o"):
    """Check an output file before any work (``None`` or ``-``: stdout, nothing to check).

    Refuses, in one line naming the path: an unaccepted suffix, a missing folder, an
    existing folder, a folder that refuses writes (read-only file system, permissions).
    Returns the path (a ``Path``) or ``None``.
    """
    if path is None or str(path) == "-":
        return None
    return check_output_path(path, suffixes, expected, what=what)


def write_output(text, path=None):
    """Print ``text`` or write it atomically to ``path``; say what was written.

    The path is checked again here (the command should have checked it before its
    work): whatever goes wrong, the file is complete or untouched and the error is a
    one-line :class:`~crfkit.errors.ValidationError`.
    """
    text = text if text.endswith("\n") else text + "\n"
    if path is None or str(path) == "-":
        sys.stdout.write(text)
        return
    path = check_output(path)
    try:
        atomic_write_text(path, text)
    except OSError as exc:  # e.g. the disk filled up during the write
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}", file=sys.stderr)


def check_plot_path(path):
    """Validate a ``--plot`` path before any long computation; returns a ``Path`` or ``None``.

    The suffix rules are crfkit.plotting's; the folder must exist, be a folder and take writes.
    """
    from ..plotting import check_plot_path as check

    path = check(path)[0]
    if path is not None:
        check_output_path(path, what="--plot")
    return path


def check_output_folder(path, what="-o", parents=True):
    """Check before any work that files can be written in folder ``path``; returns it as a ``Path``.

    An existing folder must take writes; an existing file of that name is refused; a missing
    folder is made later, so the nearest existing ancestor (with ``parents=False``: the parent
    itself, which must exist) must take writes.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValidationError(f"{what} {path} is a file; give a folder")
    if path.is_dir():
        check_output_path(path / "probe", what=what)  # probes the folder itself
        return path
    base = path
    if parents:
        while not base.parent.exists() and base.parent != base:
            base = base.parent
    if base.parent.exists() and not base.parent.is_dir():
        raise ValidationError(f"{what} {path}: {base.parent} is a file, not a folder")
    check_output_path(base, what=what)  # probes the folder it will be made in
    return path


def spec_file(spec, label):
    """``(label, path)`` of the file a curve option (``--curve``, ``--crf``, ``--basis``...) reads, or ``None``.

    Accepts the spellings the curve readers take: a path, or ``forward:PATH`` / ``inverse:PATH``;
    names (``srgb``, ``gamma:2.2``, ``dorf``) read no file of the user's.
    """
    if spec is None:
        return None
    text = str(spec).strip()
    for kind in ("forward:", "inverse:"):
        if text.lower().startswith(kind):
            text = text[len(kind):]
    path = Path(text).expanduser()
    return (label, path) if path.is_file() else None


def check_input_file(path, what="--weights", kind="file"):
    """Check before any work that the file an option names exists, is a file and can be read.

    ``kind`` names the file in the messages (``"weights file"``).  Returns it as a ``Path``.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataNotFoundError(f"{what} {path}: {kind} not found")
    if p.is_dir():
        raise ValidationError(f"{what} {path} is a folder; give a {kind}")
    try:
        with open(p, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ValidationError(f"{what} {path}: cannot read the {kind} ({exc.strerror or exc})") from None
    return p
