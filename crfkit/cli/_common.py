"""Helpers shared by the sub-commands."""

import sys
from pathlib import Path

from .._io import atomic_write_text


def write_output(text, path=None):
    """Print ``text`` or write it atomically to ``path``."""
    if path is None or str(path) == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(path)
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")
    print(f"wrote {path}", file=sys.stderr)


def check_plot_path(path):
    """Validate a ``--plot`` path before any long computation (same rules as crfkit.plotting)."""
    from ..plotting import check_plot_path as check

    return check(path)[0]
