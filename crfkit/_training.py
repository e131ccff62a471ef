"""The training machinery shared by every ``crfkit train`` method (estimators and restoration).

One loop: step-indexed batches (sample ``i`` depends only on ``(seed, i)``, so
a resumed run sees exactly the batches it would have seen), Adam with an
optional learning-rate schedule and gradient clipping, a tqdm progress bar,
a ``log.jsonl`` of averaged losses and events, atomic checkpoints every few
steps and at every phase change, a wall-clock limit, CPU or CUDA
automatically, and DistributedDataParallel when started by ``torchrun``
(``WORLD_SIZE > 1`` in the environment; nothing else changes).  The methods
supply the model, the dataset, the loss of one batch and the provenance of
their weights.
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._io import atomic_path, atomic_write_text
from ._optional import require
from .errors import DataNotFoundError, ValidationError

torch = require("torch", "torch", feature="training crfkit's networks")

from .estimators._net import CHECKPOINT_FORMAT, WEIGHTS_FORMAT, pick_device, save_weights  # noqa: E402
from .estimators.schedule import lr_factor  # noqa: E402


def dist_info():
    """``(rank, world_size, local_rank)`` from the torchrun environment ((0, 1, 0) otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def git_commit():
    """The crfkit checkout's commit (None outside a git checkout)."""
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:
        return None


def seed_everything(seed):
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_init(_):
    torch.set_num_threads(1)  # each data worker is one process; do not oversubscribe the cores


def load_image_split(folders, test_fraction, short_side, min_size, what="image"):
    """Training images of ``folders`` and the held-out split's paths.

    Returns
    -------
    images : list of LinearImage
        The train split, loaded linear and downscaled to ``short_side``.
    train_paths, test_paths : list of Path
        Held out by a hash of the file name (:func:`crfkit.synthesis.split_images`), never trained on.
    """
    from .synthesis import find_training_images, load_linear_images, split_images

    train_paths, test_paths = split_images(find_training_images(folders), test_fraction)
    if not train_paths:
        raise DataNotFoundError(
            f"every {what} fell into the held-out split; give more images or a smaller --test-fraction")
    return load_linear_images(train_paths, short_side=short_side, min_size=min_size), train_paths, test_paths


def setup_device(device, world, local_rank):
    """The device of this process; under torchrun also joins the process group."""
    if world <= 1:
        return pick_device(device)
    torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dev = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


def read_checkpoint(path, method=None):
    """The state saved by :meth:`TrainLoop.save_checkpoint`; errors name the file.

    Parameters
    ----------
    path : Path
    method : str or collection of str, optional
        Method(s) the checkpoint must belong to.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"--resume: no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValidationError(f"{path}: not a readable crfkit checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValidationError(f"{path}: not a crfkit training checkpoint")
    allowed = {method} if isinstance(method, str) else set(method or ())
    if allowed and state.get("method") not in allowed:
        raise ValidationError(f"{path}: a {state.get('method')} checkpoint, not {' or '.join(sorted(allowed))}")
    return state


def step_loader(dataset, batch_size, start, steps, rank, world, workers, dev):
    """DataLoader yielding the batches of steps ``start .. steps - 1`` (this rank's share)."""
    from .synthesis.dataset import StepBatchSampler

    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(batch_size, start, steps, rank, world),
        num_workers=workers,
        worker_init_fn=worker_init if workers else None,
        pin_memory=dev.type == "cuda",
    )


def wrap_ddp(model, dev, world, find_unused_parameters=False):
    """``model`` itself, or its DistributedDataParallel wrapper under torchrun."""
    if world <= 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=find_unused_parameters)


