"""Training losses of the masked-feature U-Net (REFERENCE.md section 7).

* hole loss: ``mean |(1 - M) * (Y_hat - log(H + 1))|`` (L1 in the log domain on
  the saturated area);
* perceptual + style losses: VGG16 features after pool1, pool2 and pool3 of the
  mu-law tone-mapped composite ``T(M * H + (1 - M) * (exp(Y_hat) - 1))`` against
  ``T(H)``, ``T(x) = log(1 + mu x) / log(1 + mu)``, mu = 500; style on Gram
  matrices normalised by ``C * H * W``;
* weights as in the public code: hole 6, perceptual 1, style 120.

VGG16 ImageNet weights are never downloaded: they come from an explicit path,
``$CRFKIT_VGG16_WEIGHTS`` or the torch hub cache
(``torch.hub.get_dir()/checkpoints/vgg16-*.pth``).  torchvision is not needed:
the feature layers are rebuilt here and read the standard state-dict keys
``features.N.weight`` / ``features.N.bias``.  Without weights a weight-free
substitute is used (with a warning): multi-scale SSIM plus an L1 loss on image
gradients, both on the tone-mapped composite; :attr:`RestorationLoss.kind`
says which is in use and the training log records it.
"""

import os
import warnings
from pathlib import Path

from .._optional import require
from ..errors import DataNotFoundError, ParseError, ValidationError

torch = require("torch", "torch", feature="the restoration training losses")
nn = torch.nn
F = torch.nn.functional

MU = 500.0
HOLE_WEIGHT = 6.0
PERCEPTUAL_WEIGHT = 1.0
STYLE_WEIGHT = 120.0
VGG_ENV = "CRFKIT_VGG16_WEIGHTS"
#: torchvision's vgg16 ``features`` indices up to pool3: conv layers and the pools after which features are taken
_VGG_CONVS = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256), 14: (256, 256)}
_VGG_POOLS = (4, 9, 16)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def mu_law(x, mu=MU):
    """``T(x) = log(1 + mu * x) / log(1 + mu)`` for x >= 0 (negatives clamped)."""
    return torch.log1p(mu * x.clamp_min(0.0)) / torch.log1p(torch.tensor(float(mu)))


def hole_loss(y_hat, target, valid):
    """L1 on the saturated area in the log domain, averaged over all elements.

    Parameters
    ----------
    y_hat : Tensor, (B, 3, H, W)
        Predicted ``log(H + 1)``.
    target : Tensor, (B, 3, H, W)
        Ground-truth linear HDR ``H`` (>= 0).
    valid : Tensor, (B, 3, H, W)
        ``M`` in [0, 1] (1 = well exposed).
    """
    return ((1.0 - valid) * (y_hat - torch.log1p(target.clamp_min(0.0)))).abs().mean()


def composite(y_hat, target, valid):
    """``M * H + (1 - M) * (exp(Y_hat) - 1)``: the prediction only where the input was saturated."""
    return valid * target + (1.0 - valid) * torch.expm1(y_hat)


def gram(f):
    """Gram matrices ``F F^T / (C * H * W)`` of (B, C, H, W) features -> (B, C, C)."""
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


# --------------------------------------------------------------------------- VGG16


class VGG16Features(nn.Module):
    """VGG16's convolutional layers up to pool3, keyed like torchvision (``features.N``).

    Forward takes (B, 3, H, W) RGB in [0, 1] (ImageNet-normalised inside) and
    returns the features after pool1, pool2, pool3.  Parameters are frozen.
    """

    def __init__(self):
        super().__init__()
        layers = []
        for i in range(max(_VGG_POOLS) + 1):
            if i in _VGG_CONVS:
                layers.append(nn.Conv2d(*_VGG_CONVS[i], 3, padding=1))
            elif i in _VGG_POOLS:
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, x):
        h = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in _VGG_POOLS:
                out.append(h)
        return out


def find_vgg16_weights(path=None):
    """Where VGG16 weights are: ``path``, else ``$CRFKIT_VGG16_WEIGHTS``, else the torch hub cache.

    Returns a Path or None (nothing found; never downloads).  An explicit
    ``path`` or environment variable that names a missing file raises
    :class:`DataNotFoundError`.
    """
    for given, what in ((path, "vgg weights path"), (os.environ.get(VGG_ENV), f"${VGG_ENV}")):
        if given:
            p = Path(given)
            if not p.is_file():
                raise DataNotFoundError(f"VGG16 weights not found: {p} (from {what}; expected torchvision's vgg16-*.pth)")
            return p
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(hub.glob("vgg16-*.pth")) if hub.is_dir() else []
    return found[0] if found else None


