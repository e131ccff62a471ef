"""Helpers shared by the sub-commands."""

import sys
from pathlib import Path

from .._io import atomic_write_text
from ..errors import ValidationError


def write_output(text, path=None):
    """Print ``text`` or write it atomically to ``path``."""
    if path is None or str(path) == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(path)
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    print(f"wrote {path}", file=sys.stderr)


def check_plot_path(path):
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValidationError(f"--plot {path}: use a .png, .pdf or .svg file name")
    if not path.parent.exists():
        raise ValidationError(f"--plot {path}: folder {path.parent} does not exist")
    return path