class TrainLoop:
    """Optimisation steps with logging, checkpoints, a schedule and a time limit.

    Parameters
    ----------
    out : Path
        Run folder (``checkpoint.pt``, ``log.jsonl``).
    model : torch.nn.Module
        The model whose state is checkpointed (not its DDP wrapper).
    method : str
        Method name stored in the checkpoint.
    train_config : dict
        Saved in the checkpoint (``train_config``); ``model_config`` as ``config``.
    steps, lr : int, float
        Total steps of the run and the base learning rate.
    lr_schedule, warmup : str, int
        See :func:`crfkit.estimators.schedule.lr_factor`.
    clip_grad : float
        Clip the gradient norm to this (0: off); the norm is then logged as ``grad_norm``.
    state : dict, optional
        A checkpoint to resume from (:func:`read_checkpoint`): model, optimiser,
        step, log, elapsed time and torch RNG state are restored.
    checkpoint_extra : callable, optional
        Returns more entries for each checkpoint.
    entry_extra : dict, optional
        Added to every logged loss entry.
    rank : int
        Only rank 0 writes files.
    """

    def __init__(self, out, model, *, method, train_config, model_config, steps, lr, lr_schedule="constant",
                 warmup=0, clip_grad=0.0, state=None, checkpoint_extra=None, entry_extra=None, rank=0,
                 log_every=10, checkpoint_every=100, max_minutes=None, progress=True, desc=None):
        from tqdm.auto import tqdm

        self.out, self.model, self.method = Path(out), model, method
        self.train_config, self.model_config = train_config, model_config
        self.steps, self.lr, self.lr_schedule, self.warmup = int(steps), float(lr), lr_schedule, int(warmup)
        self.clip_grad = float(clip_grad)
        self.checkpoint_extra = checkpoint_extra or (lambda: {})
        self.entry_extra = dict(entry_extra or {})
        self.rank, self.log_every, self.checkpoint_every = rank, int(log_every), int(checkpoint_every)
        self.max_minutes = max_minutes
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        self.step, self.log, self.elapsed_before = 0, [], 0.0
        if state is not None:
            model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.log = list(state.get("log", []))
            self.elapsed_before = float(state.get("elapsed_s", 0.0))
            torch.set_rng_state(state["torch_rng"])
        self.stopped_early = False
        self._t0 = time.time()
        self._acc, self._n_acc = {}, 0
        self.bar = tqdm(total=self.steps, initial=self.step, disable=not progress or rank != 0,
                        desc=desc or f"train {method}", dynamic_ncols=True, file=sys.stderr)

    @property
    def elapsed(self):
        """Seconds of training over all calls."""
        return self.elapsed_before + time.time() - self._t0

    def _append_file(self, entry):
        if self.rank == 0:
            with open(self.out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(entry) + "\n")

    def log_event(self, event, **fields):
        """Record an event (start, resume, ...) in the log and the checkpoint's history.

        On resume ``log.jsonl`` is first rewritten from the checkpoint: a killed
        run may have logged past its last checkpoint, and the file must tell
        the same story as the weights.
        """
        entry = {"step": self.step, "event": event, **fields}
        if self.rank == 0 and event == "resume":
            atomic_write_text(self.out / "log.jsonl", "".join(json.dumps(e) + "\n" for e in self.log))
        self.log.append(entry)
        self._append_file(entry)

    def write_entry(self, entry):
        """Append an entry to ``log.jsonl`` only (e.g. a validation score kept elsewhere)."""
        self._append_file(entry)

    def flush(self, phase):
        """Log the losses averaged since the last flush."""
        if not self._n_acc:
            return
        entry = {"step": self.step, "phase": phase, **self.entry_extra, "elapsed_s": round(self.elapsed, 1)}
        entry.update({k: v / self._n_acc for k, v in self._acc.items()})
        entry["lr"] = self.optimizer.param_groups[0]["lr"]
        self.log.append(entry)
        self.bar.set_postfix({"loss": f"{entry.get('loss', float('nan')):.4g}", "phase": phase})
        self._append_file(entry)
        self._acc, self._n_acc = {}, 0

    def save_checkpoint(self):
        if self.rank != 0:
            return
        blob = {
            "format": CHECKPOINT_FORMAT,
            "format_version": 1,
            "method": self.method,
            "config": self.model_config,
            "train_config": self.train_config,
            "model": self.model.state_dict(),
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed_s": self.elapsed,
            "log": self.log,
            "torch_rng": torch.get_rng_state(),
            **self.checkpoint_extra(),
        }
        with atomic_path(self.out / "checkpoint.pt") as tmp:
            torch.save(blob, tmp)

    def run(self, loader, step_loss, phase_of, after_step=None, device=None):
        """Optimise over ``loader``; returns the last step.

        Parameters
        ----------
        loader : iterable of dict of tensors
            One batch per step, from ``self.step`` on.
        step_loss : callable ``(batch, phase) -> (loss tensor, metrics dict)``
        phase_of : callable ``step -> str``
            Losses of different phases are never averaged together; a phase
            change flushes the log and writes a checkpoint.
        after_step : callable ``step -> None``, optional
            Called after every step (validation).
        device : torch.device
            Batches are moved there.
        """
        self.model.train()
        last_phase = None
        for batch in loader:
            phase = phase_of(self.step)
            if last_phase is not None and phase != last_phase:
                self.flush(last_phase)
                self.save_checkpoint()
            last_phase = phase
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            loss, metrics = step_loss(batch, phase)
            if not torch.isfinite(loss):
                raise ValidationError(
                    f"training diverged at step {self.step} (loss {float(loss.detach())}); lower --lr and --resume")
            if self.lr_schedule != "constant" or self.warmup:
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr * lr_factor(self.step, self.steps, self.lr_schedule, self.warmup)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip_grad > 0:
                metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad))
            self.optimizer.step()
            self.step += 1
            metrics["loss"] = float(loss.detach())
            for k, v in metrics.items():
                self._acc[k] = self._acc.get(k, 0.0) + v
            self._n_acc += 1
            self.bar.update(1)
            if self.step % self.log_every == 0 or self.step == self.steps:
                self.flush(phase)
            if after_step is not None:
                after_step(self.step)
            if self.step % self.checkpoint_every == 0:
                self.save_checkpoint()
            if self.max_minutes is not None and time.time() - self._t0 > 60.0 * self.max_minutes:
                self.stopped_early = self.step < self.steps
                break
        if last_phase is not None:
            self.flush(last_phase)
        return self.step

    def finish(self):
        """Close the progress bar and write the final checkpoint."""
        self.bar.close()
        self.save_checkpoint()

    def provenance(self, device, world):
        """The entries every weight file's provenance shares."""
        return {
            "method": self.method,
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]) if sys.argv else "",
            "train_config": self.train_config,
            "steps_done": self.step,
            "stopped_by_time_limit": self.stopped_early,
            "train_seconds": round(self.elapsed, 1),
            "curves": "DoRF training split (RandomState(730) shuffle, first 191)",
            "device": str(device) + (f" x{world}" if world > 1 else ""),
            "torch": str(torch.__version__),
            "python": platform.python_version(),
            "crfkit_commit": git_commit(),
            "weights_format": WEIGHTS_FORMAT,
        }

    def save_weights(self, path, provenance, state_dict=None):
        """Write a weight file of the model (or of ``state_dict``, e.g. the best validation step).

        Learned weights are stored as float16, the model's buffers (mean
        curves, bases, BatchNorm statistics) as float32.
        """
        state = self.model.state_dict() if state_dict is None else state_dict
        buffers = {name for name, _ in self.model.named_buffers()}
        return save_weights(path, self.method, self.model_config, state, provenance, full_precision=buffers)

    def losses(self):
        """Logged loss entries (events left out)."""
        return [e for e in self.log if "event" not in e]
