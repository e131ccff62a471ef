"""``crfkit export``: hand a curve or curve set to an editor or a colour pipeline (.cube, .spi1d, JSON, CSV)."""

import sys

#: what `crfkit export` writes when the library's export API is present, by suffix
_DEFAULT_EXPORT_SUFFIXES = (".cube", ".spi1d", ".json", ".csv")


def _export_api():
    """(export function, suffixes) of crfkit.io, or (None, ()) where it is missing."""
    try:
        from ..io import export_curves
    except ImportError:
        return None, ()
    from .. import io

    suffixes = getattr(io, "EXPORT_SUFFIXES", None) or getattr(io, "EXPORT_FORMATS", None) or _DEFAULT_EXPORT_SUFFIXES
    return export_curves, tuple("." + s.lower().lstrip(".") for s in suffixes)


def curve_output_suffixes():
    """Suffixes a fitted or exported curve set may be saved under: .crfs and the export formats."""
    return (".crfs",) + _export_api()[1]


def check_curve_output(path, what="-o"):
    """Check a curve output path (suffix known, folder writable) before any work; returns a Path."""
    from .._io import check_output_path

    suffixes = curve_output_suffixes()
    expected = "a " + ", ".join(suffixes[:-1]) + (" or " if len(suffixes) > 1 else "") + suffixes[-1] + " file name"
    return check_output_path(path, suffixes, expected, what=what)


def save_curves(curves, path, **options):
    """Save a CurveSet: .crfs natively, the other suffixes through crfkit.io.export_curves."""
    from pathlib import Path

    if Path(path).suffix.lower() == ".crfs":
        if options:
            from ..errors import ValidationError

            raise ValidationError(f"{', '.join(sorted(options))}: export options do not apply to .crfs files")
        return curves.save(path)
    export_curves, _ = _export_api()
    return export_curves(curves, path, **options)


def register(sub):
    p = sub.add_parser(
        "export",
        help="export a curve or curve set as a 1-D LUT (.cube, .spi1d) or as JSON/CSV",
        description="Writes CURVE_OR_SET (dorf, invdorf, a .crfs curve set, a .json or .txt/.csv curve of 1024 "
        "values, gamma:G, srgb) for other tools; the suffix of -o picks the format: .cube (Resolve/Adobe 1-D "
        "LUT), .spi1d (OpenColorIO), .json or .csv. A LUT holds one curve for all channels or three (R, G, B): "
        "pick curves of a larger set with --index/--name.",
    )
    p.add_argument("source", metavar="CURVE_OR_SET")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output .cube, .spi1d, .json or .csv")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--index", type=int, nargs="+", metavar="I", help="export only these curves (1 or 3 for a LUT)")
    sel.add_argument("--name", nargs="+", metavar="NAME", help="export only the curves of these names")
    p.add_argument("--kind", choices=["forward", "inverse", "as-is"], default="as-is",
                   help="direction: forward (linear -> display), inverse (display -> linear, to linearise), "
                   "or as stored (default)")
    p.add_argument("--size", type=int, default=None, help="LUT entries (default: the exporter's)")
    p.set_defaults(func=run)


def _load(spec):
    """A CurveSet from a name, a curve file or a specification."""
    from pathlib import Path

    from ..curves import Curve, CurveSet
    from ..data import BUILTIN_CURVE_SETS, load_curves

    if spec.lower() in BUILTIN_CURVE_SETS:
        return load_curves(spec)
    path = Path(spec)
    if path.suffix.lower() in (".crfs", ".npz", ".zip"):
        return load_curves(spec)
    if path.suffix.lower() == ".txt" and path.is_file():
        from .fit import _is_dorf_text

        if _is_dorf_text(path):
            return load_curves(spec)
    from .linearize import _load_curve_spec

    got = _load_curve_spec(spec)
    return got if isinstance(got, CurveSet) else CurveSet.from_curves([got] if isinstance(got, Curve) else got)


def _select(curves, args):
    from ..curves import CurveSet
    from ..errors import ValidationError

    keys = args.index if args.index is not None else args.name
    if keys is None:
        return curves
    picked = []
    for key in keys:
        try:
            picked.append(curves[key])
        except (IndexError, KeyError) as exc:
            raise ValidationError(f"{args.source}: {str(exc).strip(chr(39))}") from None
    return CurveSet.from_curves(picked, attrs=curves.attrs, name=curves.name)


def run(args):
    from ..errors import MissingDependencyError, ValidationError

    export_curves, suffixes = _export_api()
    if export_curves is None:
        raise MissingDependencyError("this crfkit has no curve export (crfkit.io.export_curves); update crfkit")
    out = check_curve_output(args.output)
    if out.suffix.lower() == ".crfs":
        raise ValidationError(f"-o {out}: export writes {', '.join(suffixes)}; a .crfs is what `crfkit fit --save` "
                              "or CurveSet.save writes")
    if args.size is not None and args.size < 2:
        raise ValidationError(f"--size must be at least 2, got {args.size}")
    curves = _select(_load(args.source), args)
    if args.kind != "as-is":
        curves = curves.as_kind(args.kind)
    options = {"size": args.size} if args.size is not None else {}
    export_curves(curves, out, **options)
    print(f"wrote {out} ({len(curves)} {curves.kind} curve{'s' if len(curves) != 1 else ''})", file=sys.stderr)
    return 0
