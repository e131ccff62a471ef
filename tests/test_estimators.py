"""The estimators: torch ops, the two nets, the plugin registry, bad input, training."""

import sys
import textwrap
import warnings

import numpy as np
import pytest

from crfkit import Curve, CurveSet
from crfkit.errors import DataNotFoundError, ParseError, UnknownNameError, ValidationError

from _estimator_helpers import fake_basis as _basis
from _estimator_helpers import make_tiny_weights
from _estimator_helpers import photo as _photo


# -- functional ops --------------------------------------------------------------------------
def test_monotone_projection_properties():
    torch = pytest.importorskip("torch")
    from crfkit.estimators.functional import monotone_projection

    raw = torch.randn(5, 1024, dtype=torch.float64).cumsum(1) * 0.05 + torch.linspace(0, 1, 1024, dtype=torch.float64)
    g = monotone_projection(raw)
    assert g.shape == raw.shape
    assert torch.all(g[:, 1:] - g[:, :-1] >= -1e-12)
    assert torch.allclose(g[:, 0], torch.zeros(5, dtype=torch.float64))
    assert torch.allclose(g[:, -1], torch.ones(5, dtype=torch.float64))
    ident = torch.linspace(0, 1, 1024, dtype=torch.float64)[None]
    assert torch.allclose(monotone_projection(ident), ident)  # a valid curve is kept
    flat = monotone_projection(torch.zeros(1, 1024))
    assert float(flat[0, -1]) == pytest.approx(1.0) and torch.all(flat[:, 1:] >= flat[:, :-1])


def test_apply_curve_sobel_histogram_shapes_and_values():
    torch = pytest.importorskip("torch")
    from crfkit.estimators.functional import apply_curve_to_image, patch_coverage, sobel_edges, soft_histogram

    x = torch.rand(2, 3, 10, 12)
    sq = torch.linspace(0, 1, 1024) ** 2
    y = apply_curve_to_image(x, torch.stack([sq, sq]))
    assert y.shape == x.shape and torch.allclose(y, x**2, atol=1e-5)
    e = sobel_edges(x)
    assert e.shape == (2, 6, 10, 12)
    ramp = torch.linspace(0, 1, 12).expand(1, 3, 10, 12).contiguous()
    assert torch.allclose(sobel_edges(ramp)[:, :3, :, 1:-1], torch.full((1, 3, 10, 10), 1 / 11), atol=1e-6)
    h = soft_histogram(x, 4)
    assert h.shape == (2, 15, 10, 12)
    assert torch.allclose(h.reshape(2, 3, 5, 10, 12).sum(2), torch.ones(2, 3, 10, 12), atol=1e-5)  # partition of unity
    # the in-place inference path and the autograd path give the same values, and gradients still flow
    xg = x.clone().requires_grad_(True)
    hg = soft_histogram(xg, 4)
    assert torch.equal(hg.detach(), h)
    hg.sum().backward()
    assert xg.grad is not None and xg.grad.shape == x.shape
    with torch.no_grad():
        assert torch.equal(soft_histogram(xg, 4), h)
    cov = patch_coverage(torch.zeros(2, 3, 8, 8))
    assert cov.tolist() == [1, 1]


def test_linearization_features_have_102_channels():
    pytest.importorskip("torch")
    import torch

    from crfkit.estimators.linearization_net import linearization_features, n_feature_channels

    assert n_feature_channels() == 102
    assert linearization_features(torch.rand(1, 3, 16, 16)).shape == (1, 102, 16, 16)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        linearization_features(torch.rand(1, 4, 16, 16))


# -- models ----------------------------------------------------------------------------------
def test_trunk_spatial_sizes_match_crf_net():
    torch = pytest.importorskip("torch")
    from crfkit.estimators.trunk import Trunk

    t = Trunk(3, width=0.125)
    f = t.features(torch.rand(1, 3, 227, 227))
    assert f.shape[2:] == (29, 29) and f.shape[1] == t.out_channels == 64
    assert t(torch.rand(2, 3, 64, 64)).shape == (2, 64)
    with pytest.raises(ValueError, match="expects input"):
        t(torch.rand(2, 4, 64, 64))


