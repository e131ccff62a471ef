"""``crfkit fit``: fit one model to a curve, a curve set or samples."""

import json
import sys

import numpy as np

from ._common import check_plot_path, write_output

# Column names understood in a header row (lower case); others are taken in order x, y, weight.
# x/y name the abscissa and ordinate; the quantities depend on the kind (forward: x is irradiance).
_X_NAMES = {"x", "input", "in"}
_Y_NAMES = {"y", "output", "out"}
_IRRADIANCE_NAMES = {"irradiance", "exposure", "radiance", "linear", "e"}
_BRIGHTNESS_NAMES = {"brightness", "code", "codes", "value", "values", "intensity", "pixel", "b", "m"}
_W_NAMES = {"w", "weight", "weights"}

# First bytes of binary files users may hand to `fit` by mistake (images, archives, arrays)
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"v/1\x01": "an OpenEXR image",
    b"#?RADIANCE": "a Radiance HDR image",
    b"#?RGBE": "a Radiance HDR image",
    b"RIFF": "a RIFF (WebP) image",
    b"\x93NUMPY": "a NumPy .npy array",
}


def register(sub):
    p = sub.add_parser(
        "fit",
        help="fit a CRF model to a curve from a dataset or a file",
        description="SOURCE is dorf, invdorf, dorf-train, dorf-test, a saved curve set (.crfs), a curve saved as "
        ".json (`crfkit estimate -o`), or a text file "
        "(CSV, TSV or whitespace separated, with or without a header row) holding 1024 values (a curve), rows of "
        "1024 values, or columns 'x y [weight]' (sparse samples; a header may name them, e.g. x,y,weight). "
        "Values must lie in [0, 1]: give --scale 255 (or 65535) for 8-bit (16-bit) codes.",
    )
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("-m", "--model", default="emor", help="model name (see `crfkit info`); default emor")
    p.add_argument("-k", type=int, default=None, help="number of parameters (model default if omitted)")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--index", type=int, help="fit only the curve with this index")
    sel.add_argument("--name", help="fit only the curve with this name")
    p.add_argument("--inverse", action="store_true", help="treat file data as inverse curves (inverse EMoR basis)")
    p.add_argument("--scale", type=float, metavar="N",
                   help="divide the brightness values of a text file by N (255 for 8-bit codes, 65535 for 16-bit)")
    p.add_argument("--monotone", action="store_true", help="constrain the fitted curve to be non-decreasing")
    p.add_argument("--pin-zero", action="store_true", help="polynomial: also force f(0) = 0")
    p.add_argument("--basis", help="pca: curve set (dorf, .crfs) or basis file (.npz) to learn/load the basis from")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--save", metavar="FILE",
                   help="save the fitted curve(s) as fitted (forward, or inverse with --inverse); the suffix "
                   "picks the format: .crfs (crfkit curve set), .cube or .spi1d (1-D LUT of 1 or 3 curves), .json, "
                   ".csv (`crfkit export` converts between directions)")
    p.add_argument("--plot", metavar="FILE",
                   help="plot data, fit and residuals (.png/.pdf/.svg); for a set, the curve of --plot-curve "
                   "(default: the worst-fitted one, named on stderr)")
    p.add_argument("--plot-curve", metavar="NAME_OR_INDEX", help="which curve of a fitted set --plot shows")
    p.set_defaults(func=run)


