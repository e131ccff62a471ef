"""The ``crfkit`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``; modules are discovered automatically, so a new
command is one new file.  A user's mistake (any :class:`CrfkitError`, and
argparse's own usage errors) is printed as one line on stderr with exit status
2, never a traceback; warnings are printed as one line too (``crfkit CMD:
warning: ...``), without the source line Python's default display adds.
"""

import argparse
import difflib
import importlib
import pkgutil
import sys
import warnings

from ..errors import CrfkitError

EXIT_USER_ERROR = 2


def one_line(text):
    return " ".join(str(text).split())


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``crfkit fit: error: ...``), exit status 2.

    argparse prints the usage block before the message; every other crfkit error is one
    line, so scripts and users can rely on the last (only) line of stderr.  The sub-parsers
    made by ``add_subparsers`` inherit this class.
    """

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser():
    from .._version import __version__

    parser = OneLineParser(
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


def _subparsers(parser):
    """The sub-command parsers by name."""
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def _check_command(parser, argv):
    """Refuse an unknown command in one line, with the nearest command names as a suggestion."""
    # The top-level parser has only -h/--version, so the first word not starting with '-' is the command.
    word = next((a for a in argv if not a.startswith("-")), None)
    commands = sorted(_subparsers(parser))
    if word is None or word in commands:
        return
    close = difflib.get_close_matches(word, commands, n=2, cutoff=0.6)
    hint = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
            else f"the commands are {', '.join(commands)}")
    parser.error(f"unknown command {word!r}; {hint}")


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    _check_command(parser, argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the command's own parser, so the line names the command
        _subparsers(parser).get(getattr(args, "command", None), parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"crfkit {args.command}: warning: {one_line(message)}", file=file or sys.stderr)

    try:
        from .._threads import thread_policy

        with warnings.catch_warnings(), thread_policy(getattr(args, "threads", None)):
            warnings.showwarning = show_warning  # restored on exit, so callers of main() keep theirs
            result = args.func(args)
    except CrfkitError as exc:
        print(f"crfkit {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("crfkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # Safety net: a file-system refusal the command did not foresee (disk full, permissions
        # changed during the run) is the user's environment, not a crash: one line, no traceback.
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"crfkit {args.command}: error: {one_line(exc.strerror or exc)}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    return int(result or 0)


def run():  # console-script entry point
    sys.exit(main())
