"""The masked-feature U-Net of Santos, Ren & Kalantari (2020) (REFERENCE.md section 7).

Layout (``width`` multiplies every channel count; 1.0 is the published net):

* encoder: 7 masked convolutions with stride 2, kernels 7, 5, 5, 3, 3, 3, 3,
  channels 64, 128, 256, 512, 512, 512, 512, ReLU;
* decoder: nearest 2x upsampling, concatenation with the encoder feature (and
  mask) of the same resolution, a 3x3 masked convolution, LeakyReLU(0.2);
* last layer: (64 + 3) -> 3 channels at full resolution, no activation; its
  output ``Y_hat`` is the predicted ``log(H + 1)``.

Feature masking
---------------
Every convolution sees ``X * M`` (features times a soft validity mask with one
channel per feature channel).  The next mask is the same convolution applied to
``M`` with the layer's own weights made absolute and normalised *per output
channel*::

    K[o] = |W[o]| / (sum_{i, u, v} |W[o, i, u, v]| + eps)
    M_next[o] = K[o] conv M

So each output mask channel is a weighted average of the input mask values the
output feature actually reads, with the weights it reads them by: it stays in
[0, 1], equals 1 where every input it depends on is valid, and grows from 0
towards 1 as the receptive field reaches valid pixels (holes shrink with
depth).  Normalising over the whole tensor instead would shrink masks by the
number of output channels; per output channel keeps them comparable across
layers.  The update runs without gradient (the weights learn only through the
features).  Zero padding is used for features and masks alike, so masks fall
off at image borders just as the zero-padded features do.

The restorer (:class:`MaskedUNetRestorer`) pads inputs to multiples of 128
(symmetric reflection), tiles images with feathered overlaps (by default at the
patch size the weights were trained on) and composes
``H = M * linear + (1 - M) * (exp(Y_hat) - 1)``.
"""

import json
import warnings
from pathlib import Path

import numpy as np

from .._optional import require
from ..errors import DataNotFoundError, ValidationError
from .base import Restorer

torch = require("torch", "torch", feature="the masked-unet restoration method")
nn = torch.nn
F = torch.nn.functional

METHOD = "masked-unet"
WEIGHTS_FILE = "masked_unet.pt"
ENC_KERNELS = (7, 5, 5, 3, 3, 3, 3)
ENC_CHANNELS = (64, 128, 256, 512, 512, 512, 512)
#: inputs must be multiples of this (2 ** number of stride-2 levels)
MULTIPLE = 2 ** len(ENC_KERNELS)
MASK_EPS = 1e-8
#: ceiling of Y_hat at inference: exp(9.21) - 1 ~ 1e4 times the clipping level
Y_MAX = float(np.log1p(1e4))


# --------------------------------------------------------------------------- functional


def mask_kernel(weight, eps=MASK_EPS):
    """Absolute weights normalised to sum 1 per output channel.

    Parameters
    ----------
    weight : Tensor, (C_out, C_in, k, k)

    Returns
    -------
    Tensor, (C_out, C_in, k, k), non-negative, each ``[o]`` summing to ~1 (detached).
    """
    a = weight.detach().abs()
    return a / (a.sum(dim=(1, 2, 3), keepdim=True) + eps)


def update_mask(mask, weight, stride=1, padding=0, eps=MASK_EPS):
    """The next layer's mask: ``(|W| / (||W||_1 + eps)) conv M``, without gradient.

    Parameters
    ----------
    mask : Tensor, (B, C_in, H, W), values in [0, 1]
    weight : Tensor, (C_out, C_in, k, k)

    Returns
    -------
    Tensor, (B, C_out, H', W'), values in [0, 1], ``requires_grad`` False.
    """
    with torch.no_grad():
        return F.conv2d(mask, mask_kernel(weight, eps), stride=stride, padding=padding).clamp_(0.0, 1.0)


def masked_conv2d(x, mask, weight, bias=None, stride=1, padding=0, eps=MASK_EPS):
    """Convolve the masked features and update the mask.

    Parameters
    ----------
    x : Tensor, (B, C_in, H, W)
    mask : Tensor, (B, C_in, H, W), values in [0, 1] (1 = valid)
    weight, bias : the convolution's parameters

    Returns
    -------
    y : Tensor, (B, C_out, H', W')
        ``conv(x * mask)``.
    mask_next : Tensor, (B, C_out, H', W')
        :func:`update_mask` of ``mask``.
    """
    if x.shape != mask.shape:
        raise ValidationError(f"features {tuple(x.shape)} and mask {tuple(mask.shape)} must have the same shape")
    y = F.conv2d(x * mask, weight, bias, stride=stride, padding=padding)
    return y, update_mask(mask, weight, stride, padding, eps)