def _is_dorf_text(path):
    """True when the file starts like a DoRF record: name, type, then an 'I =' line."""
    with open(path, "rb") as fh:
        head = [fh.readline(100) for _ in range(3)]
    return head[2].replace(b" ", b"").strip() == b"I="


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_roles(header, n_cols, path, kind):
    """Indices of (x, y, weight) from a header row; names not understood are taken in order."""
    irradiance, brightness = ("x", "y") if kind == "forward" else ("y", "x")
    names = [h.strip().strip("\"'").lower() for h in header]
    roles = {}
    for i, name in enumerate(names):
        for role, known in (("x", _X_NAMES), ("y", _Y_NAMES), (irradiance, _IRRADIANCE_NAMES),
                            (brightness, _BRIGHTNESS_NAMES), ("w", _W_NAMES)):
            if name in known and role not in roles:
                roles[role] = i
    if "x" in roles and "y" in roles:
        return roles["x"], roles["y"], roles.get("w")
    if n_cols in (2, 3):
        return 0, 1, 2 if n_cols == 3 else None
    from ..errors import ParseError

    raise ParseError(f"{path}: header {','.join(header)!r} does not name the x and y columns (e.g. x,y,weight)")


def _check_range(values, what, path, brightness, scale_given):
    from ..errors import ValidationError

    finite = values[np.isfinite(values)]
    if finite.size != values.size:
        raise ValidationError(f"{path}: {what} values include NaN or inf")
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= -1e-6 and hi <= 1 + 1e-6:
        return
    if brightness and not scale_given and lo >= 0 and np.all(finite == np.round(finite)):
        # the smallest usual bit depth that holds them (8-bit JPEG, 10-16-bit sensors and TIFFs)
        bits = next((b for b in (8, 10, 12, 14, 16) if hi <= 2**b - 1), None)
        if bits:
            raise ValidationError(f"{path}: {what} values up to {hi:g} look like {bits}-bit codes; "
                                  f"add --scale {2 ** bits - 1} (or the data's white level) to divide them into [0, 1]")
    hint = "; give --scale N to divide them" if brightness and not scale_given else ""
    if not brightness:
        hint = "; divide them by their largest value (relative irradiance) first"
    raise ValidationError(f"{path}: {what} values must lie in [0, 1], got {lo:g} .. {hi:g}{hint}")


def _check_scaled(codes, path):
    """--scale on values already in [0, 1] would squash them silently: refuse it."""
    from ..errors import ValidationError

    finite = codes[np.isfinite(codes)]
    if finite.size and float(finite.max()) <= 1.0:
        raise ValidationError(f"{path}: the brightness values already lie in [0, 1] (up to {float(finite.max()):g}); "
                              "drop --scale")


