"""``crfkit estimate``: the inverse CRF of one photo from a single-image estimator."""

from ._common import check_plot_path, write_output


def add_estimator_options(p):
    p.add_argument("--method", "-m", default="linearization-net",
                   help="estimator (default linearization-net; `crfkit info` lists the plugins)")
    p.add_argument("--weights", metavar="PATH", help="weight file (default: the weights shipped with crfkit)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")


def estimate_from_args(args):
    """Read the image and run the estimator; returns (image array, inverse curve)."""
    import warnings

    from ..estimators import estimate
    from ..io.images import read_image

    img = read_image(args.image, mode="any")
    opts = {}
    if args.weights:
        opts["weights"] = args.weights
    if args.device:
        opts["device"] = args.device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = estimate(img, method=args.method, **opts)
    import sys

    for w in caught:
        print(f"crfkit {args.command}: warning: {w.message}", file=sys.stderr)
    return img, g


def register(sub):
    p = sub.add_parser(
        "estimate",
        help="estimate the inverse CRF of a photo (crf-net, linearization-net, plugins)",
        description="Prints the estimated inverse CRF g (brightness -> irradiance) at a few levels, or writes all "
        "1024 samples on linspace(0, 1, 1024) with -o (.txt: one value a line, .json, .crfs).",
    )
    p.add_argument("image", help="photo (PNG, JPEG, TIFF; 8-bit preferred)")
    add_estimator_options(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the curve (.txt, .json or .crfs)")
    p.add_argument("--plot", metavar="FILE", help="plot the inverse CRF (.png/.pdf/.svg)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _write_curve(g, path):
    import json
    from pathlib import Path

    from .._io import atomic_write_text
    from ..curves import CurveSet
    from ..errors import ValidationError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".crfs":
        CurveSet.from_curves([g]).save(path)
    elif suffix == ".json":
        atomic_write_text(path, json.dumps({"kind": g.kind, "name": g.name, "values": [float(v) for v in g.values]}) + "\n")
    elif suffix in (".txt", ".csv"):
        atomic_write_text(path, "\n".join(f"{v:.8g}" for v in g.values) + "\n")
    else:
        raise ValidationError(f"-o {path}: use .txt, .csv, .json or .crfs")


def run(args):
    import json

    import numpy as np

    plot = check_plot_path(args.plot)
    _, g = estimate_from_args(args)
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    if args.json:
        write_output(json.dumps({"method": args.method, "kind": g.kind, "values": [float(v) for v in g.values]}))
    else:
        at = " ".join(f"g({b:g})={float(g(b)):.4f}" for b in levels)
        write_output(f"method: {args.method}\ninverse CRF: {at}\n"
                     f"monotone: {g.is_monotone()}, g(0)={g.values[0]:.4g}, g(1)={g.values[-1]:.4g}\n"
                     f"rmse to gamma 2.2 inverse: {float(np.sqrt(np.mean((g.values - np.linspace(0, 1, 1024) ** 2.2) ** 2))):.4f}")
    if args.output:
        _write_curve(g, args.output)
    if plot:
        from ..plotting import plot_curves

        from pathlib import Path

        plot_curves([g], path=plot, title=f"{args.method}: inverse CRF of {Path(args.image).name}")
    return 0
