"""Name -> class registries (models, bracket solvers), extended through entry points."""

from .errors import UnknownNameError


class Registry:
    """Classes registered by their ``name`` (and ``aliases``), case-insensitive.

    Parameters
    ----------
    what : str
        What the entries are, for messages (``'model'``, ``'bracket method'``).
    group : str
        Entry-point group through which other packages add entries.
    accepts : callable
        ``accepts(obj)`` is True for entry-point objects to register.
    normalise : callable
        Maps a user's name to a key (e.g. ``'_'`` -> ``'-'``).
    plural : str, optional
        For messages (default ``what + 's'``).
    """

    def __init__(self, what, group, accepts, normalise=str.lower, plural=None):
        self.what, self.group, self.accepts, self.normalise = what, group, accepts, normalise
        self.plural = plural or what + "s"
        self.classes = {}
        self.aliases = {}
        self._entry_points_loaded = False

    def register(self, cls):
        """Class decorator adding ``cls`` under ``cls.name`` and its ``aliases``."""
        key = self.normalise(cls.name)
        self.classes[key] = cls
        for alias in getattr(cls, "aliases", ()):
            self.aliases[self.normalise(alias)] = key
        return cls

    def _load_entry_points(self):
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from .plugins import load_group

        for obj in load_group(self.group):
            if self.accepts(obj):
                self.register(obj)

    def get_class(self, name):
        """The class registered as ``name``; UnknownNameError listing the valid names."""
        self._load_entry_points()
        key = self.normalise(str(name))
        key = self.aliases.get(key, key)
        if key not in self.classes:
            raise UnknownNameError(f"unknown {self.what} {name!r}; valid {self.plural}: {', '.join(sorted(self.classes))}")
        return self.classes[key]
