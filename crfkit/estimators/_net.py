"""Shared machinery of the neural estimators: weight files, devices, resizing."""

from pathlib import Path

import numpy as np

from .._optional import require
from ..errors import DataNotFoundError, ParseError, ValidationError
from .base import Estimator

torch = require("torch", "torch", feature="the neural CRF estimators")

WEIGHTS_FORMAT = "crfkit-estimator"
WEIGHTS_VERSION = 1
#: Format of a training checkpoint (``crfkit._training``); weight loaders accept it too.
CHECKPOINT_FORMAT = "crfkit-checkpoint"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def pick_device(device=None, who="device"):
    """``'cuda'`` when available unless ``device`` says otherwise; an unusable device is refused.

    See :func:`crfkit.plugins.check_device` (CPU-only torch, no GPU, no MPS:
    :class:`~crfkit.ValidationError`).
    """
    from ..plugins import check_device

    return check_device(device, who)


def save_weights(path, method, config, state_dict, provenance=None, half=True, full_precision=()):
    """Write a model-only weight file atomically.

    Parameters
    ----------
    half : bool
        Store floating-point tensors as float16 (half the size).
    full_precision : collection of str
        Keys kept in float32 even with ``half``: pass the model's buffers.
        The learned weights tolerate float16, but a buffer such as the EMoR
        mean curve does not: rounded to float16 it raised CRF-net's validation
        error from 0.0570 to 0.0607.
    """
    from .._io import atomic_path

    keep = set(full_precision)
    sd = {k: (v.detach().cpu().half() if half and v.is_floating_point() and k not in keep else v.detach().cpu())
          for k, v in state_dict.items()}
    blob = {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_VERSION,
        "method": method,
        "config": dict(config),
        "state_dict": sd,
        "provenance": dict(provenance or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return Path(path)


def load_weights(path, method, command=None):
    """Read and check a weight (or checkpoint) file written by crfkit.

    Parameters
    ----------
    path : str or Path
    method : str
        The method the weights must be for.
    command : str, optional
        The ``crfkit train`` sub-command that writes them (default ``method``),
        for the messages.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    ParseError
        Not a crfkit weight file.
    ValidationError
        A weight file for another method.
    """
    path = Path(path)
    blob = _read_weight_file(path, f"a {method} weight file written by `crfkit train {command or method}`")
    if blob.get("method") != method:
        raise ValidationError(f"{path}: weights are for {blob.get('method')!r}, but {method!r} was asked for")
    return blob


def _read_weight_file(path, made_by):
    """The dict stored in a crfkit weight (or checkpoint) file, its format checked; ``made_by`` says
    in the messages which file was expected."""
    if not path.is_file():
        raise DataNotFoundError(f"weights file not found: {path} (expected {made_by})")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ParseError(
            f"{path}: not a readable crfkit weight file (expected {made_by}; loading failed with {type(exc).__name__})"
        ) from None
    if not isinstance(blob, dict) or blob.get("format") not in (WEIGHTS_FORMAT, CHECKPOINT_FORMAT) \
            or "state_dict" not in blob:
        raise ParseError(f"{path}: not a crfkit weight file (expected {made_by}: a dict with format={WEIGHTS_FORMAT!r})")
    if blob.get("format_version", 0) > WEIGHTS_VERSION:
        raise ParseError(f"{path}: weight format version {blob.get('format_version')} is newer than this crfkit reads ({WEIGHTS_VERSION})")
    return blob


def weights_method(path):
    """The method a crfkit weight file was trained for, or None when the file is missing or not one
    (:func:`load_weights` then says what is wrong, naming the method expected)."""
    try:
        method = _read_weight_file(Path(path), "a crfkit weight file").get("method")
    except (DataNotFoundError, ParseError):
        return None
    return method if isinstance(method, str) else None


def load_state(model, state_dict, path, method):
    """``model.load_state_dict`` with a message that says what was expected."""
    own = model.state_dict()
    sd = {k: v for k, v in state_dict.items() if k in own or not k.startswith("classifier.")}
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or wrong:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            detail.append(f"{len(wrong)} with the wrong shape (e.g. {k}: file {tuple(sd[k].shape)}, model {tuple(own[k].shape)})")
        raise ValidationError(f"{path}: weights do not match the {method} model built from the file's config: " + "; ".join(detail))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})


