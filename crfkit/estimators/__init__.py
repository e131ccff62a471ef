"""Single-image CRF estimators, found through the ``crfkit.estimators`` entry points.

Built in (registered in crfkit's own package metadata, exactly like a third
party's plugin): ``crf-net`` (Li & Peers 2017) and ``linearization-net``
(Liu et al. 2020).  A package adds one by packaging alone::

    [options.entry_points]
    crfkit.estimators =
        my-method = mypkg.module:MyEstimator

where ``MyEstimator`` subclasses :class:`crfkit.estimators.Estimator`.  Entry
points are loaded only when an estimator is used, so torch is imported only
then.
"""

from ..plugins import PluginRegistry
from .base import Estimator, UnreliableEstimateWarning, prepare_image

#: suffix of a method spec that asks for one curve per channel: ``'crf-net:per-channel'``
#: (or ``'crf-net:per-channel=gray'`` for a named way)
PER_CHANNEL_SUFFIX = ":per-channel"

GROUP = "crfkit.estimators"

#: The estimator used when none is named: the one with the lowest error on the synthetic held-out
#: set, the Nikon D7000 set and the ten Middlebury cameras (``analysis/results/estimators*.md``).
DEFAULT_ESTIMATOR = "crf-net"

# built-ins, used when crfkit runs from a source tree without installed metadata
_REGISTRY = PluginRegistry(GROUP, Estimator, "estimator", {
    "crf-net": "crfkit.estimators.crf_net:CRFNetEstimator",
    "linearization-net": "crfkit.estimators.linearization_net:LinearizationNetEstimator",
    "lin2004": "crfkit.estimators.lin2004:Lin2004Estimator",
})
_REGISTERED = _REGISTRY.registered


def register_estimator(name, cls=None):
    """Register an estimator class in this process (also usable as a decorator)."""
    return _REGISTRY.register(name, cls)


def available_estimators():
    """Names of all estimators (entry points, built-ins, in-process), without importing them."""
    return _REGISTRY.names()


def get_estimator_class(name):
    """The estimator class registered as ``name``.

    Raises
    ------
    UnknownNameError
        No estimator of that name.
    MissingDependencyError
        The estimator needs an extra (e.g. ``crfkit[torch]``) that is missing.
    """
    return _REGISTRY.get(name)


def parse_method(spec):
    """``(name, options)`` of a method spec: ``'NAME'``, ``'NAME:per-channel'`` or ``'NAME:per-channel=MODE'``.

    The per-channel forms add ``per_channel=True`` (or ``=MODE``) to the
    options, so evaluations and the command line can name per-channel
    variants like methods (``crfkit evaluate-estimators --real DIR --methods
    crf-net,crf-net:per-channel``).

    Raises
    ------
    ValidationError
        Another ``:`` suffix.
    """
    from ..errors import ValidationError

    if not isinstance(spec, str):
        return spec, {}  # the registry refuses it, naming what it expects
    name, sep, rest = spec.partition(":")
    if not sep:
        return spec, {}
    key, eq, mode = rest.partition("=")
    if ":" + key != PER_CHANNEL_SUFFIX or (eq and not mode):
        raise ValidationError(f"estimator {spec!r}: after the name only '{PER_CHANNEL_SUFFIX}' or "
                              f"'{PER_CHANNEL_SUFFIX}=MODE' may follow")
    return name, {"per_channel": mode if eq else True}


def _per_channel_check(cls, name, value):
    """Refuse ``per_channel`` for a method that cannot give per-channel curves, in one line."""
    from ..errors import ValidationError

    if value is None or value is False:
        return
    if not getattr(cls, "per_channel_modes", ()):
        able = [n for n in available_estimators() if _takes_per_channel(n)]
        raise ValidationError(f"{name}: gives one curve for all channels; per-channel curves come from "
                              f"{', '.join(able) or 'no installed estimator'}")


def _takes_per_channel(name):
    from ..errors import CrfkitError

    try:
        return bool(getattr(get_estimator_class(name), "per_channel_modes", ()))
    except CrfkitError:
        return False


def get_estimator(name, **options):
    """An estimator instance, its options checked first: ``get_estimator('crf-net', weights=PATH)``.

    Build it once and call ``.estimate(image)`` on each image of a batch: the
    weights are read and the network built only here.

    Parameters
    ----------
    name : str
        An estimator name (:func:`available_estimators`), optionally followed by
        ``:per-channel`` or ``:per-channel=MODE`` (:func:`parse_method`).
    **options
        The estimator's options (e.g. ``weights=``, ``device=``, ``threads=``,
        ``per_channel=True`` where the estimator takes it).

    Returns
    -------
    Estimator

    Raises
    ------
    UnknownNameError
        Unknown estimator, or an option it does not take (the valid ones are listed).
    ValidationError
        A bad option value (e.g. ``device='cuda'`` on a CPU-only torch, ``threads=0``).
    MissingDependencyError, DataNotFoundError, ParseError
        Missing torch, missing or unreadable weights.
    """
    from ..errors import ValidationError

    name, extra = parse_method(name)
    if extra and "per_channel" in options:
        raise ValidationError(f"estimator {name!r}: per_channel given twice (in the name and as an option)")
    options.update(extra)
    if "per_channel" in options:
        cls = get_estimator_class(name)
        _per_channel_check(cls, name, options["per_channel"])
        if options["per_channel"] in (None, False) and not getattr(cls, "per_channel_modes", ()):
            del options["per_channel"]  # "one shared curve" is what such a method gives anyway
    return _REGISTRY.create(name, **options)


