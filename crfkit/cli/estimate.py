"""``crfkit estimate``: the inverse CRF of photos from a single-image estimator.

Also home of the batch helpers that ``linearize`` and ``restore`` share:
several files or folders in, one output per input in an ``-o`` folder, the
model built once, a progress bar, and a failing input reported in one line
without stopping the others.
"""

import sys
import warnings
from pathlib import Path

from ._common import check_plot_path, spec_file, write_output

#: exit status when some inputs of a batch failed (the others were written)
EXIT_SOME_FAILED = 1

BATCH_EPILOG = (
    "Several inputs (files or folders of images) make a batch: -o then names a folder (created if missing) "
    "that receives one output per input, named after it, with the suffix of --format. The model is loaded "
    "once. An input that fails is reported in one line and skipped; the exit status is then 1 (0: all "
    "written; 2: a mistake in the command itself, nothing done)."
)


def add_batch_arguments(p, photos, output_help, suffixes, default_format, output_required=True):
    """The IMAGE... inputs, -o FILE_OR_DIR and --format that every batch command takes."""
    p.add_argument("images", nargs="+", metavar="IMAGE", help=f"{photos} or folders")
    p.add_argument("-o", "--output", required=output_required, metavar="FILE_OR_DIR",
                   help=f"{output_help}; a folder for several inputs")
    p.add_argument("--format", choices=[s[1:] for s in suffixes], default=None,
                   help=f"type of the files written into the -o folder for several inputs (default {default_format})")

CURVE_SUFFIXES = (".txt", ".csv", ".json", ".crfs", ".cube", ".spi1d")


# -- batches --------------------------------------------------------------------------------
def collect_inputs(items, what="image"):
    """Expand folders into their images; returns (paths, batch) where batch says one output per input."""
    from ..errors import DataNotFoundError
    from ..io.images import LDR_SUFFIXES

    paths, batch = [], len(items) > 1
    for item in items:
        p = Path(item)
        if p.is_dir():
            batch = True
            found = sorted(q for q in p.iterdir()
                           if q.is_file() and not q.name.startswith(".") and q.suffix.lower() in LDR_SUFFIXES)
            if not found:
                raise DataNotFoundError(f"folder {p} holds no {what}s ({', '.join(LDR_SUFFIXES)})")
            paths.extend(found)
        else:
            paths.append(p)
    return paths, batch


def plan_outputs(inputs, batch, output, suffixes, fmt, expected=None, also_read=()):
    """Output path of each input (None where nothing is written), checked before any work.

    One input: ``output`` is a file whose suffix picks the format.  A batch:
    ``output`` is a folder (made by :func:`make_output_folder` once every check
    has passed, when its parent exists) and each output is named after its
    input with the ``fmt`` suffix.  No output may replace an input, nor a file
    of ``also_read`` (``(description, path)`` pairs: a --curve file, weights).
    """
    from .._io import InputFiles, check_output_path
    from ..errors import ValidationError

    if output is None:
        return [None] * len(inputs)
    if not batch:
        if fmt is not None:
            raise ValidationError("--format names the outputs' type for several inputs; with one input the "
                                  f"suffix of -o picks it (here {Path(output).suffix or 'none'})")
        if Path(output).is_dir():
            raise ValidationError(f"-o {output} is a folder; with one input give a file name ({expected or 'a file'}); "
                                  "several inputs write one file each into a folder")
        out = check_output_path(output, suffixes, expected, what="-o")
        InputFiles(list(inputs) + [f for f in also_read if f]).check(out, what="-o")
        return [out]
    suffix = "." + fmt.lower().lstrip(".")
    if suffix not in suffixes:
        raise ValidationError(f"--format {fmt}: use one of {', '.join(s[1:] for s in suffixes)}")
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise ValidationError(f"-o {folder}: with several inputs -o names a folder (one output per input), "
                              "and this is a file")
    if not folder.exists():
        if folder.suffix.lower() in suffixes:
            raise ValidationError(f"-o {folder}: with several inputs -o names a folder (one output per input), "
                                  "not a file")
        check_output_path(folder, what="-o")  # its parent exists and takes writes
    outs, seen = [], {}
    read = InputFiles(list(inputs) + [f for f in also_read if f])
    for src in inputs:
        out = folder / (src.stem + suffix)
        key = str(out)
        if key in seen:
            raise ValidationError(f"inputs {seen[key]} and {src} would both write {out}; rename one of them")
        seen[key] = src
        found = read.find(out)
        if found is not None:
            raise ValidationError(f"the output {out} would overwrite {found[0]} {found[1]}; choose another -o folder")
        if out.is_dir():
            raise ValidationError(f"output {out} is a folder; remove it or choose another -o folder")
        outs.append(out)
    if folder.exists():
        check_output_path(outs[0], what="-o")  # the folder takes writes (probes once)
    return outs


