"""``crfkit restore``: single-image HDR from LDR photos (linearise, restore highlights, write EXR/HDR)."""

import sys

from ..io.linear import LINEAR_SUFFIXES as HDR_OUTPUT_SUFFIXES
from ._common import check_input_file, spec_file
from .estimate import (
    BATCH_EPILOG,
    Batch,
    add_batch_arguments,
    check_photo,
    collect_inputs,
    make_estimator,
    make_output_folder,
    output_suffix,
    plan_outputs,
    read_photo,
)

HDR_EXPECTED = "a .exr (OpenEXR), .hdr (Radiance), .npy (NumPy float32) or .tif/.tiff (16-bit) file name"


def register(sub):
    p = sub.add_parser(
        "restore",
        help="LDR photos -> linear HDR (.exr/.hdr): linearise and restore the saturated regions",
        description="Linearises each photo with --crf, restores its clipped highlights with --method and writes "
        "linear RGB as OpenEXR (.exr, 32-bit float), Radiance (.hdr), NumPy (.npy) or 16-bit TIFF (.tif), "
        "atomically. The output's white (the input's saturation level) is 1; restored highlights go above it "
        "(a TIFF stores 0..--tiff-white as 0..65535). A photo with nothing above "
        "--tau comes back as its linearisation without running the method. " + BATCH_EPILOG,
    )
    add_batch_arguments(p, "LDR photos (PNG, JPEG, TIFF, ...; 8 or 16 bits)", "output .exr, .hdr, .npy or .tif/.tiff",
                        HDR_OUTPUT_SUFFIXES, "exr")
    p.add_argument("--crf", default="gamma:2.2",
                   help="inverse CRF: gamma:G, srgb, linear, an estimator (linearization-net, crf-net, plugins), or "
                   "a saved curve (.crfs, .json, .txt of 1024 inverse values; forward:FILE for a forward one); "
                   "default gamma:2.2")
    p.add_argument("--crf-weights", metavar="PATH", help="weights of the estimator named by --crf")
    p.add_argument("--method", "-m", default="masked-unet",
                   help="restoration method: masked-unet (default), clip, highlight-expansion or a plugin")
    p.add_argument("--weights", metavar="PATH", help="weights of the method (default: the shipped ones)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--tile", type=int, default=None, help="tile size in pixels for large images (masked-unet)")
    p.add_argument("--threads", type=int, default=None, help="threads for this run (default: the idle cores; also CRFKIT_THREADS)")
    p.add_argument("--flips", type=int, choices=[1, 2, 4], default=None,
                   help="masked-unet: average the prediction over this many mirrored views (default: the restorer's)")
    p.add_argument("--tau", type=float, default=None, help="saturation threshold in (0, 1) (default 0.95)")
    p.add_argument("--half", action="store_true", help="write 16-bit half floats (.exr)")
    p.add_argument("--tiff-white", type=float, metavar="V", default=None,
                   help="16-bit TIFF: the linear value stored as 65535 (default: the image's maximum, so nothing "
                   "is clipped; it is printed)")
    p.set_defaults(func=run)


class _LazyRestorer:
    """Builds the restorer (torch, weights) on the first image that needs it, then reuses it.

    A batch of photos without clipped pixels never loads the network.
    """

    def __init__(self, method, options):
        self.method, self.options, self._restorer = method, options, None

    def get(self):
        if self._restorer is None:
            from ..restoration import get_restorer

            self._restorer = get_restorer(self.method, **self.options)
        return self._restorer


def _crf_is_estimator(spec):
    from ..estimators import available_estimators

    return spec in available_estimators()


