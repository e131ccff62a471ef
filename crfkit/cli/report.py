"""``crfkit report``: fit quality, uniqueness and change over time of a built dataset."""

import sys
from pathlib import Path


def register(sub):
    p = sub.add_parser(
        "report",
        help="report on a built CRF dataset: per-camera fit quality, pairwise RMSE, nearest neighbours, figures",
        description="Writes OUTDIR/report.md, report.json, pairwise_rmse.png, curves.png, fits/<camera>.png and, "
        "when cameras have years, years.png.",
    )
    p.add_argument("curves", metavar="CURVES", help="a .crfs file written by build-dataset")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the report (created)")
    p.add_argument("--no-plots", action="store_true", help="numbers only (no matplotlib needed)")
    p.set_defaults(func=run)


def run(args):
    from ..dcrf.report import check_report_folder, write_report

    check_report_folder(args.output, what="-o")
    a = write_report(args.curves, args.output, plots=not args.no_plots)
    print(f"wrote {Path(args.output) / 'report.md'} ({a['n_cameras']} cameras)", file=sys.stderr)
    if "nearest" in a:
        n = a["nearest"]
        print(f"nearest-neighbour RMSE between cameras: min {n['min']:.4f} median {n['median']:.4f} "
              f"max {n['max']:.4f}")
    for f in a["failed"]:
        print(f"failed at build: {f['camera']}: {f['reason']}")
    return 0