def make_output_folder(outputs):
    """Create the -o folder of a batch (its parent was checked); after all checks, so errors leave nothing."""
    from ..errors import ValidationError

    for folder in {out.parent for out in outputs if out is not None}:
        if not folder.exists():
            try:
                folder.mkdir()
            except OSError as exc:
                raise ValidationError(f"-o {folder}: cannot create the folder ({exc.strerror or exc})") from None


def output_suffix(args, suffixes, default):
    """The suffix the outputs will have (before the inputs are read): --format, the -o suffix, or the default."""
    if getattr(args, "format", None):
        return "." + args.format.lower()
    suffix = Path(args.output).suffix.lower() if args.output else ""
    return suffix if suffix in suffixes else default


class Batch:
    """Run one job per input: progress on stderr, per-input errors in one line, a final exit status.

    With one input (not a batch), a :class:`CrfkitError` propagates, so the
    command fails as usual (one line, status 2).
    """

    def __init__(self, command, inputs, batch):
        self.command, self.inputs, self.batch = command, list(inputs), batch
        self.failed = []
        self._bar = None

    def say(self, text):
        """A line on stderr that does not break the progress bar."""
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def warn(self, src, message):
        text = " ".join(str(message).split())
        if self.batch and str(src) not in text and src.name not in text:
            text = f"{src}: {text}"
        self.say(f"crfkit {self.command}: warning: {text}")

    def run(self, job):
        """Call ``job(index, src)`` for each input; returns the exit status."""
        from tqdm.auto import tqdm

        from ..errors import CrfkitError

        show = self.batch and len(self.inputs) > 1 and sys.stderr.isatty()
        self._bar = tqdm(total=len(self.inputs), unit="image", desc=self.command, file=sys.stderr,
                         disable=not show, leave=False) if show else None
        try:
            for i, src in enumerate(self.inputs):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        job(i, src)
                    except CrfkitError as exc:
                        if not self.batch:
                            raise
                        msg = " ".join(str(exc).split())
                        if str(src) not in msg:
                            msg = f"{src}: {msg}"
                        self.say(f"crfkit {self.command}: error: {msg}")
                        self.failed.append(src)
                    finally:
                        shown = set()
                        for w in caught:
                            # crfkit's warnings (UserWarning subclasses), not the libraries' resource or
                            # deprecation notes that "always" also records
                            if issubclass(w.category, UserWarning) and str(w.message) not in shown:
                                shown.add(str(w.message))
                                self.warn(src, w.message)
                if self._bar is not None:
                    self._bar.update(1)
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        if self.failed:
            self.say(f"crfkit {self.command}: {len(self.failed)} of {len(self.inputs)} inputs failed "
                     f"({', '.join(p.name for p in self.failed[:5])}{' ...' if len(self.failed) > 5 else ''}); "
                     "the others were done")
            return EXIT_SOME_FAILED
        return 0


def check_photo(src, verb="estimation"):
    """Refuse HDR/linear files by name, before OpenCV or imageio (and their codec messages) see them."""
    from ..errors import DataNotFoundError, ValidationError
    from ..io.hdr import HDR_SUFFIXES

    if not src.is_file():
        raise DataNotFoundError(f"image not found: {src}")
    if src.suffix.lower() in HDR_SUFFIXES:
        raise ValidationError(f"{src}: already an HDR image ({src.suffix}, linear values); {verb} takes a "
                              "display-referred LDR photo (PNG, JPEG, TIFF; 8 or 16 bits); nothing was done")


