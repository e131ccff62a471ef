"""Helpers for the estimator tests: a made-up EMoR-like basis, test photos, tiny weight files."""

import numpy as np

GRID = np.linspace(0, 1, 1024)


def fake_basis(k=11):
    """An orthonormal basis that is 0 at both ends (like EMoR), so no data is needed."""
    comps = np.stack([np.sin(np.pi * (i + 1) * GRID) for i in range(k)])
    comps /= np.linalg.norm(comps, axis=1, keepdims=True)
    return GRID ** (1 / 2.2), comps


def photo(h=80, w=96, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([x, y, (x + y) / 2], -1) + 0.1 * rng.standard_normal((h, w, 3))
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def make_tiny_weights(folder):
    """Weight files of tiny (width 0.125, patch 32) models with random heads."""
    import torch

    from crfkit.estimators._net import save_weights
    from crfkit.estimators.crf_net import CRFNet
    from crfkit.estimators.linearization_net import LinearizationNet

    torch.manual_seed(0)
    c = CRFNet(width=0.125, n_classes=0, basis=fake_basis(), patch=32)
    lnet = LinearizationNet(width=0.125, basis=fake_basis(), patch=32)
    with torch.no_grad():
        c.regressor.weight.normal_(0, 0.3)
        lnet.head.weight.normal_(0, 0.3)
    save_weights(folder / "crf.pt", "crf-net", c.config(), c.state_dict())
    save_weights(folder / "lin.pt", "linearization-net", lnet.config(), lnet.state_dict())
    return {"crf-net": folder / "crf.pt", "linearization-net": folder / "lin.pt"}