def read_table(path, kind="forward", scale=None):
    """Read a curve, curves or samples from a CSV/TSV/whitespace text file, with or without a header.

    Returns a :class:`~crfkit.Curve` (1024 values), a :class:`~crfkit.CurveSet`
    (rows of 1024) or :class:`~crfkit.curves.samples.Samples` (``x y [weight]``).
    ``scale`` divides the brightness values (forward curve values; the ``y``
    column of forward samples, the ``x`` column of inverse ones).
    """
    from pathlib import Path

    from ..curves import GRID_SIZE, Curve, CurveSet
    from ..curves.samples import Samples
    from ..errors import DataNotFoundError, ParseError, ValidationError

    p = Path(path)
    if p.is_dir():
        raise ValidationError(f"SOURCE {p} is a folder; give a curve file (.crfs, .json, CSV/TSV/text) or a set name")
    if not p.is_file():
        raise DataNotFoundError(f"SOURCE {p}: no such file (nor a curve set name: dorf, invdorf, ...)")
    raw = p.read_bytes()
    for magic, what in _BINARY_MAGIC.items():
        if raw.startswith(magic):
            raise ParseError(f"{p} is {what}, not a text file of curve values or samples; "
                             "to estimate a curve from a photo use `crfkit estimate`")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(f"{p}: not a text file (not UTF-8); fit reads CSV/TSV/text values or samples") from None
    if "\x00" in text:
        raise ParseError(f"{p}: binary data, not a text file of curve values or samples")
    rows = []
    header = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#")[0]
        for sep in (",", ";", "\t"):
            line = line.replace(sep, " ")
        fields = line.split()
        if not fields:
            continue
        if not all(_is_number(f) for f in fields):
            if header is None and not rows:
                header = fields  # one header row before the numbers
                continue
            bad = next(f for f in fields if not _is_number(f))
            raise ParseError(f"{p}, line {lineno}: non-numeric value {bad!r}")
        rows.append([float(f) for f in fields])
    if not rows:
        raise ParseError(f"{p}: no numbers found")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ParseError(f"{p}: rows have different numbers of values {sorted(widths)}")
    arr = np.array(rows)
    if header is not None and len(header) != arr.shape[1]:
        raise ParseError(f"{p}: the header names {len(header)} columns but the rows hold {arr.shape[1]} values")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise ValidationError(f"--scale must be a positive number, got {scale:g}")
    if arr.size == GRID_SIZE or arr.shape[1] == GRID_SIZE:
        values = arr.reshape(1, -1) if arr.size == GRID_SIZE else arr
        if scale is not None:
            if kind == "inverse":
                raise ValidationError(f"{p}: --scale divides brightness codes; inverse curve values are irradiance")
            _check_scaled(values, p)
            values = values / scale
        _check_range(values, "curve", p, kind == "forward", scale is not None)
        if arr.size == GRID_SIZE:
            return Curve(values.ravel(), kind, p.stem)
        return CurveSet(values, kind, [f"{p.stem}[{i}]" for i in range(len(values))], name=p.stem)
    if arr.shape[1] not in (2, 3) and header is None:
        raise ParseError(f"{p}: expected 1024 values (a curve), rows of 1024 (curves) or 2-3 columns "
                         f"(x y [weight]), got {arr.shape[0]} rows of {arr.shape[1]}")
    ix, iy, iw = _column_roles(header, arr.shape[1], p, kind) if header else (0, 1, 2 if arr.shape[1] == 3 else None)
    x, y = arr[:, ix].copy(), arr[:, iy].copy()
    w = arr[:, iw].copy() if iw is not None else None
    if scale is not None:
        codes = y if kind == "forward" else x
        _check_scaled(codes, p)
        codes /= scale
    names = ("x (irradiance)", "y (brightness)") if kind == "forward" else ("x (brightness)", "y (irradiance)")
    _check_range(x, names[0], p, kind == "inverse", scale is not None)
    _check_range(y, names[1], p, kind == "forward", scale is not None)
    if w is not None and (not np.all(np.isfinite(w)) or np.any(w < 0)):
        raise ValidationError(f"{p}: weights must be finite and >= 0")
    try:
        return Samples(x, y, w, kind, p.stem)
    except ValidationError as exc:
        raise ValidationError(f"{p}: {exc}") from None


def _load(args):
    from pathlib import Path

    from ..data import BUILTIN_CURVE_SETS, load_curves

    kind = "inverse" if args.inverse else "forward"
    src = args.source
    path = Path(src)
    if src.lower() in BUILTIN_CURVE_SETS or path.suffix.lower() in (".crfs", ".npz", ".zip") or (
        path.suffix.lower() == ".txt" and path.is_file() and _is_dorf_text(src)
    ):
        if args.scale is not None:
            from ..errors import ValidationError

            raise ValidationError(f"--scale divides values read from a text file, not the curve set {src}")
        data = load_curves(src)
    elif path.suffix.lower() == ".json" and path.is_file():
        from ..curves.image import load_curve_spec

        data = load_curve_spec(f"{kind}:{src}" if args.inverse else src)  # as `crfkit estimate -o` writes it
    else:
        data = read_table(src, kind, args.scale)
    if args.index is not None or args.name is not None:
        from ..curves import CurveSet
        from ..errors import ValidationError

        if not isinstance(data, CurveSet):
            raise ValidationError("--index/--name select a curve of a curve set; SOURCE holds a single curve or samples")
        key = args.index if args.index is not None else args.name
        try:
            data = data[key]
        except (IndexError, KeyError) as exc:
            raise ValidationError(f"{src}: {str(exc).strip(chr(39))}") from None
    return data


