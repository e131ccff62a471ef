"""``crfkit fit``: fit one model to a curve, a curve set or samples."""

import json
import sys

import numpy as np

from ._common import check_plot_path, write_output

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


def _load(args):
    from pathlib import Path

    from ..data import BUILTIN_CURVE_SETS, load_curves, read_curve_text

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
        data = read_curve_text(src, kind, args.scale)
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


def _check_not_source(args, save, plot):
    """Refuse, before any work, a --save or --plot that would replace SOURCE or the --basis file, or each other."""
    from .._io import InputFiles, check_distinct_outputs
    from ._common import spec_file

    read = InputFiles([spec_file(args.source, "the input"), spec_file(args.basis, "the --basis file")])
    read.check(save, "--save")
    read.check(plot, "--plot")
    check_distinct_outputs(("--save", save), ("--plot", plot))


#: fit()'s options and the flags that set them
_FLAGS = {"pin_zero": "--pin-zero", "basis": "--basis"}


def _check_model_flags(model, options):
    """Refuse a flag the model does not take, naming the flag (the library names its keyword)."""
    import inspect

    from ..errors import ValidationError
    from ..models.registry import MODELS, get_model_class

    cls = get_model_class(model)  # an unknown model is named first

    def takes(c, key):
        params = inspect.signature(c.__init__).parameters
        return key in params or any(p.kind == p.VAR_KEYWORD for p in params.values())

    for key in options:
        if not takes(cls, key):
            users = sorted(name for name, c in MODELS.items() if takes(c, key))
            raise ValidationError(f"{_FLAGS.get(key, key)} does not apply to model {cls.name}"
                                  + (f"; it applies to -m {' or '.join(users)}" if users else ""))


def _as_cli_error(exc):
    """The library's error with its keyword arguments worded as this command's options."""
    text = str(exc)
    # the command line has no ridge option: a fit with too few distinct samples needs a smaller -k
    new = text.replace(" or a smaller k, or pass regularization > 0", " or a smaller -k")
    new = new.replace("or a smaller k", "or a smaller -k")
    new = new.replace("needs basis=... (a curve set name such as 'dorf', a CurveSet, or a basis file)",
                      "needs --basis (a curve set such as dorf, a .crfs file, or a basis file .npz)")
    new = new.replace("needs basis=...", "needs --basis")
    return exc if new == text else type(exc)(new)


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
    from ..errors import CrfkitError, ValidationError
    from ..fitting import fit

    if args.plot_curve is not None and not args.plot:
        raise ValidationError("--plot-curve picks the curve --plot draws; give --plot FILE")
    plot = check_plot_path(args.plot)  # suffix, folder, writes
    save = _save_path(args.save) if args.save else None
    _check_not_source(args, save, plot)
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
    _check_model_flags(args.model, options)
    kind = "inverse" if args.inverse else None
    try:
        result = fit(data, model=args.model, k=args.k, kind=kind, monotone=args.monotone, **options)
    except CrfkitError as exc:
        raise _as_cli_error(exc) from None
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

        # one fitted curve is saved as a curve (a set of one in .crfs); every format crfkit reads reads it back
        curves = result.curves
        n = len(curves) if isinstance(curves, CurveSet) else 1
        save_curves(curves, save)
        print(f"wrote {save} ({n} fitted curve{'s' if n != 1 else ''})", file=sys.stderr)
    if plot:
        from ..plotting import plot_fit

        plot_fit(data, result, path=plot, index=index,
                 title=f"{result.label}: {result.names[index]} (rmse {np.atleast_1d(result.rmse)[index]:.3g})")
        print(f"wrote {plot}" + (f" ({note})" if note else ""), file=sys.stderr)
    return 0
