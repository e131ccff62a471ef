"""Training of the neural estimators (``crfkit train``).

One loop serves both nets: synthetic batches from
:class:`~crfkit.synthesis.dataset.SyntheticCRFDataset`, Adam, progress bar,
periodic atomic checkpoints, ``resume``, deterministic seeds, CPU or CUDA
automatically, and DistributedDataParallel when started by ``torchrun``
(``WORLD_SIZE > 1`` in the environment; nothing else changes).
"""

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_path, atomic_write_text
from .._optional import require
from ..errors import DataNotFoundError, ValidationError

torch = require("torch", "torch", feature="training the CRF estimators")

METHODS = {
    "crf-net": "crfkit.estimators.crf_net",
    "linearization-net": "crfkit.estimators.linearization_net",
}


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint).

    Attributes
    ----------
    method : str
        ``'crf-net'`` or ``'linearization-net'``.
    images : list of str
        Folders of training images (``.hdr``/``.exr`` and ordinary photos).
    steps : int
        Total optimisation steps (over all resumes).
    batch_size, patch, lr, seed, width : as named
    pretrain_steps : int
        CRF-net only: classification steps before regression.
    test_fraction : float
        Fraction of images held out (by a hash of the file name), never trained on.
    short_side : int
        Training images are downscaled to this short side.
    val_every : int
        Score a fixed validation set every this many steps and ship the best
        weights as ``weights.pt`` (0: no validation, the final weights).
    val_curves, val_pairs : int
        Training curves held aside for validation, and (training image, held-aside
        curve) pairs rendered (see :mod:`crfkit.estimators.validation`).
    clip_grad : float
        Clip the gradient norm to this value (0: no clipping).
    lr_schedule, warmup : str, int
        ``'constant'`` or ``'cosine'`` (to 0 at ``steps``), after ``warmup`` linear warm-up steps.
    """

    method: str = "linearization-net"
    images: list = field(default_factory=list)
    steps: int = 1000
    batch_size: int = 8
    patch: int = 128
    lr: float = 1e-4
    seed: int = 0
    width: float = 1.0
    pretrain_steps: int = 0
    test_fraction: float = 0.15
    short_side: int = 384
    val_every: int = 0
    val_curves: int = 16
    val_pairs: int = 48
    clip_grad: float = 0.0
    lr_schedule: str = "constant"
    warmup: int = 0

    def model_config(self):
        if self.method == "crf-net":
            return {"width": self.width, "patch": self.patch, "n_classes": 191}
        return {"width": self.width, "patch": self.patch}


def _dist_info():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def _git_commit():
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:
        return None


def _seed_everything(seed):
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(_):
    torch.set_num_threads(1)  # each data worker is one process; do not oversubscribe the cores


def load_training_data(cfg):
    """Images (train split) and DoRF training curves for ``cfg``; also returns the held-out file names."""
    from ..synthesis import dorf_split, find_training_images, load_linear_images, split_images

    paths = find_training_images(cfg.images)
    train_paths, test_paths = split_images(paths, cfg.test_fraction)
    if not train_paths:
        raise DataNotFoundError("every image fell into the held-out split; give more images or a smaller --test-fraction")
    images = load_linear_images(train_paths, short_side=cfg.short_side, min_size=cfg.patch)
    train_curves, _ = dorf_split()
    return images, train_curves, [p.name for p in train_paths], [p.name for p in test_paths]


def _basis(method):
    from ..data import load_emor

    e = load_emor(inverse=(method == "linearization-net"))
    return e.mean, e.components


def train(cfg, out, resume=False, max_minutes=None, workers=0, threads=None, device=None, checkpoint_every=100,
          log_every=10, progress=True, data=None, basis=None):
    """Train an estimator; write ``checkpoint.pt``, ``weights.pt``, ``weights.json`` and ``log.jsonl`` to ``out``.

    Parameters
    ----------
    cfg : TrainConfig
    out : str or Path
        Run folder (created).
    resume : bool
        Continue from ``out/checkpoint.pt``: its config is used, except that a
        non-zero ``cfg.steps`` sets a new total.
    max_minutes : float, optional
        Stop (with a checkpoint) after this much wall-clock time in this call.
    workers : int
        DataLoader worker processes synthesising batches.
    threads : int, optional
        Torch intra-op threads.
    device : str, optional
        Default: CUDA when available (the local rank's GPU under torchrun).
    checkpoint_every, log_every : int
        In steps.
    progress : bool
        Show a tqdm progress bar (rank 0 only).
    data : tuple, optional
        ``(images, curves)`` to use instead of loading ``cfg.images`` (tests).
    basis : tuple, optional
        ``(mean, components)`` instead of the official (inverse) EMoR basis (tests).

    Returns
    -------
    dict
        ``step``, ``losses`` (per logged interval), ``out``.
    """
    import importlib

    from tqdm.auto import tqdm

    from ..synthesis import SynthesisConfig
    from ..synthesis.dataset import StepBatchSampler, SyntheticCRFDataset
    from ._net import WEIGHTS_FORMAT, pick_device, save_weights
    from .schedule import lr_factor

    if cfg.method not in METHODS:
        raise ValidationError(f"unknown method {cfg.method!r}; trainable: {', '.join(METHODS)}")
    out = Path(out)
    rank, world, local_rank = _dist_info()
    if threads:
        torch.set_num_threads(int(threads))
    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume:
        if not ckpt_path.is_file():
            raise DataNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state.get("format") != "crfkit-checkpoint":
            raise ValidationError(f"{ckpt_path}: not a crfkit training checkpoint")
        steps = cfg.steps
        cfg = TrainConfig(**state["train_config"])
        if steps:  # an explicit new total; 0 keeps the checkpoint's
            cfg.steps = steps
    elif ckpt_path.exists():
        raise ValidationError(f"{out} already holds a checkpoint; use --resume to continue it or another --out")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        dev = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
    else:
        dev = pick_device(device)

    _seed_everything(cfg.seed)
    module = importlib.import_module(METHODS[cfg.method])
    if data is None:
        images, curves, train_names, test_names = load_training_data(cfg)
    else:
        images, curves = data
        train_names, test_names = [], []
    validator = None
    if cfg.val_every > 0:
        from .validation import Validator, split_validation_curves

        curves, val_curves = split_validation_curves(curves, cfg.val_curves)  # never trained on
        if rank == 0:
            validator = Validator(cfg.method, images, val_curves, cfg.val_pairs, seed=0)
    model = module.build_model(cfg.model_config(), basis=basis if basis is not None else _basis(cfg.method)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start = 0
    log = []
    elapsed_before = 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log = list(state.get("log", []))
        elapsed_before = float(state.get("elapsed_s", 0.0))
        torch.set_rng_state(state["torch_rng"])
        if validator is not None:
            validator.load_state(state.get("validation"))
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=cfg.method == "crf-net"
        )
    synth = SynthesisConfig(patch=cfg.patch)
    dataset = SyntheticCRFDataset(images, curves, seed=cfg.seed, config=synth)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(cfg.batch_size, start, cfg.steps, rank, world),
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        pin_memory=dev.type == "cuda",
    )

    def save_checkpoint(step, elapsed):
        if rank != 0:
            return
        blob = {
            "format": "crfkit-checkpoint",
            "format_version": 1,
            "method": cfg.method,
            "config": cfg.model_config(),
            "train_config": asdict(cfg),
            "model": model.state_dict(),
            "state_dict": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "elapsed_s": elapsed,
            "log": log,
            "torch_rng": torch.get_rng_state(),
            "held_out_images": test_names,
            "validation": validator.state() if validator is not None else None,
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(blob, tmp)

    t0 = time.time()
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress or rank != 0, desc=f"train {cfg.method}",
               dynamic_ncols=True, file=sys.stderr)
    acc = {}
    n_acc = 0
    step = start
    model.train()
    stopped_early = False
    last_phase = None

    def flush(phase):
        nonlocal acc, n_acc
        if not n_acc:
            return
        entry = {"step": step, "phase": phase, "elapsed_s": round(elapsed_before + time.time() - t0, 1)}
        entry.update({k: v / n_acc for k, v in acc.items()})
        log.append(entry)
        bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k not in ("step", "elapsed_s", "phase")})
        if rank == 0:
            with open(out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(entry) + "\n")
        acc, n_acc = {}, 0

    def validate(at):
        entry = validator.update(model, at)
        entry.update(phase="validate", elapsed_s=round(elapsed_before + time.time() - t0, 1))
        with open(out / "log.jsonl", "a") as fh:
            fh.write(json.dumps(entry) + "\n")
        bar.write(f"step {at}: validation inverse-CRF RMSE {entry['val_curve_rmse']:.5f}"
                  + (" (best)" if entry["best"] else f" (best {validator.best_score:.5f} at step {validator.best_step})"))

    if validator is not None and not validator.history:
        validate(start)  # the untrained net predicts the mean curve: the constant-curve reference
    for batch in loader:
        phase = "classify" if cfg.method == "crf-net" and step < cfg.pretrain_steps else "regress"
        if last_phase is not None and phase != last_phase:
            flush(last_phase)  # never average a cross-entropy with a curve MSE
        last_phase = phase
        batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
        loss, metrics = module.training_loss(net, batch, phase)
        if cfg.lr_schedule != "constant" or cfg.warmup:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, cfg.steps, cfg.lr_schedule, cfg.warmup)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad > 0:
            metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad))
        opt.step()
        step += 1
        metrics["loss"] = float(loss.detach())
        for k, v in metrics.items():
            acc[k] = acc.get(k, 0.0) + v
        n_acc += 1
        bar.update(1)
        if step % log_every == 0 or step == cfg.steps:
            flush(phase)
        if validator is not None and (step % cfg.val_every == 0 or step == cfg.steps):
            validate(step)
        if step % checkpoint_every == 0:
            save_checkpoint(step, elapsed_before + time.time() - t0)
        if max_minutes is not None and time.time() - t0 > 60.0 * max_minutes:
            stopped_early = step < cfg.steps
            break
    if last_phase is not None:
        flush(last_phase)
    if validator is not None and validator.history[-1]["step"] != step:
        validate(step)  # stopped by the time limit between validations
    bar.close()
    elapsed = elapsed_before + time.time() - t0
    save_checkpoint(step, elapsed)
    if rank == 0:
        provenance = {
            "method": cfg.method,
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]) if sys.argv else "",
            "train_config": asdict(cfg),
            "steps_done": step,
            "stopped_by_time_limit": stopped_early,
            "train_seconds": round(elapsed, 1),
            "train_images": train_names,
            "held_out_images": test_names,
            "curves": "DoRF training split (RandomState(730) shuffle, first 191)",
            "final_log": log[-1] if log else None,
            "device": str(dev) + (f" x{world}" if world > 1 else ""),
            "torch": str(torch.__version__),
            "python": platform.python_version(),
            "crfkit_commit": _git_commit(),
            "weights_format": WEIGHTS_FORMAT,
        }
        final_state = model.state_dict()
        if validator is not None and validator.best_state is not None:
            provenance.update(validator.summary())
            save_weights(out / "weights_last.pt", cfg.method, cfg.model_config(), final_state,
                         dict(provenance, selected="last step"))
            final_state = validator.best_state
        save_weights(out / "weights.pt", cfg.method, cfg.model_config(), final_state, provenance)
        atomic_write_text(out / "weights.json", json.dumps(provenance, indent=2) + "\n")
    if world > 1:
        torch.distributed.destroy_process_group()
    return {"step": step, "losses": log, "out": str(out), "stopped_early": stopped_early}
