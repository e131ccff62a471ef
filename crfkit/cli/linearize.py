"""``crfkit linearize``: linearise photos with an estimated or given inverse CRF."""

from ..io.linear import LINEAR_SUFFIXES  # .exr, .hdr, .npy, 16-bit .tif/.tiff (0..65535 for [0, 1])
from ._common import spec_file
from .estimate import (
    BATCH_EPILOG,
    Batch,
    add_batch_arguments,
    add_estimator_options,
    check_photo,
    collect_inputs,
    make_estimator,
    make_output_folder,
    output_suffix,
    plan_outputs,
    read_photo,
    resolve_method,
)

LINEAR_EXPECTED = "a .exr, .hdr, .npy or .tif/.tiff (16-bit) file name"


def register(sub):
    p = sub.add_parser(
        "linearize",
        help="linearise photos with an estimated (or given) inverse CRF; writes EXR, HDR, NPY or 16-bit TIFF",
        description="Estimates the inverse CRF of each photo with --method (or takes it from --curve) and writes "
        "the linearised image (relative irradiance in [0, 1]); the suffix of -o picks the format: .exr (32-bit "
        "float OpenEXR), .hdr (Radiance), .npy (NumPy float32), .tif/.tiff (16-bit integers, 0..65535). "
        "A curve set given with --curve must be one camera's R, G, B curves (applied per channel) unless "
        "--curve-index or --curve-name picks one curve (or, by name, one camera). " + BATCH_EPILOG,
    )
    add_batch_arguments(p, "photos (PNG, JPEG, TIFF; 8/16-bit)", "output file (.exr, .hdr, .npy, .tif/.tiff)",
                        LINEAR_SUFFIXES, "exr")
    add_estimator_options(p)
    p.add_argument("--curve", metavar="CURVE",
                   help="use this inverse CRF instead of estimating: a curve set (.crfs; per channel), a .json or "
                   ".txt/.csv of 1024 inverse values, gamma:G, srgb (forward:FILE for a forward curve file)")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--curve-index", type=int, metavar="I", help="use curve I of the --curve set for all channels")
    sel.add_argument("--curve-name", metavar="NAME",
                     help="use the curve of this name of the --curve set for all channels, or the R, G, B curves "
                     "of the camera of this name per channel")
    p.add_argument("--per-channel", action="store_true",
                   help="estimate one inverse CRF per channel (R, G, B) instead of one shared curve, for the methods "
                   "that give them (crf-net, linearization-net, lin2004)")
    p.add_argument("--half", action="store_true", help="write 16-bit half floats (.exr only)")
    p.set_defaults(func=run)


def _load_curve_spec(spec):
    """A Curve or CurveSet from a --curve specification; a file of x/y samples gets a hint to fit it first."""
    from ..curves.image import load_curve_spec
    from ..errors import ParseError

    try:
        return load_curve_spec(spec)
    except ParseError as exc:
        if "samples" not in str(exc):
            raise
        raise ParseError(f"--curve {spec}: holds x/y samples, not a curve of 1024 values; fit one first, e.g. "
                         f"`crfkit fit {spec} --inverse --monotone --save curve.crfs`, then --curve curve.crfs") from None


def resolve_curve(args, loaded, n_channels=3):
    """The inverse curve(s) of --curve (``loaded``) for an image of ``n_channels``: a Curve, or a CurveSet per channel."""
    from ..curves.image import channel_curves
    from ..errors import ValidationError

    try:
        return channel_curves(loaded, n_channels, index=args.curve_index, name=args.curve_name,
                              where=f"--curve {args.curve}")
    except ValidationError as exc:
        # the library names its keyword arguments; here they are options
        text = str(exc).replace("index= or name=", "--curve-index I or --curve-name NAME")
        text = text.replace("index= and name=", "--curve-index and --curve-name")
        raise type(exc)(text) from None


def run(args):
    import numpy as np

    from ..curves import CurveSet, linearize
    from ..errors import ValidationError
    from ..io import write_linear_image

    if (args.curve_index is not None or args.curve_name is not None) and not args.curve:
        raise ValidationError("--curve-index/--curve-name select a curve of the --curve set; give --curve")
    if args.curve:
        given = [opt for opt, on in (("--method", args.method is not None), ("--weights", args.weights),
                                     ("--device", args.device), ("--per-channel", args.per_channel)) if on]
        if given:
            raise ValidationError(f"--curve gives the curve: {', '.join(given)} (estimation) would be ignored")
    if args.half and output_suffix(args, LINEAR_SUFFIXES, ".exr") != ".exr":
        raise ValidationError("--half writes half floats in OpenEXR: it needs a .exr output")
    inputs, batch = collect_inputs(args.images)
    read = [spec_file(args.curve, "the --curve file"), spec_file(args.weights, "the --weights file")]
    outputs = plan_outputs(inputs, batch, args.output, LINEAR_SUFFIXES,
                           (args.format or "exr") if batch else args.format, LINEAR_EXPECTED, also_read=read)
    if not batch:
        check_photo(inputs[0], "linearisation")  # before loading a model
    if args.curve:
        loaded = _load_curve_spec(args.curve)
        curve = resolve_curve(args, loaded)  # once, before any image is read
        source = args.curve
        estimator = None
    else:
        args.method = resolve_method(args)
        estimator = make_estimator(args)  # the model is loaded once for every input
        source = args.method
    batch_run = Batch(args.command, inputs, batch)

    def job(i, src):
        img = read_photo(src, "linearisation")
        g = curve if estimator is None else estimator.estimate(img)
        if img.ndim == 3 and img.shape[2] in (2, 4):
            img = img[:, :, : img.shape[2] - 1]  # drop alpha
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        channels = 1 if img.ndim == 2 else img.shape[2]
        if estimator is None and channels != 3:
            g = resolve_curve(args, loaded, channels)  # e.g. a grey photo: one curve, or a clear error
        lin = linearize(img, g).astype(np.float32)
        write_linear_image(outputs[i], lin, half=args.half)
        per = " (per channel)" if isinstance(g, CurveSet) and len(g) > 1 else ""
        batch_run.say(f"wrote {outputs[i]} ({lin.shape[1]}x{lin.shape[0]}, inverse CRF from {source}{per})")

    make_output_folder(outputs)
    return batch_run.run(job)
