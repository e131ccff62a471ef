"""Import optional dependencies lazily, with an actionable error."""

import importlib

from .errors import MissingDependencyError


def require(module, extra, feature=None):
    """Import and return ``module``, or raise naming the extra to install.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"torch"``.
    extra : str
        Name of the crfkit extra that provides it, e.g. ``"torch"``.
    feature : str, optional
        What the user tried to do, for the message.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        what = f"{feature}: needs" if feature else "this feature needs"
        raise MissingDependencyError(
            f"{what} the optional package '{module.split('.')[0]}', which is not installed: "
            f"install it with  pip install 'crfkit[{extra}]'  ({exc})"
        ) from None
    if module == "torch":
        from ._threads import configure_torch

        configure_torch(mod)  # torch loaded inside a thread policy follows it
    return mod


def available(module):
    """Return True when ``module`` can be imported (without importing it twice)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
