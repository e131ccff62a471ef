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

import inspect
import os
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


def option_names(cls, base):
    """Keyword options the constructor of plugin class ``cls`` takes, or None when it takes any.

    ``base.__init__`` (the plugin base class) takes none; a constructor with
    ``**options`` of its own decides itself (None).
    """
    init = cls.__init__
    if init is base.__init__ or init is object.__init__:
        return ()
    params = list(inspect.signature(init).parameters.values())[1:]  # without self
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                       inspect.Parameter.KEYWORD_ONLY))


def check_option_names(cls, base, options, who):
    """Raise :class:`~crfkit.UnknownNameError` for an option ``cls`` does not take, listing the valid ones."""
    from .errors import UnknownNameError

    valid = option_names(cls, base)
    if valid is None:
        return
    unknown = sorted(str(k) for k in options if k not in valid)
    if unknown:
        listed = ", ".join(sorted(valid)) if valid else "none"
        raise UnknownNameError(f"{who}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                               f"valid options: {listed}")


# -- checks of the options that many plugins share ------------------------------------------------
def _describe(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_count(value, option, who, minimum=1, maximum=None, allow_none=False):
    """A whole number in [minimum, maximum] (bool, float and str refused); None when allowed."""
    import numbers

    from .errors import ValidationError

    if value is None and allow_none:
        return None
    bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValidationError(f"{who}: {option}={_describe(value)}: expected a whole number {bounds}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValidationError(f"{who}: {option}={value}: expected a whole number {bounds}")
    return value


def check_threads(threads, who):
    """``threads``: None or a whole number in [1, 4 x the usable cores] (more only oversubscribes;
    a huge count makes the OpenMP runtime abort the process)."""
    from ._threads import usable_cores

    return check_count(threads, "threads", who, 1, 4 * usable_cores(), allow_none=True)


def check_weights(weights, who):
    """``weights``: None or a path (str or path-like, not empty)."""
    from .errors import ValidationError

    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)) or not os.fspath(weights):
        raise ValidationError(f"{who}: weights={_describe(weights)}: expected the path of a weight file")
    return weights


def check_device(device, who):
    """``device`` as a ``torch.device``, checked to be usable here; None or ``'auto'``: CUDA when available.

    Raises :class:`~crfkit.ValidationError` for an unknown device or one this
    machine or this torch build cannot use (no GPU, CPU-only torch, no MPS).
    """
    from ._optional import require
    from .errors import ValidationError

    torch = require("torch", "torch", feature=who)
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise ValidationError(f"{who}: device={_describe(device)}: expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, ValueError):
        raise ValidationError(f"{who}: unknown device {device!r}; expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValidationError(f"{who}: device={device!r} is not available ({why}, torch {torch.__version__}); "
                                  "use device='cpu'")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValidationError(f"{who}: device={device!r}: there {'is' if count == 1 else 'are'} only {count} CUDA "
                                  f"device{'s' if count != 1 else ''} (cuda:0 .. cuda:{count - 1})")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValidationError(f"{who}: device={device!r} is not available (no Apple MPS backend here); use device='cpu'")
        return dev
    raise ValidationError(f"{who}: device {device!r} is not supported; expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")


def check_network_options(options, who):
    """Check, in place, the options every network plugin shares: ``weights``, ``device``, ``threads``."""
    if "weights" in options:
        options["weights"] = check_weights(options["weights"], who)
    if "device" in options:
        options["device"] = check_device(options["device"], who)
    if "threads" in options:
        options["threads"] = check_threads(options["threads"], who)
    return options


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

        if not isinstance(name, str):
            raise UnknownNameError(f"{self.what} must be given by name (a string), got {type(name).__name__} "
                                   f"{name!r}; available: {', '.join(self.names())}")
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

    def create(self, name, **options):
        """An instance of plugin ``name``, its options checked first (:meth:`get`, then
        ``cls.check_options`` where the base defines it, then construction)."""
        cls = self.get(name)
        check = getattr(cls, "check_options", None)
        if check is not None:
            check(**options)
        return cls(**options)
