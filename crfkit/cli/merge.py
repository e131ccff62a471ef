"""``crfkit merge``: merge an exposure bracket into a linear HDR image (.exr or .hdr)."""

import sys


def register(sub):
    from .calibrate import CALIBRATION_ONLY, add_bracket_arguments

    p = sub.add_parser(
        "merge",
        help="merge an exposure bracket into a linear HDR image (calibrates first when no curve is given)",
        description="Merges differently exposed photos of one scene into one linear HDR image (.exr or .hdr), "
        "with noise-aware weights. The camera curve comes from --crf (a .crfs from `crfkit calibrate`, srgb, "
        "gamma:2.2...) or is calibrated from the bracket itself. RAW brackets are merged linearly.",
    )
    add_bracket_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output .exr or .hdr")
    p.add_argument("--crf", help="camera curve: a .crfs from `crfkit calibrate`, srgb, gamma:G, linear, a curve file")
    p.add_argument("--weighting", default="noise", choices=["noise", "hat", "uniform"],
                   help="noise (default: inverse variance, Hanji et al. 2020 noise model), hat, uniform")
    p.add_argument("--highlight-taper", default="auto", metavar="CODE",
                   help="noise weighting: code (0..1) from which the weights fall to 0 at the clipping level; "
                        "auto (default: 0.5 for camera images, none for RAW) or none")
    p.add_argument("--curve-error", type=float, default=0.0, metavar="F",
                   help="noise weighting: relative error of the curve added to the variance (default 0; 0.05 "
                        "trusts long exposures less: more accurate on average on real JPEGs, noisier per pixel)")
    p.add_argument("--deghost", nargs="?", const="auto", metavar="IMAGE",
                   help="leave out, per pixel, exposures that disagree with a reference beyond noise (moving "
                        "people, leaves, cars): the reference is IMAGE (a file name among the inputs) or, "
                        "without one, the longest exposure with at most 1%% of pixels clipped")
    p.add_argument("--half", action="store_true", help="write 16-bit half floats (.exr)")
    p.add_argument("--preview", metavar="FILE",
                   help="also write a tone-mapped sRGB view of the merge (.png, .jpg, .tif; Reinhard et al. 2002 "
                        "global operator), to look at it without an HDR viewer")
    # The parser's own defaults tell which calibration options were given (no copy of them to drift).
    p.set_defaults(func=run, calibration_defaults={dest: p.get_default(dest) for dest in CALIBRATION_ONLY})


