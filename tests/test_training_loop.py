"""The training loop shared by every `crfkit train` method (crfkit._training)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from crfkit._training import TrainLoop, read_checkpoint  # noqa: E402
from crfkit.errors import DataNotFoundError, ValidationError  # noqa: E402


def _loop(out, model, **kw):
    opts = dict(method="toy", train_config={"steps": 6}, model_config={}, steps=6, lr=0.1, progress=False,
                log_every=2, checkpoint_every=3)
    opts.update(kw)
    return TrainLoop(out, model, **opts)


def _batches(n, start=0):
    # sample i depends only on i, as the step-indexed loaders guarantee
    for i in range(start, n):
        g = torch.Generator().manual_seed(i)
        x = torch.randn(4, 2, generator=g)
        yield {"x": x, "y": x @ torch.tensor([[2.0], [-1.0]])}


def _loss(model):
    return lambda batch, phase: (((model(batch["x"]) - batch["y"]) ** 2).mean(), {})


def test_loop_logs_checkpoints_and_resumes_to_the_same_weights(tmp_path):
    torch.manual_seed(0)
    a = torch.nn.Linear(2, 1)
    init = {k: v.clone() for k, v in a.state_dict().items()}
    loop = _loop(tmp_path / "a", a)
    (tmp_path / "a").mkdir()
    loop.log_event("start")
    assert loop.run(_batches(6), _loss(a), lambda s: "one" if s < 4 else "two") == 6
    loop.finish()
    log = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [e.get("event", e.get("phase")) for e in log] == ["start", "one", "one", "two"]
    assert all(e["lr"] == 0.1 for e in log[1:])
    assert log[1]["loss"] > log[-1]["loss"]  # it learns
    # 3 steps, a killed run's stale log line, then resume: the same weights as 6 at once, a clean log
    b = torch.nn.Linear(2, 1)
    b.load_state_dict(init)
    (tmp_path / "b").mkdir()
    first = _loop(tmp_path / "b", b, max_minutes=None)
    first.log_event("start")
    first.run(_batches(3), _loss(b), lambda s: "one" if s < 4 else "two")
    first.finish()
    with open(tmp_path / "b" / "log.jsonl", "a") as fh:
        fh.write(json.dumps({"step": 5, "phase": "stale"}) + "\n")
    state = read_checkpoint(tmp_path / "b" / "checkpoint.pt", "toy")
    c = torch.nn.Linear(2, 1)
    again = _loop(tmp_path / "b", c, state=state)
    assert again.step == 3
    again.log_event("resume")
    again.run(_batches(6, start=3), _loss(c), lambda s: "one" if s < 4 else "two")
    for k, v in a.state_dict().items():
        torch.testing.assert_close(c.state_dict()[k], v)
    lines = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert "stale" not in [e.get("phase") for e in lines] and lines[-1]["step"] == 6


def test_schedule_clipping_divergence_and_time_limit(tmp_path):
    (tmp_path / "r").mkdir()
    m = torch.nn.Linear(2, 1)
    loop = _loop(tmp_path / "r", m, lr_schedule="cosine", clip_grad=0.5, log_every=1)
    loop.run(_batches(6), _loss(m), lambda s: "p")
    lrs = [e["lr"] for e in loop.losses()]
    np.testing.assert_allclose(lrs, [0.1 * 0.5 * (1 + np.cos(np.pi * i / 6)) for i in range(6)], rtol=1e-9)
    assert all("grad_norm" in e for e in loop.losses())
    bad = _loop(tmp_path / "r", m)
    with pytest.raises(ValidationError, match="diverged at step 0"):
        bad.run(_batches(2), lambda batch, phase: (torch.tensor(float("nan"), requires_grad=True), {}),
                lambda s: "p")
    quick = _loop(tmp_path / "r", m, max_minutes=0.0)
    assert quick.run(_batches(6), _loss(m), lambda s: "p") == 1 and quick.stopped_early


def test_read_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValidationError, match="junk.pt: not a readable crfkit checkpoint"):
        read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(ValidationError, match="other.pt: not a crfkit training checkpoint"):
        read_checkpoint(other)
    torch.save({"format": "crfkit-checkpoint", "method": "crf-net"}, other)
    with pytest.raises(ValidationError, match="a crf-net checkpoint, not masked-unet"):
        read_checkpoint(other, "masked-unet")
