"""``crfkit table``: the model-comparison table (the main job)."""

import sys

from .._io import InputFiles, check_distinct_outputs
from ._common import check_output, check_plot_path, spec_file, write_output


def register(sub):
    p = sub.add_parser(
        "table",
        help="average RMSE of each CRF model on DoRF, invDoRF and other curve sets",
        description="Fit every model to every curve of each curve set (and its inverse) and print the mean RMSE. "
        "PCA columns learned from a set are also scored held-out (k-fold) on that set.",
    )
    p.add_argument("--curves", nargs="+", metavar="SET", help="curve sets for the rows: dorf, or .crfs files (default: dorf)")
    p.add_argument("--pca-from", nargs="*", metavar="SET", default=None,
                   help="curve sets to learn PCA bases from (default: dorf; give no value for none)")
    p.add_argument("--pca-k", nargs="+", type=int, default=None, metavar="K", help="PCA sizes (default: 3 5 25)")
    p.add_argument("--columns", nargs="+", metavar="LABEL",
                   help="model columns, e.g. Gamma Poly-5 Poly0-5 GGCM-3 EMoR-11 'PCA(dorf)-5' (default: the standard set)")
    p.add_argument("--cv-folds", type=int, default=5, help="folds for held-out PCA scores (0: none; default 5)")
    p.add_argument("--no-inverse", action="store_true", help="do not add the inverse of each curve set as a row")
    p.add_argument("--format", choices=["markdown", "csv", "json", "latex"], default="markdown")
    p.add_argument("--no-published", action="store_true", help="markdown: omit the published (Li & Peers) rows")
    p.add_argument("-o", "--output", metavar="FILE", help="write the table to FILE instead of printing it")
    p.add_argument("--plot", metavar="FILE", help="also plot RMSE against number of parameters (.png/.pdf/.svg)")
    p.set_defaults(func=run)


def run(args):
    from ..errors import ValidationError
    from ..evaluation.table import DEFAULT_COLUMNS, DEFAULT_PCA_K, compare_models

    output = check_output(args.output)  # before the work: the table takes seconds to minutes
    plot = check_plot_path(args.plot)
    read = InputFiles([spec_file(s, "the --curves file") for s in args.curves or ()]
                      + [spec_file(s, "the --pca-from file") for s in args.pca_from or ()])
    read.check(output, "-o")
    read.check(plot, "--plot")
    check_distinct_outputs(("-o", output), ("--plot", plot))
    if args.cv_folds < 0 or args.cv_folds == 1:
        raise ValidationError(f"--cv-folds must be 0 (off) or at least 2, got {args.cv_folds}")
    bad = [k for k in args.pca_k or () if k < 1]
    if bad:
        raise ValidationError(f"--pca-k: PCA sizes must be at least 1 (components), got {bad[0]}")
    pca_from = ["dorf"] if args.pca_from is None else args.pca_from
    table = compare_models(
        curves=args.curves,
        columns=args.columns or DEFAULT_COLUMNS,
        pca_from=pca_from,
        pca_k=args.pca_k or DEFAULT_PCA_K,
        cv_folds=args.cv_folds,
        include_inverse=not args.no_inverse,
    )
    text = table.format(args.format, published=not args.no_published)
    if args.format == "markdown":
        text += "\n\n" + "\n".join(f"- {n}" for n in table.notes)
    write_output(text, args.output)
    if plot:
        table.plot(plot)
        print(f"wrote {plot}", file=sys.stderr)
    return 0
