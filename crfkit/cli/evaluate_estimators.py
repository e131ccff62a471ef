"""``crfkit evaluate-estimators``: held-out scores of the estimators and the baselines."""

from ._common import check_output, write_output


def register(sub):
    p = sub.add_parser(
        "evaluate-estimators",
        help="score the CRF estimators and fixed-curve baselines on held-out images x the 10 DoRF test curves",
        description="Held-out images are those of --images (default $CRFKIT_DATA/hdr_training and photos_training) "
        "that `crfkit train` never trains on (file-name hash split); the curves are the 10 DoRF test curves "
        "(RandomState(730) split). Scores: RMSE of the inverse CRF on the 1024 grid and of the linearised image.",
    )
    p.add_argument("--images", action="append", metavar="DIR", help="image folder (repeatable)")
    p.add_argument("--methods", default=None,
                   help="comma-separated estimators (default: crf-net,linearization-net; with --real every "
                   "registered estimator and its per-channel variant)")
    p.add_argument("--weights", action="append", default=[], metavar="METHOD=PATH", help="weights for a method (repeatable)")
    p.add_argument("--test-fraction", type=float, default=0.15, help="must match training (default 0.15)")
    p.add_argument("--max-images", type=int, default=None, help="use only the first N held-out images (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", metavar="FILE", help="also write per-pair scores as JSON")
    p.add_argument("-o", "--output", metavar="FILE", help="write the markdown table here (default: stdout)")
    p.add_argument("--real", metavar="DIR", help="instead: score on real cameras, a Middlebury-style folder of "
                   "wb1i{L}e{E}-jpg.png / -raw.png pairs (every registered estimator and its NAME:per-channel variant "
                   "unless --methods is given, sRGB inverse, gamma 2.2, chart curve, bracket calibration; crfkit.evaluation.real_estimators)")
    p.add_argument("--chart", metavar="FILE.crfs", help="with --real: the cameras' chart curves (<camera>/R|G|B); "
                   "default: built from the other illumination")
    p.set_defaults(func=run)


def run(args):
    import json

    from .._io import atomic_write_text, check_output_path
    from ..errors import ValidationError
    from ..estimators.evaluation import DEFAULT_METHODS, run_evaluation

    # Before the evaluation (minutes to hours): refuse outputs that could not be written.
    check_output(args.output)
    if args.json:
        check_output_path(args.json, (".json",), what="--json")

    weights = {}
    for item in args.weights:
        if "=" not in item:
            raise ValidationError(f"--weights {item!r}: use METHOD=PATH")
        m, _, path = item.partition("=")
        weights[m.strip()] = path.strip()
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    if methods is not None and not methods:
        raise ValidationError("--methods names no estimator; give a comma-separated list such as crf-net,lin2004")
    if args.real:
        return _run_real(args, methods, weights)
    res = run_evaluation(args.images, methods=methods or DEFAULT_METHODS, weights=weights, test_fraction=args.test_fraction,
                         max_images=args.max_images, seed=args.seed, progress=True, threads=args.threads)
    text = (f"Held-out evaluation: {res.info['n_curves']} DoRF test curves x {res.info['n_images']} held-out images "
            f"({len(res.pairs)} pairs, seed {res.info['seed']}).\n\n" + res.to_markdown())
    write_output(text, args.output)
    if args.json:
        atomic_write_text(args.json, json.dumps(res.to_dict(), indent=1) + "\n")
    return 0


def _run_real(args, methods, weights):
    """``--real DIR``: the real-camera table (illumination-2 JPEGs against their RAW)."""
    import json

    from .._io import atomic_write_text
    from .._threads import thread_policy
    from ..evaluation.real_estimators import evaluate_real

    with thread_policy(args.threads):
        res = evaluate_real(args.real, methods, chart=args.chart or True, weights=weights, progress=True)
    text = (f"Real cameras: {len(res.cameras)} cameras x {res.info['n_exposures']} JPEGs of illumination "
            f"{res.info['illumination']}; relative error after the best 3x3 matrix on 8x8-pixel block means "
            "(crfkit.evaluation.real_camera.linearisation_error_blocks); intervals resample cameras.\n\n"
            + res.to_markdown())
    write_output(text, args.output)
    if args.json:
        atomic_write_text(args.json, json.dumps(res.to_dict(), indent=1) + "\n")
    return 0
