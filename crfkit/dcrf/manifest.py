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


_TOP_LEVEL = ("dataset", "camera")
_NEEDS = {"raw+jpeg": "pairs = [[jpeg, raw], ...]", "bracket": "shots = [{jpeg=..., exposure=...}, ...]",
          "single": "jpeg = PATH"}
_SHOT_FIELDS = ("jpeg", "exposure")
_INPUT_KEY = {"raw+jpeg": "pairs", "bracket": "shots", "single": "jpeg"}
#: The keys of a [[camera]] table; the input key (pairs, shots, jpeg) is the one of its kind.
_CAMERA_FIELDS = ("name", "kind", "year", "folder", "layout", *_INPUT_KEY.values(), "method", "k")


def _kind_of(value):
    """How a TOML value is called in messages."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _is_file_name(value):
    return isinstance(value, str) and bool(value.strip())


def _json_value(value):
    """Can ``value`` be stored in the curve set's JSON attrs (no dates, no inf/nan)?"""
    if isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, list):
        return all(_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(_json_value(v) for v in value.values())
    return False


def check_positive_int(value, what):
    """``value`` as an int >= 1 (a TOML integer; not a bool, float or string), else ParseError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParseError(f"{what} must be a positive integer, got {value!r}")
    return value


def _check_layout(layout, where):
    from ..calibration.samples import check_layout

    try:
        check_layout(layout, where)
    except ValidationError as exc:
        raise ParseError(str(exc)) from None


def _resolve_layout(layout, base):
    """Relative tags.json paths (a string or ``{tags = PATH}``) are relative to ``base``."""
    if isinstance(layout, str) and layout != "detect" and not Path(layout).is_absolute():
        return str(base / layout)
    if isinstance(layout, dict) and "tags" in layout and not Path(layout["tags"]).is_absolute():
        return {**layout, "tags": str(base / layout["tags"])}
    return layout


def _inputs(c, kind, cdir, where):
    """The camera's input files, each field checked; ParseError names the field."""
    need = _NEEDS[kind]
    key = _INPUT_KEY[kind]
    if key not in c:
        raise ParseError(f"{where}: kind {kind!r} needs {need} (missing {key!r})")
    value = c[key]
    if kind == "single":
        if not _is_file_name(value):
            raise ParseError(f"{where}: jpeg must be a file name (a string), got {_kind_of(value)}")
        return [(cdir / value, 1.0)]
    if not isinstance(value, list):
        raise ParseError(f"{where}: {key} must be an array ({need}), got {_kind_of(value)}")
    inputs = []
    for n, item in enumerate(value, 1):
        if kind == "raw+jpeg":
            if not (isinstance(item, list) and len(item) == 2 and all(map(_is_file_name, item))):
                raise ParseError(f"{where}: pairs item {n} must be a [jpeg, raw] pair of file names, got {item!r}")
            inputs.append((cdir / item[0], cdir / item[1]))
            continue
        if not isinstance(item, dict):
            raise ParseError(f"{where}: shots item {n} must be a table {{jpeg = FILE, exposure = SECONDS}}, "
                             f"got {item!r}")
        extra = [k for k in item if k not in _SHOT_FIELDS]
        if extra:
            raise ParseError(f"{where}: shots item {n}: {extra[0]!r} is not a field of a shot "
                             f"(fields: {', '.join(_SHOT_FIELDS)})")
        if not _is_file_name(item.get("jpeg")):
            raise ParseError(f"{where}: shots item {n}: jpeg must be a file name (a string), "
                             f"got {_kind_of(item.get('jpeg')) if 'jpeg' in item else 'nothing'}")
        t = item.get("exposure")
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < float("inf")):
            raise ParseError(f"{where}: shots item {n}: exposure must be a positive number of seconds "
                             f"(or left out to read the EXIF), got {t!r}")
        inputs.append((cdir / item["jpeg"], None if t is None else float(t)))
    return inputs