def _save_path(path):
    """Check a --save path before any work; the suffix picks the format."""
    from .export import check_curve_output

    return check_curve_output(path, what="--save")


def _plot_index(args, result):
    """(index, note) of the curve --plot shows for a fit of several curves."""
    from ..errors import ValidationError

    rmse = np.atleast_1d(result.rmse)
    if rmse.size == 1:
        if args.plot_curve is not None:
            raise ValidationError("--plot-curve selects a curve of a fitted set; only one curve was fitted")
        return 0, ""
    if args.plot_curve is None:
        i = int(rmse.argmax())
        return i, (f"curve {result.names[i]!r}, the worst-fitted of {rmse.size} (rmse {rmse[i]:.3g}); "
                   "--plot-curve picks another")
    key = args.plot_curve
    if key in result.names:
        i = result.names.index(key)
    else:
        try:
            i = int(key)
        except ValueError:
            raise ValidationError(f"--plot-curve {key!r}: no curve of that name among the {rmse.size} fitted") from None
        if not -rmse.size <= i < rmse.size:
            raise ValidationError(f"--plot-curve {i}: out of range for {rmse.size} fitted curves")
        i %= rmse.size
    return i, f"curve {result.names[i]!r} of {rmse.size}"


def run(args):
    from ..errors import ValidationError
    from ..fitting import fit

    if args.plot_curve is not None and not args.plot:
        raise ValidationError("--plot-curve picks the curve --plot draws; give --plot FILE")
    plot = check_plot_path(args.plot)  # suffix, folder, writes
    save = _save_path(args.save) if args.save else None
    data = _load(args)
    if save and save.suffix.lower() in (".cube", ".spi1d"):
        n = len(data) if hasattr(data, "names") else getattr(data, "n_curves", 1)
        if n not in (1, 3):  # said before the fit, not after it
            raise ValidationError(f"--save {save}: a LUT holds 1 curve (all channels) or 3 (R, G, B), and this fit "
                                  f"gives {n}; pick one with --index/--name, or save as .crfs, .json or .csv")
    options = {}
    if args.pin_zero:
        options["pin_zero"] = True
    if args.basis:
        options["basis"] = args.basis
    kind = "inverse" if args.inverse else None
    result = fit(data, model=args.model, k=args.k, kind=kind, monotone=args.monotone, **options)
    index, note = _plot_index(args, result) if plot else (0, "")
    if args.json:
        write_output(json.dumps(result.to_dict(), indent=2))
    else:
        lines = [f"model: {result.label} ({result.n_params} parameters)"]
        if np.ndim(result.rmse) == 0:
            lines.append(f"curve: {result.names[0]}")
            lines.append("parameters: " + " ".join(f"{v:.8g}" for v in np.ravel(result.params)))
            lines.append(f"rmse: {result.rmse:.6g}" + (" (on the samples)" if result.data_kind == "samples" else ""))
        else:
            rmse = np.asarray(result.rmse)
            lines.append(f"curves: {len(rmse)}")
            lines.append(f"mean rmse: {rmse.mean():.6g}  median: {np.median(rmse):.6g}  max: {rmse.max():.6g} "
                         f"({result.names[int(rmse.argmax())]})")
        write_output("\n".join(lines))
    if save:
        from ..curves import CurveSet
        from .export import save_curves

        curves = result.curves if isinstance(result.curves, CurveSet) else CurveSet.from_curves([result.curves])
        save_curves(curves, save)
        print(f"wrote {save} ({len(curves)} fitted curve{'s' if len(curves) != 1 else ''})", file=sys.stderr)
    if plot:
        from ..plotting import plot_fit

        plot_fit(data, result, path=plot, index=index,
                 title=f"{result.label}: {result.names[index]} (rmse {np.atleast_1d(result.rmse)[index]:.3g})")
        print(f"wrote {plot}" + (f" ({note})" if note else ""), file=sys.stderr)
    return 0
