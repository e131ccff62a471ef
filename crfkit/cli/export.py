"""``crfkit export``: hand a curve or curve set to an editor or a colour pipeline (.cube, .spi1d, JSON, CSV)."""

import sys


def curve_output_suffixes():
    """Suffixes a fitted or exported curve set may be saved under: .crfs and the export formats."""
    from ..io.export import EXPORT_SUFFIXES

    return (".crfs",) + tuple(EXPORT_SUFFIXES)


def check_curve_output(path, what="-o", suffixes=None):
    """Check a curve output path (suffix known, folder writable) before any work; returns a Path."""
    from .._io import check_output_path

    suffixes = suffixes or curve_output_suffixes()
    expected = "a " + ", ".join(suffixes[:-1]) + " or " + suffixes[-1] + " file name"
    return check_output_path(path, suffixes, expected, what=what)


def save_curves(curves, path):
    """Save a Curve or CurveSet as it is: .crfs natively, the export formats through crfkit.io.export_curves.

    Every format crfkit can read (.crfs, .json, .csv) reads back with the same values (and, where
    the format stores them, names, kind and metadata); .cube and .spi1d are for other tools.
    """
    from pathlib import Path

    from ..curves import Curve, CurveSet
    from ..io import export_curves

    if Path(path).suffix.lower() == ".crfs":
        return (CurveSet.from_curves([curves]) if isinstance(curves, Curve) else curves).save(path)
    return export_curves(curves, path, direction=None)


def register(sub):
    p = sub.add_parser(
        "export",
        help="export a curve or curve set as a 1-D LUT (.cube, .spi1d) or as JSON/CSV",
        description="Writes CURVE_OR_SET (dorf, invdorf, a .crfs curve set, a .json or .csv file written by crfkit "
        "(export -o, fit --save, estimate -o), a .txt/.csv curve of 1024 values, gamma:G, srgb) for other tools; "
        "the suffix of -o picks the format: .cube (Iridas/Adobe 1-D LUT: "
        "Resolve, Photoshop, ffmpeg lut1d), .spi1d (OpenColorIO), .json or .csv. By default the file maps code "
        "values to linear values (the inverse CRF, what linearises an image); --direction forward writes the "
        "camera's encoding. A LUT holds one curve for all channels or three (R, G, B): pick them in a larger "
        "set with --index or --name.",
    )
    p.add_argument("source", metavar="CURVE_OR_SET")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output .cube, .spi1d, .json or .csv")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--index", type=int, nargs="+", metavar="I", help="export only these curves (1 or 3 for a LUT)")
    sel.add_argument("--name", nargs="+", metavar="NAME", help="export only the curves of these names")
    p.add_argument("--direction", "--kind", dest="direction", choices=["inverse", "forward", "as-is"],
                   default="inverse",
                   help="inverse (default): code -> linear; forward: linear -> code; as-is: as stored")
    p.add_argument("--size", type=int, default=None,
                   help="samples over [0, 1] (default: 4096 for LUTs, the curves' 1024-point grid for JSON/CSV)")
    p.set_defaults(func=run)


def run(args):
    from ..curves.image import load_curve_spec
    from ..errors import ValidationError
    from ..io.export import EXPORT_SUFFIXES, export_curves

    from .._io import check_not_input
    from ._common import spec_file

    out = check_curve_output(args.output, suffixes=tuple(EXPORT_SUFFIXES))
    check_not_input(out, [spec_file(args.source, "the input")], "-o")  # export ex.json -o ex.json
    curves = load_curve_spec(args.source)
    keys = args.index if args.index is not None else args.name
    pick = None if keys is None else (keys[0] if len(keys) == 1 else list(keys))
    try:
        export_curves(curves, out, size=args.size, direction=None if args.direction == "as-is" else args.direction,
                      curve=pick)
    except ValidationError as exc:
        # the library names its keyword arguments; here they are options
        text = str(exc).replace("choose with curve=index, name or [r, g, b]", "choose with --index or --name")
        raise type(exc)(text) from None
    if pick is not None:
        n = len(pick) if isinstance(pick, list) else 1
    else:
        n = len(curves) if hasattr(curves, "names") else 1  # a CurveSet, or one Curve
    how = "as stored" if args.direction == "as-is" else args.direction
    print(f"wrote {out} ({n} curve{'s' if n != 1 else ''}, {how})", file=sys.stderr)
    return 0
