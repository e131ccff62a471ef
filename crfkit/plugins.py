"""Entry-point plugins: models (``crfkit.models``), estimators
(``crfkit.estimators``) and restoration methods (``crfkit.restoration``).

A third-party package registers a plugin in its own metadata::

    [options.entry_points]
    crfkit.estimators =
        my-net = mypkg.estimator:MyEstimator

Plugins are loaded only when a registry is first used, so importing crfkit
stays cheap; a plugin that fails to import is reported with a warning and
skipped, never breaking the core.
"""

import warnings
from importlib import metadata


def entry_points(group):
    """Entry points of ``group`` (name -> EntryPoint)."""
    try:
        eps = metadata.entry_points(group=group)
    except TypeError:  # Python < 3.10
        eps = metadata.entry_points().get(group, [])
    return {ep.name: ep for ep in eps}


def load_group(group):
    """Load every entry point of ``group``; return the loaded objects."""
    out = []
    for name, ep in entry_points(group).items():
        try:
            out.append(ep.load())
        except Exception as exc:  # a broken plugin must not break crfkit
            warnings.warn(f"crfkit plugin {name!r} ({ep.value}) in {group} failed to load: {exc}", stacklevel=2)
    return out


class PluginRegistry:
    """Named plugin classes of one entry-point group, loaded only when asked for.

    Lookup order: classes registered in this process, the group's entry
    points, then ``builtin`` (``'module:attr'`` targets, used when crfkit runs
    from a source tree without installed metadata).

    Parameters
    ----------
    group : str
        Entry-point group, e.g. ``'crfkit.estimators'``.
    base : type
        Every plugin must subclass it.
    what : str
        Name of a plugin in messages, e.g. ``'estimator'``.
    builtin : dict of str to str
        Built-in names and their ``'module:attr'`` targets.
    """

    def __init__(self, group, base, what, builtin):
        self.group = group
        self.base = base
        self.what = what
        self.builtin = dict(builtin)
        self.registered = {}

    def _base_name(self):
        return f"{self.base.__module__.rsplit('.', 1)[0]}.{self.base.__name__}"

    def register(self, name, cls=None):
        """Register ``cls`` as ``name`` in this process (also usable as a decorator)."""
        from .errors import ValidationError

        def deco(c):
            if not (isinstance(c, type) and issubclass(c, self.base)):
                raise ValidationError(f"{self.what} {name!r} must be a subclass of {self._base_name()}")
            self.registered[name] = c
            return c

        return deco(cls) if cls is not None else deco

    def names(self):
        """All names (entry points, built-ins, in-process), without importing them."""
        return sorted(set(entry_points(self.group)) | set(self.builtin) | set(self.registered))

    def get(self, name):
        """The class registered as ``name``.

        Raises
        ------
        UnknownNameError
            No plugin of that name.
        MissingDependencyError
            The plugin needs an extra (e.g. ``crfkit[torch]``) that is missing.
        ValidationError
            The loaded object is not a subclass of ``base``.
        """
        import importlib

        from .errors import MissingDependencyError, UnknownNameError, ValidationError

        if name in self.registered:
            return self.registered[name]
        eps = entry_points(self.group)
        try:
            if name in eps:
                cls = eps[name].load()
            elif name in self.builtin:
                module, _, attr = self.builtin[name].partition(":")
                cls = importlib.import_module(module)
                for part in attr.split("."):
                    cls = getattr(cls, part)
            else:
                raise UnknownNameError(f"unknown {self.what} {name!r}; available: {', '.join(self.names())}")
        except (UnknownNameError, MissingDependencyError):
            raise
        except ImportError as exc:
            raise MissingDependencyError(f"{self.what} {name!r} cannot be imported: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise ValidationError(f"{self.what} {name!r} ({cls!r}) is not a subclass of {self._base_name()}")
        return cls
