"""``crfkit evaluate-restoration``: restoration methods against ground-truth HDR crops."""

from ._common import check_output, check_output_folder, write_output


def register(sub):
    p = sub.add_parser(
        "evaluate-restoration",
        help="score restoration methods (masked-unet, clip, highlight-expansion) on LDR crops with ground-truth HDR",
        description="Pairs NAME.png + NAME.exr from --data (default $CRFKIT_DATA/santos2020_hdr_crops). Each input is "
        "linearised with --crf (default gamma:2, the curve Santos et al. assume), restored by each method, and "
        "compared with the ground truth scaled to the input on the unsaturated pixels: log-domain L1 and mu-law "
        "(mu=500) PSNR inside the saturated region (any channel above tau) and over the whole image. A method whose "
        "weights or extra are missing is skipped with a message.",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="markdown table (default: stdout); .csv and .json beside it")
    p.add_argument("--data", metavar="DIR", help="folder of NAME.png + NAME.exr pairs (or a data root holding "
                   "santos2020_hdr_crops/)")
    p.add_argument("--crf", default=None, help="inverse CRF for all crops: gamma:G, srgb, a curve file, an estimator "
                   "(default gamma:2)")
    p.add_argument("--methods", default=None, help="comma-separated methods (default clip,highlight-expansion,masked-unet)")
    p.add_argument("--weights", metavar="PATH", help="masked-unet weights (default: the shipped ones)")
    p.add_argument("--device", default=None, help="device for masked-unet (cpu, cuda, ...)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads for masked-unet")
    p.add_argument("--tau", type=float, default=None, help="saturation threshold (default 0.95)")
    p.add_argument("--figures", metavar="DIR", help="write one side-by-side PNG per crop here (needs crfkit[plot])")
    p.add_argument("--no-tables", action="store_true", help="with -o, do not write the .csv/.json beside it")
    p.set_defaults(func=run)


def run(args):
    import json
    import sys

    from .._io import atomic_write_text
    from ..restoration.base import TAU
    from ..restoration.evaluation import DEFAULT_CRF, DEFAULT_METHODS, run_evaluation

    # Before the evaluation: refuse outputs that could not be written (the tables beside -o too).
    out = check_output(args.output, (".md",), "a .md file name (the .csv and .json are written beside it)")
    if out is not None and not args.no_tables:
        for side in (out.with_suffix(".csv"), out.with_suffix(".json")):
            check_output(side, what="-o's table")
    if args.figures:
        check_output_folder(args.figures, what="--figures")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(DEFAULT_METHODS)
    opts = {}
    for key in ("weights", "device", "threads"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    crf = args.crf or DEFAULT_CRF
    res = run_evaluation(args.data, crf=crf, methods=methods, method_options={"masked-unet": opts} if opts else None,
                         figures=args.figures, tau=args.tau if args.tau is not None else TAU, progress=True)
    for m, why in res.skipped.items():
        print(f"crfkit {args.command}: warning: {m} skipped: {why}", file=sys.stderr)
    for note in res.info.get("warnings", []):
        print(f"crfkit {args.command}: warning: {note}", file=sys.stderr)
    text = (f"Restoration on {len(res.crops)} crops from {res.info['data']} (inverse CRF {crf}, tau "
            f"{res.info['tau']}; ground truth scaled to the input on the unsaturated pixels).\n\n" + res.to_markdown())
    write_output(text, out)
    if out is not None and not args.no_tables:
        atomic_write_text(out.with_suffix(".csv"), res.to_csv())
        atomic_write_text(out.with_suffix(".json"), json.dumps(res.to_dict(), indent=1) + "\n")
        print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0