def run(args):
    import warnings

    import numpy as np

    from ..errors import ValidationError
    from ..io import write_linear_image
    from ..restoration.base import TAU
    from ..restoration.pipeline import _check_method, resolve_inverse_crf, restore_with_info

    suffix = output_suffix(args, HDR_OUTPUT_SUFFIXES, ".exr")
    if args.half and suffix != ".exr":
        raise ValidationError("--half writes half floats in OpenEXR: it needs a .exr output")
    if args.tiff_white is not None:
        if not (np.isfinite(args.tiff_white) and args.tiff_white > 0):
            raise ValidationError(f"--tiff-white must be a positive number, got {args.tiff_white:g}")
        if suffix not in (".tif", ".tiff"):
            raise ValidationError("--tiff-white applies to 16-bit .tif/.tiff outputs")
    tau = args.tau if args.tau is not None else TAU
    if not 0.0 < tau < 1.0:
        raise ValidationError(f"--tau must be a number in (0, 1), got {tau:g}")
    inputs, batch = collect_inputs(args.images)
    read = [spec_file(args.crf, "the --crf file"), spec_file(args.weights, "the --weights file"),
            spec_file(args.crf_weights, "the --crf-weights file")]
    outputs = plan_outputs(inputs, batch, args.output, HDR_OUTPUT_SUFFIXES,
                           (args.format or "exr") if batch else args.format, HDR_EXPECTED, also_read=read)
    if not batch:
        check_photo(inputs[0], "restoration")  # before loading a model
    # --threads is applied by the command line's thread policy (BLAS, OpenMP and torch), not as a
    # method option, so it holds for every method
    opts = {key: getattr(args, key) for key in ("weights", "device", "tile", "flips")
            if getattr(args, key) is not None}
    opts = _check_method(args.method, opts)  # names and values, before any image is read or network loaded
    if args.weights is not None:
        # the network is built at the first photo with clipped pixels: a missing or unreadable weight
        # file is refused now, before anything is written, as estimate and linearize refuse theirs
        check_input_file(args.weights, "--weights", "weights file")
    restorer = _LazyRestorer(args.method, opts)
    # the inverse CRF: resolved once (a bad curve fails before any image is read); an estimator is built once
    estimator = None
    if _crf_is_estimator(args.crf):
        estimator = make_estimator(args, args.crf, weights_option="crf_weights")
        crf = None
    else:
        if args.crf_weights:
            raise ValidationError(f"--crf-weights applies to an estimator given as --crf, not to {args.crf!r}")
        crf = resolve_inverse_crf(args.crf)
    batch_run = Batch(args.command, inputs, batch)

    def job(i, src):
        img = read_photo(src, "restoration")
        if img.ndim == 3 and img.shape[2] in (2, 4):
            warnings.warn(f"{src}: alpha channel dropped", UserWarning, stacklevel=1)
        elif img.ndim == 2 or img.shape[2] == 1:
            warnings.warn(f"{src}: grayscale image; restored as gray RGB", UserWarning, stacklevel=1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="restore: ")  # said above, naming the file
            g = crf if estimator is None else estimator.estimate(img)
            # the network is built only when this photo has clipped pixels
            colour = img if img.ndim == 3 else img[:, :, None]
            colour = colour[:, :, :1] if colour.shape[2] == 2 else colour[:, :, :3]  # not the alpha channel
            top = np.iinfo(img.dtype).max if img.dtype.kind == "u" else 1.0
            clipped = bool(np.any(colour > tau * top))
            method = restorer.get() if clipped else args.method
            # one photo on a terminal: the network's tiles show progress (a batch shows its own bar)
            hdr, info = restore_with_info(img, crf=g, method=method, tau=tau,
                                          progress=not batch and sys.stderr.isatty())
        info["method"] = args.method
        if estimator is not None:
            info["crf"] = f"{args.crf} (estimated)"
        tiff = outputs[i].suffix.lower() in (".tif", ".tiff")
        white = (args.tiff_white or max(1.0, float(hdr.max()))) if tiff else None
        write_linear_image(outputs[i], hdr, half=args.half, scale=1.0 / white if tiff else None)
        h, w = info["shape"]
        how = "no saturated pixels: linearisation only" if info["fast_path"] else f"method {info['method']}"
        white_note = f"; 65535 = linear {white:.4g}" if tiff else ""
        batch_run.say(f"wrote {outputs[i]} from {src}: {w}x{h}, {100 * info['saturated_fraction']:.2f}% saturated, "
                      f"{how}, crf {info['crf']}, {info['seconds']:.2f} s{white_note}")

    make_output_folder(outputs)
    return batch_run.run(job)
