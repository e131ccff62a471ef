"""Linearization-Net (Liu et al., CVPR 2020): inverse EMoR weights from a whole image.

Input features: RGB, Sobel edges in x and y per channel and soft histogram
layers (B = 4, 8, 16) per channel, 102 channels in all; the CRF-net trunk;
the spatial mean; one dense layer to 11 inverse-EMoR weights;
``g = g0 + Hinv[:11] w`` and the monotone projection (REFERENCE.md s.6).
"""

import numpy as np

from .._optional import require
from ..curves import Curve
from ..curves import CurveSet
from ._net import NetEstimator, resize_short_side
from .base import DEFAULT_NET_MODE, check_per_channel, combine_channel_curves
from .functional import apply_curve_to_image, basis_curve, monotone_projection, sobel_edges, soft_histogram
from .trunk import Trunk

torch = require("torch", "torch", feature="the linearization-net estimator")
nn = torch.nn
F = nn.functional

N_WEIGHTS = 11
GRID_SIZE = 1024
HIST_BINS = (4, 8, 16)


def linearization_features(x, bins=HIST_BINS):
    """The 102-channel input of Linearization-Net.

    Parameters
    ----------
    x : Tensor, (B, 3, H, W), values in [0, 1]

    Returns
    -------
    Tensor, (B, 3 + 6 + 3 * sum(b + 1), H, W)
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"linearization_features expects (B, 3, H, W), got {tuple(x.shape)}")
    return torch.cat([x, sobel_edges(x)] + [soft_histogram(x, b) for b in bins], dim=1)


def n_feature_channels(bins=HIST_BINS):
    return 3 + 6 + 3 * sum(b + 1 for b in bins)


class LinearizationNet(nn.Module):
    """Linearization-Net model.

    Parameters
    ----------
    width : float
        Trunk channel multiplier (1.0: published widths).
    n_weights : int
        Inverse-EMoR weights predicted (11).
    basis : (ndarray (1024,), ndarray (K, 1024)), optional
        Inverse EMoR ``g0`` and ``hinv``; stored as buffers.
    patch : int
        Training patch size (recorded in the config only).
    """

    def __init__(self, width=1.0, n_weights=N_WEIGHTS, basis=None, patch=128):
        super().__init__()
        self._config = {"width": width, "n_weights": n_weights, "patch": patch}
        self.trunk = Trunk(n_feature_channels(), width)
        self.head = nn.Linear(self.trunk.out_channels, n_weights)
        nn.init.zeros_(self.head.weight)  # start at g0 (see CRFNet)
        nn.init.zeros_(self.head.bias)
        mean, comps = (np.zeros(GRID_SIZE), np.zeros((n_weights, GRID_SIZE))) if basis is None else basis
        self.register_buffer("g0", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        self.register_buffer("hinv", torch.as_tensor(np.asarray(comps, dtype=np.float32)[:n_weights]))

    def config(self):
        return dict(self._config)

    def forward(self, x):
        """Monotone inverse CRFs (B, 1024) of RGB images (B, 3, H, W) in [0, 1]."""
        w = self.head(self.trunk(linearization_features(x)))
        return monotone_projection(basis_curve(self.g0, self.hinv, w))


def build_model(config, basis=None):
    return LinearizationNet(basis=basis, **config)


def training_loss(model, batch, phase="train", curve_weight=0.1):
    """MSE of the linearised input against the clipped linear truth + 0.1 x curve MSE."""
    g = model(batch["ldr"])
    lin = apply_curve_to_image(batch["ldr"], g)
    img_loss = F.mse_loss(lin, batch["target"])
    crv_loss = F.mse_loss(g, batch["inverse"])
    loss = img_loss + curve_weight * crv_loss
    return loss, {"img_mse": float(img_loss.detach()), "curve_mse": float(crv_loss.detach())}


class LinearizationNetEstimator(NetEstimator):
    """``linearization-net``: one inverse CRF for the image, shared by the channels.

    Parameters
    ----------
    weights, device, threads
        See :class:`~crfkit.estimators._net.NetEstimator`.
    short_side : int >= 32, or None
        Images are area-downscaled to this short side first (the training
        scale); None: no downscaling.
    per_channel : bool or {'gray', 'offset'}
        Return three curves (a CurveSet R, G, B) instead of one.  The net was
        trained on one curve per image, so each channel is also run alone,
        repeated to grey: ``'gray'`` (``True``) returns those three estimates
        (one batch of 3 images: about 3x the time), ``'offset'`` the colour
        image's estimate plus each channel's difference from the mean of the
        grey ones (a batch of 4).  Measured on the ten
        Middlebury cameras, ``'gray'`` scores better than ``'offset'`` and
        than the shared curve (docs/results/estimators.md says how much of
        that the channel differences themselves give).

    Every option is checked in the constructor; a bad value raises
    :class:`~crfkit.ValidationError` naming it.
    """

    name = "linearization-net"
    weights_file = "linearization_net.pt"
    min_size = 32
    per_channel_modes = ("gray", "offset")

    def __init__(self, weights=None, device=None, threads=None, model=None, short_side=384, per_channel=False):
        opts = self._check_values({"short_side": short_side, "per_channel": per_channel})
        super().__init__(weights=weights, device=device, threads=threads, model=model)
        self.short_side = opts["short_side"]
        self.per_channel = opts["per_channel"]

    @classmethod
    def _check_values(cls, options):
        """The shared options plus short_side (None or at least ``min_size``)."""
        from ..plugins import check_count

        options = super()._check_values(options)
        if "short_side" in options:
            options["short_side"] = check_count(options["short_side"], "short_side", cls.name, cls.min_size,
                                                allow_none=True)
        if "per_channel" in options:
            options["per_channel"] = check_per_channel(options["per_channel"], cls.name, cls.per_channel_modes,
                                                       DEFAULT_NET_MODE)
        return options

    @staticmethod
    def build_model(config):
        return build_model(config)

    @torch.no_grad()
    def estimate_inverse(self, image):
        img = resize_short_side(image, self.short_side)
        x = self._tensor(img)
        if self.per_channel:
            # each channel repeated to grey (after the colour image for 'offset'): one batch
            greys = [x[:, c:c + 1].expand(-1, 3, -1, -1) for c in range(3)]
            joint = self.per_channel != "gray"  # the colour image's estimate is needed for 'offset' only
            out = self.model(torch.cat(([x] if joint else []) + greys)).double().cpu().numpy()
            g3 = combine_channel_curves(out[0] if joint else None, out[-3:], self.per_channel)
            return CurveSet(g3, kind="inverse", names=["R", "G", "B"], name="linearization-net",
                            attrs={"method": "linearization-net", "per_channel": self.per_channel})
        g = self.model(x)[0].double().cpu().numpy()
        g = np.maximum.accumulate(np.clip(g, 0.0, 1.0))
        g[0], g[-1] = 0.0, 1.0
        return Curve(g, kind="inverse", name="linearization-net", metadata={"method": "linearization-net"})