def resize_short_side(image, short_side):
    """Area-downscale a float (H, W, 3) image so its short side is at most ``short_side``."""
    h, w = image.shape[:2]
    if short_side is None or min(h, w) <= short_side:
        return image
    cv2 = require("cv2", "torch", feature="resizing images for the neural estimators")

    s = short_side / min(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class NetEstimator(Estimator):
    """An estimator backed by a torch model and a weight file.

    Parameters
    ----------
    weights : str or Path, optional
        Weight file; default the one shipped in ``crfkit/weights``.
    device : str, optional
        ``'cpu'``, ``'cuda'``, ... (default: CUDA when available).
    threads : int, optional
        Torch intra-op threads for CPU inference, a whole number from 1 to 4x
        the usable cores (default: leave as is, i.e. crfkit's thread policy
        inside :func:`crfkit.estimate`).
    model : torch.nn.Module, optional
        An in-memory model instead of a weight file (training, tests).

    Every option is checked in the constructor (and by :meth:`check_options`
    without loading anything): an unusable ``device`` (``'cuda'`` on a
    CPU-only torch, ...) or a bad ``threads`` raises
    :class:`~crfkit.ValidationError`.
    """

    #: file name of the shipped weights in crfkit/weights
    weights_file = ""
    #: module building the model (has build_model(config))
    method = ""

    def __init__(self, weights=None, device=None, threads=None, model=None):
        opts = NetEstimator._check_values(dict(weights=weights, device=device, threads=threads, model=model))
        weights, self.device, threads = opts["weights"], opts["device"], opts["threads"]
        if threads is not None:
            torch.set_num_threads(threads)
        if model is not None:  # an in-memory model (training, tests)
            self.model = model.to(self.device).eval()
            self.config = dict(model.config())
            self.weights_path = None
            return
        path = Path(weights) if weights is not None else WEIGHTS_DIR / self.weights_file
        if weights is None and not path.is_file():
            raise DataNotFoundError(
                f"no shipped weights for {self.name!r}: expected {path} (package data of crfkit); "
                f"reinstall crfkit, pass weights=PATH / --weights PATH, or train them with `crfkit train {self.name}`"
            )
        blob = load_weights(path, self.name)
        self.config = dict(blob.get("config", {}))
        try:
            self.model = self.build_model(self.config)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{path}: the config stored with the weights is not valid for {self.name}: {exc}") from None
        load_state(self.model, blob["state_dict"], path, self.name)
        self.model = self.model.to(self.device).eval()
        self.weights_path = path
        self.provenance = blob.get("provenance", {})
        if weights is None:
            self._warn_if_flagged(path)

    def _warn_if_flagged(self, path):
        """Shipped weights whose held-out evaluation was poor carry a note in their .json."""
        import json
        import warnings

        note_file = path.with_suffix(".json")
        try:
            note = json.loads(note_file.read_text()).get("evaluation_warning")
        except (OSError, ValueError):
            return
        if note:
            warnings.warn(f"{self.name}: {note}", UserWarning, stacklevel=3)

    @classmethod
    def _check_values(cls, options):
        """weights (a path), device (usable here), threads (a positive whole number), model (a torch module)."""
        from ..plugins import check_network_options

        who = cls.name or cls.__name__
        check_network_options(options, who)
        model = options.get("model")
        if model is not None and not (isinstance(model, torch.nn.Module) and callable(getattr(model, "config", None))):
            raise ValidationError(f"{who}: model must be a crfkit network (a torch module with config()), "
                                  f"got {type(model).__name__}")
        return options

    @staticmethod
    def build_model(config):  # pragma: no cover - abstract
        raise NotImplementedError

    def _tensor(self, image):
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).to(self.device)