def load_vgg16_features(path):
    """A frozen :class:`VGG16Features` with weights from a torchvision-style state dict file.

    Raises
    ------
    ParseError
        The file is unreadable or lacks / mis-shapes the ``features.N`` tensors.
    """
    path = Path(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ParseError(f"{path}: not a readable VGG16 state dict ({type(exc).__name__}: {exc})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ParseError(f"{path}: expected a VGG16 state dict (torchvision keys features.N.weight), got {type(sd).__name__}")
    model = VGG16Features()
    own = model.state_dict()
    picked = {}
    for k, v in own.items():
        if k not in sd:
            raise ParseError(f"{path}: VGG16 state dict lacks {k!r} (expected torchvision's vgg16 keys features.N.weight/bias)")
        if tuple(sd[k].shape) != tuple(v.shape):
            raise ParseError(f"{path}: {k} has shape {tuple(sd[k].shape)}, VGG16 needs {tuple(v.shape)}")
        picked[k] = sd[k].float()
    model.load_state_dict(picked)
    return model.eval()


# --------------------------------------------------------------------------- weight-free substitute


def _gauss_window(size=7, sigma=1.5, device=None):
    ax = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(a, b, window=None, c1=0.01**2, c2=0.03**2):
    """Mean SSIM of (B, 3, H, W) images in ~[0, 1] with a 7x7 Gaussian window (per channel)."""
    win = _gauss_window(device=a.device) if window is None else window
    pad = win.shape[-1] // 2

    def filt(x):
        return F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), win, groups=3)

    mu_a, mu_b = filt(a), filt(b)
    saa = filt(a * a) - mu_a**2
    sbb = filt(b * b) - mu_b**2
    sab = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return s.mean()


def ms_ssim_loss(a, b, scales=3):
    """``1 - mean SSIM`` over ``scales`` dyadic scales (average-pool downsampling)."""
    total = 0.0
    for s in range(scales):
        total = total + (1.0 - ssim(a, b))
        if s < scales - 1 and min(a.shape[-2:]) >= 16:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return total / scales


def gradient_loss(a, b):
    """L1 between horizontal and vertical finite differences of two (B, C, H, W) images."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


# --------------------------------------------------------------------------- the loss


class RestorationLoss(nn.Module):
    """Total training loss of the masked U-Net.

    Parameters
    ----------
    vgg_weights : str or Path, optional
        torchvision ``vgg16-*.pth``; default: ``$CRFKIT_VGG16_WEIGHTS`` or the
        torch hub cache.  Without any, the substitute is used with a warning.
    use_vgg : bool
        False forces the weight-free substitute (no warning).
    hole, perceptual, style : float
        Loss weights (defaults 6, 1, 120 as in the public code).

    Attributes
    ----------
    kind : str
        ``'vgg16'`` or ``'ms-ssim+gradient'``.
    source : str or None
        The VGG weight file used.

    Calling ``loss(y_hat, target, valid)`` (all (B, 3, H, W); ``target`` the
    linear HDR, ``valid`` = ``M``) returns ``(total, metrics)`` with ``metrics``
    a dict of floats (``hole``, ``perceptual``, ``style`` or ``ssim``,
    ``gradient``).
    """

    def __init__(self, vgg_weights=None, use_vgg=True, hole=HOLE_WEIGHT, perceptual=PERCEPTUAL_WEIGHT,
                 style=STYLE_WEIGHT):
        super().__init__()
        self.w_hole, self.w_perc, self.w_style = float(hole), float(perceptual), float(style)
        self.vgg = None
        self.source = None
        path = find_vgg16_weights(vgg_weights) if use_vgg else None
        if path is not None:
            self.vgg = load_vgg16_features(path)
            self.source = str(path)
            self.kind = "vgg16"
        else:
            self.kind = "ms-ssim+gradient"
            if use_vgg:
                warnings.warn(
                    f"no VGG16 weights (pass --vgg-weights PATH, set ${VGG_ENV}, or put torchvision's vgg16-*.pth in "
                    f"{Path(torch.hub.get_dir()) / 'checkpoints'}); training uses the weight-free substitute "
                    f"multi-scale SSIM + gradient loss instead of the VGG16 perceptual and style losses",
                    UserWarning,
                    stacklevel=2,
                )

    def describe(self):
        """A dict for logs and provenance: what loss is used, with its weights."""
        d = {"kind": self.kind, "hole_weight": self.w_hole, "mu": MU}
        if self.kind == "vgg16":
            d.update(perceptual_weight=self.w_perc, style_weight=self.w_style, vgg16_weights=self.source)
        else:
            d.update(ssim_weight=self.w_perc, gradient_weight=self.w_perc)
        return d

    def forward(self, y_hat, target, valid):
        if not (y_hat.shape == target.shape == valid.shape):
            raise ValidationError(
                f"loss inputs must share one shape, got {tuple(y_hat.shape)}, {tuple(target.shape)}, {tuple(valid.shape)}"
            )
        l_hole = hole_loss(y_hat, target, valid)
        # the composite exposes only the saturated area's prediction; exp() of a wild
        # early prediction would overflow, and log(1e4 + 1) is far above any training target
        comp = composite(y_hat.clamp(max=9.21), target, valid)
        tc, tt = mu_law(comp), mu_law(target)
        metrics = {"hole": float(l_hole.detach())}
        total = self.w_hole * l_hole
        if self.vgg is not None:
            fc, ft = self.vgg(tc), self.vgg(tt)
            l_perc = sum((a - b).abs().mean() for a, b in zip(fc, ft))
            l_style = sum((gram(a) - gram(b)).abs().mean() for a, b in zip(fc, ft))
            total = total + self.w_perc * l_perc + self.w_style * l_style
            metrics.update(perceptual=float(l_perc.detach()), style=float(l_style.detach()))
        else:
            l_ssim = ms_ssim_loss(tc, tt)
            l_grad = gradient_loss(tc, tt)
            total = total + self.w_perc * (l_ssim + l_grad)
            metrics.update(ssim=float(l_ssim.detach()), gradient=float(l_grad.detach()))
        return total, metrics
