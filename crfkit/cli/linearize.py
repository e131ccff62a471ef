"""``crfkit linearize``: estimate the inverse CRF of a photo and write the linear image."""

from .estimate import add_estimator_options, estimate_from_args


def register(sub):
    p = sub.add_parser(
        "linearize",
        help="linearise a photo with an estimated (or given) inverse CRF; writes OpenEXR",
        description="Estimates the inverse CRF with --method (or reads it with --curve) and writes the linearised "
        "image (relative irradiance in [0, 1]) as 32-bit float OpenEXR (.exr) or NumPy (.npy).",
    )
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output .exr or .npy")
    add_estimator_options(p)
    p.add_argument("--curve", metavar="FILE", help="use this inverse curve (.crfs, or a .txt of 1024 values) instead of estimating")
    p.add_argument("--half", action="store_true", help="write 16-bit half floats (EXR)")
    p.set_defaults(func=run)


def run(args):
    import sys
    from pathlib import Path

    import numpy as np

    from .._io import atomic_path
    from ..curves import linearize
    from ..errors import ValidationError

    out = Path(args.output)
    if out.suffix.lower() not in (".exr", ".npy"):
        raise ValidationError(f"-o {out}: use a .exr or .npy file name")
    if not out.parent.exists():
        raise ValidationError(f"-o {out}: folder {out.parent} does not exist")
    if args.curve:
        from ..data import load_curves, read_curve_text
        from ..io.images import read_image

        img = read_image(args.image, mode="any")
        if Path(args.curve).suffix.lower() == ".crfs":
            g = load_curves(args.curve)[0]
        else:
            g = read_curve_text(args.curve, "inverse")
        if g.kind != "inverse":
            g = g.inverse()
    else:
        img, g = estimate_from_args(args)
    if img.ndim == 3 and img.shape[2] in (2, 4):
        img = img[:, :, : img.shape[2] - 1]  # drop alpha
    lin = linearize(img, g).astype(np.float32)
    if out.suffix.lower() == ".exr":
        from ..io.hdr import write_exr

        write_exr(out, lin, half=args.half)
    else:
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, lin)
    print(f"wrote {out} ({lin.shape[1]}x{lin.shape[0]}, inverse CRF from {args.curve or args.method})", file=sys.stderr)
    return 0
