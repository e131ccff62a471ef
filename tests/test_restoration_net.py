"""The masked-feature U-Net, its losses, data and training (issue 5, network half).

Fast on the CPU: tiny widths, 128x128 inputs, a handful of steps.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from crfkit.curves import GRID, CurveSet  # noqa: E402
from crfkit.errors import DataNotFoundError, ParseError, ValidationError  # noqa: E402
from crfkit.restoration import get_restorer_class, saturation_mask  # noqa: E402
from crfkit.restoration import losses as L  # noqa: E402
from crfkit.restoration.data import (  # noqa: E402
    HDRPairDataset,
    InpaintingDataset,
    PhaseDataset,
    RestorationDataConfig,
    random_irregular_mask,
    texture_score,
)
from crfkit.restoration.masked_unet import (  # noqa: E402
    MaskedUNet,
    MaskedUNetRestorer,
    mask_kernel,
    masked_conv2d,
    pad_to_multiple,
    update_mask,
)
from crfkit.restoration.training import RestorationTrainConfig, train  # noqa: E402

W = 0.0625  # 4..32 channels


def _gamma_curves(n=4):
    return CurveSet(np.stack([GRID ** (1 / g) for g in np.linspace(1.8, 2.6, n)]), kind="forward")


def _hdr_image(h=160, w=200, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.05 + 0.2 * np.stack([x / w, y / h, (x + y) / (h + w)], -1) + 0.03 * rng.random((h, w, 3))
    img[40:90, 60:120] += 8.0 * np.exp(-(((y[40:90, 60:120] - 65) / 20) ** 2 + ((x[40:90, 60:120] - 90) / 25) ** 2))[..., None]
    return img.astype(np.float32)


def _photo(h=150, w=170, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(rng.random((h, w, 3)) * 0.3 + np.linspace(0, 0.6, w)[None, :, None], 0, 1).astype(np.float32)


def _data():
    return {"hdr": [_hdr_image(seed=s) for s in range(2)], "photos": [_photo()], "curves": _gamma_curves()}


def _cfg(**kw):
    base = dict(steps=4, pretrain_steps=2, batch_size=2, patch=128, width=W, lr=1e-3, seed=3, use_vgg=False,
                pretrain_images=["photos"])
    base.update(kw)
    return RestorationTrainConfig(**base)


def _hole_batch(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, 128, 128, generator=g)
    m = torch.ones_like(x)
    m[:, :, 44:84, 44:84] = 0.0
    return x, m


# --------------------------------------------------------------------------- the network


def test_shapes_and_registry():
    net = MaskedUNet(width=W)
    x, m = _hole_batch()
    y = net(x, m)
    assert y.shape == (2, 3, 128, 128)
    assert net.decoder[-1].in_channels == net.encoder[0].out_channels + 3 and net.decoder[-1].out_channels == 3
    assert [c.kernel_size[0] for c in net.encoder] == [7, 5, 5, 3, 3, 3, 3]
    assert all(c.stride == (2, 2) for c in net.encoder)
    y2 = net(torch.rand(1, 3, 256, 384), torch.ones(1, 3, 256, 384))
    assert y2.shape == (1, 3, 256, 384)
    assert get_restorer_class("masked-unet") is MaskedUNetRestorer


@pytest.mark.parametrize("shape", [(1, 3, 100, 128), (1, 3, 128, 130), (1, 1, 128, 128), (3, 128, 128)])
def test_bad_input_shapes(shape):
    net = MaskedUNet(width=W)
    with pytest.raises(ValidationError, match="must"):
        net(torch.rand(*shape), torch.ones(*shape))
    with pytest.raises(ValidationError, match="mask"):
        net(torch.rand(1, 3, 128, 128), torch.ones(1, 3, 64, 64))


def test_pad_to_multiple_reflects():
    a = np.random.default_rng(0).random((10, 130, 3)).astype(np.float32)
    p = pad_to_multiple(a)
    assert p.shape == (128, 256, 3)
    np.testing.assert_array_equal(p[:10, :130], a)
    assert pad_to_multiple(np.zeros((128, 256, 3))).shape == (128, 256, 3)


def test_mask_update_has_no_gradient_and_is_normalised():
    conv = torch.nn.Conv2d(3, 5, 3, padding=1)
    k = mask_kernel(conv.weight)
    np.testing.assert_allclose(k.sum(dim=(1, 2, 3)).numpy(), 1.0, atol=1e-5)
    m = torch.ones(1, 3, 16, 16, requires_grad=True)
    m2 = update_mask(m, conv.weight, padding=1)
    assert not m2.requires_grad
    np.testing.assert_allclose(m2[..., 1:-1, 1:-1].numpy(), 1.0, atol=1e-5)  # all valid stays valid inside
    x = torch.rand(1, 3, 16, 16)
    y, mn = masked_conv2d(x, torch.zeros_like(x), conv.weight, conv.bias, padding=1)
    np.testing.assert_allclose(y.detach().numpy(), conv.bias.detach().view(1, 5, 1, 1).expand_as(y).numpy(), atol=1e-6)
    assert float(mn.max()) == 0.0  # nothing valid in, nothing valid out


def test_masks_propagate_and_holes_shrink():
    net = MaskedUNet(width=W)
    x, m = _hole_batch(1)
    _, masks = net(x, m, return_masks=True)
    assert len(masks) == 14
    assert all(not q.requires_grad and float(q.min()) >= 0 and float(q.max()) <= 1 + 1e-6 for q in masks)
    enc = masks[:7]
    # centre of the 40x40 hole: 0 at the first level, filled in from the valid surround deeper down
    assert float(enc[0][0, :, 32, 32].max()) == 0.0
    centre = [float(q[0, :, q.shape[2] // 2, q.shape[3] // 2].mean()) for q in enc[:4]]
    assert centre[3] > 0.0 and centre == sorted(centre)
    zeros = [float((q == 0).float().mean()) for q in enc[:4]]
    assert zeros[0] > zeros[2] >= zeros[3]
    # far from the hole and the border the mask stays fully valid
    assert float(enc[0][0, :, 5:10, 5:10].min()) > 0.999


def test_gradient_flows_to_every_parameter():
    net = MaskedUNet(width=W)
    x, m = _hole_batch()
    loss, _ = L.RestorationLoss(use_vgg=False)(net(x, m), x * 4, m)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name.endswith("weight"):
            assert float(p.grad.abs().sum()) > 0, name


def test_short_optimisation_lowers_the_loss():
    torch.manual_seed(0)
    net = MaskedUNet(width=W)
    x, m = _hole_batch(1, seed=1)
    target = x.clone()
    target[:, :, 44:84, 44:84] = 3.0
    loss_fn = L.RestorationLoss(use_vgg=False)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    first = None
    for _ in range(15):
        loss, _ = loss_fn(net(x, m), target, m)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.8 * first


# --------------------------------------------------------------------------- the restorer


class _Const(torch.nn.Module):
    """Stands in for the U-Net: Y_hat = 1 everywhere; counts calls."""

    calls = 0

    def forward(self, x, m):
        type(self).calls += 1
        assert x.shape[-1] % 128 == 0 and x.shape[-2] % 128 == 0
        return torch.full_like(x, 1.0)


def _ldr(h, w, seed=0):
    rng = np.random.default_rng(seed)
    disp = rng.random((h, w, 3)).astype(np.float32) * 0.9
    disp[h // 3 : h // 2, w // 4 : w // 2] = 1.0
    return disp, disp**2.2, saturation_mask(disp)


def test_restorer_keeps_linear_where_valid_and_composes():
    disp, lin, ms = _ldr(100, 150)
    r = MaskedUNetRestorer(model=MaskedUNet(width=W), device="cpu")
    out = r.restore(lin, disp, ms)
    assert out.dtype == np.float32 and out.shape == lin.shape and np.isfinite(out).all()
    keep = ms == 0
    np.testing.assert_array_equal(out[keep], lin[keep])
    # never below the clipped value (a lower bound of the radiance)
    assert np.all(out[ms > 0] >= lin[ms > 0] - 1e-6)
    rc = MaskedUNetRestorer(model=_Const(), device="cpu")
    out = rc.restore(lin, disp, ms)
    full = ms == 1
    np.testing.assert_allclose(out[full], np.expm1(1.0), rtol=1e-6)


def test_no_saturation_skips_the_network():
    disp = np.full((64, 64, 3), 0.5, np.float32)
    _Const.calls = 0
    out = MaskedUNetRestorer(model=_Const(), device="cpu").restore(disp**2, disp, saturation_mask(disp))
    assert _Const.calls == 0
    np.testing.assert_array_equal(out, disp**2)


def test_tiling_blends_and_skips_unsaturated_tiles():
    disp, lin, ms = _ldr(300, 700)
    _Const.calls = 0
    r = MaskedUNetRestorer(model=_Const(), device="cpu", tile=128, overlap=32)
    out = r.restore(lin, disp, ms)
    assert out.shape == (300, 700, 3)
    full = ms == 1
    np.testing.assert_allclose(out[full], np.expm1(1.0), rtol=1e-5)  # feather weights sum to one
    n_tiles = 3 * 7
    assert 0 < _Const.calls < n_tiles
    # a real (tiny) net over tiles: finite and the right shape
    out2 = MaskedUNetRestorer(model=MaskedUNet(width=W), device="cpu", tile=128, overlap=32).restore(lin, disp, ms)
    assert np.isfinite(out2).all() and out2.shape == lin.shape
    with pytest.raises(ValidationError, match="overlap"):
        MaskedUNetRestorer(model=_Const(), tile=128, overlap=64)


def test_weight_file_errors_name_the_file(tmp_path):
    from crfkit.estimators._net import save_weights

    with pytest.raises(DataNotFoundError, match="nope.pt"):
        MaskedUNetRestorer(weights=tmp_path / "nope.pt")
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ParseError, match="garbage.pt"):
        MaskedUNetRestorer(weights=bad)
    net = MaskedUNet(width=W)
    other = save_weights(tmp_path / "crf.pt", "crf-net", {"width": W}, net.state_dict())
    with pytest.raises(ValidationError, match="crf.pt"):
        MaskedUNetRestorer(weights=other)
    wrong = save_weights(tmp_path / "wrong.pt", "masked-unet", {"width": 2 * W}, net.state_dict())
    with pytest.raises(ValidationError, match="wrong.pt.*shape"):
        MaskedUNetRestorer(weights=wrong)
    good = save_weights(tmp_path / "good.pt", "masked-unet", net.config(), net.state_dict())
    r = MaskedUNetRestorer(weights=good, device="cpu")
    x, m = _hole_batch(1)
    # float16 storage: close to, not equal to, the float32 net
    assert torch.allclose(r.model(x, m), net(x, m), atol=5e-2)


def test_shipped_weights_load_if_present():
    from crfkit.estimators._net import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "masked_unet.pt").is_file():
        pytest.skip("no shipped masked_unet.pt in this checkout")
    r = MaskedUNetRestorer(device="cpu")
    assert r.provenance.get("method") == "masked-unet"
    disp, lin, ms = _ldr(128, 128)
    out = r.restore(lin, disp, ms)
    assert np.isfinite(out).all() and float(out[ms == 1].min()) >= 0


# --------------------------------------------------------------------------- losses


def _fake_vgg(path, extra=True):
    torch.manual_seed(0)
    sd = {k: torch.randn_like(v) * 0.05 for k, v in L.VGG16Features().state_dict().items()}
    if extra:  # a full torchvision file also holds the deeper layers and the classifier
        sd["features.17.weight"] = torch.zeros(512, 256, 3, 3)
        sd["classifier.0.weight"] = torch.zeros(4, 4)
    torch.save(sd, path)
    return path


def test_vgg_loader_from_path_env_and_hub(tmp_path, monkeypatch):
    p = _fake_vgg(tmp_path / "vgg16-fake.pth")
    loss = L.RestorationLoss(vgg_weights=p)
    assert loss.kind == "vgg16" and loss.source == str(p)
    x, m = _hole_batch(1)
    total, metrics = loss(torch.zeros_like(x), x * 2, m)
    assert set(metrics) == {"hole", "perceptual", "style"} and torch.isfinite(total)
    assert loss.describe()["style_weight"] == 120.0 and loss.describe()["hole_weight"] == 6.0
    monkeypatch.setenv(L.VGG_ENV, str(p))
    assert L.find_vgg16_weights() == p
    monkeypatch.delenv(L.VGG_ENV)
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    _fake_vgg(hub / "checkpoints" / "vgg16-397923af.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    assert L.find_vgg16_weights().name == "vgg16-397923af.pth"


def test_vgg_loader_errors(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="missing.pth"):
        L.RestorationLoss(vgg_weights=tmp_path / "missing.pth")
    monkeypatch.setenv(L.VGG_ENV, str(tmp_path / "env-missing.pth"))
    with pytest.raises(DataNotFoundError, match="CRFKIT_VGG16_WEIGHTS"):
        L.find_vgg16_weights()
    monkeypatch.delenv(L.VGG_ENV)
    sd = L.VGG16Features().state_dict()
    del sd["features.14.weight"]
    torch.save(sd, tmp_path / "short.pth")
    with pytest.raises(ParseError, match="features.14.weight"):
        L.load_vgg16_features(tmp_path / "short.pth")
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(ParseError, match="junk.pth"):
        L.load_vgg16_features(tmp_path / "junk.pth")


def test_fallback_warns_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv(L.VGG_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    with pytest.warns(UserWarning, match="substitute"):
        loss = L.RestorationLoss()
    assert loss.kind == "ms-ssim+gradient"
    x, m = _hole_batch(1)
    _, metrics = loss(torch.zeros_like(x), x, m)
    assert set(metrics) == {"hole", "ssim", "gradient"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert L.RestorationLoss(use_vgg=False).kind == "ms-ssim+gradient"


def test_hole_loss_only_counts_the_saturated_area():
    x, m = _hole_batch(1)
    y = torch.log1p(x).clone()
    assert float(L.hole_loss(y, x, m)) == pytest.approx(0.0, abs=1e-7)
    y[:, :, 0:10, 0:10] += 5  # outside the hole: ignored
    assert float(L.hole_loss(y, x, m)) == pytest.approx(0.0, abs=1e-7)
    y[:, :, 50:60, 50:60] += 1
    assert float(L.hole_loss(y, x, m)) == pytest.approx(100 / 128**2, rel=1e-4)
    assert float(L.mu_law(torch.tensor(1.0))) == pytest.approx(1.0)


# --------------------------------------------------------------------------- data


def test_data_samples_are_reproducible_and_sane():
    cfg = RestorationDataConfig(patch=128)
    ds = HDRPairDataset([_hdr_image()], _gamma_curves(), seed=5, config=cfg)
    a, b = ds.sample(7), HDRPairDataset([_hdr_image()], _gamma_curves(), seed=5, config=cfg).sample(7)
    for k in ("input", "valid", "target"):
        np.testing.assert_array_equal(a[k], b[k])
        assert a[k].shape == (128, 128, 3) and a[k].dtype == np.float32
    assert not np.array_equal(ds.sample(8)["target"], a["target"])
    assert 0 <= a["valid"].min() and a["valid"].max() <= 1 and a["input"].max() <= 1.0
    assert a["target"].max() > 1.0  # the HDR target keeps what clipped
    sat = [ds.sample(i)["saturated"] for i in range(10)]
    assert np.mean([cfg.saturated_range[0] <= s <= cfg.saturated_range[1] for s in sat]) >= 0.8
    t = ds[3]
    assert set(t) == {"input", "valid", "target"} and t["input"].shape == (3, 128, 128)

    inp = InpaintingDataset([_photo()], seed=1, config=cfg)
    s = inp.sample(0)
    hole = 1 - s["valid"]
    assert 0.02 < hole.mean() < 0.6
    np.testing.assert_array_equal(inp.sample(0)["valid"], s["valid"])
    np.testing.assert_allclose(s["input"][hole == 0], s["target"][hole == 0])

    ph = PhaseDataset(ds, inp, pretrain_steps=2, per_step=4)
    assert ph.phase(1) == "inpaint" and ph.phase(2) == "hdr"
    np.testing.assert_array_equal(ph[5]["valid"].numpy(), inp[5]["valid"].numpy())
    np.testing.assert_array_equal(ph[9]["target"].numpy(), ds[9]["target"].numpy())


def test_irregular_masks_and_texture_score():
    rng = np.random.default_rng(0)
    fr = [random_irregular_mask(128, rng, (0.1, 0.3)).mean() for _ in range(20)]
    assert min(fr) > 0.05 and max(fr) < 0.7
    flat = np.full((64, 64, 3), 0.3, np.float32)
    assert texture_score(flat) == pytest.approx(0.0, abs=1e-4)
    tex = flat * (1 + 0.5 * np.random.default_rng(1).random((64, 64, 1))).astype(np.float32)
    assert texture_score(tex) > 5 * texture_score(flat) + 1
    valid = np.zeros_like(tex)
    assert texture_score(tex, valid) == 0.0


# --------------------------------------------------------------------------- training


def _weights(run):
    blob = torch.load(Path(run) / "checkpoint.pt", map_location="cpu", weights_only=True)
    return blob["model"]


def test_training_run_checkpoints_resume_and_determinism(tmp_path):
    torch.set_num_threads(1)
    data = _data()
    r1 = train(_cfg(), tmp_path / "a", data=data, progress=False, log_every=1, checkpoint_every=2)
    assert r1["step"] == 4 and r1["loss"]["kind"] == "ms-ssim+gradient"
    lines = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "start" and lines[0]["loss"]["kind"] == "ms-ssim+gradient"
    assert [e["phase"] for e in lines[1:]] == ["inpaint", "inpaint", "hdr", "hdr"]
    # same seed, same data -> the same weights
    train(_cfg(), tmp_path / "b", data=data, progress=False)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # 2 steps, then resume to 4: the same as 4 at once
    train(_cfg(steps=2, pretrain_steps=2), tmp_path / "c", data=data, progress=False, log_every=1)
    with pytest.raises(ValidationError, match="--resume"):
        train(_cfg(), tmp_path / "c", data=data, progress=False)
    with open(tmp_path / "c" / "log.jsonl", "a") as fh:  # as if a killed run logged past its checkpoint
        fh.write(json.dumps({"step": 3, "phase": "stale"}) + "\n")
    r = train(_cfg(steps=4), tmp_path / "c", data=data, progress=False, resume=True, log_every=1)
    assert r["step"] == 4
    lines = [json.loads(x) for x in (tmp_path / "c" / "log.jsonl").read_text().splitlines()]
    assert [e.get("event", e.get("phase")) for e in lines] == ["start", "inpaint", "inpaint", "resume", "hdr", "hdr"]
    wc = _weights(tmp_path / "c")
    assert all(torch.allclose(wa[k], wc[k], atol=1e-6) for k in wa)
    # the weight file: float16, config, provenance with the loss used; loads as a restorer
    blob = torch.load(tmp_path / "a" / "weights.pt", map_location="cpu", weights_only=True)
    assert blob["method"] == "masked-unet" and blob["config"] == {"width": W, "patch": 128}
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    assert blob["provenance"]["loss"]["kind"] == "ms-ssim+gradient" and blob["provenance"]["steps_done"] == 4
    r = MaskedUNetRestorer(weights=tmp_path / "a" / "weights.pt", device="cpu")
    assert (r.tile, r.overlap) == (128, 32)  # tiles at the training patch by default
    with pytest.warns(UserWarning, match="larger than the 128-pixel patches"):
        MaskedUNetRestorer(weights=tmp_path / "a" / "weights.pt", device="cpu", tile=512)
    with pytest.raises(DataNotFoundError, match="checkpoint"):
        train(_cfg(), tmp_path / "none", data=data, progress=False, resume=True)


def test_training_lowers_the_loss(tmp_path):
    from crfkit.restoration.masked_unet import build_model

    torch.set_num_threads(1)
    data = {"hdr": [_hdr_image()], "photos": None, "curves": _gamma_curves(1)}
    cfg = _cfg(steps=20, pretrain_steps=0, pretrain_images=[], batch_size=2, lr=2e-3)
    train(cfg, tmp_path / "run", data=data, progress=False, log_every=5, checkpoint_every=100)
    # the same fixed batch before (the seeded initial weights) and after training
    ds = HDRPairDataset(data["hdr"], data["curves"], seed=99, config=RestorationDataConfig(patch=128))
    batch = {k: torch.stack([ds[i][k] for i in range(4)]) for k in ("input", "valid", "target")}
    loss_fn = L.RestorationLoss(use_vgg=False)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg.model_config())

    def loss_of(model):
        with torch.no_grad():
            return float(loss_fn(model(batch["input"], batch["valid"]), batch["target"], batch["valid"])[0])

    before = loss_of(net)
    net.load_state_dict(_weights(tmp_path / "run"))
    assert loss_of(net) < 0.9 * before


def test_cosine_schedule_and_switching_it_on_resume(tmp_path):
    torch.set_num_threads(1)
    data = _data()

    def lrs(run):
        return [e["lr"] for e in map(json.loads, (tmp_path / run / "log.jsonl").read_text().splitlines()) if "lr" in e]

    train(_cfg(lr_schedule="cosine"), tmp_path / "cos", data=data, progress=False, log_every=1)
    base = _cfg().lr
    # the rate set for step i is logged after it: cos(pi i / 4) decay from the base rate
    np.testing.assert_allclose(lrs("cos"), [base * 0.5 * (1 + np.cos(np.pi * i / 4)) for i in range(4)], rtol=1e-6)
    # a constant-rate run switched to cosine when resumed anneals from where it is to 0 at the new total
    train(_cfg(steps=2, pretrain_steps=2), tmp_path / "sw", data=data, progress=False, log_every=1)
    train(_cfg(steps=6), tmp_path / "sw", data=data, progress=False, resume=True, log_every=1, lr_schedule="cosine")
    got = lrs("sw")
    np.testing.assert_allclose(got[:2], [base, base])
    np.testing.assert_allclose(got[2:], [base * 0.5 * (1 + np.cos(np.pi * i / 6)) for i in range(2, 6)], rtol=1e-6)
    ck = torch.load(tmp_path / "sw" / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ck["train_config"]["lr_schedule"] == "cosine"
    with pytest.raises(ValidationError, match="schedule"):
        _cfg(lr_schedule="step").check()


def test_flip_averaging_is_equivariant_and_checked():
    disp, lin, ms = _ldr(100, 150)
    net = MaskedUNet(width=W)
    one = MaskedUNetRestorer(model=net, device="cpu")
    valid = (1 - ms).astype(np.float32)
    y1 = one.predict_log(lin, valid)
    y_mirror = one.predict_log(lin[:, ::-1], valid[:, ::-1])[:, ::-1]
    two = MaskedUNetRestorer(model=net, device="cpu", flips=2).predict_log(lin, valid)
    np.testing.assert_allclose(two, (y1 + y_mirror) / 2, rtol=1e-5, atol=1e-6)
    four = MaskedUNetRestorer(model=net, device="cpu", flips=4).predict_log(lin, valid)
    up = one.predict_log(lin[::-1], valid[::-1])[::-1]
    both = one.predict_log(lin[::-1, ::-1], valid[::-1, ::-1])[::-1, ::-1]
    np.testing.assert_allclose(four, (y1 + y_mirror + up + both) / 4, rtol=1e-5, atol=1e-6)
    assert four.shape == lin.shape and not np.allclose(four, y1)
    # a flipped image gives the flipped restoration with all four views
    out = MaskedUNetRestorer(model=net, device="cpu", flips=4).restore(lin, disp, ms)
    out_m = MaskedUNetRestorer(model=net, device="cpu", flips=4).restore(lin[:, ::-1], disp[:, ::-1], ms[:, ::-1])
    np.testing.assert_allclose(out_m[:, ::-1], out, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValidationError, match="flips"):
        MaskedUNetRestorer(model=net, device="cpu", flips=3)


def test_config_checks():
    with pytest.raises(ValidationError, match="multiple of 128"):
        _cfg(patch=96).check()
    with pytest.raises(ValidationError, match="pretrain_steps"):
        _cfg(steps=2, pretrain_steps=3).check()


@pytest.mark.realdata("dorfCurves.txt")
def test_cli_train_restoration_tiny_run(tmp_path):
    from crfkit.io.hdr import write_exr
    from PIL import Image

    hdr, photos = tmp_path / "hdr", tmp_path / "photos"
    hdr.mkdir()
    photos.mkdir()
    for i in range(3):
        write_exr(hdr / f"scene{i}.exr", _hdr_image(seed=i))
    Image.fromarray((_photo() * 255).astype(np.uint8)).save(photos / "p.png")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "crfkit", "train", "restoration", "--images", str(hdr), "--pretrain-inpainting",
           str(photos), "--out", str(out), "--steps", "3", "--pretrain-steps", "1", "--batch-size", "1",
           "--width", str(W), "--threads", "1", "--test-fraction", "0.01", "--no-progress"]
    env = dict(os.environ, CRFKIT_VGG16_WEIGHTS="")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "3 steps" in p.stdout and "ms-ssim+gradient" in p.stdout
    assert "substitute" in p.stderr  # the fallback warning
    # shown as one line naming the command, not with Python's file:line and source-line display
    warn = [ln for ln in p.stderr.splitlines() if "substitute" in ln]
    assert warn and all(ln.startswith("crfkit train: warning: ") for ln in warn), p.stderr
    assert "RestorationLoss(" not in p.stderr and "UserWarning" not in p.stderr
    for f in ("weights.pt", "weights.json", "log.jsonl", "checkpoint.pt"):
        assert (out / f).is_file(), f
    prov = json.loads((out / "weights.json").read_text())
    assert prov["loss"]["kind"] == "ms-ssim+gradient" and prov["steps_done"] == 3 and prov["pretrain_steps"] == 1
    assert "train restoration" in prov["command"]
    bad = subprocess.run(cmd[:-1] + ["--patch", "96", "--out", str(tmp_path / "x")], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "multiple of 128" in bad.stderr


def test_shipped_weights_beat_clipping_on_the_santos_crops():
    """Regression guard for the shipped weights: log-L1 inside saturated regions, 7 real crops.

    Skips without CRFKIT_DATA; fails when it is set but the crops are missing.
    """
    from crfkit.estimators._net import WEIGHTS_DIR
    from crfkit.io.hdr import read_hdr
    from crfkit.io.images import read_image

    env = os.environ.get("CRFKIT_DATA")
    if not env:
        pytest.skip("real-data test: set CRFKIT_DATA to the data folder to run it")
    if not (WEIGHTS_DIR / "masked_unet.pt").is_file():
        pytest.skip("no shipped masked_unet.pt in this checkout")
    crops = Path(env) / "santos2020_hdr_crops"
    if not (crops / "0007.exr").is_file():
        pytest.fail(f"CRFKIT_DATA={env!r} is set but {crops} lacks the 7 Santos crops", pytrace=False)
    r = MaskedUNetRestorer(device="cpu")
    e_clip, e_net = [], []
    for k in range(1, 8):
        disp = read_image(crops / f"000{k}.png").astype(np.float32) / 255.0
        gt = read_hdr(crops / f"000{k}.exr").astype(np.float32)
        lin, ms = disp**2.0, saturation_mask(disp)
        out = r.restore(lin, disp, ms)
        ok = (ms.max(axis=2) == 0) & (lin.min(axis=2) > 0.02) & (gt.min(axis=2) > 0)
        g = gt * np.exp(np.median(np.log(lin[ok]) - np.log(gt[ok])))  # GT scale is arbitrary
        sat = ms > 0
        e_clip.append(np.abs(np.log1p(lin) - np.log1p(g))[sat].mean())
        e_net.append(np.abs(np.log1p(out) - np.log1p(g))[sat].mean())
    # the committed evaluation (analysis/results/restoration.md) gives 0.238 vs 0.289, better on 7 of 7
    assert np.mean(e_net) < 0.97 * np.mean(e_clip)
    assert sum(n < c for n, c in zip(e_net, e_clip)) >= 5
