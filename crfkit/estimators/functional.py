"""Torch operations shared by the estimators (kornia-style: plain functions).

Everything here works on batches, is differentiable, and keeps the device and
dtype of its input.
"""

from .._optional import require

torch = require("torch", "torch", feature="the CRF estimators")
F = torch.nn.functional

__all__ = [
    "apply_curve_to_image",
    "basis_curve",
    "monotone_projection",
    "patch_coverage",
    "sobel_edges",
    "soft_histogram",
]


def monotone_projection(curve):
    """Make curves non-decreasing with ``g(0) = 0`` and ``g(1) = 1`` (Liu et al.).

    The differences of each curve are shifted up by the most negative one
    (only when one is negative), normalised to sum to 1, summed cumulatively
    and prefixed with 0.

    Parameters
    ----------
    curve : Tensor, shape (..., N)

    Returns
    -------
    Tensor, shape (..., N)
    """
    if curve.shape[-1] < 2:
        raise ValueError(f"monotone_projection needs at least 2 samples, got shape {tuple(curve.shape)}")
    d = curve[..., 1:] - curve[..., :-1]
    d = d - torch.clamp(d.min(dim=-1, keepdim=True).values, max=0.0)
    total = d.sum(dim=-1, keepdim=True)
    n = d.shape[-1]
    # a flat curve (all differences 0) has no shape to keep: fall back to the identity
    d = torch.where(total > 1e-12, d / total.clamp_min(1e-12), torch.full_like(d, 1.0 / n))
    zero = torch.zeros_like(curve[..., :1])
    return torch.cat([zero, torch.cumsum(d, dim=-1)], dim=-1)


def basis_curve(mean, components, weights):
    """``mean + weights @ components``: curves from (inverse) EMoR coefficients.

    Parameters
    ----------
    mean : Tensor, (N,)
    components : Tensor, (K, N)
    weights : Tensor, (B, K)

    Returns
    -------
    Tensor, (B, N)
    """
    if weights.ndim != 2 or weights.shape[1] != components.shape[0]:
        raise ValueError(f"weights must have shape (B, {components.shape[0]}), got {tuple(weights.shape)}")
    return mean.unsqueeze(0) + weights @ components


def apply_curve_to_image(image, curve):
    """Evaluate per-sample curves at every pixel by linear interpolation.

    Parameters
    ----------
    image : Tensor, (B, C, H, W), values in [0, 1]
    curve : Tensor, (B, N), samples on ``linspace(0, 1, N)``

    Returns
    -------
    Tensor, (B, C, H, W)
        Differentiable in both the image and the curve.
    """
    if image.ndim != 4 or curve.ndim != 2 or image.shape[0] != curve.shape[0]:
        raise ValueError(f"expected image (B, C, H, W) and curve (B, N), got {tuple(image.shape)} and {tuple(curve.shape)}")
    n = curve.shape[1]
    b = image.shape[0]
    pos = image.clamp(0.0, 1.0).reshape(b, -1) * (n - 1)
    lo = pos.floor().clamp(max=n - 2)
    frac = pos - lo
    lo = lo.long()
    v0 = torch.gather(curve, 1, lo)
    v1 = torch.gather(curve, 1, lo + 1)
    return (v0 + frac * (v1 - v0)).reshape(image.shape)


def sobel_edges(image):
    """Sobel derivatives in x and y of every channel.

    Parameters
    ----------
    image : Tensor, (B, C, H, W)

    Returns
    -------
    Tensor, (B, 2C, H, W)
        ``[d/dx of each channel, d/dy of each channel]`` (replicate padding).
    """
    if image.ndim != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(image.shape)}")
    c = image.shape[1]
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=image.dtype, device=image.device) / 8.0
    k = torch.stack([kx, kx.t()]).unsqueeze(1)  # (2, 1, 3, 3)
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    out = F.conv2d(padded.reshape(-1, 1, *padded.shape[2:]), k)  # (B*C, 2, H, W)
    out = out.reshape(image.shape[0], c, 2, *image.shape[2:])
    return torch.cat([out[:, :, 0], out[:, :, 1]], dim=1)


def soft_histogram(image, bins):
    """Soft histogram layers ``relu(1 - |x - i/B| * B)``, ``i = 0..B`` (Liu et al.).

    Parameters
    ----------
    image : Tensor, (B, C, H, W), values in [0, 1]
    bins : int
        ``B``; gives ``B + 1`` layers per channel.

    Returns
    -------
    Tensor, (B, C * (bins + 1), H, W)
        Channel-major: the layers of channel 0, then channel 1, ...
    """
    if image.ndim != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(image.shape)}")
    centres = torch.arange(bins + 1, dtype=image.dtype, device=image.device) / bins
    diff = image.unsqueeze(2) - centres.view(1, 1, -1, 1, 1)
    if torch.is_grad_enabled() and image.requires_grad:
        layers = F.relu(1.0 - diff.abs() * bins)
    else:
        # No gradient flows to the image (inference, and training, whose inputs need none): in place,
        # one (B, C, bins + 1, H, W) buffer instead of five, bit for bit the same values (1 - y and
        # -y + 1 round identically).
        layers = diff.abs_().mul_(bins).neg_().add_(1.0).relu_()
    return layers.flatten(1, 2)


def patch_coverage(patches, levels=255):
    """Number of occupied bins of the (R+G+B) histogram of each patch (CRF-net sampling).

    Parameters
    ----------
    patches : Tensor, (B, 3, H, W), values in [0, 1] (8-bit levels / 255)

    Returns
    -------
    Tensor of int64, (B,)
        Between 1 and ``3 * levels + 1`` (766 for 8-bit input).
    """
    s = torch.round(patches.sum(dim=1) * levels).long().flatten(1)  # 0..765
    nbins = 3 * levels + 1
    occupied = torch.zeros(patches.shape[0], nbins, dtype=torch.bool, device=patches.device)
    occupied.scatter_(1, s.clamp(0, nbins - 1), True)
    return occupied.sum(dim=1)
