"""``crfkit linearize``: linearise photos with an estimated or given inverse CRF."""

import sys
from pathlib import Path

from .estimate import (
    BATCH_EPILOG,
    Batch,
    add_estimator_options,
    check_photo,
    collect_inputs,
    make_estimator,
    plan_outputs,
    read_photo,
)

#: Linear image formats, by suffix (16-bit TIFF holds [0, 1] as 0..65535)
LINEAR_SUFFIXES = (".exr", ".hdr", ".npy", ".tif", ".tiff")
LINEAR_EXPECTED = "a .exr, .hdr, .npy or .tif/.tiff (16-bit) file name"


def register(sub):
    p = sub.add_parser(
        "linearize",
        help="linearise photos with an estimated (or given) inverse CRF; writes EXR, HDR, NPY or 16-bit TIFF",
        description="Estimates the inverse CRF of each photo with --method (or takes it from --curve) and writes "
        "the linearised image (relative irradiance in [0, 1]); the suffix of -o picks the format: .exr (32-bit "
        "float OpenEXR), .hdr (Radiance), .npy (NumPy float32), .tif/.tiff (16-bit integers, 0..65535). "
        "A curve set given with --curve must be one camera's R, G, B curves (applied per channel) unless "
        "--curve-index or --curve-name picks one curve for all channels. " + BATCH_EPILOG,
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos (PNG, JPEG, TIFF; 8/16-bit) or folders")
    p.add_argument("-o", "--output", required=True, metavar="FILE_OR_DIR",
                   help="output file (.exr, .hdr, .npy, .tif/.tiff); a folder for several inputs")
    p.add_argument("--format", choices=[s[1:] for s in LINEAR_SUFFIXES], default=None,
                   help="type of the files written into the -o folder for several inputs (default exr)")
    add_estimator_options(p)
    p.add_argument("--curve", metavar="CURVE",
                   help="use this inverse CRF instead of estimating: a curve set (.crfs; per channel), a .json or "
                   ".txt/.csv of 1024 inverse values, gamma:G, srgb (forward:FILE for a forward curve file)")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--curve-index", type=int, metavar="I", help="use curve I of the --curve set for all channels")
    sel.add_argument("--curve-name", metavar="NAME", help="use the curve of this name of the --curve set")
    p.add_argument("--half", action="store_true", help="write 16-bit half floats (.exr only)")
    p.set_defaults(func=run)


def _load_curve_spec(spec):
    """A Curve or CurveSet from a --curve specification, with a clear error for sample files."""
    from ..data import BUILTIN_CURVE_SETS, load_curves
    from ..errors import ParseError
    from ..restoration.pipeline import _curve_from_file

    low = spec.lower()
    if low in BUILTIN_CURVE_SETS:
        return load_curves(spec)
    kind_hint = None
    text = spec
    for kind in ("forward", "inverse"):
        if low.startswith(kind + ":"):
            kind_hint, text = kind, spec.split(":", 1)[1]
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() not in (".crfs", ".npz", ".json"):
        from ..curves.samples import Samples
        from ..data import read_curve_text

        try:
            got = read_curve_text(path, kind_hint or "inverse")
        except (ParseError, ValueError):
            got = None
        if isinstance(got, Samples):
            raise ParseError(f"--curve {path}: holds x/y samples, not a curve of 1024 values; fit one first, e.g. "
                             f"`crfkit fit {path} --inverse --monotone --save curve.crfs`, then --curve curve.crfs")
    if path.is_file():
        return _curve_from_file(path, kind_hint)
    from ..restoration.pipeline import resolve_inverse_crf

    return resolve_inverse_crf(spec)  # gamma:G, srgb, linear; unknown names and missing files fail here


def resolve_curve(args):
    """The inverse curve(s) of --curve: a Curve for all channels, or a CurveSet of R, G, B."""
    from ..curves import Curve, CurveSet
    from ..errors import ValidationError

    got = _load_curve_spec(args.curve)
    pick = args.curve_index if args.curve_index is not None else args.curve_name
    try:
        from ..curves.image import channel_curves  # the library's resolver, where present
    except ImportError:
        channel_curves = None
    if channel_curves is not None:
        return channel_curves(got, index=args.curve_index, name=args.curve_name, where=f"--curve {args.curve}")
    if isinstance(got, Curve):
        if pick is not None:
            raise ValidationError(f"--curve {args.curve} holds one curve; --curve-index/--curve-name select in a set")
        return got.as_kind("inverse")
    if pick is not None:
        try:
            return got[pick].as_kind("inverse")
        except (IndexError, KeyError) as exc:
            raise ValidationError(f"--curve {args.curve}: {str(exc).strip(chr(39))} "
                                  f"(the set holds {len(got)}: {', '.join(got.names[:6])}"
                                  f"{' ...' if len(got) > 6 else ''})") from None
    if len(got) == 1:
        return got[0].as_kind("inverse")
    if len(got) == 3 and _one_camera_rgb(got.names):
        return got.as_kind("inverse")
    raise ValidationError(
        f"--curve {args.curve}: a set of {len(got)} curves ({', '.join(got.names[:3])}{' ...' if len(got) > 3 else ''}) "
        "is not one camera's R, G, B curves; pick one with --curve-index I or --curve-name NAME"
    )


def _one_camera_rgb(names):
    """True for three names that differ only in a trailing R/G/B (or Red/Green/Blue) channel tag."""
    import re

    stems = []
    for name, (short, long) in zip(names, (("r", "red"), ("g", "green"), ("b", "blue"))):
        m = re.match(rf"^(.*?)[\s/_\-.]*(?:{long}|{short})$", name.strip(), re.IGNORECASE)
        if not m:
            return False
        stems.append(m.group(1).lower())
    return len(set(stems)) == 1


def write_linear(path, image, half=False):
    """Write a linear float image; the suffix picks the format (.exr, .hdr, .npy, 16-bit .tif/.tiff)."""
    import numpy as np

    from .._io import atomic_path
    from ..errors import ValidationError

    try:
        from ..io import write_linear_image  # the library's writer, where present
    except ImportError:
        write_linear_image = None
    if write_linear_image is not None:
        return write_linear_image(path, image, half=half)
    path = Path(path)
    suffix = path.suffix.lower()
    if half and suffix != ".exr":
        raise ValidationError(f"--half applies to .exr outputs, not {path.name}")
    if suffix == ".exr":
        from ..io.hdr import write_exr

        return write_exr(path, image, half=half)
    if suffix == ".hdr":
        from ..restoration.pipeline import write_hdr_image

        img = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        return write_hdr_image(path, img)
    if suffix == ".npy":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(image, np.float32))
        return path
    if suffix in (".tif", ".tiff"):
        from ..io.images import write_image

        return write_image(path, np.round(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16))
    raise ValidationError(f"-o {path}: use {LINEAR_EXPECTED}")


