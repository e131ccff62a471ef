"""``crfkit calibrate``: camera response curves from an exposure bracket of any scene."""

import sys

from ..errors import CrfkitError, ValidationError

#: The library's default (crfkit.bracket.calibrate.DEFAULT_TIMES_PRIOR; not imported: the CLI's
#: parsers are built without importing the bracket modules).
DEFAULT_TIMES_PRIOR = "modern"


#: --top-rule's values (the model solver's; straight, clipping and combined are the documented ones).
TOP_RULES = ("straight", "clipping", "combined", "learned", "model")
#: The options of :func:`add_bracket_arguments` that only steer a calibration (``merge --crf``,
#: which gives the curve, refuses them rather than ignore them).
CALIBRATION_ONLY = ("method", "model", "k", "basis", "shared", "mixing", "samples", "seed", "times_prior", "floor", "top_rule")


def add_bracket_arguments(p):
    """Options shared by ``calibrate`` and ``merge``: the inputs and how to calibrate."""
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                   help="two or more images of one scene (JPEG, PNG, TIFF; 8/16-bit; or RAW files), or a folder")
    p.add_argument("--times", nargs="+", metavar="T",
                   help="exposure times in seconds, one per image in order (1/60 style allowed); default: EXIF")
    p.add_argument("--unknown-times", action="store_true",
                   help="ignore EXIF: estimate the exposure ratios together with the curve")
    p.add_argument("--method", default="model",
                   help="model (default: self-calibration constrained by --model), debevec, robertson, mitsunaga-nayar")
    p.add_argument("--model", default=None,
                   help="model for --method model: polynomial (default), pca (the default with --basis), emor, ggcm, "
                   "gamma")
    p.add_argument("-k", type=int, default=None,
                   help="model parameters (default 6 for polynomial, 15 for pca and emor, 8 for --basis modern; "
                   "mitsunaga-nayar: polynomial degree)")
    p.add_argument("--basis", help="pca: curve set (dorf-train (default), dorf, a .crfs of your cameras), basis (.npz), "
                   "or modern (chart curves of 10 digital cameras shipped with crfkit, up to 8 components)")
    p.add_argument("--times-prior", default=DEFAULT_TIMES_PRIOR,
                   help="unknown times: curves whose typical shape settles the exposure ratios: modern (default; "
                   "chart calibrations of 10 digital cameras shipped with crfkit), emor, dorf-train, or a .crfs "
                   "built from cameras like yours")
    p.add_argument("--top-rule", default=None, metavar="RULE",
                   help="--method model: how the curve continues above the highest unclipped sample, which sets "
                   "its scale: straight (default; log-linear extrapolation), clipping (up to the clipping level "
                   "measured from the saturated pixels: better for a camera with a highlight shoulder) or combined "
                   "(up to the mean, in log, of the two levels)")
    p.add_argument("--shared", action="store_true", help="one curve for the three channels")
    p.add_argument("--mixing", default="auto", choices=["auto", "on", "off"],
                   help="also estimate the 3x3 colour mixing JPEG engines apply after the tone curve, kept only "
                   "where it lowers the fit error (auto, the default: on unless --shared)")
    p.add_argument("--samples", type=int, default=3000, help="pixels sampled (default 3000)")
    p.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed (default 0)")
    p.add_argument("--align", action="store_true", help="align the images first (OpenCV median-threshold bitmaps)")
    p.add_argument("--floor", type=float, default=None, metavar="F",
                   help="codes at or below F (fraction of full scale) are noise (default: 0.02, raised to "
                   "the black level the shortest exposure shows, e.g. a film scan's fog)")
    p.add_argument("--clip", type=float, default=None, metavar="F",
                   help="codes at or above F (fraction of full scale) count as clipped (default 0.98: JPEG "
                   "ringing puts clipped areas at 250-254; raise it, e.g. to 0.99, for a camera with a strong "
                   "highlight shoulder)")


