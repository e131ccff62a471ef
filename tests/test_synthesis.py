"""Training-data synthesis: the split, the camera model, reproducibility, the Dataset."""

import numpy as np
import pytest

from crfkit import Curve, CurveSet
from crfkit.errors import DataNotFoundError, ValidationError
from crfkit.synthesis import SynthesisConfig, split_images, synthesize, synthesize_sample
from crfkit.synthesis.sources import srgb_to_linear


def _images(n=3, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.gamma(1.0, 0.3, (size, size + 8, 3)).astype(np.float32) for _ in range(n)]


def _curves():
    return CurveSet.from_curves([Curve.gamma(g) for g in (1.5, 2.2, 3.0)])


@pytest.mark.realdata
def test_dorf_split_is_liu_et_al():
    from crfkit import load_curves
    from crfkit.synthesis import dorf_split

    dorf = load_curves("dorf")
    train, test = dorf_split(dorf)
    assert len(train) == 191 and len(test) == 10
    order = np.arange(201)
    np.random.RandomState(730).shuffle(order)
    assert list(test.names) == [dorf.names[i] for i in order[-10:]]
    assert not set(train.names) & set(test.names) or len(set(dorf.names)) < 201


def test_synthesize_camera_model():
    cfg = SynthesisConfig(patch=None, jpeg_quality=None, shot_max=0.0, read_max=0.0, exposure_stops=0.0, anchor=0.2)
    lin = np.tile(np.linspace(0.01, 1.0, 64, dtype=np.float32)[None, :, None], (8, 1, 3))
    ldr, target, bad = synthesize(lin, Curve.gamma(2.2).values, np.random.default_rng(0), cfg)
    assert ldr.dtype == np.uint8 and target.dtype == np.float32
    assert target.max() <= 1.0 and target.min() >= 0.0
    # noise-free, no JPEG: the 8-bit value is the quantised CRF of the clipped exposure
    expected = np.round(np.clip(target, 0, 1) ** (1 / 2.2) * 255)
    assert np.abs(ldr.astype(float) - expected).max() <= 1
    assert 0.0 <= bad <= 1.0


def test_synthesize_sample_is_reproducible_and_drops_bad_exposures():
    imgs, curves = _images(), _curves()
    cfg = SynthesisConfig(patch=32)
    a = synthesize_sample(imgs, curves, np.random.default_rng([7, 3]), cfg)
    b = synthesize_sample(imgs, curves, np.random.default_rng([7, 3]), cfg)
    c = synthesize_sample(imgs, curves, np.random.default_rng([7, 4]), cfg)
    assert np.array_equal(a["ldr"], b["ldr"]) and a["label"] == b["label"]
    assert not np.array_equal(a["ldr"], c["ldr"])
    assert a["ldr"].shape == (32, 32, 3)
    # an all-black source can never pass the exposure check: accepted after max_tries
    dark = [np.zeros((40, 40, 3), np.float32)]
    noiseless = SynthesisConfig(patch=32, max_tries=3, read_max=0.0, shot_max=0.0)
    s = synthesize_sample(dark, curves, np.random.default_rng(0), noiseless)
    assert s["tries"] == 3 and s["bad_fraction"] > 0.5
    ok = [synthesize_sample(imgs, curves, np.random.default_rng([1, i]), cfg) for i in range(20)]
    assert all(o["bad_fraction"] <= 0.5 for o in ok)


def test_patch_larger_than_image_is_an_error():
    with pytest.raises(ValidationError, match="smaller than the patch"):
        synthesize_sample(_images(1, 16), _curves(), np.random.default_rng(0), SynthesisConfig(patch=32))


def test_split_images_is_stable_and_disjoint(tmp_path):
    from pathlib import Path

    names = [f"img{i:03d}.png" for i in range(200)]
    train, test = split_images([Path("/a") / n for n in names], 0.15)
    train2, test2 = split_images([Path("/b") / n for n in reversed(names)], 0.15)
    assert {p.name for p in test} == {p.name for p in test2}
    assert not {p.name for p in train} & {p.name for p in test}
    assert 10 < len(test) < 50
    with pytest.raises(ValidationError):
        split_images([], 1.5)
    from crfkit.synthesis import find_training_images

    with pytest.raises(DataNotFoundError):
        find_training_images([tmp_path])


def test_srgb_inverse_endpoints():
    v = srgb_to_linear(np.array([0.0, 0.04045, 1.0]))
    np.testing.assert_allclose(v, [0.0, 0.04045 / 12.92, 1.0], rtol=1e-6)


def test_load_linear_image_photo_and_exr(tmp_path):
    import imageio.v3 as iio

    from crfkit.synthesis import load_linear_image

    iio.imwrite(tmp_path / "p.png", np.full((20, 30, 3), 255, np.uint8))
    li = load_linear_image(tmp_path / "p.png")
    assert li.source == "photo" and li.pixels.shape == (20, 30, 3) and np.allclose(li.pixels, 1.0)
    pytest.importorskip("OpenEXR")
    from crfkit.io.hdr import write_exr

    pano = np.ones((100, 200, 3), np.float32)
    pano[:5] = -1.0  # negatives are clamped; 2:1 panoramas keep the horizon band
    write_exr(tmp_path / "pano.exr", pano)
    li = load_linear_image(tmp_path / "pano.exr", short_side=25)
    assert li.source == "hdr" and li.pixels.shape == (25, 100, 3) and li.pixels.min() >= 0


def test_torch_dataset_is_deterministic_and_worker_independent():
    torch = pytest.importorskip("torch")
    from crfkit.synthesis.dataset import StepBatchSampler, SyntheticCRFDataset

    ds = SyntheticCRFDataset(_images(), _curves(), seed=5, config=SynthesisConfig(patch=32))
    item = ds[11]
    assert item["ldr"].shape == (3, 32, 32) and item["target"].shape == (3, 32, 32)
    assert item["forward"].shape == (1024,) and item["inverse"].shape == (1024,)
    assert torch.equal(item["ldr"], ds[11]["ldr"])
    assert float(item["ldr"].max()) <= 1.0
    sampler = StepBatchSampler(4, start_step=2, stop_step=4, rank=1, world=2)
    assert list(sampler) == [list(range(20, 24)), list(range(28, 32))]
    loader = torch.utils.data.DataLoader(ds, batch_sampler=StepBatchSampler(4, 0, 2), num_workers=2)
    batches = list(loader)
    assert torch.equal(batches[1]["ldr"][3], ds[7]["ldr"])