def load_manifest(path):
    """Read a TOML manifest.

    Every field is checked here, before any camera is built: its type (a string, an
    integer, a table...), its range, and the layout's structure (a tags.json file itself
    is read when its camera is built).

    Returns
    -------
    attrs : dict
        The ``[dataset]`` table (name, description, ...).
    cameras : list of CameraSpec

    Raises
    ------
    DataNotFoundError, ParseError
        Missing file, invalid TOML or a field that does not follow the format (the
        one-line message names the file, the camera, the field and the value).
    """
    from ..calibration.fit import METHODS

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"manifest not found: {path}")
    try:
        doc = _toml().loads(path.read_text())
    except Exception as exc:  # tomllib.TOMLDecodeError, UnicodeDecodeError
        raise ParseError(f"{path}: not a valid TOML manifest ({exc})") from None
    extra = [k for k in doc if k not in _TOP_LEVEL]
    if extra:
        raise ParseError(f"{path}: unknown top-level key {extra[0]!r}; a manifest has a [dataset] table and "
                         "[[camera]] tables (dataset fields go under [dataset])")
    ds = doc.get("dataset", {})
    if not isinstance(ds, dict):
        raise ParseError(f"{path}: [dataset] must be a table, got {_kind_of(ds)}")
    ds = dict(ds)
    where = f"{path}: [dataset]"
    for key in ("name", "description", "root"):
        if key in ds and not (isinstance(ds[key], str) and (key == "description" or ds[key].strip())):
            raise ParseError(f"{where}: {key} must be a {'' if key == 'description' else 'non-empty '}string, "
                             f"got {_kind_of(ds[key])}")
    for key, value in ds.items():
        if not _json_value(value):
            raise ParseError(f"{where}: {key} must be a string, number, boolean, array or table (it is kept in "
                             f"the curve set's attrs), got {value!r}")
    base = path.parent
    if "root" in ds:
        import os

        root = os.path.expandvars(ds["root"])
        if "$" in root:
            raise ParseError(f"{where}: root {ds['root']!r} names an environment variable that is not set")
        base = (base / root).resolve() if not Path(root).is_absolute() else Path(root)
    default_layout = ds.get("layout", "detect")
    _check_layout(default_layout, where)
    default_layout = _resolve_layout(default_layout, base)
    cams = doc.get("camera", [])
    need = f"{path}: camera must be an array of tables ([[camera]] entries), got"
    if not isinstance(cams, list):
        hint = " ([camera] instead of [[camera]]?)" if isinstance(cams, dict) else ""
        raise ParseError(f"{need} {_kind_of(cams)}{hint}")
    for n, c in enumerate(cams, 1):
        if not isinstance(c, dict):
            raise ParseError(f"{need} item {n} = {c!r}")
    if not cams:
        raise ParseError(f"{path}: no [[camera]] entries")
    specs, seen = [], set()
    for i, c in enumerate(cams):
        where = f"{path}: camera {c['name']!r}" if isinstance(c.get("name"), str) else f"{path}: camera {i + 1}"
        unknown = [k for k in c if k not in _CAMERA_FIELDS]
        if unknown:  # a typo (layuot = ...) would otherwise be ignored silently
            raise ParseError(f"{where}: unknown key {unknown[0]!r}; a [[camera]] table takes "
                             f"{', '.join(_CAMERA_FIELDS)}")
        if "name" not in c:
            raise ParseError(f"{where}: missing 'name'")
        name = c["name"]
        if not isinstance(name, str):
            raise ParseError(f"{where}: name must be a string, got {_kind_of(name)}")
        where = f"{path}: camera {name!r}"
        if "/" in name or not name.strip():
            raise ParseError(f"{where}: a camera name must be non-empty and contain no '/'")
        if name in seen:
            raise ParseError(f"{where}: duplicate camera name")
        seen.add(name)
        kind = c.get("kind", "raw+jpeg")
        if kind not in KINDS:
            raise ParseError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        folder = c.get("folder", "")
        if not isinstance(folder, str):
            raise ParseError(f"{where}: folder must be a string (a folder relative to root), got {_kind_of(folder)}")
        stray = [k for k in _INPUT_KEY.values() if k in c and k != _INPUT_KEY[kind]]
        if stray:  # the inputs of another kind would be ignored
            of = {k: kd for kd, k in _INPUT_KEY.items()}[stray[0]]
            raise ParseError(f"{where}: {stray[0]} is for kind {of!r} cameras, and this one's kind is "
                             f"{kind!r}{'' if 'kind' in c else ' (the default; give kind)'}")
        inputs = _inputs(c, kind, base / folder, where)
        if not inputs:
            raise ParseError(f"{where}: no input files")
        if "layout" in c:
            _check_layout(c["layout"], where)
            layout = _resolve_layout(c["layout"], base)
        else:
            layout = default_layout
        year = c.get("year")
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise ParseError(f"{where}: year must be an integer, got {year!r}")
        if "method" in c and c["method"] not in METHODS:
            raise ParseError(f"{where}: method must be one of {', '.join(METHODS)}, got {c['method']!r}")
        if "k" in c:
            check_positive_int(c["k"], f"{where}: k")
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
