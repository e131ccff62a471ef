"""Exception types raised by crfkit.

Every error that a user can cause (bad values, bad files, missing data or
extras) is raised as a subclass of :class:`CrfkitError`, so applications and
the command line can catch one type.  The subclasses also derive from the
matching built-in exception so that generic handlers keep working.
"""


class CrfkitError(Exception):
    """Base class of all crfkit errors."""


class ValidationError(CrfkitError, ValueError):
    """A value, array or argument is outside what the function accepts."""


class NotMonotoneError(ValidationError):
    """A curve that must be monotone non-decreasing is not."""


class UnknownNameError(CrfkitError, KeyError):
    """A model, estimator, dataset or other registry name does not exist."""

    def __str__(self):  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ParseError(CrfkitError, ValueError):
    """A data file is malformed; the message names the file and line."""


class DataNotFoundError(CrfkitError, FileNotFoundError):
    """A data file could not be found locally nor downloaded."""


class ChecksumError(CrfkitError):
    """A data file does not have the expected sha256 checksum."""


class MissingDependencyError(CrfkitError, ImportError):
    """An optional dependency (a ``crfkit[...]`` extra) is not installed."""


class FitError(CrfkitError, RuntimeError):
    """A model could not be fitted to the data given (e.g. too few samples)."""
