"""Helpers shared by the tests: synthetic DoRF/EMoR files and curve generators."""

from pathlib import Path

import numpy as np

GRID = np.linspace(0.0, 1.0, 1024)


# -- DoRF text ----------------------------------------------------------------------------------
def dorf_lines(records, fmt="%.6e", sep=" "):
    """The lines of a DoRF file for ``records`` = [(name, type, brightness (1024,)), ...]."""
    grid_text = sep.join(fmt % v for v in GRID)
    lines = []
    for name, ctype, values in records:
        lines += [name, ctype, "I =", grid_text, "B =", sep.join(fmt % v for v in values)]
    return lines


def dorf_text(records, fmt="%.6e", newline="\r\n", sep=" "):
    """DoRF text as distributed (CRLF line ends by default)."""
    return newline.join(dorf_lines(records, fmt, sep)) + newline


# -- EMoR text ----------------------------------------------------------------------------------
def emor_blocks(mean, components, inverse=False):
    """[(header, values)] in the order of emor.txt / invemor.txt."""
    grid_key, mean_key, comp = ("B", "g0", "hinv") if inverse else ("E", "f0", "h")
    blocks = [(f"{grid_key} =", GRID), (f"{mean_key} =", mean)]
    blocks += [(f"{comp}({i + 1})=", c) for i, c in enumerate(components)]
    return blocks


def emor_lines(blocks, fmt="%.17e", per_line=4):
    """Lines of an EMoR file and, per block header, its 1-based line number."""
    lines, header_line = [], {}
    for head, values in blocks:
        lines.append(head + " ")
        header_line[head] = len(lines)
        for j in range(0, len(values), per_line):
            lines.append("   ".join(fmt % v for v in values[j : j + per_line]))
    return lines, header_line


def synthetic_basis(n_components=25):
    """Orthonormal (over the 1024 samples) smooth components, exactly 0 at both ends."""
    S = np.sin(np.pi * np.outer(GRID, np.arange(1, n_components + 1)))
    Q, _ = np.linalg.qr(S)
    comps = Q.T.copy()
    comps[:, [0, -1]] = 0.0
    return comps


def write_emor_pair(folder, n_components=25):
    """Write synthetic ``emor.txt`` (f0 = E^(1/2.2)) and ``invemor.txt`` (g0 = B^2.2)."""
    folder = Path(folder)
    comps = synthetic_basis(n_components)
    for name, mean, inverse in [("emor.txt", GRID ** (1 / 2.2), False), ("invemor.txt", GRID**2.2, True)]:
        lines, _ = emor_lines(emor_blocks(mean, comps, inverse))
        (folder / name).write_text("\r\n".join(lines) + "\r\n")
    return folder


# -- curve generators ---------------------------------------------------------------------------
def monotone_curve(seed, flat_fraction=0.0, power=1.0, start=0.0, end=1.0):
    """A random monotone non-decreasing curve from ``start`` to ``end`` on the grid.

    Increments are random (heavy-tailed when ``power`` > 1); a fraction of them is
    zero, giving flat runs.
    """
    rng = np.random.default_rng(seed)
    inc = rng.random(1023) ** power
    inc[rng.random(1023) < flat_fraction] = 0.0
    if inc.sum() == 0:
        inc[rng.integers(1023)] = 1.0
    vals = np.concatenate([[0.0], np.cumsum(inc)]) / inc.sum()
    vals = start + (end - start) * vals
    vals[-1] = end
    return vals


def scale_into_unit_range(mean, direction):
    """Largest t in [0, 1] with ``mean + t * direction`` inside [0, 1] (mean in [0, 1])."""
    t = 1.0
    up = direction > 0
    down = direction < 0
    with np.errstate(over="ignore", divide="ignore"):  # tiny steps give huge (harmless) bounds
        if up.any():
            t = min(t, float(np.min((1.0 - mean[up]) / direction[up])))
        if down.any():
            t = min(t, float(np.min(-mean[down] / direction[down])))
    return max(t, 0.0)


def monotone_violation(values):
    """Largest decrease between consecutive samples of each row (0 when monotone)."""
    d = np.diff(np.atleast_2d(values), axis=-1)
    return np.maximum(-d.min(axis=-1), 0.0)
