"""Parser for the EMoR bases (``emor.txt``, ``invemor.txt``, Grossberg & Nayar).

Each file is a sequence of blocks: a header line ending in ``=`` then 1024
numbers (4 per line).  ``emor.txt``: ``E =`` (grid), ``f0 =`` (mean forward
CRF), ``h(1)=`` .. ``h(25)=``; ``invemor.txt``: ``B =``, ``g0 =``,
``hinv(1)=`` .. ``hinv(25)=``.
"""

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..curves import GRID, GRID_SIZE
from ..errors import ParseError

_HEADER = re.compile(r"^\s*([A-Za-z]+[0-9]*(?:\(\d+\))?)\s*=\s*$")


@dataclass(frozen=True)
class EmorBasis:
    """A mean curve and orthonormal components on the 1024 grid.

    Attributes
    ----------
    kind : {'forward', 'inverse'}
    mean : ndarray, shape (1024,)
        ``f0`` (forward) or ``g0`` (inverse).
    components : ndarray, shape (K, 1024)
        ``h(1..K)`` or ``hinv(1..K)``, orthonormal over the 1024 samples.
    source : str
        File the basis was read from.
    """

    kind: str
    mean: np.ndarray
    components: np.ndarray
    source: str = ""

    @property
    def n_components(self):
        return self.components.shape[0]


def parse_emor_text(text, path="emor.txt"):
    """Parse the text of ``emor.txt`` or ``invemor.txt`` into an :class:`EmorBasis`."""
    blocks = {}
    order = []
    current = None
    header_line = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        m = _HEADER.match(line)
        if m:
            current = m.group(1)
            if current in blocks:
                raise ParseError(f"{path}, line {lineno}: block {current!r} appears twice")
            blocks[current] = []
            header_line[current] = lineno
            order.append(current)
            continue
        if current is None:
            raise ParseError(f"{path}, line {lineno}: numbers before the first block header (e.g. 'E =')")
        try:
            nums = [float(v) for v in line.split()]
        except ValueError:
            raise ParseError(f"{path}, line {lineno}: expected numbers in block {current!r}, found {line[:40]!r}") from None
        if not all(map(math.isfinite, nums)):
            raise ParseError(f"{path}, line {lineno}: block {current!r} contains NaN or inf")
        blocks[current].extend(nums)
    if not order:
        raise ParseError(f"{path}: no blocks found (is this an EMoR file?)")
    for key, vals in blocks.items():
        if len(vals) != GRID_SIZE:
            raise ParseError(
                f"{path}, line {header_line[key]}: block {key!r} has {len(vals)} values, expected {GRID_SIZE}"
            )
    if "f0" in blocks:
        kind, mean_key, comp = "forward", "f0", "h"
    elif "g0" in blocks:
        kind, mean_key, comp = "inverse", "g0", "hinv"
    else:
        raise ParseError(f"{path}: no 'f0 =' or 'g0 =' block (found {order[:4]}...)")
    comps = []
    i = 1
    while f"{comp}({i})" in blocks:
        comps.append(blocks[f"{comp}({i})"])
        i += 1
    if not comps:
        raise ParseError(f"{path}: no '{comp}(1)=' block")
    arr = np.array(comps)
    mean = np.array(blocks[mean_key])
    for name, a in [("mean", mean), ("components", arr)]:
        if not np.all(np.isfinite(a)):
            raise ParseError(f"{path}: {name} contains NaN or inf")
    grid_key = "E" if kind == "forward" else "B"
    if grid_key in blocks and np.max(np.abs(np.array(blocks[grid_key]) - GRID)) > 1e-6:
        raise ParseError(f"{path}, line {header_line[grid_key]}: grid is not linspace(0, 1, 1024)")
    mean.setflags(write=False)
    arr.setflags(write=False)
    return EmorBasis(kind, mean, arr, str(path))


def read_emor(path):
    """Read ``emor.txt`` or ``invemor.txt`` into an :class:`EmorBasis`.

    Raises
    ------
    ParseError
        The file cannot be read or is not an EMoR file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"{path}: cannot read EMoR file ({exc.strerror or exc})") from None
    return parse_emor_text(data.decode("latin-1"), path)
