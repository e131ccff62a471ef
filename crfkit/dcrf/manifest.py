"""Which cameras to build and from which files: TOML manifests and built-in recipes.

Manifest format (documented in ``datasets/README.md``)::

    [dataset]
    name = "mine"
    layout = "tags.json"          # default for all cameras (path, "detect" or a table)

    [[camera]]
    name = "NikonD70"
    year = 2004
    kind = "raw+jpeg"             # or "bracket", "single"
    pairs = [["a.jpg", "a.NEF"], ["b.jpg", "b.NEF"]]

    [[camera]]
    name = "Canon5D2-bracket"
    kind = "bracket"
    layout = { corners = [[404.5, 212.9], [440.5, 212.9], [440.5, 234.6], [404.5, 234.6]], rows = 4, cols = 6 }
    shots = [{ jpeg = "IMG_2600.jpg" }, { jpeg = "IMG_2601.jpg", exposure = 1.0 }]

Relative paths are relative to ``root`` (a key of ``[dataset]``, itself
relative to the manifest's folder; ``${VAR}`` is expanded, e.g.
``root = "${CRFKIT_DATA}/middlebury_chart_pairs"``) or to the manifest's folder.
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataNotFoundError, ParseError, ValidationError

KINDS = ("raw+jpeg", "bracket", "single")

#: Announcement years of the Middlebury cameras (public product history), so
#: the report can show change over time.
MIDDLEBURY_YEARS = {
    "CanonEOS1DsMarkII": 2004, "CanonPowerShotG10": 2008, "CanonPowerShotG9": 2007,
    "CanonPowerShotS50": 2003, "CanonPowerShotS60": 2004, "CasioEX-Z55": 2005, "NikonD70": 2004,
    "OlympusE10": 2000, "PentaxK10D": 2006, "SonyDSLR-A100": 2006,
}


@dataclass
class CameraSpec:
    """One camera of a build.

    Attributes
    ----------
    name : str
        Used in curve names ``<name>/R`` etc. (no ``/``).
    kind : {'raw+jpeg', 'bracket', 'single'}
    inputs : list
        ``raw+jpeg``: (jpeg, raw) path pairs; ``bracket``/``single``: (jpeg, exposure
        seconds or None for EXIF) tuples.
    layout : 'detect', path of a tags.json, or dict (``corners``/``tags``/``grid``)
    year : int or None
    """

    name: str
    kind: str
    inputs: list
    layout: object = "detect"
    year: int = None
    options: dict = field(default_factory=dict)

    def files(self):
        out = []
        for item in self.inputs:
            out.extend([item[0], item[1]] if self.kind == "raw+jpeg" else [item[0]])
        return [Path(p) for p in out]


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli

    return tomli


def load_manifest(path):
    """Read a TOML manifest.

    Returns
    -------
    attrs : dict
        The ``[dataset]`` table (name, description, ...).
    cameras : list of CameraSpec

    Raises
    ------
    DataNotFoundError, ParseError
        Missing file, invalid TOML or a camera entry that does not follow the
        format (the message names the file and the camera).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"manifest not found: {path}")
    try:
        doc = _toml().loads(path.read_text())
    except Exception as exc:  # tomllib.TOMLDecodeError, UnicodeDecodeError
        raise ParseError(f"{path}: not a valid TOML manifest ({exc})") from None
    ds = dict(doc.get("dataset", {}))
    base = path.parent
    if "root" in ds:
        import os

        root = os.path.expandvars(str(ds["root"]))
        if "$" in root:
            raise ParseError(f"{path}: root {ds['root']!r} names an environment variable that is not set")
        base = (base / root).resolve() if not Path(root).is_absolute() else Path(root)
    default_layout = ds.get("layout", "detect")
    cams = doc.get("camera", [])
    if not isinstance(cams, list) or not cams:
        raise ParseError(f"{path}: no [[camera]] entries")
    specs, seen = [], set()
    for i, c in enumerate(cams):
        where = f"{path}: camera {i + 1}"
        try:
            name = str(c["name"])
        except (KeyError, TypeError):
            raise ParseError(f"{where}: missing 'name'") from None
        where = f"{path}: camera {name!r}"
        if "/" in name or not name.strip():
            raise ParseError(f"{where}: a camera name must be non-empty and contain no '/'")
        if name in seen:
            raise ParseError(f"{where}: duplicate camera name")
        seen.add(name)
        kind = c.get("kind", "raw+jpeg")
        if kind not in KINDS:
            raise ParseError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        cdir = base / c.get("folder", "")
        try:
            if kind == "raw+jpeg":
                inputs = [(cdir / str(j), cdir / str(r)) for j, r in c["pairs"]]
            elif kind == "bracket":
                inputs = [(cdir / str(s["jpeg"]), None if s.get("exposure") is None else float(s["exposure"]))
                          for s in c["shots"]]
            else:
                inputs = [(cdir / str(c["jpeg"]), 1.0)]
        except (KeyError, TypeError, ValueError) as exc:
            need = {"raw+jpeg": "pairs = [[jpeg, raw], ...]", "bracket": "shots = [{jpeg=..., exposure=...}, ...]",
                    "single": "jpeg = PATH"}[kind]
            raise ParseError(f"{where}: kind {kind!r} needs {need} ({type(exc).__name__}: {exc})") from None
        if not inputs:
            raise ParseError(f"{where}: no input files")
        layout = c.get("layout", default_layout)
        if isinstance(layout, str) and layout != "detect" and not Path(layout).is_absolute():
            layout = str(base / layout)
        year = c.get("year")
        if year is not None and not isinstance(year, int):
            raise ParseError(f"{where}: year must be an integer, got {year!r}")
        opts = {k: c[k] for k in ("method", "k") if k in c}
        specs.append(CameraSpec(name, kind, inputs, layout, year, opts))
    return ds, specs


def middlebury_recipe(root, illumination=1):
    """Every camera folder under ``root`` with its illumination-``illumination`` pairs.

    Uses ``root/tags.json`` as the layout and ``wb1i{L}e{E}-jpg.png`` /
    ``wb1i{L}e{E}-raw.png`` (E = 1..4) as the RAW+JPEG pairs.

    Raises
    ------
    DataNotFoundError
        ``root`` or its ``tags.json`` is missing, or no camera folder is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"Middlebury root not found: {root}")
    tags = root / "tags.json"
    if not tags.is_file():
        raise DataNotFoundError(f"{root}: no tags.json (the patch layout of the Middlebury crops)")
    if illumination not in (1, 2):
        raise ValidationError(f"illumination must be 1 or 2, got {illumination}")
    cams = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cams:
        raise DataNotFoundError(f"{root}: no camera folders")
    specs = []
    for cam in cams:
        pairs = [(cam / f"wb1i{illumination}e{e}-jpg.png", cam / f"wb1i{illumination}e{e}-raw.png") for e in range(1, 5)]
        specs.append(CameraSpec(cam.name, "raw+jpeg", pairs, str(tags), MIDDLEBURY_YEARS.get(cam.name)))
    attrs = {"name": "middlebury", "description": f"Middlebury colour-chart RAW/JPEG pairs, illumination {illumination}",
             "source": str(root), "illumination": illumination}
    return attrs, specs