def channels(width):
    """Encoder channel counts for a width multiplier (at least 4 each)."""
    if not (isinstance(width, (int, float)) and 0 < width <= 4):
        raise ValidationError(f"width must be a number in (0, 4], got {width!r}")
    return tuple(max(4, int(round(c * width))) for c in ENC_CHANNELS)


def check_input(x, mask):
    """Shape checks of the U-Net's input; raises :class:`ValidationError`."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValidationError(f"input must be (B, 3, H, W), got {tuple(x.shape)}")
    if mask.shape != x.shape:
        raise ValidationError(f"mask must have the input's shape {tuple(x.shape)}, got {tuple(mask.shape)}")
    h, w = x.shape[-2:]
    if h % MULTIPLE or w % MULTIPLE:
        raise ValidationError(
            f"input height and width must be multiples of {MULTIPLE}, got {h}x{w} "
            f"(pad first, e.g. with crfkit.restoration.masked_unet.pad_to_multiple)"
        )


def pad_to_multiple(image, multiple=MULTIPLE):
    """Symmetric-reflect pad an (H, W, C) array at the bottom/right to multiples of ``multiple``.

    Returns the padded array (a view-free copy when padding is needed).
    """
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return image
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="symmetric")


# --------------------------------------------------------------------------- modules


class MaskedConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose forward takes and returns ``(x, mask)`` (see :func:`masked_conv2d`)."""

    def forward(self, x, mask):  # noqa: D102 - documented in the functional
        return masked_conv2d(x, mask, self.weight, self.bias, self.stride, self.padding)


