"""``crfkit basis``: learn a PCA basis (EMoR-style) from a curve set and save it."""


def register(sub):
    p = sub.add_parser(
        "basis",
        help="learn a PCA basis from a curve set (EMoR-style) and save it as .npz",
        description="Learn the mean curve and principal components of a curve set with scikit-learn; "
        "use the file with `crfkit fit --model pca --basis FILE` or crfkit.fit(..., model='pca', basis=FILE).",
    )
    p.add_argument("source", metavar="SET", help="dorf, invdorf or a .crfs curve set")
    p.add_argument("-k", "--components", type=int, default=25, help="number of components (default 25)")
    p.add_argument("--inverse", action="store_true", help="learn the basis of the inverse curves")
    p.add_argument("-o", "--output", required=True, metavar="FILE.npz")
    p.set_defaults(func=run)


def run(args):
    import sys
    from pathlib import Path

    from ..data import load_curves
    from ..models.pca import PCABasis
    from .._io import check_not_input, check_output_path
    from ..errors import ValidationError
    from ._common import spec_file

    out = check_output_path(args.output, (".npz",), "a .npz file name (a basis file)", what="-o")
    check_not_input(out, [spec_file(args.source, "the input")], what="-o")
    if args.components < 1:
        raise ValidationError(f"-k must be at least 1 (components), got {args.components}")
    cs = load_curves(args.source)
    if args.inverse:
        cs = cs.inverse()
    try:
        basis = PCABasis.from_curves(cs, n_components=args.components, source=Path(args.source).stem)
    except ValidationError as exc:
        # the library names its keyword argument (n_components); here it is -k
        if not str(exc).startswith("n_components "):
            raise
        raise ValidationError("-k " + str(exc)[len("n_components "):]) from None
    basis.save(out)
    evr = basis.explained_variance_ratio
    print(f"{basis.kind} basis from {len(cs)} curves of {args.source}: {basis.n_components} components, "
          f"explained variance {evr[: min(3, len(evr))].round(4).tolist()}... total {evr.sum():.6f}")
    print(f"wrote {out}", file=sys.stderr)
    return 0
