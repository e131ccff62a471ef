"""``crfkit fit``: fit one model to a curve, a curve set or samples."""

import json

import numpy as np

from ._common import check_plot_path, write_output


def register(sub):
    p = sub.add_parser(
        "fit",
        help="fit a CRF model to a curve from a dataset or a file",
        description="SOURCE is dorf, invdorf, a saved curve set (.crfs), or a text/CSV file holding 1024 values "
        "(a curve), rows of 1024 values, or columns 'x y [weight]' (sparse samples).",
    )
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("-m", "--model", default="emor", help="model name (see `crfkit info`); default emor")
    p.add_argument("-k", type=int, default=None, help="number of parameters (model default if omitted)")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--index", type=int, help="fit only the curve with this index")
    sel.add_argument("--name", help="fit only the curve with this name")
    p.add_argument("--inverse", action="store_true", help="treat file data as inverse curves (inverse EMoR basis)")
    p.add_argument("--monotone", action="store_true", help="constrain the fitted curve to be non-decreasing")
    p.add_argument("--pin-zero", action="store_true", help="polynomial: also force f(0) = 0")
    p.add_argument("--basis", help="pca: curve set (dorf, .crfs) or basis file (.npz) to learn/load the basis from")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--save", metavar="FILE", help="save the fitted curve(s) as a curve set (.crfs)")
    p.add_argument("--plot", metavar="FILE", help="plot data and fit (.png/.pdf/.svg)")
    p.set_defaults(func=run)


def _is_dorf_text(path):
    """True when the file starts like a DoRF record: name, type, then an 'I =' line."""
    with open(path, "rb") as fh:
        head = [fh.readline(100) for _ in range(3)]
    return head[2].replace(b" ", b"").strip() == b"I="


def _load(args):
    from pathlib import Path

    from ..data import load_curves, read_curve_text
    from ..errors import UnknownNameError

    kind = "inverse" if args.inverse else "forward"
    src = args.source
    if src.lower() in ("dorf", "invdorf") or Path(src).suffix.lower() in (".crfs", ".npz", ".zip"):
        data = load_curves(src)
    elif Path(src).suffix.lower() == ".txt" and Path(src).is_file() and _is_dorf_text(src):
        data = load_curves(src)
    elif Path(src).is_file():
        data = read_curve_text(src, kind)
    else:
        raise UnknownNameError(f"SOURCE {src!r} is neither dorf/invdorf nor an existing file")
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


def run(args):
    from ..fitting import fit

    plot = check_plot_path(args.plot)
    data = _load(args)
    options = {}
    if args.pin_zero:
        options["pin_zero"] = True
    if args.basis:
        options["basis"] = args.basis
    kind = "inverse" if args.inverse else None
    result = fit(data, model=args.model, k=args.k, kind=kind, monotone=args.monotone, **options)
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
    if args.save:
        from ..curves import CurveSet

        curves = result.curves if isinstance(result.curves, CurveSet) else CurveSet.from_curves([result.curves])
        curves.save(args.save)
    if plot:
        from ..plotting import plot_fit

        plot_fit(data, result, path=plot)
    return 0
