"""The camera-pipeline mode of the synthesis (``SynthesisConfig(camera_pipeline=True)``) and training with it."""

import json

import numpy as np
import pytest

from crfkit import Curve, CurveSet
from crfkit.errors import DataNotFoundError
from crfkit.synthesis import SynthesisConfig, synthesize, synthesize_sample
from crfkit.synthesis.camera import (
    XYZ_FROM_SRGB,
    camera_matrices_from_cam_xyz,
    channel_curves,
    find_camera_matrices,
    load_camera_matrices,
)

pytest.importorskip("cv2")

# three real rows of LibRaw's adobe_coeff table (cam_xyz x 10000) and a 4-colour row that must be skipped
CSV = """make,model_prefix,black,maximum,n_channels,c0,c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11,source
Canon,EOS 5D,0,0xe6c,3,6347,-479,-972,-8297,15954,2480,-1968,2131,7649,,,,
Nikon,D70,0,0,3,7732,-2422,-789,-8238,15884,2498,-859,783,7330,,,,
Sony,DSLR-A100,0,0xfeb,3,9437,-2811,-774,-8405,16215,2290,-710,596,7181,,,,
Kodak,DCS4XX,0,0,4,1,2,3,4,5,6,7,8,9,10,11,12,
"""


@pytest.fixture
def matrices(tmp_path):
    p = tmp_path / "libraw_cam_xyz.csv"
    p.write_text(CSV)
    return str(p)


def _images(n=3, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.gamma(1.0, 0.3, (size, size + 8, 3)).astype(np.float32) for _ in range(n)]


def _curves():
    return CurveSet.from_curves([Curve.gamma(g) for g in (1.5, 2.2, 3.0)])


def test_matrices_preserve_white_and_invert(matrices):
    m = load_camera_matrices(matrices)
    assert len(m["names"]) == 3  # the 4-colour camera is left out
    ones = np.ones(3)
    for to_cam, to_srgb, w in zip(m["cam_from_srgb"], m["srgb_from_cam"], m["white"]):
        assert np.allclose(to_cam @ ones, ones, atol=1e-5)
        assert np.allclose(to_srgb @ ones, ones, atol=1e-5)
        assert np.allclose(to_srgb @ to_cam, np.eye(3), atol=1e-4)
        assert w.max() == pytest.approx(1.0) and w.min() > 0.2
    # the conversion is dcraw's: cam_xyz @ xyz_from_srgb, rows normalised
    cam_xyz = np.array([[6347, -479, -972], [-8297, 15954, 2480], [-1968, 2131, 7649]]) / 1e4
    cam, white, inv = camera_matrices_from_cam_xyz(cam_xyz[None])
    raw = cam_xyz @ XYZ_FROM_SRGB
    assert np.allclose(cam[0] * raw.sum(1)[:, None], raw)
    assert np.allclose(white[0], raw.sum(1) / raw.sum(1).max())


def test_matrix_file_lookup(tmp_path, monkeypatch, matrices):
    monkeypatch.delenv("CRFKIT_DATA", raising=False)
    monkeypatch.setenv("CRFKIT_CACHE", str(tmp_path / "nocache"))
    with pytest.raises(DataNotFoundError, match="libraw_cam_xyz.csv"):
        find_camera_matrices()
    sub = tmp_path / "data" / "camera_color_matrices"
    sub.mkdir(parents=True)
    (sub / "libraw_cam_xyz.csv").write_text(CSV)
    assert find_camera_matrices(tmp_path / "data") == sub / "libraw_cam_xyz.csv"  # an explicit folder
    monkeypatch.setenv("CRFKIT_DATA", str(tmp_path / "data"))
    assert find_camera_matrices() == sub / "libraw_cam_xyz.csv"  # then CRFKIT_DATA
    with pytest.raises(DataNotFoundError):
        find_camera_matrices(tmp_path / "missing.csv")


