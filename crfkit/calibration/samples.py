"""Chart measurements turned into (irradiance, brightness) samples.

Three input kinds give the relative irradiance of every patch in every shot:

* **RAW+JPEG pairs** (:func:`samples_from_pair`): the RAW (through rawpy, or an
  already-linear image such as the Middlebury ``-raw.png``) measured on the same
  patches; it carries the exposure differences between shots.
* **Exposure brackets** (:func:`samples_from_bracket`): the chart's reference
  values (colour-science) times each shot's exposure time (EXIF or given).
* **A single JPEG** (:func:`samples_from_single`): the reference values alone.
  The weakest case: the chart covers about 1.5 decades of irradiance, the
  illumination's colour and level are unknown, and any in-camera colour
  processing is folded into the curve.

The irradiance keeps an unknown overall scale per channel; :func:`~crfkit.calibration.fit.fit_crf`
estimates it.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..charts.layouts import ChartLayout
from ..charts.patches import patch_stats
from ..data.paths import sha256_of
from ..errors import ValidationError


#: Hex sha256 of a file's bytes (kept under this name for the calibration API).
sha256 = sha256_of


@dataclass
class ChartSamples:
    """Samples of one camera: every usable (patch, shot, channel).

    Attributes
    ----------
    irradiance : ndarray (n, 3)
        Relative linear irradiance (>= 0, any scale; shared scale across shots).
    brightness : ndarray (n, 3)
        Normalised JPEG values in [0, 1].
    weight : ndarray (n, 3)
        1 for usable samples, 0 for rejected ones (clipped, dark, non-uniform,
        out of gamut).
    shot : ndarray (n,) int
        Index of the shot each row comes from.
    kind : str
        ``'raw+jpeg'``, ``'linear+jpeg'``, ``'bracket'`` or ``'single'``.
    files : list of str
    rejected : dict
        Counts of rejected samples by reason.
    patch : ndarray (n,) int
        Patch index of each row (ColorChecker order: 18..23 are the neutral row).
    """

    irradiance: np.ndarray
    brightness: np.ndarray
    weight: np.ndarray
    shot: np.ndarray
    kind: str
    files: list = field(default_factory=list)
    rejected: dict = field(default_factory=dict)
    patch: np.ndarray = None

    def __post_init__(self):
        if self.patch is None:
            self.patch = np.arange(len(self.shot))

    @property
    def n_usable(self):
        """Usable samples per channel, shape (3,)."""
        return (self.weight > 0).sum(axis=0)

    @classmethod
    def concat(cls, parts, kind=None):
        if not parts:
            raise ValidationError("no chart samples to combine")
        rej = {}
        for p in parts:
            for k, v in p.rejected.items():
                rej[k] = rej.get(k, 0) + v
        return cls(
            np.concatenate([p.irradiance for p in parts]), np.concatenate([p.brightness for p in parts]),
            np.concatenate([p.weight for p in parts]),
            np.concatenate([np.full(len(p.shot), i) for i, p in enumerate(parts)]),
            kind or parts[0].kind, [f for p in parts for f in p.files], rej,
            np.concatenate([p.patch for p in parts]),
        )


def _usable_jpeg(stats, name, dark, max_spread):
    """Usable mask, saturated mask and rejection counts of a JPEG's patches.

    A patch saturated over most of its area is kept as a sample with brightness
    1: it says its irradiance is at or above the curve's saturation point
    (f(E) = 1 for E >= 1), which pins the unknown irradiance scale.  Partly
    clipped patches are rejected (their mean is biased).
    """
    ok = stats.usable(dark=dark, max_spread=max_spread)
    sat = (stats.clipped > 0.5) & (stats.mean > 0.97)
    rej = {
        "clipped": int(((stats.clipped > 0.02) & ~sat).sum()),
        "dark": int((stats.mean < dark).sum()),
        "non-uniform": int((stats.spread > max_spread + 0.1 * stats.mean).sum()),
        "saturated (kept as f=1)": int(sat.sum()),
    }
    return ok | sat, sat, rej


def _count(rej, key, n):
    rej[key] = rej.get(key, 0) + int(n)


def samples_from_pair(jpeg, linear, layout, name="", linear_clip=None, linear_dark=None, dark=0.02, max_spread=0.05,
                      kind="linear+jpeg", files=()):
    """Samples of one shot from a JPEG and its linear reference (RAW).

    Parameters
    ----------
    jpeg : ndarray (H, W, 3) uint8/uint16
        The camera JPEG (display-referred).
    linear : ndarray (H, W, 3)
        Linear RAW values of the same framing: uint8/uint16 images (scaled to
        [0, 1] by their full scale) or floats already in [0, 1].
    layout : ChartLayout
    linear_clip : float, optional
        Linear level treated as saturated (default 0.98 of full scale).
    linear_dark : float, optional
        Linear level below which a patch is too coarsely quantised to use
        (default 8 codes for 8-bit linear images, 0.001 otherwise).
    dark, max_spread : float
        Patch rejection thresholds (see :meth:`PatchStats.usable`).

    Returns
    -------
    ChartSamples
    """
    jpeg, linear = np.asarray(jpeg), np.asarray(linear)
    if jpeg.shape[:2] != linear.shape[:2]:
        raise ValidationError(
            f"{name}: JPEG and RAW sizes differ ({jpeg.shape[1]}x{jpeg.shape[0]} vs "
            f"{linear.shape[1]}x{linear.shape[0]}); they must be the same framing"
        )
    if linear.ndim != 3 or linear.shape[2] < 3:
        raise ValidationError(f"{name}: the linear reference must be an RGB image, got shape {linear.shape}")
    sj = patch_stats(layout.sample(jpeg, name))
    sl = patch_stats(layout.sample(linear[:, :, :3], name))
    ok, sat, rej = _usable_jpeg(sj, name, dark, max_spread)
    clip = 0.98 if linear_clip is None else float(linear_clip)
    raw_clipped = (sl.clipped > 0.02) | (sl.mean >= clip)
    _count(rej, "raw clipped", raw_clipped.sum())
    # An 8-bit linear image (the Middlebury -raw.png) has no dither: a patch at 2
    # codes is known to +-25 %; below 8 codes the irradiance is too coarse to use.
    floor = (8.0 / 255.0 if linear.dtype == np.uint8 else 0.001) if linear_dark is None else float(linear_dark)
    raw_dark = sl.mean < floor
    _count(rej, "raw dark", (raw_dark & ~raw_clipped).sum())
    ok &= ~raw_clipped & ~raw_dark
    return ChartSamples(sl.mean, np.where(sat, 1.0, np.clip(sj.mean, 0, 1)), ok.astype(float),
                        np.zeros(len(ok), int), kind, list(files), rej)


def samples_from_reference(jpeg, layout, reference, exposure=1.0, name="", dark=0.02, max_spread=0.05,
                           kind="bracket", files=()):
    """Samples of one shot whose relative irradiance is ``reference * exposure``.

    Parameters
    ----------
    jpeg : ndarray (H, W, 3)
    layout : ChartLayout
    reference : ndarray (P, 3)
        Linear reference values of the patches (e.g. :func:`colorchecker_reference`);
        patches with a value <= 0 (out of gamut) are dropped.
    exposure : float
        Relative exposure (exposure time x aperture/ISO factor), > 0.
    """
    if not np.isfinite(exposure) or exposure <= 0:
        raise ValidationError(f"{name}: exposure must be a positive number of seconds, got {exposure}")
    reference = np.asarray(reference, float)
    sj = patch_stats(layout.sample(np.asarray(jpeg), name))
    if len(reference) != len(sj.mean):
        raise ValidationError(
            f"{name}: the layout has {len(sj.mean)} patches but the chart reference has {len(reference)}"
        )
    ok, sat, rej = _usable_jpeg(sj, name, dark, max_spread)
    gamut = reference <= 0
    _count(rej, "out of gamut", gamut.sum())
    ok &= ~gamut
    return ChartSamples(np.clip(reference, 0, None) * float(exposure), np.where(sat, 1.0, np.clip(sj.mean, 0, 1)),
                        ok.astype(float),
                        np.zeros(len(ok), int), kind, list(files), rej)


def samples_from_pair_files(pairs, layout, name="", reader=None, raw_reader=None):
    """Read RAW+JPEG (or linear PNG + JPEG) file pairs and measure their patches.

    Parameters
    ----------
    pairs : sequence of (jpeg_path, raw_path)
        A ``raw_path`` with a camera-RAW suffix is decoded linearly through rawpy;
        any other image is taken as already linear (scaled by its full scale).
    layout : ChartLayout or 'detect'
        ``'detect'`` finds the chart in each JPEG.
    """
    from ..io.images import read_image
    from ..io.raw import RAW_SUFFIXES, read_raw_linear

    parts = []
    for jp, rp in pairs:
        jimg = read_image(jp)
        if Path(rp).suffix.lower() in RAW_SUFFIXES:
            limg, kind = read_raw_linear(rp), "raw+jpeg"
        else:
            limg, kind = read_image(rp), "linear+jpeg"
        lay = layout
        if isinstance(layout, str) and layout == "detect":
            from ..charts.detect import detect_chart

            lay = detect_chart(jimg, name=str(jp))
        parts.append(samples_from_pair(jimg, limg, lay, name=f"{jp}", kind=kind, files=[str(jp), str(rp)]))
    return ChartSamples.concat(parts)


def samples_from_bracket_files(shots, layout, reference=None, name=""):
    """Exposure bracket of a chart: ``shots`` is a sequence of (jpeg_path, exposure or None).

    A None exposure is read from the file's EXIF; missing there too is an error
    naming the file.
    """
    from ..charts.reference import colorchecker_reference
    from ..io.images import exposure_time, read_image

    ref = colorchecker_reference() if reference is None else np.asarray(reference, float)
    parts = []
    for jp, t in shots:
        img = read_image(jp)
        if t is None:
            t = exposure_time(jp)
            if t is None:
                raise ValidationError(f"{jp}: no exposure time in the EXIF and none given in the manifest")
        lay = layout
        if isinstance(layout, str) and layout == "detect":
            from ..charts.detect import detect_chart

            lay = detect_chart(img, name=str(jp))
        parts.append(samples_from_reference(img, lay, ref, float(t), name=str(jp), kind="bracket", files=[str(jp)]))
    return ChartSamples.concat(parts, kind="bracket" if len(parts) > 1 else "single")


#: The fields of each form of layout table (a manifest's ``layout = {...}``).
LAYOUT_FIELDS = {"corners": ("corners", "rows", "cols", "sample_fraction"), "tags": ("tags",),
                 "grid": ("grid",)}
GRID_FIELDS = ("rows", "cols", "margin", "sample_fraction")
_LAYOUT_FORMS = ("'detect', a tags.json path, {corners=[[x,y] x4], rows, cols, sample_fraction}, {tags=PATH} or "
                 "{grid={rows, cols, margin, sample_fraction}}")


def check_layout(spec, name=""):
    """Check a manifest layout entry without reading any file; raise ValidationError naming the field.

    ``corners`` and ``grid`` tables are built (cheap, no I/O); a tags.json path is only checked
    to be a string (the file is read when the camera is built).  Returns ``spec``.
    """
    where = f"{name}: " if name else ""
    if isinstance(spec, ChartLayout) or isinstance(spec, Path) or (isinstance(spec, str) and spec.strip()):
        return spec
    if not isinstance(spec, dict):
        raise ValidationError(f"{where}layout must be {_LAYOUT_FORMS}, got {spec!r}")
    forms = [f for f in LAYOUT_FIELDS if f in spec]
    if len(forms) != 1:
        got = f"both {forms[0]} and {forms[1]}" if forms else f"fields {', '.join(map(str, spec)) or 'none'}"
        raise ValidationError(f"{where}layout table must have exactly one of corners, tags or grid, got {got}")
    form = forms[0]
    extra = [k for k in spec if k not in LAYOUT_FIELDS[form]]
    if extra:
        raise ValidationError(f"{where}layout.{extra[0]} is not a field of a {form} layout "
                              f"(fields: {', '.join(LAYOUT_FIELDS[form])})")
    if form == "tags":
        t = spec["tags"]
        if not isinstance(t, (str, Path)) or not str(t).strip():
            raise ValidationError(f"{where}layout.tags must be the path of a tags.json file, got {t!r}")
        return spec
    _layout_from_table(spec, name)
    return spec


def _layout_from_table(spec, name):
    """A ChartLayout from a corners or grid table (no I/O); field errors name ``layout.FIELD``."""
    from ..charts.layouts import _corner_points, _count, _fraction

    where = f"{name}: " if name else ""
    if "corners" in spec:
        c = _corner_points(spec["corners"], f"{where}layout.corners")
        rows, cols = (_count(spec.get(f, d), f"{where}layout.{f}") for f, d in (("rows", 4), ("cols", 6)))
        frac = _fraction(spec.get("sample_fraction", 0.5), f"{where}layout.sample_fraction", 0, 1)
        return ChartLayout.from_corners(c, rows, cols, frac, source=name or "manifest corners")
    g = spec["grid"]
    if not isinstance(g, dict):
        raise ValidationError(f"{where}layout.grid must be a table with rows and cols, got {g!r}")
    extra = [k for k in g if k not in GRID_FIELDS]
    if extra:
        raise ValidationError(f"{where}layout.grid.{extra[0]} is not a field of a grid layout "
                              f"(fields: {', '.join(GRID_FIELDS)})")
    rows, cols = (_count(g.get(f, d), f"{where}layout.grid.{f}") for f, d in (("rows", 4), ("cols", 6)))
    margin = _fraction(g.get("margin", 0.0), f"{where}layout.grid.margin", 0, 0.5, lo_open=False)
    frac = _fraction(g.get("sample_fraction", 0.5), f"{where}layout.grid.sample_fraction", 0, 1)
    return ChartLayout.grid(rows, cols, margin, frac)


def as_layout(spec, base=None, name=""):
    """A layout from a manifest entry: 'detect', a tags.json path, a dict with corners, or a ChartLayout.

    Raises
    ------
    ValidationError
        A malformed entry; the message names the field (e.g. ``layout.grid.rows``) and the value.
    ParseError
        A tags.json that cannot be read or is not a layout.
    """
    if isinstance(spec, ChartLayout) or (isinstance(spec, str) and spec == "detect"):
        return spec
    check_layout(spec, name)
    if isinstance(spec, dict) and "tags" in spec:
        spec = spec["tags"]
    if isinstance(spec, (str, Path)):
        p = Path(spec)
        if base is not None and not p.is_absolute():
            p = Path(base) / p
        return ChartLayout.from_tags_json(p)
    return _layout_from_table(spec, name)
