"""``crfkit restore``: single-image HDR from one LDR photo (linearise, restore highlights, write EXR/HDR)."""


def register(sub):
    p = sub.add_parser(
        "restore",
        help="LDR photo -> linear HDR (.exr/.hdr): linearise and restore the saturated regions",
        description="Linearises the photo with --crf, restores its clipped highlights with --method and writes linear "
        "RGB as OpenEXR (.exr, 32-bit float) or Radiance (.hdr), atomically. The output's white (the input's "
        "saturation level) is 1; restored highlights go above it. A photo with nothing above --tau comes back "
        "as its linearisation without running the method.",
    )
    p.add_argument("image", help="LDR photo (PNG, JPEG, TIFF, ...; 8 or 16 bits)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output .exr or .hdr")
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
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (masked-unet)")
    p.add_argument("--flips", type=int, choices=[1, 2, 4], default=None,
                   help="masked-unet: average the prediction over this many mirrored views (default: the restorer's)")
    p.add_argument("--tau", type=float, default=None, help="saturation threshold in (0, 1) (default 0.95)")
    p.add_argument("--half", action="store_true", help="write 16-bit half floats (.exr)")
    p.set_defaults(func=run)


def run(args):
    import sys
    import warnings

    from ..restoration.base import TAU
    from ..restoration.pipeline import check_output_path, restore_file

    check_output_path(args.output)  # before reading or estimating anything
    opts = {}
    for key in ("weights", "device", "tile", "threads", "flips"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    crf_opts = {"weights": args.crf_weights} if args.crf_weights else {}
    if args.device and not crf_opts.get("device"):
        crf_opts["device"] = args.device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = restore_file(args.image, args.output, crf=args.crf, method=args.method,
                            tau=args.tau if args.tau is not None else TAU, half=args.half,
                            crf_options=crf_opts if _crf_is_estimator(args.crf) else None, **opts)
    for w in caught:
        print(f"crfkit {args.command}: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
    h, w = info["shape"]
    how = "no saturated pixels: linearisation only" if info["fast_path"] else f"method {info['method']}"
    print(f"{info['input']} -> {info['output']}: {w}x{h}, {100 * info['saturated_fraction']:.2f}% saturated, "
          f"{how}, crf {info['crf']}, {info['seconds']:.2f} s", file=sys.stderr)
    return 0


def _crf_is_estimator(spec):
    from ..estimators import available_estimators

    return spec in available_estimators()