class MaskedUNet(nn.Module):
    """The 7-level masked-feature U-Net.

    Parameters
    ----------
    width : float
        Channel multiplier (1.0: 64 ... 512 channels as published).

    Forward
    -------
    x : Tensor, float, (B, 3, H, W)
        Linearised LDR image, values in [0, 1]; H and W multiples of 128.
    mask : Tensor, float, (B, 3, H, W)
        Valid mask ``1 - M_sat`` in [0, 1].
    return_masks : bool
        Also return the list of masks after each layer (for inspection/tests).

    Returns ``Y_hat``, (B, 3, H, W): the predicted ``log(H + 1)`` (unbounded).
    """

    def __init__(self, width=1.0):
        super().__init__()
        self.width = float(width)
        ch = channels(width)
        self.encoder = nn.ModuleList()
        c_in = 3
        for k, c in zip(ENC_KERNELS, ch):
            self.encoder.append(MaskedConv2d(c_in, c, k, stride=2, padding=k // 2))
            c_in = c
        # decoder level i upsamples to the resolution of encoder output i-1 and joins it
        self.decoder = nn.ModuleList()
        # at resolution level i (0 = full) the skip has skips[i] channels and the
        # decoder outputs as many (3 at full resolution: the last layer 64w+3 -> 3)
        skips = (3,) + ch[:-1]
        c_up = ch[-1]
        for i in range(len(ch) - 1, -1, -1):
            self.decoder.append(MaskedConv2d(c_up + skips[i], skips[i], 3, padding=1))
            c_up = skips[i]

    def config(self):
        return {"width": self.width}

    def forward(self, x, mask, return_masks=False):
        check_input(x, mask)
        feats, masks = [x], [mask]
        h, m = x, mask
        for conv in self.encoder:
            h, m = conv(h, m)
            h = F.relu(h)
            feats.append(h)
            masks.append(m)
        all_masks = list(masks[1:])
        n = len(self.decoder)
        for j, conv in enumerate(self.decoder):
            skip_f, skip_m = feats[-2 - j], masks[-2 - j]
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            m = F.interpolate(m, scale_factor=2.0, mode="nearest")
            h, m = conv(torch.cat([h, skip_f], 1), torch.cat([m, skip_m], 1))
            if j < n - 1:
                h = F.leaky_relu(h, 0.2)
            all_masks.append(m)
        return (h, all_masks) if return_masks else h


def build_model(config):
    """A :class:`MaskedUNet` from a config dict (``{'width': w}``; a ``'patch'`` entry, the
    training patch size, is accepted and used by the restorer as its default tile size)."""
    unknown = set(config) - {"width", "patch"}
    if unknown:
        raise ValidationError(f"unknown masked-unet config keys: {sorted(unknown)}")
    return MaskedUNet(width=config.get("width", 1.0))


def compose(linear, valid, y_hat):
    """``H = M * linear + (1 - M) * (exp(Y_hat) - 1)``; all tensors/arrays of one shape."""
    if isinstance(y_hat, np.ndarray):
        return valid * linear + (1.0 - valid) * np.expm1(y_hat)
    return valid * linear + (1.0 - valid) * torch.expm1(y_hat)


# --------------------------------------------------------------------------- weights


def load_masked_unet(path, with_config=False):
    """Model (eval mode, CPU) and provenance (and, with ``with_config``, the stored config)
    from a crfkit ``masked-unet`` weight file.

    Raises
    ------
    DataNotFoundError, ParseError, ValidationError
        Missing file, not a crfkit weight file, weights of another method, or
        tensors that do not match the stored config; each names ``path``.
    """
    from ..estimators._net import load_state, load_weights

    blob = load_weights(path, METHOD, command="restoration")
    config = dict(blob.get("config", {}))
    try:
        model = build_model(config)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{path}: the config stored with the weights is not valid for {METHOD}: {exc}") from None
    load_state(model, blob["state_dict"], path, METHOD)
    if with_config:
        return model.eval(), blob.get("provenance", {}), config
    return model.eval(), blob.get("provenance", {})


def _feather(n, overlap, at_start, at_end):
    """1-D blending weights of a tile of length ``n``: linear ramps over ``overlap`` at inner edges."""
    w = np.ones(n, dtype=np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not at_start:
            w[:overlap] = np.minimum(w[:overlap], ramp)
        if not at_end:
            w[-overlap:] = np.minimum(w[-overlap:], ramp[::-1])
    return w


def _starts(size, tile, step):
    if size <= tile:
        return [0]
    s = list(range(0, size - tile, step))
    s.append(size - tile)
    return sorted(set(s))


#: Mirrored views (flip rows, flip columns) averaged for ``flips`` = 1, 2 or 4.
DEFAULT_FLIPS = 2
FLIP_VIEWS = {1: ((False, False),), 2: ((False, False), (False, True)),
              4: ((False, False), (False, True), (True, False), (True, True))}


class MaskedUNetRestorer(Restorer):
    """Restoration with the masked-feature U-Net (``method='masked-unet'``).

    Parameters
    ----------
    weights : str or Path, optional
        A weight file written by ``crfkit train restoration`` (default: the
        shipped ``crfkit/weights/masked_unet.pt``).
    device : str, optional
        ``'cpu'``, ``'cuda'``, ... (default: CUDA when available).
    threads : int, optional
        Torch intra-op threads on the CPU (default: leave as is).
    tile : int, optional
        Tile size in pixels (rounded up to a multiple of 128); memory is
        bounded by one tile.  Default: the patch size the weights were trained
        on (stored in their config; 512 when unknown).  The net has no
        normalisation layers and its deepest features are 1x1 on 128-pixel
        patches, so tiles larger than the training patch change what the deep
        layers see and can give wild predictions: a larger ``tile`` warns.
    overlap : int, optional
        Overlap between tiles, blended with linear feathering (default: a
        quarter of the tile).
    flips : {1, 2, 4}
        Test-time augmentation: the prediction ``Y_hat`` is averaged over this
        many mirrored views of the image (1: none; 2: plus the left-right
        mirror; 4: plus the up-down and both mirrors).  Each view costs one
        more pass of the network; the tiles fall differently on each view, so
        averaging also smooths tile seams.  Default 2: chosen on held-out
        training images, never on the test crops
        (``analysis/results/restoration_validation.md``).
    model : MaskedUNet, optional
        An in-memory model instead of a weight file (training, tests).
    progress : bool, optional
        Show a progress bar over the network's tiles on stderr; default None:
        as the pipeline says (``crfkit.restore(..., progress=True)``, on in the
        command line), off otherwise.

    Every option is checked in the constructor (and by :meth:`check_options`,
    which the pipeline calls even when nothing is saturated); a bad value
    raises :class:`~crfkit.ValidationError` naming it.  Build the restorer once
    and pass it as ``crfkit.restore(image, method=restorer)`` for many images:
    the weights are read once.
    """

    name = METHOD

    def __init__(self, weights=None, device=None, threads=None, tile=None, overlap=None, flips=DEFAULT_FLIPS,
                 model=None, progress=None):
        from ..estimators._net import WEIGHTS_DIR

        # every option is checked before the weights are read
        opts = self._check_values(dict(weights=weights, device=device, threads=threads, tile=tile, overlap=overlap,
                                       flips=flips, model=model, progress=progress))
        self.device, self.flips, self.progress = opts["device"], opts["flips"], opts["progress"]
        if opts["threads"] is not None:
            torch.set_num_threads(opts["threads"])
        self.provenance = {}
        self.train_patch = None
        if model is not None:
            self.model, self.weights_path = model, None
        else:
            path = Path(weights) if weights is not None else WEIGHTS_DIR / WEIGHTS_FILE
            if weights is None and not path.is_file():
                raise DataNotFoundError(
                    f"no shipped weights for {METHOD!r}: expected {path} (package data of crfkit); reinstall crfkit, "
                    f"pass weights=PATH, or train them with `crfkit train restoration`"
                )
            self.model, self.provenance, config = load_masked_unet(path, with_config=True)
            self.train_patch = config.get("patch")
            self.weights_path = path
            if weights is None:
                self._warn_if_flagged(path)
        self.model = self.model.to(self.device).eval()
        tile = opts["tile"] if opts["tile"] is not None else (self.train_patch or 512)
        self.tile = -(-int(tile) // MULTIPLE) * MULTIPLE
        if self.train_patch and self.tile > self.train_patch:
            warnings.warn(
                f"{METHOD}: tile {self.tile} is larger than the {self.train_patch}-pixel patches the weights were "
                f"trained on; predictions may be unreliable (leave tile unset to use {self.train_patch})",
                UserWarning, stacklevel=2,
            )
        self.overlap = self.tile // 4 if overlap is None else opts["overlap"]
        if not 0 <= self.overlap < self.tile // 2:
            raise ValidationError(f"{METHOD}: overlap={overlap} must be in [0, tile/2) = [0, {self.tile // 2})")

    @classmethod
    def _check_values(cls, options):
        """weights, device, threads as for the estimators; tile, overlap, flips, model and progress."""
        from ..plugins import check_count, check_network_options

        who = METHOD
        check_network_options(options, who)
        if "tile" in options:
            options["tile"] = check_count(options["tile"], "tile", who, MULTIPLE, 1 << 16, allow_none=True)
        if "overlap" in options:
            overlap = check_count(options["overlap"], "overlap", who, 0, allow_none=True)
            tile = options.get("tile")
            if overlap is not None and tile is not None and overlap >= (-(-tile // MULTIPLE) * MULTIPLE) // 2:
                raise ValidationError(f"{who}: overlap={overlap} must be less than half the tile "
                                      f"({-(-tile // MULTIPLE) * MULTIPLE} pixels)")
            options["overlap"] = overlap
        if "flips" in options:
            flips = options["flips"]
            if isinstance(flips, bool) or flips not in FLIP_VIEWS or not isinstance(flips, (int, np.integer)):
                raise ValidationError(f"{who}: flips={flips!r}: expected one of {sorted(FLIP_VIEWS)} "
                                      "(mirrored views averaged)")
            options["flips"] = int(flips)
        if "progress" in options and options["progress"] is not None and not isinstance(options["progress"], bool):
            raise ValidationError(f"{who}: progress={options['progress']!r}: expected True, False or None")
        model = options.get("model")
        if model is not None and not isinstance(model, nn.Module):
            raise ValidationError(f"{who}: model must be a torch module (a MaskedUNet), got {type(model).__name__}")
        return options

    def _warn_if_flagged(self, path):
        try:
            note = json.loads(path.with_suffix(".json").read_text()).get("evaluation_warning")
        except (OSError, ValueError):
            return
        if note:
            warnings.warn(f"{METHOD}: {note}", UserWarning, stacklevel=3)

    def _predict(self, linear, valid):
        """Y_hat for one (h, w, 3) tile (padded to multiples of 128 here)."""
        h, w = linear.shape[:2]
        x = pad_to_multiple(linear)
        m = pad_to_multiple(valid)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        mt = torch.from_numpy(np.ascontiguousarray(m.transpose(2, 0, 1)))[None].to(self.device)
        with torch.inference_mode():
            y = self.model(xt, mt)[0].float().cpu().numpy().transpose(1, 2, 0)
        return y[:h, :w]

    def predict_log(self, linear, valid):
        """``Y_hat`` (float32, (H, W, 3)), averaged over the ``flips`` mirrored views.

        Tiles without any saturated pixel are skipped (their ``Y_hat`` is never
        used) and left at 0.
        """
        from .base import progress_bar

        views = FLIP_VIEWS[self.flips]
        out = None
        with progress_bar(self._count_tiles(valid) * len(views), METHOD, self.progress) as bar:
            for flip_y, flip_x in views:
                sl = (slice(None, None, -1 if flip_y else 1), slice(None, None, -1 if flip_x else 1))
                y = self._predict_tiled(linear[sl], valid[sl], bar)[sl]
                if out is None:
                    out = y.astype(np.float32, copy=False)  # a fresh array of this call: no copy needed
                else:
                    out += y
        if len(views) > 1:
            out /= len(views)
        return out

    def _tiles(self, h, w):
        """Top-left corners of the tiles covering an h x w image (one tile when it fits)."""
        if h <= self.tile and w <= self.tile:
            return [(0, 0)]
        step = self.tile - self.overlap
        return [(y0, x0) for y0 in _starts(h, self.tile, step) for x0 in _starts(w, self.tile, step)]

    def _count_tiles(self, valid):
        """Tiles the network runs on per view (those with a saturated pixel), for the progress bar."""
        h, w = valid.shape[:2]
        if h <= self.tile and w <= self.tile:
            return 1
        return sum(bool(valid[y0 : y0 + self.tile, x0 : x0 + self.tile].min() < 1.0) for y0, x0 in self._tiles(h, w))

    def _predict_tiled(self, linear, valid, bar=None):
        """``Y_hat`` of one view, blended over overlapping feathered tiles (``bar`` counts them)."""
        h, w = linear.shape[:2]
        if h <= self.tile and w <= self.tile:
            y = self._predict(linear, valid)
            if bar is not None:
                bar.update(1)
            return y
        acc = np.zeros((h, w, 3), dtype=np.float32)
        wsum = np.zeros((h, w, 1), dtype=np.float32)
        for y0, x0 in self._tiles(h, w):
            sl = (slice(y0, y0 + self.tile), slice(x0, x0 + self.tile))
            vt = valid[sl]
            if vt.min() >= 1.0:
                continue
            pred = self._predict(linear[sl], vt)
            if bar is not None:
                bar.update(1)
            th, tw = pred.shape[:2]
            wt = np.outer(_feather(th, self.overlap, y0 == 0, y0 + th >= h),
                          _feather(tw, self.overlap, x0 == 0, x0 + tw >= w))[:, :, None]
            acc[sl] += pred * wt
            wsum[sl] += wt
        return acc / np.maximum(wsum, 1e-8)

    def restore(self, linear, display, mask_sat):
        """Restore saturated regions; see :meth:`crfkit.restoration.Restorer.restore`.

        Returns float32 (H, W, 3): ``linear`` where ``mask_sat`` is 0, the
        network's ``exp(Y_hat) - 1`` blended in by ``mask_sat`` elsewhere,
        clamped to [linear, 1e4] (a clipped value is a lower bound of the
        radiance, so the prediction is never allowed below it).
        """
        linear = np.asarray(linear, dtype=np.float32)
        mask_sat = np.asarray(mask_sat, dtype=np.float32)
        if linear.ndim != 3 or linear.shape[2] != 3:
            raise ValidationError(f"linear image must be (H, W, 3), got {linear.shape}")
        if mask_sat.shape != linear.shape:
            raise ValidationError(f"mask_sat must have the image's shape {linear.shape}, got {mask_sat.shape}")
        if not mask_sat.any():  # nothing saturated: the linearisation is the answer
            return linear.copy()
        valid = np.clip(1.0 - mask_sat, 0.0, 1.0).astype(np.float32)
        y = np.clip(self.predict_log(linear, valid), 0.0, Y_MAX)
        # a clipped value is a lower bound of the radiance: never predict below it
        y = np.maximum(y, np.log1p(np.maximum(linear, 0.0)))
        return compose(linear, valid, y).astype(np.float32)
