"""Contrast tone curves composed with the training curves (SynthesisConfig(tone_curves=p))."""

import numpy as np
import pytest

from crfkit import Curve, CurveSet
from crfkit.curves import GRID
from crfkit.synthesis import SynthesisConfig, synthesize, synthesize_sample
from crfkit.synthesis.pipeline import _crop
from crfkit.synthesis.tone import compose_tone, contrast_curve, draw_tone_params


def _images(n=3, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.gamma(1.0, 0.3, (size, size + 8, 3)).astype(np.float32) for _ in range(n)]


def _curves():
    return CurveSet.from_curves([Curve.gamma(g) for g in (1.5, 2.2, 3.0)])


@pytest.mark.parametrize("seed", range(20))
def test_tone_curve_monotone_with_fixed_endpoints(seed):
    rng = np.random.default_rng(seed)
    params = draw_tone_params(rng)
    t = contrast_curve(GRID, *params)
    assert t[0] == 0.0 and t[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(t) > 0)  # strictly increasing
    f = compose_tone(Curve.gamma(2.2).values, *params)
    assert f[0] == 0.0 and f[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(f) >= 0)


def test_tone_strength_zero_is_identity_and_strong_curve_brightens_midtones():
    f = Curve.gamma(2.2).values
    np.testing.assert_allclose(compose_tone(f, 0.0, 8.0, 0.3), f, atol=1e-12)
    t = contrast_curve(np.array([0.25, 0.75]), 1.0, 10.0, 0.3)
    assert t[0] > 0.25  # a low pivot lifts the dark-to-mid codes (a "picture style" contrast curve)


def test_draws_are_in_range_and_deterministic():
    a = [draw_tone_params(np.random.default_rng([5, k])) for k in range(50)]
    b = [draw_tone_params(np.random.default_rng([5, k])) for k in range(50)]
    assert a == b
    s, k, p = np.array(a).T
    assert np.all((0 <= s) & (s <= 1)) and np.all((3 <= k) & (k <= 12)) and np.all((0.2 <= p) & (p <= 0.6))


def test_samples_deterministic_from_seed():
    cfg = SynthesisConfig(patch=32, tone_curves=0.5)
    for i in range(6):
        a = synthesize_sample(_images(), _curves(), np.random.default_rng([3, i]), cfg)
        b = synthesize_sample(_images(), _curves(), np.random.default_rng([3, i]), cfg)
        assert np.array_equal(a["ldr"], b["ldr"]) and np.array_equal(a["target"], b["target"])
        assert np.array_equal(a["forward"], b["forward"]) and a["tone"] == b["tone"]


def test_off_reproduces_the_plain_synthesis_bit_for_bit():
    images, curves = _images(), _curves()
    for cfg in (SynthesisConfig(patch=32), SynthesisConfig(patch=32, tone_curves=0.0)):
        for i in range(6):
            s = synthesize_sample(images, curves, np.random.default_rng([1, i]), cfg)
            # the plain sampler, draw by draw (what synthesize_sample did before tone curves existed)
            rng = np.random.default_rng([1, i])
            for _ in range(cfg.max_tries):
                j = int(rng.integers(len(images)))
                crop = _crop(images[j], cfg.patch, rng, cfg.flip)
                label = int(rng.integers(len(curves)))
                ldr, target, bad = synthesize(crop, curves.values[label], rng, cfg)
                if bad <= cfg.max_bad_fraction:
                    break
            assert np.array_equal(s["ldr"], ldr) and np.array_equal(s["target"], target)
            assert s["label"] == label and s["image"] == j
            assert "forward" not in s and "tone" not in s


def test_target_curve_is_the_applied_curve():
    # no noise, no JPEG: the 8-bit image is exactly the returned forward curve applied to the target
    cfg = SynthesisConfig(patch=32, tone_curves=1.0, jpeg_quality=None, shot_max=0.0, read_max=0.0)
    images, curves = _images(), _curves()
    differs = 0
    for i in range(8):
        s = synthesize_sample(images, curves, np.random.default_rng([2, i]), cfg)
        assert s["tone"] is not None
        expected = np.round(np.interp(s["target"], GRID, s["forward"]).astype(np.float32) * 255.0).astype(np.uint8)
        assert np.array_equal(s["ldr"], expected)
        np.testing.assert_array_equal(s["forward"], compose_tone(curves.values[s["label"]], *s["tone"]))
        plain = np.round(np.interp(s["target"], GRID, curves.values[s["label"]]) * 255.0).astype(np.uint8)
        differs += not np.array_equal(s["ldr"], plain)
    assert differs >= 6  # the tone curve changed the image in (nearly) every sample


def test_share_of_samples_with_a_tone_curve():
    cfg = SynthesisConfig(patch=32, tone_curves=0.5)
    tones = [synthesize_sample(_images(), _curves(), np.random.default_rng([4, i]), cfg)["tone"] for i in range(60)]
    n = sum(t is not None for t in tones)
    assert 15 <= n <= 45


def test_dataset_targets_are_the_composed_curve():
    torch = pytest.importorskip("torch")
    from crfkit.curves.curve import invert_values
    from crfkit.synthesis.dataset import SyntheticCRFDataset

    curves = _curves()
    ds = SyntheticCRFDataset(_images(), curves, seed=7, config=SynthesisConfig(patch=32, tone_curves=0.5))
    plain = SyntheticCRFDataset(_images(), curves, seed=7, config=SynthesisConfig(patch=32))
    seen = set()
    for i in range(12):
        item = ds[i]
        s = synthesize_sample(ds.images, curves, np.random.default_rng([7, i]), ds.config)
        assert np.array_equal(item["forward"].numpy(), np.asarray(s["forward"], dtype=np.float32))
        inv = np.asarray(invert_values(np.asarray(s["forward"], dtype=np.float64)), dtype=np.float32).reshape(-1)
        np.testing.assert_allclose(item["inverse"].numpy(), inv, atol=1e-6)
        seen.add(s["tone"] is not None)
        p = plain[i]
        assert torch.equal(p["forward"], plain.forward[p["label"]]) and torch.equal(p["inverse"], plain.inverse[p["label"]])
    assert seen == {True, False}


def test_train_config_passes_the_share():
    pytest.importorskip("torch")
    from crfkit.estimators.training import TrainConfig

    assert TrainConfig(method="crf-net", tone_curves=0.5).synthesis_config().tone_curves == 0.5
    assert TrainConfig(method="crf-net").synthesis_config() == SynthesisConfig(patch=128)
    assert TrainConfig(method="crf-net", tone_curves=0.5).synthesis_config(validation=True).tone_curves == 0.0


@pytest.mark.parametrize("extra, message", [
    (["crf-net", "--tone-curves", "1.5"], "--tone-curves must be in [0, 1]"),
    (["restoration", "--tone-curves", "0.5"], "--tone-curves apply to crf-net and linearization-net only"),
])
def test_cli_rejects_bad_tone_curve_options(tmp_path, capsys, extra, message):
    from crfkit.cli import main

    rc = main(["train", extra[0], "--images", str(tmp_path), "--out", str(tmp_path / "run"), *extra[1:]])
    assert rc != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