def register(sub):
    p = sub.add_parser(
        "calibrate",
        help="recover the camera response from an exposure bracket (no chart needed)",
        description="Calibrates a camera's response curves (one per channel) from differently exposed photos of "
        "one static scene and saves them as a curve set (.crfs) for `crfkit merge`, `crfkit linearize`...",
    )
    add_bracket_arguments(p)
    p.add_argument("-o", "--output", metavar="FILE.crfs", help="save the forward curves (.crfs)")
    p.add_argument("--plot", metavar="FILE", help="plot the curves, their bootstrap bands and the samples")
    p.add_argument("--bootstrap", type=int, default=20, help="bootstrap draws for the uncertainty band (0: none)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def check_bracket_options(args):
    """Refuse a bad or contradictory option before any image is read, in one line naming the flag.

    The library checks the same values again, but its messages name Python parameters
    (``n_samples``) and solver options, and it ignores options that do not apply; a user of
    the command line should read the flag they typed.
    """
    from ..bracket.samples import CLIP, FLOOR

    if args.times is not None and args.unknown_times:
        raise ValidationError("--times and --unknown-times contradict each other: give the times, or let crfkit "
                              "estimate them")
    if args.samples < 10:
        raise ValidationError(f"--samples must be at least 10 (pixels), got {args.samples}")
    if args.seed < 0:
        raise ValidationError(f"--seed must be >= 0, got {args.seed}")
    if getattr(args, "bootstrap", 0) < 0 or getattr(args, "bootstrap", 0) > 1000:
        raise ValidationError(f"--bootstrap must be 0 (no band) to 1000 draws, got {args.bootstrap}")
    if args.k is not None and args.k < 1:
        raise ValidationError(f"-k must be >= 1, got {args.k}")
    floor = FLOOR if args.floor is None else args.floor
    clip = CLIP if args.clip is None else args.clip
    if not 0 < clip <= 1:  # NaN fails too
        raise ValidationError(f"--clip must be in (0, 1] (a fraction of full scale), got {args.clip:g}")
    if not 0 <= floor < 1:
        raise ValidationError(f"--floor must be in [0, 1) (a fraction of full scale), got {args.floor:g}")
    if floor >= clip:
        raise ValidationError(f"--floor ({floor:g}{'' if args.floor is not None else ', the default'}) must be below "
                              f"--clip ({clip:g}{'' if args.clip is not None else ', the default'})")
    if args.top_rule is not None and args.top_rule.lower() not in TOP_RULES:
        raise ValidationError(f"--top-rule must be straight, clipping or combined (or learned, model), got {args.top_rule!r}")
    from ..bracket.solvers import get_solver_class

    method = get_solver_class(args.method).name  # an unknown method is named first
    if method != "model":
        wrong = [flag for flag, value in (("--model", args.model), ("--basis", args.basis),
                                          ("--top-rule", args.top_rule)) if value is not None]
        if method != "mitsunaga-nayar" and args.k is not None:
            wrong.append("-k")
        if wrong:
            raise ValidationError(f"{', '.join(wrong)} appl{'ies' if len(wrong) == 1 else 'y'} to --method model, "
                                  f"not {args.method}")
    elif args.basis is not None and args.model is not None and args.model.strip().lower() != "pca":
        raise ValidationError(f"--basis applies to --model pca, not {args.model}")
    if args.times_prior != DEFAULT_TIMES_PRIOR:
        if args.times is not None:
            raise ValidationError("--times-prior applies to unknown times (--unknown-times or no EXIF); --times "
                                  "gives them")
        from ..bracket.calibrate import times_solver

        try:
            times_solver(args.times_prior)  # a typo fails now, before the images are read
        except CrfkitError as exc:
            raise ValidationError(f"--times-prior {args.times_prior}: {exc}") from None


def calibration_options(args):
    if args.shared and args.mixing == "on":
        raise ValidationError("--mixing on needs one curve per channel; it cannot be combined with --shared")
    opts = dict(method=args.method, model=args.model, k=args.k, shared=args.shared,
                mixing={"auto": None, "on": True, "off": False}[args.mixing],
                n_samples=args.samples, seed=args.seed, align=args.align)
    if args.basis:
        opts["basis"] = args.basis
    if args.floor is not None:
        opts["floor"] = args.floor
    if args.clip is not None:
        opts["clip"] = args.clip
    if args.top_rule is not None:
        opts["top_rule"] = args.top_rule.lower()
    opts["times_prior"] = args.times_prior
    return opts


def check_crfs_output(path):
    from .._io import check_output_path

    return check_output_path(path, (".crfs",), "a .crfs file name (a crfkit curve set)")


def bracket_files(args):
    """The files a bracket command reads: its images (a folder: the images in it), --basis and --times-prior files."""
    from ..bracket.inputs import expand_inputs
    from ._common import spec_file

    files = []
    for item in args.inputs:
        try:
            files += expand_inputs([item])
        except CrfkitError:  # a missing input or an empty folder: said when the bracket is read
            files.append(item)
    return files + [spec_file(getattr(args, "basis", None), "the --basis file"),
                    spec_file(getattr(args, "times_prior", None), "the --times-prior file")]


def check_outputs_not_inputs(args, outputs):
    """Refuse, before any work, an output (``(option, path)`` pairs) that names an input or another output."""
    from .._io import InputFiles, check_distinct_outputs

    read = InputFiles(bracket_files(args))
    for what, path in outputs:
        if path:
            read.check(path, what)
    check_distinct_outputs(*outputs)


def read_inputs(args):
    import warnings

    from ..bracket import read_bracket

    bracket = read_bracket(args.inputs, times=args.times, unknown_times=args.unknown_times)
    if bracket.times is not None and args.times_prior != DEFAULT_TIMES_PRIOR and not bracket.raw:
        warnings.warn(f"--times-prior is not used: the exposure times come from {bracket.times_source} "
                      "(add --unknown-times to estimate them)", stacklevel=2)
    return bracket


def summary_lines(cal, bracket):
    import numpy as np

    lines = [f"calibrated {len(bracket)} images ({', '.join(bracket.names[:6])}{' ...' if len(bracket) > 6 else ''}) "
             f"with {cal.method}"]
    lines.append("exposures (" + cal.times_source + "): " + ", ".join(f"{t:.6g}" for t in cal.times))
    st = cal.stats
    if st:
        lines.append(f"samples: {st.get('samples', 0)} pixels of {st.get('candidates', 0)} screened; rejected: "
                     f"{st.get('moving_share', 0):.1%} moving, {st.get('all_clipped_share', 0):.1%} clipped in all, "
                     f"{st.get('all_dark_share', 0):.1%} dark in all")
        from ..bracket.samples import FLOOR

        if st.get("floor", FLOOR) > FLOOR:
            lines.append(f"noise floor raised to code {st['floor']:.3f} of full scale: the shortest exposure "
                         "shows a black level (film fog or an offset); set it with --floor")
    if cal.raw:
        return lines
    bw = cal.band_width
    lines.append("fit residual (RMS code error) R/G/B: " + " / ".join(f"{v:.4f}" for v in cal.rmse)
                 + ("" if not np.all(np.isfinite(bw)) else "; 95% band width (max) " + " / ".join(f"{v:.4f}" for v in bw)))
    return lines


def run(args):
    import json

    from ..bracket import calibrate_bracket
    from ._common import check_plot_path

    if args.output:
        check_crfs_output(args.output)
    if args.plot:
        check_plot_path(args.plot)
    check_outputs_not_inputs(args, [("-o", args.output), ("--plot", args.plot)])
    check_bracket_options(args)
    bracket = read_inputs(args)
    opts = calibration_options(args)
    cal = calibrate_bracket(bracket, bootstrap=args.bootstrap, **opts)
    if bracket.raw:
        print("RAW bracket: the values are linear already, no curve is needed (use `crfkit merge` to merge it)",
              file=sys.stderr)
    if args.json:
        print(json.dumps({"inputs": bracket.names, **cal.to_dict()}, indent=1))
    else:
        print("\n".join(summary_lines(cal, bracket)))
    if args.output:
        cal.save(args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    if args.plot:
        cal.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
