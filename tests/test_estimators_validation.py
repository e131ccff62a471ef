"""Validation during training: held-aside curves, best-weights selection, clipping, schedules."""

import json

import numpy as np
import pytest

from crfkit import Curve, CurveSet
from crfkit.errors import ValidationError

from _estimator_helpers import fake_basis as _basis


def _curves(n=6):
    return CurveSet.from_curves([Curve.gamma(1.6 + 0.2 * i) for i in range(n)])


def _train(tmp_path, name, steps, method="linearization-net", resume=False, **kw):
    pytest.importorskip("torch")
    from crfkit.estimators.training import TrainConfig, train

    rng = np.random.default_rng(0)
    images = [rng.gamma(1.0, 0.3, (48, 48, 3)).astype(np.float32) for _ in range(3)]
    opts = dict(val_every=2, val_curves=2, val_pairs=3)
    opts.update(kw)
    cfg = TrainConfig(method=method, steps=steps, batch_size=4, patch=32, lr=3e-3, seed=1, width=0.125, **opts)
    return train(cfg, tmp_path / name, resume=resume, checkpoint_every=2, log_every=2, progress=False,
                 data=(images, _curves()), basis=_basis(), threads=1)


def test_validation_curves_are_held_aside_deterministically():
    from crfkit.estimators.validation import split_validation_curves

    curves = _curves(10)
    tr, va = split_validation_curves(curves, 3)
    assert len(tr) == 7 and len(va) == 3
    assert not set(tr.names) & set(va.names) and set(tr.names) | set(va.names) == set(curves.names)
    tr2, va2 = split_validation_curves(curves, 3)
    assert list(va2.names) == list(va.names)
    assert split_validation_curves(curves, 0) == (curves, None)
    with pytest.raises(ValidationError, match="validation curves"):
        split_validation_curves(curves, 10)


@pytest.mark.realdata("dorfCurves.txt")
def test_validation_curves_come_from_the_dorf_training_split_only():
    from crfkit.estimators.validation import split_validation_curves
    from crfkit.synthesis import dorf_split

    train, test = dorf_split()
    tr, va = split_validation_curves(train, 16)
    assert len(tr) == 175 and len(va) == 16
    test_rows = {tuple(np.round(v, 9)) for v in test.values}
    assert not set(va.names) & set(test.names)
    assert not any(tuple(np.round(v, 9)) in test_rows for v in va.values)  # by value, not only by name
    assert not set(va.names) & set(tr.names)


def test_best_validation_weights_are_shipped(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from crfkit.estimators import validation

    scores = iter([0.5, 0.2, 0.4, 0.3])  # steps 0, 2, 4, 6: step 2 is the best
    monkeypatch.setattr(validation.Validator, "score", lambda self, model: next(scores))
    res = _train(tmp_path, "run", 6)
    assert res["step"] == 6
    run = tmp_path / "run"
    prov = json.loads((run / "weights.json").read_text())
    assert prov["best_step"] == 2 and prov["best_val_curve_rmse"] == 0.2
    assert [h["step"] for h in prov["val_history"]] == [0, 2, 4, 6]
    shipped = torch.load(run / "weights.pt", weights_only=True)
    last = torch.load(run / "weights_last.pt", weights_only=True)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert shipped["provenance"]["best_step"] == 2 and last["provenance"]["selected"] == "last step"
    best = ckpt["validation"]["best_state"]
    key = "head.weight"
    assert torch.equal(shipped["state_dict"][key], best[key].half())
    assert not torch.equal(shipped["state_dict"][key], last["state_dict"][key])
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if e["phase"] == "validate"] == [0, 2, 4, 6]
    assert all("loss" in e for e in res["losses"])  # validation entries stay out of the loss log


def test_validation_scores_the_real_estimator_and_resume_keeps_the_best(tmp_path):
    pytest.importorskip("torch")
    _train(tmp_path, "run", 4, method="crf-net", pretrain_steps=1)
    res = _train(tmp_path, "run", 6, method="crf-net", resume=True)
    assert res["step"] == 6
    prov = json.loads((tmp_path / "run" / "weights.json").read_text())
    hist = prov["val_history"]
    assert [h["step"] for h in hist] == [0, 2, 4, 6]
    assert all(np.isfinite(h["val_curve_rmse"]) and h["val_curve_rmse"] >= 0 for h in hist)
    assert prov["best_val_curve_rmse"] == min(h["val_curve_rmse"] for h in hist)
    assert len(prov["val_curves"]) == 2 and prov["val_pairs"] == 3


def test_no_validation_keeps_the_final_weights_and_every_curve(tmp_path):
    pytest.importorskip("torch")
    _train(tmp_path, "run", 2, val_every=0)
    prov = json.loads((tmp_path / "run" / "weights.json").read_text())
    assert "best_step" not in prov and not (tmp_path / "run" / "weights_last.pt").exists()


def test_gradient_clipping_option(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    calls = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **k):
        calls.append(max_norm)
        return real(params, max_norm, *a, **k)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    res = _train(tmp_path, "clip", 2, val_every=0, clip_grad=0.5)
    assert calls == [0.5, 0.5]
    assert "grad_norm" in res["losses"][-1]
    calls.clear()
    _train(tmp_path, "noclip", 2, val_every=0)
    assert calls == []


def test_learning_rate_schedule():
    from crfkit.estimators.schedule import lr_factor

    assert lr_factor(0, 100) == 1.0 and lr_factor(99, 100) == 1.0
    assert lr_factor(0, 100, "cosine", warmup=10) == pytest.approx(0.1)
    assert lr_factor(10, 100, "cosine", warmup=10) == pytest.approx(1.0)
    assert lr_factor(55, 100, "cosine", warmup=10) == pytest.approx(0.5)
    assert lr_factor(100, 100, "cosine") == pytest.approx(0.0)
    f = [lr_factor(s, 50, "cosine") for s in range(50)]
    assert all(a >= b for a, b in zip(f, f[1:]))
    with pytest.raises(ValidationError, match="schedule"):
        lr_factor(0, 10, "step")
