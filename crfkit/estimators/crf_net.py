"""CRF-net (Li & Peers, CVMP 2017): 11 EMoR coefficients from image patches.

The truncated ResNet trunk of REFERENCE.md section 5 maps an RGB patch to 11
coefficients of the forward EMoR model, ``f = f0 + sum_n c_n h_n`` (one CRF
for the three channels).  Training first classifies patches into the DoRF
training curves (a 191-way softmax), then regresses the coefficients.  At
inference, random patches are drawn, those whose (R+G+B) histogram covers
enough of the range are kept, the per-patch curves are robustly averaged
(outliers far from the median curve are dropped) and the mean is projected to
a monotone curve with ``f(0) = 0`` and ``f(1) = 1`` before inversion.
"""

import numpy as np

from .._optional import require
from ..curves import Curve, CurveSet
from ..errors import ValidationError
from ._net import NetEstimator, resize_short_side
from .base import DEFAULT_NET_MODE, check_per_channel, combine_channel_curves
from .functional import basis_curve, monotone_projection, patch_coverage
from .trunk import Trunk

torch = require("torch", "torch", feature="the crf-net estimator")
nn = torch.nn
F = nn.functional

N_COEFFS = 11
GRID_SIZE = 1024
#: Most patches drawn per image (each is a 227x227 network pass).
MAX_PATCHES = 4096
#: Patches used at least when fewer pass the coverage test (fewer when fewer are drawn).
DEFAULT_MIN_PATCHES = 8
#: Bins of the (R+G+B) 8-bit histogram: sums 0 .. 765.
COVERAGE_BINS = 766