def test_crf_net_outputs_and_gradients():
    torch = pytest.importorskip("torch")
    from crfkit.estimators.crf_net import CRFNet, training_loss

    torch.manual_seed(0)
    m = CRFNet(width=0.125, n_classes=5, basis=_basis(), patch=32)
    x = torch.rand(3, 3, 32, 32)
    assert m(x).shape == (3, 11) and m.logits(x).shape == (3, 5)
    f = m.curves(x)
    assert f.shape == (3, 1024) and torch.all(f[:, 1:] >= f[:, :-1])
    # zero-initialised head: an untrained net predicts the mean curve
    assert torch.allclose(m.curves(x, project=False)[0], torch.as_tensor(_basis()[0], dtype=torch.float32))
    batch = {"ldr": x, "label": torch.tensor([0, 1, 4]), "forward": torch.rand(3, 1024).sort(1).values}
    for phase, head in (("classify", m.classifier), ("regress", m.regressor)):
        m.zero_grad()
        loss, metrics = training_loss(m, batch, phase)
        loss.backward()
        assert head.weight.grad is not None and float(head.weight.grad.abs().sum()) > 0
        assert float(m.trunk.stem[0].weight.grad.abs().sum()) > 0 or phase == "regress"
        assert "loss" not in metrics and np.isfinite(float(loss.detach()))


