"""The ``crfkit`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``; modules are discovered automatically, so a new
command is one new file.  A user's mistake (any :class:`CrfkitError`) is
printed as one line on stderr with a non-zero exit status, never a traceback;
warnings are printed as one line too (``crfkit CMD: warning: ...``), without
the source line Python's default display adds.
"""

import argparse
import importlib
import pkgutil
import sys
import warnings

from ..errors import CrfkitError

EXIT_USER_ERROR = 2


def build_parser():
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="crfkit",
        description="Camera response functions: fit model families, compare them, build and apply CRFs.",
    )
    parser.add_argument("--version", action="version", version=f"crfkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"crfkit {args.command}: warning: {' '.join(str(message).split())}", file=file or sys.stderr)

    try:
        from .._threads import thread_policy

        with warnings.catch_warnings(), thread_policy(getattr(args, "threads", None)):
            warnings.showwarning = show_warning  # restored on exit, so callers of main() keep theirs
            result = args.func(args)
    except CrfkitError as exc:
        msg = " ".join(str(exc).split())  # always one line
        print(f"crfkit {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("crfkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(result or 0)


def run():  # console-script entry point
    sys.exit(main())