class CRFNet(nn.Module):
    """CRF-net model.

    Parameters
    ----------
    width : float
        Trunk channel multiplier (1.0: published widths).
    n_coeffs : int
        EMoR coefficients predicted (11).
    n_classes : int
        Size of the classification pre-training head (0: no head, inference only).
    basis : (ndarray (1024,), ndarray (K, 1024)), optional
        EMoR ``f0`` and components; stored as buffers (saved with the weights),
        zeros when None (filled by ``load_state_dict``).
    patch : int
        Patch size used in training and at inference (recorded in the config).
    """

    def __init__(self, width=1.0, n_coeffs=N_COEFFS, n_classes=191, basis=None, patch=227):
        super().__init__()
        self._config = {"width": width, "n_coeffs": n_coeffs, "n_classes": n_classes, "patch": patch}
        self.trunk = Trunk(3, width)
        self.regressor = nn.Linear(self.trunk.out_channels, n_coeffs)
        # start at the mean curve f0: the net can only move away from it by learning
        nn.init.zeros_(self.regressor.weight)
        nn.init.zeros_(self.regressor.bias)
        self.classifier = nn.Linear(self.trunk.out_channels, n_classes) if n_classes else None
        mean, comps = (np.zeros(GRID_SIZE), np.zeros((n_coeffs, GRID_SIZE))) if basis is None else basis
        self.register_buffer("f0", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        self.register_buffer("h", torch.as_tensor(np.asarray(comps, dtype=np.float32)[:n_coeffs]))

    def config(self):
        return dict(self._config)

    def forward(self, x, logits=False):
        """Coefficients (B, 11) of RGB patches (B, 3, H, W) in [0, 1]; with
        ``logits=True`` the classification logits (B, n_classes) instead."""
        feats = self.trunk(x)
        if logits:
            if self.classifier is None:
                raise ValueError("this CRFNet has no classification head (n_classes=0)")
            return self.classifier(feats)
        return self.regressor(feats)

    def logits(self, x):
        """Classification logits (B, n_classes) for pre-training."""
        return self(x, logits=True)

    def curves(self, x, project=True):
        """Forward CRFs (B, 1024) of patches; monotone-projected unless ``project=False``."""
        f = basis_curve(self.f0, self.h, self(x))
        return monotone_projection(f) if project else f


def build_model(config, basis=None):
    return CRFNet(basis=basis, **config)


def training_loss(model, batch, phase):
    """Loss of one batch: cross-entropy in ``'classify'``, curve MSE in ``'regress'``."""
    x = batch["ldr"]
    if phase == "classify":
        logits = model(x, logits=True)  # through forward, so DistributedDataParallel sees it
        loss = F.cross_entropy(logits, batch["label"])
        acc = (logits.argmax(1) == batch["label"]).float().mean()
        return loss, {"ce": float(loss.detach()), "acc": float(acc)}
    core = model.module if hasattr(model, "module") else model  # DistributedDataParallel wraps the model
    f = monotone_projection(basis_curve(core.f0, core.h, model(x)))
    loss = F.mse_loss(f, batch["forward"])
    return loss, {"curve_mse": float(loss.detach())}


class CRFNetEstimator(NetEstimator):
    """``crf-net``: patch-wise EMoR regression with conditioned sampling and robust averaging.

    Parameters
    ----------
    weights, device, threads
        See :class:`~crfkit.estimators._net.NetEstimator`.
    n_patches : int, 1 .. 4096
        Candidate patches drawn (deterministically) from the image.
    coverage : int, 0 .. 766
        Keep patches whose (R+G+B) 8-bit histogram has more than this many
        occupied bins (of 766); REFERENCE.md s.5 uses 220.
    min_patches : int, 1 .. n_patches, optional
        If fewer patches pass, this many with the best coverage are used
        (default: 8, or ``n_patches`` when fewer are drawn).
    short_side : int, at least the patch size of the weights (their config: 128 shipped, 227 published)
        Images are area-downscaled to this short side first (the training scale).
    per_channel : bool or {'gray', 'offset'}
        Return three curves (a CurveSet R, G, B) instead of one.  The net was
        trained on one curve per image, so the patches chosen on the colour
        image are also run with each channel alone, repeated to grey:
        ``'gray'`` (``True``) returns those three estimates (3x the network
        passes), ``'offset'`` the colour estimate plus each channel's
        difference from the mean of the grey ones (4x).  Measured on the ten
        Middlebury cameras, ``'gray'`` scores better than ``'offset'`` and
        than the shared curve (docs/results/estimators.md says how much of
        that the channel differences themselves give).

    Every option is checked in the constructor (names by
    :func:`crfkit.estimators.get_estimator`); a bad value raises
    :class:`~crfkit.ValidationError` naming it.
    """

    name = "crf-net"
    weights_file = "crf_net.pt"
    per_channel_modes = ("gray", "offset")

    def __init__(self, weights=None, device=None, threads=None, model=None, n_patches=32, coverage=220,
                 min_patches=None, short_side=384, per_channel=False):
        # the sampling options first: a mistake there is reported before the weights are read
        opts = self._check_values(dict(n_patches=n_patches, coverage=coverage, min_patches=min_patches,
                                       short_side=short_side, per_channel=per_channel))
        super().__init__(weights=weights, device=device, threads=threads, model=model)
        self.patch = int(self.config.get("patch", 227))
        self.min_size = self.patch
        self.small_image_hint = "linearization-net takes photos down to 32x32: --method linearization-net"
        self.n_patches, self.coverage = opts["n_patches"], opts["coverage"]
        self.short_side = opts["short_side"]
        self.per_channel = opts["per_channel"]
        self.min_patches = min(DEFAULT_MIN_PATCHES, self.n_patches) if opts["min_patches"] is None else opts["min_patches"]
        if self.short_side < self.patch:
            raise ValidationError(f"crf-net: short_side={self.short_side} is smaller than the {self.patch}-pixel "
                                  f"patches of these weights; use at least {self.patch}")

    @classmethod
    def _check_values(cls, options):
        """The shared options plus n_patches, coverage, min_patches and short_side (see the class)."""
        from ..plugins import check_count

        options = super()._check_values(options)
        if "n_patches" in options:
            options["n_patches"] = check_count(options["n_patches"], "n_patches", cls.name, 1, MAX_PATCHES)
        if "coverage" in options:
            options["coverage"] = check_count(options["coverage"], "coverage", cls.name, 0, COVERAGE_BINS)
        if "min_patches" in options:
            options["min_patches"] = check_count(options["min_patches"], "min_patches", cls.name, 1, MAX_PATCHES,
                                                 allow_none=True)
            n = options.get("n_patches", 32)
            if options["min_patches"] is not None and isinstance(n, int) and options["min_patches"] > n:
                raise ValidationError(f"crf-net: min_patches={options['min_patches']} is more than the "
                                      f"n_patches={n} drawn; use at most {n}")
        if "short_side" in options:
            options["short_side"] = check_count(options["short_side"], "short_side", cls.name, 1)
        if "per_channel" in options:
            options["per_channel"] = check_per_channel(options["per_channel"], cls.name, cls.per_channel_modes,
                                                       DEFAULT_NET_MODE)
        return options

    @staticmethod
    def build_model(config):
        cfg = dict(config)
        cfg["n_classes"] = 0  # the classification head is not needed (nor shipped) for inference
        return build_model(cfg)

    def _patches(self, image):
        h, w = image.shape[:2]
        p = self.patch
        rng = np.random.default_rng(0)  # a fixed draw: the same image always gives the same estimate
        ys = rng.integers(0, h - p + 1, self.n_patches)
        xs = rng.integers(0, w - p + 1, self.n_patches)
        return np.stack([image[y : y + p, x : x + p] for y, x in zip(ys, xs)])

    @torch.no_grad()
    def estimate_inverse(self, image):
        img = resize_short_side(image, self.short_side)
        patches = torch.from_numpy(self._patches(img)).permute(0, 3, 1, 2).contiguous().to(self.device)
        cov = patch_coverage(patches)
        keep = cov > self.coverage
        if int(keep.sum()) < self.min_patches:
            keep = torch.zeros_like(keep)
            keep[torch.argsort(cov, descending=True)[: self.min_patches]] = True
        chosen = patches[keep]
        g = None
        if self.per_channel != "gray":  # the colour estimate (not needed for grey-only curves)
            f, used = self._aggregate(self.model.curves(chosen))
            g = _clean_inverse(Curve(f, kind="forward", name="crf-net").inverse().values)
        meta = {"method": "crf-net", "patches_used": used if g is not None else int(chosen.shape[0])}
        if not self.per_channel:
            return Curve(g, kind="inverse", name="crf-net", metadata=meta)
        # the same patches with each channel alone, repeated to grey
        grays = []
        for c in range(3):
            fc, _ = self._aggregate(self.model.curves(chosen[:, c:c + 1].expand(-1, 3, -1, -1).contiguous()))
            grays.append(_clean_inverse(Curve(fc, kind="forward").inverse().values))
        g3 = combine_channel_curves(g, np.stack(grays), self.per_channel)
        return CurveSet(g3, kind="inverse", names=["R", "G", "B"], name="crf-net",
                        attrs=dict(meta, per_channel=self.per_channel))

    @staticmethod
    def _aggregate(curves):
        """Robust mean of per-patch forward curves (n, 1024): drop those far from the median curve.

        Returns the monotone-projected mean (float64 numpy) and the number of curves kept.
        """
        med = curves.median(dim=0).values
        dist = (curves - med).pow(2).mean(dim=1).sqrt()
        cut = 2.0 * dist.median() + 1e-6
        f = curves[dist <= cut].mean(dim=0, keepdim=True)
        return monotone_projection(f)[0].double().cpu().numpy(), int((dist <= cut).sum())


def _clean_inverse(values):
    """Pin the endpoints and remove round-off non-monotonicity of a numerically inverted curve."""
    v = np.maximum.accumulate(np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0))
    v[0], v[-1] = 0.0, 1.0
    return v