def run(args):
    import json
    from pathlib import Path

    import numpy as np

    from .._io import atomic_write_text
    from .._io import check_output_path as _check_path
    from ..bracket import merge_bracket
    from ..errors import ValidationError
    from ..restoration.pipeline import check_output_path, write_hdr_image
    from .calibrate import calibration_options, check_bracket_options, check_outputs_not_inputs, read_inputs

    out = check_output_path(args.output)
    if args.half and out.suffix.lower() != ".exr":  # as linearize and restore: not silently ignored
        raise ValidationError("--half writes half floats in OpenEXR: it needs a .exr output")
    sidecar = _check_path(Path(str(out) + ".json"), what="-o's sidecar")
    from .._io import check_not_input
    from ._common import spec_file

    crf_file = [spec_file(args.crf, "the --crf file")]
    check_not_input(sidecar, crf_file, "-o's sidecar")  # a curve kept as .json
    if args.preview:
        from ..io.preview import PREVIEW_SUFFIXES

        preview = _check_path(args.preview, PREVIEW_SUFFIXES, what="--preview")
        check_not_input(preview, crf_file, "--preview")
    check_outputs_not_inputs(args, [("-o", out), ("-o's sidecar", sidecar), ("--preview", args.preview)])
    crf = None
    if args.crf:
        # Calibration options would be silently ignored with a given curve: refuse them.
        given = sorted("--" + key.replace("_", "-") for key, default in args.calibration_defaults.items()
                       if getattr(args, key) != default)
        if given:
            raise ValidationError(f"--crf gives the curve: calibration options ({', '.join(given)}) do not apply")
        from ..restoration.pipeline import resolve_inverse_crf

        crf = resolve_inverse_crf(args.crf)  # a bad curve fails before any image is read
    taper = args.highlight_taper
    if taper.lower() in ("none", "auto"):  # words in any case, like other choices users type
        taper = None if taper.lower() == "none" else "auto"
    else:
        from ..bracket.samples import CLIP

        clip_level = CLIP if args.clip is None else args.clip
        try:
            taper = float(taper)
        except ValueError:
            taper = float("nan")
        if not 0 <= taper < clip_level:
            raise ValidationError(f"--highlight-taper must be auto, none or a code in [0, {clip_level:g}) (below the "
                                  f"clipping level), got {args.highlight_taper!r}")
    if not args.curve_error >= 0 or args.curve_error == float("inf"):  # NaN fails the first test
        raise ValidationError(f"--curve-error must be a number >= 0, got {args.curve_error!r}")
    if args.weighting != "noise":  # both shape the noise weights only: refused rather than ignored
        given = [flag for flag, used in (("--highlight-taper", args.highlight_taper.lower() != "auto"),
                                         ("--curve-error", args.curve_error != 0)) if used]
        if given:
            raise ValidationError(f"{' and '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to --weighting "
                                  f"noise, not {args.weighting}")
    check_bracket_options(args)
    bracket = read_inputs(args)
    deghost = _deghost_reference(args.deghost, bracket.names)
    if crf is not None:
        clip = {} if args.clip is None else {"clip": args.clip}  # --clip also sets the merge's clipping level
        hdr, info = merge_bracket(bracket, crf=crf, weighting=args.weighting, align=args.align,
                                  highlight_taper=taper, curve_error=args.curve_error, deghost=deghost,
                                  return_info=True, **clip)
        info["crf"] = args.crf
    else:
        opts = calibration_options(args)
        opts.pop("align")
        hdr, info = merge_bracket(bracket, weighting=args.weighting, align=args.align, highlight_taper=taper,
                                  curve_error=args.curve_error, deghost=deghost, return_info=True, bootstrap=0,
                                  **opts)
    if "deghost_reference" in info:
        info["deghost_reference"] = bracket.names[info["deghost_reference"]]
    write_hdr_image(out, hdr, half=args.half)
    meta = {"inputs": bracket.names, "output": out.name, **info,
            "value_range": [float(np.min(hdr)), float(np.max(hdr))]}
    if args.preview:
        from ..io.images import write_image
        from ..io.preview import tone_map

        write_image(preview, tone_map(hdr))
        meta["preview"] = preview.name
    atomic_write_text(sidecar, json.dumps(meta, indent=1))
    h, w = hdr.shape[:2]
    print(f"merged {len(bracket)} images -> {out}: {w}x{h}; curve: {info['crf']}; exposures ({info['times_source']}): "
          + ", ".join(f"{t:.6g}" for t in info["times"]), file=sys.stderr)
    print(f"weighting: {info['weighting']}; {info['clipped_in_all_share']:.2%} of values clipped in every exposure",
          file=sys.stderr)
    if "ghost_share" in info:
        print(f"deghosted against {info['deghost_reference']}: {info['ghost_share']:.2%} of the other exposures' "
              "pixel values left out as moving", file=sys.stderr)
    if info.get("exposure_disagreement") is not None:
        print(f"check of the given curve and times: consecutive exposures {np.expm1(info['exposure_disagreement']):.1%} "
              "apart (median)", file=sys.stderr)
    print(f"wrote {out}{f', {preview}' if args.preview else ''} and {sidecar}", file=sys.stderr)
    return 0


def _deghost_reference(value, names):
    """merge_bracket's ``deghost`` from --deghost's value: False, True (automatic) or the named image's index."""
    from pathlib import Path

    from ..errors import ValidationError

    if value is None:
        return False
    if value == "auto":
        return True
    matches = [i for i, name in enumerate(names) if name == Path(value).name]
    if len(matches) != 1:
        raise ValidationError(f"--deghost: {value!r} is not one of the inputs ({', '.join(names)})")
    return matches[0]