def test_linearization_net_outputs_and_gradients():
    torch = pytest.importorskip("torch")
    from crfkit.estimators.linearization_net import LinearizationNet, training_loss

    torch.manual_seed(0)
    m = LinearizationNet(width=0.125, basis=_basis(), patch=32)
    with torch.no_grad():
        m.head.weight.normal_(0, 0.5)  # a non-trivial output, to see the projection at work
    x = torch.rand(2, 3, 40, 36)
    g = m(x)
    assert g.shape == (2, 1024)
    assert torch.all(g[:, 1:] >= g[:, :-1]) and torch.allclose(g[:, 0], torch.zeros(2))
    assert torch.allclose(g[:, -1], torch.ones(2))
    batch = {"ldr": x, "target": torch.rand(2, 3, 40, 36), "inverse": torch.linspace(0, 1, 1024).expand(2, -1)}
    loss, parts = training_loss(m, batch)
    loss.backward()
    assert loss.item() == pytest.approx(parts["img_mse"] + 0.1 * parts["curve_mse"], rel=1e-5)
    no_grad = [n for n, p in m.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
    assert no_grad == []


# -- estimator API, weights and bad input ----------------------------------------------------
@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """Weight files of tiny untrained-but-valid models (no data needed)."""
    pytest.importorskip("torch")
    return make_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.mark.parametrize("method", ["crf-net", "linearization-net"])
def test_estimate_returns_valid_inverse_curve(tiny_weights, method):
    import crfkit

    g = crfkit.estimate(_photo(), method=method, weights=tiny_weights[method], device="cpu")
    assert isinstance(g, Curve) and g.kind == "inverse"
    assert g.values[0] == 0.0 and g.values[-1] == 1.0
    assert np.all(np.diff(g.values) >= 0)
    g.check()
    g2 = crfkit.estimate(_photo(), method=method, weights=tiny_weights[method])
    assert np.array_equal(g.values, g2.values)  # deterministic inference


def test_bad_images_warn_or_fail_clearly(tiny_weights):
    from crfkit.estimators import UnreliableEstimateWarning, estimate

    w = {"method": "linearization-net", "weights": tiny_weights["linearization-net"]}
    img = _photo()
    with pytest.warns(UnreliableEstimateWarning, match="grayscale"):
        estimate(img[..., 0], **w)
    with pytest.warns(UnreliableEstimateWarning, match="alpha"):
        estimate(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]), **w)
    with pytest.warns(UnreliableEstimateWarning, match="16-bit"):
        estimate(img.astype(np.uint16) * 257, **w)
    with pytest.warns(UnreliableEstimateWarning, match="saturated"):
        estimate(np.maximum(img, 252), **w)
    with pytest.warns(UnreliableEstimateWarning, match="black"):
        estimate(np.minimum(img, 3), **w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate(img.astype(np.float32) / 255, **w)  # floats in [0, 1] are fine
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        estimate(img.astype(np.float32), **w)
    with pytest.raises(ValidationError, match="NaN"):
        estimate(np.full((64, 64, 3), np.nan, np.float32), **w)
    with pytest.raises(ValidationError, match="too small.*32x32"):
        estimate(img[:20, :20], **w)
    with pytest.raises(ValidationError, match="too small"):
        estimate(img[:20], method="crf-net", weights=tiny_weights["crf-net"])  # below crf-net's patch
    with pytest.raises(ValidationError, match="constant"):
        estimate(np.full((64, 64, 3), 128, np.uint8), **w)
    with pytest.raises(ValidationError, match="dtype"):
        estimate(img.astype(np.int32), **w)


def test_weight_file_errors_say_what_was_expected(tiny_weights, tmp_path):
    torch = pytest.importorskip("torch")
    from crfkit.estimators import get_estimator

    with pytest.raises(ValidationError, match="weights are for 'crf-net'.*'linearization-net'"):
        get_estimator("linearization-net", weights=tiny_weights["crf-net"])
    with pytest.raises(DataNotFoundError, match="expected a linearization-net weight file"):
        get_estimator("linearization-net", weights=tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ParseError, match="crfkit train crf-net"):
        get_estimator("crf-net", weights=tmp_path / "junk.pt")
    blob = torch.load(tiny_weights["crf-net"], weights_only=True)
    blob["config"]["width"] = 0.25  # the tensors no longer fit the model the config builds
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(ValidationError, match="do not match.*wrong shape"):
        get_estimator("crf-net", weights=tmp_path / "mismatch.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ParseError, match="not a crfkit weight file"):
        get_estimator("crf-net", weights=tmp_path / "other.pt")


def test_missing_shipped_weights_message(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    from crfkit.estimators import _net, get_estimator

    monkeypatch.setattr(_net, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(DataNotFoundError, match=r"expected .*linearization_net\.pt.*--weights"):
        get_estimator("linearization-net")


# -- registry --------------------------------------------------------------------------------
def test_builtins_and_unknown_name():
    from crfkit.estimators import available_estimators, get_estimator_class

    assert {"crf-net", "linearization-net"} <= set(available_estimators())
    with pytest.raises(UnknownNameError, match="unknown estimator 'nope'.*crf-net"):
        get_estimator_class("nope")


def test_builtins_are_registered_through_package_metadata():
    from pathlib import Path

    cfg = (Path(__file__).resolve().parent.parent / "setup.cfg").read_text()
    section = cfg.split("crfkit.estimators =", 1)[1]
    assert "crf-net = crfkit.estimators.crf_net:CRFNetEstimator" in section
    assert "linearization-net = crfkit.estimators.linearization_net:LinearizationNetEstimator" in section


def test_third_party_estimator_found_by_packaging_alone(tmp_path, monkeypatch):
    """A package that only declares an entry point is found and used by crfkit.estimate."""
    (tmp_path / "flatcam_est.py").write_text(textwrap.dedent("""
        from crfkit import Curve
        from crfkit.estimators import Estimator

        class Flat(Estimator):
            name = "flatcam"
            def estimate_inverse(self, image):
                return Curve.gamma(2.2, kind="inverse")
    """))
    dist = tmp_path / "flatcam-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: flatcam\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[crfkit.estimators]\nflatcam = flatcam_est:Flat\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import crfkit
    from crfkit.estimators import available_estimators

    assert "flatcam" in available_estimators()
    g = crfkit.estimate(_photo(), method="flatcam")
    assert np.allclose(g.values, Curve.gamma(2.2, kind="inverse").values)
    monkeypatch.delitem(sys.modules, "flatcam_est", raising=False)


def test_import_crfkit_without_torch(tmp_path):
    """With torch unimportable, crfkit imports and the estimator names the extra to install."""
    import subprocess

    code = textwrap.dedent("""
        import sys
        sys.modules['torch'] = None  # makes `import torch` fail
        import numpy as np, crfkit
        assert 'crf-net' in crfkit.estimators.available_estimators()
        try:
            crfkit.estimate(np.zeros((64, 64, 3), np.uint8), method='crf-net')
        except crfkit.MissingDependencyError as exc:
            print('OK', exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK") and "crfkit[torch]" in out.stdout


# -- training --------------------------------------------------------------------------------
def _train(tmp_path, name, steps, method="linearization-net", resume=False, **kw):
    pytest.importorskip("torch")
    from crfkit.estimators.training import TrainConfig, train

    rng = np.random.default_rng(0)
    images = [rng.gamma(1.0, 0.3, (48, 48, 3)).astype(np.float32) for _ in range(3)]
    curves = CurveSet.from_curves([Curve.gamma(2.2)])  # one curve: the loss must fall quickly
    cfg = TrainConfig(method=method, steps=steps, batch_size=4, patch=32, lr=3e-3, seed=1, width=0.125, **kw)
    return train(cfg, tmp_path / name, resume=resume, checkpoint_every=2, log_every=2, progress=False,
                 data=(images, curves), basis=_basis(), threads=1)


def test_short_training_run_lowers_the_loss(tmp_path):
    res = _train(tmp_path, "run", 24)
    losses = [e["loss"] for e in res["losses"]]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:2]), losses
    for f in ("checkpoint.pt", "weights.pt", "weights.json", "log.jsonl"):
        assert (tmp_path / "run" / f).is_file()


def test_training_is_deterministic_and_resume_continues_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    a = _train(tmp_path, "a", 6)
    b = _train(tmp_path, "b", 6)
    assert [e["loss"] for e in a["losses"]] == [e["loss"] for e in b["losses"]]
    _train(tmp_path, "c", 4)
    c = _train(tmp_path, "c", 6, resume=True)
    assert c["step"] == 6
    sa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    sc = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a["losses"][-1]["loss"] == c["losses"][-1]["loss"]
    with pytest.raises(ValidationError, match="--resume"):
        _train(tmp_path, "a", 6)  # never overwrite a run silently


def test_crf_net_training_switches_from_classification_to_regression(tmp_path):
    res = _train(tmp_path, "crf", 4, method="crf-net", pretrain_steps=2)
    phases = [e["phase"] for e in res["losses"]]
    assert phases == ["classify", "regress"]
    assert "ce" in res["losses"][0] and "curve_mse" in res["losses"][1]
    from crfkit.estimators import get_estimator

    est = get_estimator("crf-net", weights=tmp_path / "crf" / "weights.pt")  # the written weights load
    assert est.estimate(_photo()).kind == "inverse"


@pytest.mark.parametrize("method,stem", [("crf-net", "crf_net"), ("linearization-net", "linearization_net")])
def test_shipped_weights_load_by_default(method, stem):
    import json
    from pathlib import Path

    pytest.importorskip("torch")
    from crfkit.estimators import get_estimator

    folder = Path(__import__("crfkit").__file__).parent / "weights"
    pt, note = folder / f"{stem}.pt", folder / f"{stem}.json"
    assert pt.stat().st_size < 5e6  # "a few MB at most"
    prov = json.loads(note.read_text())
    assert prov["method"] == method and prov["steps_done"] > 0 and prov["command"].startswith("crfkit train")
    est = get_estimator(method, device="cpu")
    assert est.weights_path == pt and est.provenance["steps_done"] == prov["steps_done"]
    g = est.estimate(_photo(160, 160))
    assert g.kind == "inverse" and g.values[0] == 0 and g.values[-1] == 1 and np.all(np.diff(g.values) >= 0)
    # the mean curve and basis are buffers: float16 rounding of the mean curve cost CRF-net its held-out margin
    import torch

    sd = torch.load(pt, map_location="cpu", weights_only=True)["state_dict"]
    buffers = {n for n, _ in est.model.named_buffers()}
    assert {"f0", "h"} <= buffers or {"g0", "hinv"} <= buffers
    assert all(sd[k].dtype == torch.float32 for k in buffers if k in sd and sd[k].is_floating_point())
    assert any(v.dtype == torch.float16 for k, v in sd.items() if k not in buffers)


def test_save_weights_keeps_full_precision_keys(tmp_path):
    torch = pytest.importorskip("torch")
    from crfkit.estimators._net import save_weights

    net = torch.nn.BatchNorm1d(3)
    net.register_buffer("mean_curve", torch.linspace(0, 1, 1024, dtype=torch.float32) ** 0.45)
    keep = {n for n, _ in net.named_buffers()}
    save_weights(tmp_path / "w.pt", "crf-net", {}, net.state_dict(), full_precision=keep)
    sd = torch.load(tmp_path / "w.pt", weights_only=True)["state_dict"]
    assert sd["weight"].dtype == torch.float16 and sd["mean_curve"].dtype == torch.float32
    assert torch.equal(sd["mean_curve"], net.mean_curve) and sd["running_var"].dtype == torch.float32
    save_weights(tmp_path / "all16.pt", "crf-net", {}, net.state_dict())
    assert torch.load(tmp_path / "all16.pt", weights_only=True)["state_dict"]["mean_curve"].dtype == torch.float16


def test_too_small_for_crf_net_names_the_estimator_that_takes_it(tiny_weights):
    from crfkit.errors import ValidationError
    from crfkit.estimators import estimate

    small = _photo()[:20, :20]
    with pytest.raises(ValidationError, match=r"too small.*--method linearization-net"):
        estimate(small, method="crf-net", weights=tiny_weights["crf-net"])
    with pytest.raises(ValidationError, match="too small") as info:
        estimate(small[:16, :16], method="linearization-net", weights=tiny_weights["linearization-net"])
    assert "--method" not in str(info.value)