def test_channel_curves_are_monotone_and_average_to_the_drawn_curve():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        f = Curve.gamma(rng.uniform(1.2, 3.0)).values
        for jitter in (0.1, 0.3, 5.0):  # capped at 0.3
            c = channel_curves(f, rng, jitter)
            assert c.shape == (3, 1024)
            assert (np.diff(c, axis=1) >= -1e-12).all()
            assert np.allclose(c.mean(axis=0), f, atol=1e-12)
            assert np.allclose(c[:, 0], 0) and np.allclose(c[:, -1], 1)
            if jitter > 0:
                assert np.abs(c - f).max() > 1e-4  # the channels differ


def test_camera_output_shape_range_and_determinism(matrices):
    cfg = SynthesisConfig(patch=None, camera_pipeline=True, color_matrices=matrices)
    img = _images(1, 40)[0]
    f = Curve.gamma(2.2).values
    a = synthesize(img, f, np.random.default_rng(3), cfg)
    b = synthesize(img, f, np.random.default_rng(3), cfg)
    c = synthesize(img, f, np.random.default_rng(4), cfg)
    ldr, target, bad = a
    assert ldr.shape == img.shape and ldr.dtype == np.uint8
    assert target.shape == img.shape and target.dtype == np.float32
    assert 0.0 <= target.min() and target.max() <= 1.0 and 0.0 <= bad <= 1.0
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    s = synthesize_sample(_images(), _curves(), np.random.default_rng([1, 2]),
                          SynthesisConfig(patch=32, camera_pipeline=True, color_matrices=matrices))
    assert s["ldr"].shape == (32, 32, 3) and s["target"].shape == (32, 32, 3)


def test_camera_pipeline_is_close_to_the_curve_without_degradations(matrices):
    """No noise, blur, filters, cast or JPEG: the LDR is the drawn curve of the target, up to demosaicking."""
    cfg = SynthesisConfig(patch=None, camera_pipeline=True, color_matrices=matrices, jpeg_quality=None,
                          shot_max=0.0, read_max=0.0, illuminant_spread=0.0, wb_error=0.0, channel_curve_jitter=0.0,
                          denoise_max=0.0, sharpen_max=0.0, optical_blur=(0.0, 0.0), exposure_stops=0.0)
    # a smooth, grey-ish image (demosaicking is exact enough on it)
    y, x = np.mgrid[0:64, 0:64] / 64.0
    img = np.stack([0.2 + 0.3 * x, 0.25 + 0.3 * x, 0.2 + 0.3 * y], -1).astype(np.float32)
    ldr, target, _ = synthesize(img, Curve.gamma(2.2).values, np.random.default_rng(0), cfg)
    expected = np.clip(target, 0, 1) ** (1 / 2.2) * 255
    inner = (slice(2, -2), slice(2, -2))
    assert np.abs(ldr[inner].astype(float) - expected[inner]).mean() < 1.5
    # white balance and matrix undo the camera's colour: the target is the exposed image (nothing clips here)
    scale = np.median(target / img)
    assert np.allclose(target, img * scale, atol=2e-3)


def test_mode_off_reproduces_the_plain_camera_bit_for_bit(matrices):
    """The default config, and camera_pipeline=False with any camera settings, draw exactly as before."""
    img = _images(1, 40)[0]
    f = Curve.gamma(2.2).values
    # the plain camera, written out as it was before the camera mode existed
    rng = np.random.default_rng(11)
    cfg = SynthesisConfig(patch=None)
    lum = img @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    exposure = cfg.anchor / float(np.median(lum)) * 2.0 ** rng.uniform(-cfg.exposure_stops, cfg.exposure_stops)
    exposed = img * np.float32(exposure)
    sigma_s, sigma_r = rng.uniform(0.0, cfg.shot_max), rng.uniform(0.0, cfg.read_max)
    std = np.sqrt(sigma_s**2 * np.maximum(exposed, 0.0) + sigma_r**2).astype(np.float32)
    sensor = np.clip(exposed + std * rng.standard_normal(exposed.shape, dtype=np.float32), 0.0, 1.0)
    ldr8 = np.round(np.interp(sensor, np.linspace(0, 1, 1024), f).astype(np.float32) * 255.0).astype(np.uint8)
    import cv2

    ok, buf = cv2.imencode(".jpg", ldr8[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(rng.integers(90, 101))])
    expected = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    for c in (SynthesisConfig(patch=None),
              SynthesisConfig(patch=None, camera_pipeline=False, camera_fraction=0.5, color_matrices=matrices,
                              sharpen_max=0.1)):
        ldr, target, _ = synthesize(img, f, np.random.default_rng(11), c)
        assert np.array_equal(ldr, expected)
        assert np.array_equal(target, np.clip(exposed, 0.0, 1.0))
    # a sample mix: with camera_fraction < 1 some samples are plain and some go through the camera
    mix = SynthesisConfig(patch=32, camera_pipeline=True, camera_fraction=0.5, color_matrices=matrices)
    plain = SynthesisConfig(patch=32)
    same = [np.array_equal(synthesize_sample(_images(), _curves(), np.random.default_rng([5, i]), mix)["ldr"],
                           synthesize_sample(_images(), _curves(), np.random.default_rng([5, i]), plain)["ldr"])
            for i in range(12)]
    assert not any(same)  # the extra draw shifts the stream: the mix is its own, reproducible distribution


