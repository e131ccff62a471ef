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