def run(args):
    import numpy as np

    from ..curves import CurveSet, linearize
    from ..errors import ValidationError

    if (args.curve_index is not None or args.curve_name is not None) and not args.curve:
        raise ValidationError("--curve-index/--curve-name select a curve of the --curve set; give --curve")
    if args.half and (Path(args.output).suffix.lower() not in ("", ".exr") or (args.format or "exr") != "exr"):
        raise ValidationError("--half writes half floats in OpenEXR: it needs a .exr output")
    inputs, batch = collect_inputs(args.images)
    outputs = plan_outputs(inputs, batch, args.output, LINEAR_SUFFIXES,
                           (args.format or "exr") if batch else args.format, LINEAR_EXPECTED)
    if not batch:
        check_photo(inputs[0], "linearisation")  # before loading a model
    if args.curve:
        curve = resolve_curve(args)  # once, before any image is read
        source = args.curve
        estimator = None
    else:
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
        if isinstance(g, CurveSet) and len(g) == 3 and channels == 1:
            raise ValidationError(f"{src}: a grayscale image and three per-channel curves; pick one with "
                                  "--curve-index or --curve-name")
        lin = linearize(img, g).astype(np.float32)
        write_linear(outputs[i], lin, half=args.half)
        per = " (per channel)" if isinstance(g, CurveSet) and len(g) > 1 else ""
        batch_run.say(f"wrote {outputs[i]} ({lin.shape[1]}x{lin.shape[0]}, inverse CRF from {source}{per})")

    return batch_run.run(job)
