"""``crfkit build-dataset``: build a DCRF-style curve set from chart photographs."""

import sys


def register(sub):
    p = sub.add_parser(
        "build-dataset",
        help="build a CRF dataset (.crfs) from chart photographs (RAW+JPEG pairs, brackets, single JPEGs)",
        description="SOURCE is 'middlebury' (every camera folder under --root, illumination 1, layout from "
        "ROOT/tags.json) or a TOML manifest (format: datasets/README.md). Cameras that fail are listed with "
        "the reason; the others are built. An interrupted build resumes from OUTPUT.partial/; while a build runs, "
        "another build of the same OUTPUT is refused (OUTPUT.lock).",
    )
    p.add_argument("source", metavar="SOURCE", help="'middlebury' or a manifest .toml")
    p.add_argument("-o", "--output", required=True, help="curve-set file to write (.crfs)")
    p.add_argument("--root", help="middlebury: the folder holding the camera folders and tags.json")
    p.add_argument("--illumination", type=int, default=1, choices=(1, 2), help="middlebury: illumination (default 1)")
    p.add_argument("--method", default="smooth", choices=("emor", "pca", "polynomial", "smooth"),
                   help="curve family (default smooth: model-free shape, so model comparisons on the set are fair)")
    p.add_argument("-k", type=int, default=4, help="model parameters (the scale search's EMoR-k for smooth; default 4)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="cameras in parallel, >= 1 (default 2; -1: one per core)")
    p.add_argument("--no-resume", action="store_true", help="ignore cached per-camera results")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args):
    from pathlib import Path

    from ..dcrf import build_dataset, load_manifest, middlebury_recipe
    from ..dcrf.build import check_build_output, check_jobs, check_k
    from ..errors import ValidationError

    # Before the build (minutes): an unusable output or -j would otherwise surface only at the end.
    check_jobs(args.jobs)
    check_k(args.k, "-k")
    check_build_output(args.output, what="-o")
    if args.source == "middlebury":
        if not args.root:
            raise ValidationError("build-dataset middlebury needs --root DIR (the folder of the camera folders)")
        attrs, cams = middlebury_recipe(args.root, args.illumination)
    else:
        if Path(args.source).suffix.lower() != ".toml":
            raise ValidationError(f"SOURCE {args.source!r} is neither 'middlebury' nor a .toml manifest")
        attrs, cams = load_manifest(args.source)
    curves, failed = build_dataset(cams, args.output, method=args.method, k=args.k, n_jobs=args.jobs,
                                   resume=not args.no_resume, progress=not args.quiet, attrs=attrs)
    n_ok = len(curves) // 3
    print(f"wrote {args.output}: {n_ok} camera(s), {len(curves)} curves", file=sys.stderr)
    for f in failed:
        print(f"failed: {f['camera']}: {f['reason']}", file=sys.stderr)
    return 0