def _is_batch(image):
    """A list or tuple of arrays (each an image), as opposed to one image as nested lists."""
    import numpy as np

    return isinstance(image, (list, tuple)) and len(image) > 0 and all(
        isinstance(im, np.ndarray) and im.ndim >= 2 for im in image)


def estimate(image, method=DEFAULT_ESTIMATOR, *, per_channel=False, threads=None, progress=False, **options):
    """Estimate the inverse CRF of one image, or of each image of a list with the model loaded once.

    Parameters
    ----------
    image : array_like, or list of ndarray
        One image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8
        (preferred: the nets were trained on 8-bit JPEG-like data), uint16 or
        float in [0, 1].  A list (or tuple) of such arrays: a batch.
    method : str or Estimator
        An estimator name (:func:`available_estimators`; default
        :data:`DEFAULT_ESTIMATOR`, ``'crf-net'``), or an instance
        (built once with :func:`get_estimator`; then no ``options``).
    per_channel : bool or str
        Return a :class:`~crfkit.CurveSet` of three inverse curves (R, G, B)
        instead of one shared curve; True picks the method's default way, a
        string names one (``'offset'`` or ``'gray'`` for the networks, see
        their classes).  Methods that cannot give per-channel curves raise
        :class:`~crfkit.ValidationError`.  With an instance, it must have been
        built with ``per_channel`` (and then per_channel may be omitted).
    threads : int, optional
        Threads for BLAS, OpenMP and torch while estimating
        (:func:`crfkit._threads.thread_policy`; default: the idle cores).
    progress : bool or None
        Show a progress bar over the images of a batch on stderr (None: off).
    **options
        Passed to the estimator, e.g. ``weights='my.pt'``, ``device='cpu'``;
        checked before anything is loaded.

    Returns
    -------
    Curve, CurveSet, or list of them
        The inverse CRF (kind ``'inverse'``), monotone with g(0) = 0 and
        g(1) = 1, shared by the channels (or, with ``per_channel``, a CurveSet
        of three named R, G, B); a list in the order of a batch.

    Raises
    ------
    CrfkitError
        Unknown method or option (:class:`~crfkit.UnknownNameError`), bad
        option value or image (:class:`~crfkit.ValidationError`), missing
        torch or weights.

    Examples
    --------
    Several photos, the network loaded once::

        curves = crfkit.estimate([img1, img2], method="crf-net", device="cpu")
        est = crfkit.estimators.get_estimator("crf-net")   # or keep the instance
        g = est.estimate(img3)
    """
    from .._threads import thread_policy
    from .._validation import check_not_path
    from ..errors import ValidationError
    from ..plugins import check_threads

    check_not_path(image, "estimate")  # before any model is loaded
    threads = check_threads(threads, "estimate")
    if progress is not None and not isinstance(progress, bool):
        raise ValidationError(f"estimate: progress must be True, False or None (off), got {progress!r}")
    if per_channel is None:
        per_channel = False
    if not isinstance(per_channel, (bool, str)):
        raise ValidationError(f"estimate: per_channel must be True, False or a mode name, got "
                              f"{type(per_channel).__name__}")
    with thread_policy(threads):
        if isinstance(method, Estimator):
            if options:
                raise ValidationError(f"estimate: options {sorted(options)} given with an Estimator instance; "
                                      "set them when building it")
            built = getattr(method, "per_channel", None)
            if per_channel is not False and (not built or (per_channel is not True and per_channel != built)):
                raise ValidationError(f"estimate: per_channel={per_channel!r} with an Estimator instance built "
                                      f"with per_channel={built!r}; build it with the per_channel you want")
            est = method
        else:
            if per_channel is not False:
                options["per_channel"] = per_channel
            est = get_estimator(method, **options)
        if not _is_batch(image):
            return est.estimate(image)
        import sys

        from tqdm import tqdm

        return [est.estimate(im) for im in tqdm(image, desc=f"estimate ({est.name or type(est).__name__})",
                                                 unit="image", file=sys.stderr, disable=not progress, leave=False)]


__all__ = [
    "DEFAULT_ESTIMATOR",
    "GROUP",
    "Estimator",
    "UnreliableEstimateWarning",
    "available_estimators",
    "estimate",
    "get_estimator",
    "get_estimator_class",
    "parse_method",
    "prepare_image",
    "register_estimator",
]