def test_training_with_the_camera_pipeline_from_init_weights(tmp_path, matrices, monkeypatch):
    torch = pytest.importorskip("torch")
    from _estimator_helpers import fake_basis

    from crfkit.estimators import training
    from crfkit.estimators._net import save_weights
    from crfkit.estimators.linearization_net import LinearizationNet
    from crfkit.synthesis import camera

    real_load = camera.load_camera_matrices
    monkeypatch.setattr(camera, "load_camera_matrices", lambda path=None: real_load(path or matrices))
    torch.manual_seed(0)
    net = LinearizationNet(width=0.125, basis=fake_basis(), patch=32)
    with torch.no_grad():
        net.head.weight.normal_(0, 0.3)
    save_weights(tmp_path / "init.pt", "linearization-net", net.config(), net.state_dict(), {"steps_done": 7})
    images = _images(3, 48)
    curves = CurveSet.from_curves([Curve.gamma(1.6 + 0.2 * i) for i in range(6)])
    cfg = training.TrainConfig(method="linearization-net", steps=2, batch_size=2, patch=32, lr=1e-9, seed=1,
                               width=0.125, val_every=1, val_curves=2, val_pairs=2, camera_pipeline=True,
                               camera_fraction=0.5, init_weights=str(tmp_path / "init.pt"))
    res = training.train(cfg, tmp_path / "run", checkpoint_every=1, log_every=1, progress=False,
                         data=(images, curves), basis=fake_basis(), threads=1)
    assert res["step"] == 2
    prov = json.loads((tmp_path / "run" / "weights.json").read_text())
    assert prov["init_weights"]["steps_done"] == 7 and len(prov["init_weights"]["sha256"]) == 64
    assert prov["synthesis"]["camera_pipeline"] and prov["synthesis"]["camera_fraction"] == 0.5
    assert prov["validation_synthesis"]["camera_fraction"] == 1.0 and prov["train_config"]["camera_pipeline"]
    # started from the init weights: step 0 of the validation scores them
    from crfkit.estimators._net import load_weights
    from crfkit.estimators.validation import Validator, split_validation_curves

    v = Validator("linearization-net", images, split_validation_curves(curves, 2)[1], 2,
                  config=cfg.synthesis_config(validation=True))
    init = LinearizationNet(width=0.125, basis=fake_basis(), patch=32)
    init.load_state_dict({k: t.float() for k, t in load_weights(tmp_path / "init.pt", "linearization-net")
                          ["state_dict"].items()})
    assert prov["val_history"][0]["val_curve_rmse"] == pytest.approx(v.score(init), rel=1e-3)
    # weights of another width are refused, naming the file
    wide = LinearizationNet(width=0.25, basis=fake_basis(), patch=32)
    save_weights(tmp_path / "wide.pt", "linearization-net", wide.config(), wide.state_dict())
    bad = training.TrainConfig(**{**cfg.__dict__, "init_weights": str(tmp_path / "wide.pt")})
    with pytest.raises(Exception, match="wide.pt"):
        training.train(bad, tmp_path / "run2", progress=False, data=(images, curves), basis=fake_basis(), threads=1)