def read_photo(src, verb="estimation"):
    """Read a display-referred photo (uint8/uint16 as stored)."""
    from ..io.images import read_image

    check_photo(src, verb)
    return read_image(src, mode="any")


# -- the estimator ----------------------------------------------------------------------------
def add_estimator_options(p):
    from ..estimators import DEFAULT_ESTIMATOR

    p.add_argument("--method", "-m", default=None,
                   help=f"estimator (default: the method --weights was trained for, else {DEFAULT_ESTIMATOR}; "
                   "`crfkit info` lists the plugins)")
    p.add_argument("--weights", metavar="PATH", help="weight file (default: the weights shipped with crfkit)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")


def resolve_method(args):
    """The estimator asked for: ``--method``, else the method a ``--weights`` file was trained for
    (so ``--weights run/weights.pt`` alone works), else the default estimator."""
    from ..estimators import DEFAULT_ESTIMATOR

    if args.method:
        return args.method
    if getattr(args, "weights", None):
        from ..estimators._net import weights_method

        return weights_method(args.weights) or DEFAULT_ESTIMATOR
    return DEFAULT_ESTIMATOR


def make_estimator(args, method=None, weights_option="weights"):
    """Build the estimator once for all inputs (weights are loaded here, before any image is read).

    ``method`` defaults to ``args.method`` (resolved by :func:`resolve_method`); the weights come from the option named
    ``weights_option`` (``restore`` names its estimator's weights ``--crf-weights``).  Its
    warnings (e.g. a note stored with the weights) are printed as the command's one-line warnings.
    """
    from ..estimators import get_estimator

    method = args.method if method is None else method
    weights = getattr(args, weights_option)
    opts = {}
    if weights:
        opts["weights"] = weights
    if args.device:
        opts["device"] = args.device
    if getattr(args, "per_channel", False):
        opts["per_channel"] = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator = get_estimator(method, **opts)
    for w in caught:
        print(f"crfkit {args.command}: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
    return estimator


# -- the command ------------------------------------------------------------------------------
def register(sub):
    p = sub.add_parser(
        "estimate",
        help="estimate the inverse CRF of photos (crf-net, linearization-net, plugins)",
        description="Prints the estimated inverse CRF g (brightness -> irradiance) of each photo at a few levels, "
        "or writes it with -o: all 1024 samples on linspace(0, 1, 1024) (.txt: one value a line, .csv, .json, "
        ".crfs) or a 1-D LUT mapping code values to linear ones (.cube, .spi1d). "
        + BATCH_EPILOG,
    )
    add_batch_arguments(p, "photos (PNG, JPEG, TIFF; 8-bit preferred)",
                        "write the curve (.txt, .csv, .json, .crfs, .cube, .spi1d)", CURVE_SUFFIXES, "json",
                        output_required=False)
    add_estimator_options(p)
    p.add_argument("--per-channel", action="store_true",
                   help="one inverse CRF per channel (R, G, B) instead of one shared curve, for the methods that "
                   "give them (crf-net, linearization-net, lin2004); .txt/.csv then hold one curve a row")
    p.add_argument("--plot", metavar="FILE", help="plot the inverse CRF(s), one line per photo (.png/.pdf/.svg)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (a list for several inputs)")
    p.set_defaults(func=run)


def write_curve(g, path):
    """Write an inverse curve to ``path``; the suffix picks the format (.txt, .csv, .json, .crfs, .cube, .spi1d)."""
    from .._io import atomic_write_text
    from ..curves import CurveSet
    from ..errors import ValidationError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".crfs":
        (g if isinstance(g, CurveSet) else CurveSet.from_curves([g])).save(path)
    elif suffix in (".cube", ".spi1d", ".json"):
        from ..io import export_curves

        # LUTs: code -> linear, to linearise in an editor or OpenColorIO; JSON: the one layout
        # (crfkit.curves.curvejson) that fit --save and export write too
        export_curves(g, path)
    elif suffix in (".txt", ".csv"):
        rows = g.values if isinstance(g, CurveSet) else [g.values]
        sep = "," if suffix == ".csv" else " "
        if len(rows) == 1:
            text = "\n".join(f"{v:.8g}" for v in rows[0])
        else:  # one curve per row, as crfkit's text readers take them
            text = "\n".join(sep.join(f"{v:.8g}" for v in row) for row in rows)
        atomic_write_text(path, text + "\n")
    else:
        raise ValidationError(f"-o {path}: use .txt, .csv, .json, .crfs, .cube or .spi1d")


def _summary(src, method, g):
    import numpy as np

    from ..curves import CurveSet

    curves = list(g) if isinstance(g, CurveSet) else [g]
    labels = list(g.names) if isinstance(g, CurveSet) and len(g) > 1 else [""]
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    lines = [f"image: {src}", f"method: {method}"]
    for c, label in zip(curves, labels):
        at = " ".join(f"g({b:g})={float(c(b)):.4f}" for b in levels)
        lines.append(f"inverse CRF{' ' + label if label else ''}: {at}")
    lines.append("monotone: " + str(all(c.is_monotone() for c in curves))
                 + f", g(0)={curves[0].values[0]:.4g}, g(1)={curves[0].values[-1]:.4g}")
    rmse = [float(np.sqrt(np.mean((c.values - np.linspace(0, 1, 1024) ** 2.2) ** 2))) for c in curves]
    lines.append("rmse to gamma 2.2 inverse: " + " ".join(f"{r:.4f}" for r in rmse))
    return "\n".join(lines)


def run(args):
    import json

    from ..curves import CurveSet
    from ..errors import ValidationError

    if args.format and not args.output:
        raise ValidationError("--format names the type of the files written into the -o folder; give -o DIR")
    plot = check_plot_path(args.plot)  # suffix, folder, writes
    inputs, batch = collect_inputs(args.images)
    weights = [spec_file(args.weights, "the --weights file")]
    outputs = plan_outputs(inputs, batch, args.output, CURVE_SUFFIXES,
                           (args.format or "json") if batch else args.format,
                           "a .txt, .csv, .json, .crfs, .cube or .spi1d file name", also_read=weights)
    if plot is not None:
        from .._io import check_distinct_outputs, check_not_input

        check_not_input(plot, inputs + weights, what="--plot")
        check_distinct_outputs(*[("-o", out) for out in outputs], ("--plot", plot))
    if not batch:
        check_photo(inputs[0])  # before loading the model
    args.method = resolve_method(args)
    estimator = make_estimator(args)
    curves, results = [], []
    job_batch = Batch(args.command, inputs, batch)

    def job(i, src):
        g = estimator.estimate(read_photo(src))
        if not isinstance(g, CurveSet):
            g.name = src.name  # labels the curve in --plot and in saved files
        elif len(g) == 3 and list(g.names) == ["R", "G", "B"] and batch:
            g = CurveSet(g.values, kind=g.kind, names=[f"{src.name}/{c}" for c in "RGB"], attrs=g.attrs,
                         name=src.name)  # the labels say which photo each channel's curve is from
        if outputs[i] is not None:
            write_curve(g, outputs[i])
        curves.append(g)
        if args.json:
            if isinstance(g, CurveSet):  # per channel: the channel names and one list of values each
                results.append({"image": str(src), "method": args.method, "kind": g.kind, "channels": list(g.names),
                                "values": [[float(v) for v in row] for row in g.values]})
            else:
                results.append({"image": str(src), "method": args.method, "kind": g.kind,
                                "values": [float(v) for v in g.values]})
        else:
            write_output(("\n" if curves[:-1] else "") + _summary(src, args.method, g))  # a blank line between photos
        if outputs[i] is not None:
            job_batch.say(f"wrote {outputs[i]}")

    make_output_folder(outputs)
    status = job_batch.run(job)
    if args.json:
        write_output(json.dumps(results if batch else results[0]) if results else "[]")
    if plot and curves:
        from ..plotting import plot_curves

        flat = [c for g in curves for c in (g if isinstance(g, CurveSet) else [g])]
        title = (f"{args.method}: inverse CRF of {inputs[0].name}" if not batch
                 else f"{args.method}: inverse CRFs of {len(curves)} photos")
        plot_curves(flat, path=plot, title=title)
        print(f"wrote {plot} ({len(flat)} curve{'s' if len(flat) != 1 else ''})", file=sys.stderr)
    return status
