"""Training of the masked U-Net (``crfkit train restoration``).

Optional inpainting pre-training on photos with random holes, then fine-tuning
on synthetic (LDR, HDR) pairs (:mod:`crfkit.restoration.data`), with the losses
of :mod:`crfkit.restoration.losses`.  The machinery is that of the estimators'
loop (:mod:`crfkit.estimators.training`): Adam, a tqdm progress bar, atomic
checkpoints every few steps, ``resume``, deterministic seeds (sample ``i``
depends only on ``(seed, i)``), CPU or CUDA, and DistributedDataParallel when
started by ``torchrun`` (``WORLD_SIZE > 1``).
"""

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._io import atomic_path, atomic_write_text
from .._optional import require
from ..errors import DataNotFoundError, ValidationError
from ..estimators.schedule import lr_factor

torch = require("torch", "torch", feature="training the masked-unet restoration network")

METHOD = "masked-unet"


@dataclass
class RestorationTrainConfig:
    """Everything that defines a restoration training run (saved in the checkpoint).

    Attributes
    ----------
    images : list of str
        Folders of HDR images (``.hdr`` / ``.exr``) for the fine-tuning pairs.
    pretrain_images : list of str
        Folders of ordinary photos for inpainting pre-training (empty: none).
    steps : int
        Total optimisation steps, pre-training included.
    pretrain_steps : int
        Inpainting steps at the start (0 without ``pretrain_images``).
    batch_size, patch, lr, seed, width : as named
    test_fraction : float
        HDR images held out by file-name hash (never trained on).
    short_side : int
        Training images are downscaled to this short side.
    vgg_weights : str or None
        VGG16 weight file for the perceptual/style losses (None: environment
        variable or torch hub cache, else the weight-free substitute).
    use_vgg : bool
        False: always the substitute.
    texture_threshold : float
        Patch-sampling threshold (see :mod:`crfkit.restoration.data`).
    lr_schedule, warmup : str, int
        ``'constant'`` or ``'cosine'`` (to 0 at ``steps``), after ``warmup``
        linear warm-up steps (:func:`crfkit.estimators.schedule.lr_factor`).
    """

    images: list = field(default_factory=list)
    pretrain_images: list = field(default_factory=list)
    steps: int = 4000
    pretrain_steps: int = 0
    batch_size: int = 8
    patch: int = 128
    lr: float = 2e-4
    seed: int = 0
    width: float = 0.25
    test_fraction: float = 0.15
    short_side: int = 384
    vgg_weights: str = None
    use_vgg: bool = True
    texture_threshold: float = 6.8
    lr_schedule: str = "constant"
    warmup: int = 0

    def model_config(self):
        # the patch size travels with the weights: the restorer tiles at it by default
        return {"width": self.width, "patch": self.patch}

    def check(self):
        if self.patch < 128 or self.patch % 128:
            raise ValidationError(f"patch must be a multiple of 128 (the U-Net's 7 stride-2 levels), got {self.patch}")
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValidationError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.pretrain_steps <= self.steps:
            raise ValidationError(f"pretrain_steps must be in [0, steps={self.steps}], got {self.pretrain_steps}")
        if not self.lr > 0:
            raise ValidationError(f"lr must be positive, got {self.lr}")
        lr_factor(0, self.steps, self.lr_schedule, self.warmup)  # rejects an unknown schedule


def load_training_data(cfg):
    """HDR images (train split), photos for pre-training (or None), DoRF training curves, image names."""
    from ..synthesis import dorf_split, find_training_images, load_linear_images, split_images

    paths = find_training_images(cfg.images)
    train_paths, test_paths = split_images(paths, cfg.test_fraction)
    if not train_paths:
        raise DataNotFoundError("every HDR image fell into the held-out split; give more images or a smaller --test-fraction")
    hdr = load_linear_images(train_paths, short_side=cfg.short_side, min_size=cfg.patch)
    photos = None
    photo_names = []
    if cfg.pretrain_images and cfg.pretrain_steps > 0:
        ppaths = find_training_images(cfg.pretrain_images)
        photos = load_linear_images(ppaths, short_side=cfg.short_side, min_size=cfg.patch)
        photo_names = [p.name for p in ppaths]
    curves, _ = dorf_split()
    return {
        "hdr": hdr,
        "photos": photos,
        "curves": curves,
        "train_names": [li.name for li in hdr],
        "held_out": [p.name for p in test_paths],
        "photo_names": photo_names,
    }


def training_step(net, loss_fn, batch):
    """Loss of one batch: ``(total, metrics)``."""
    y_hat = net(batch["input"], batch["valid"])
    return loss_fn(y_hat, batch["target"], batch["valid"])


def train(cfg, out, resume=False, max_minutes=None, workers=0, threads=None, device=None, checkpoint_every=100,
          log_every=10, progress=True, data=None, pretrain_steps=None, lr_schedule=None):
    """Train the masked U-Net; write ``checkpoint.pt``, ``weights.pt``, ``weights.json``, ``log.jsonl`` to ``out``.

    Parameters
    ----------
    cfg : RestorationTrainConfig
    out : str or Path
        Run folder (created).
    resume : bool
        Continue from ``out/checkpoint.pt`` (its config is kept, except that a
        non-zero ``cfg.steps`` sets a new total and ``cfg.vgg_weights``, a
        path on this machine, may be given again).
    max_minutes : float, optional
        Stop (with a checkpoint and weights) after this much wall-clock time in this call.
    workers, threads, device, checkpoint_every, log_every, progress :
        As in :func:`crfkit.estimators.training.train`.
    data : dict, optional
        ``{'hdr': [...], 'photos': [...] or None, 'curves': CurveSet}`` instead
        of loading the folders (tests).
    pretrain_steps : int, optional
        With ``resume``: a new number of inpainting steps (e.g. to end the
        pre-training earlier than planned; steps already done stay done).
    lr_schedule : str, optional
        With ``resume``: switch the learning-rate schedule (e.g. ``'cosine'``
        to anneal a constant-rate run to 0 at the new ``cfg.steps``; the
        schedule is a function of the step, so the switch takes effect at once).

    Returns
    -------
    dict
        ``step``, ``losses`` (logged loss entries, without the start/resume events), ``out``, ``stopped_early``, ``loss`` (what loss was used).
    """
    from tqdm.auto import tqdm

    from ..estimators._net import WEIGHTS_FORMAT, pick_device, save_weights
    from ..estimators.training import _dist_info, _git_commit, _seed_everything, _worker_init
    from ..synthesis.dataset import StepBatchSampler
    from .data import HDRPairDataset, InpaintingDataset, PhaseDataset, RestorationDataConfig
    from .losses import RestorationLoss
    from .masked_unet import build_model

    out = Path(out)
    rank, world, local_rank = _dist_info()
    if threads:
        torch.set_num_threads(int(threads))
    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume:
        if not ckpt_path.is_file():
            raise DataNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        try:
            state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValidationError(f"{ckpt_path}: not a readable crfkit checkpoint ({type(exc).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != "crfkit-checkpoint" or state.get("method") != METHOD:
            raise ValidationError(f"{ckpt_path}: not a crfkit masked-unet training checkpoint")
        steps, vgg = cfg.steps, cfg.vgg_weights
        cfg = RestorationTrainConfig(**state["train_config"])
        if steps:
            cfg.steps = steps
        if vgg:
            cfg.vgg_weights = vgg
        if pretrain_steps is not None:
            cfg.pretrain_steps = min(int(pretrain_steps), cfg.steps)
        if lr_schedule is not None:
            cfg.lr_schedule = lr_schedule
    elif ckpt_path.exists():
        raise ValidationError(f"{out} already holds a checkpoint; use --resume to continue it or another --out")
    cfg.check()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    if world > 1:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        dev = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
    else:
        dev = pick_device(device)

    _seed_everything(cfg.seed)
    if data is None:
        data = load_training_data(cfg)
    loss_fn = RestorationLoss(vgg_weights=cfg.vgg_weights, use_vgg=cfg.use_vgg).to(dev)
    if state is not None and state.get("loss", {}).get("kind") not in (None, loss_fn.kind):
        raise ValidationError(
            f"{ckpt_path}: the run was trained with the {state['loss']['kind']} loss but would resume with "
            f"{loss_fn.kind}; give the same --vgg-weights (or none) as the original run"
        )
    model = build_model(cfg.model_config()).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start, log, elapsed_before = 0, [], 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log = list(state.get("log", []))
        elapsed_before = float(state.get("elapsed_s", 0.0))
        torch.set_rng_state(state["torch_rng"])
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    dcfg = RestorationDataConfig(patch=cfg.patch, texture_threshold=cfg.texture_threshold)
    hdr_ds = HDRPairDataset(data["hdr"], data["curves"], seed=cfg.seed, config=dcfg)
    photos = data.get("photos")
    inp_ds = InpaintingDataset(photos, seed=cfg.seed, config=dcfg) if photos else None
    pretrain = cfg.pretrain_steps if inp_ds is not None else 0
    dataset = PhaseDataset(hdr_ds, inp_ds, pretrain, per_step=cfg.batch_size * world)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(cfg.batch_size, start, cfg.steps, rank, world),
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        pin_memory=dev.type == "cuda",
    )
    loss_info = loss_fn.describe()

    def save_checkpoint(step, elapsed):
        if rank != 0:
            return
        blob = {
            "format": "crfkit-checkpoint",
            "format_version": 1,
            "method": METHOD,
            "config": cfg.model_config(),
            "train_config": asdict(cfg),
            "model": model.state_dict(),
            "state_dict": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "elapsed_s": elapsed,
            "log": log,
            "loss": loss_info,
            "torch_rng": torch.get_rng_state(),
            "held_out_images": data.get("held_out", []),
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(blob, tmp)

    t0 = time.time()
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress or rank != 0, desc="train restoration",
               dynamic_ncols=True, file=sys.stderr)
    acc, n_acc, step = {}, 0, start
    model.train()
    stopped_early = False
    last_phase = None

    def flush(phase):
        nonlocal acc, n_acc
        if not n_acc:
            return
        entry = {"step": step, "phase": phase, "loss_kind": loss_fn.kind,
                 "elapsed_s": round(elapsed_before + time.time() - t0, 1)}
        entry.update({k: v / n_acc for k, v in acc.items()})
        entry["lr"] = opt.param_groups[0]["lr"]
        log.append(entry)
        bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k in ("loss", "hole")} | {"phase": phase})
        if rank == 0:
            with open(out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(entry) + "\n")
        acc, n_acc = {}, 0

    # events (start, resume) go into the log too, so the checkpoint's log is the whole story
    event = {"step": start, "event": "resume" if state is not None else "start", "loss": loss_info,
             "pretrain_steps": pretrain, "data": asdict(dcfg)}
    if rank == 0:
        if state is not None:  # a killed run may have logged past its last checkpoint: cut that off
            atomic_write_text(out / "log.jsonl", "".join(json.dumps(e) + "\n" for e in log))
        log.append(event)
        with open(out / "log.jsonl", "a") as fh:
            fh.write(json.dumps(event) + "\n")

    for batch in loader:
        phase = dataset.phase(step)
        if last_phase is not None and phase != last_phase:
            flush(last_phase)  # never average inpainting and HDR losses together
            save_checkpoint(step, elapsed_before + time.time() - t0)
        last_phase = phase
        batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
        loss, metrics = training_step(net, loss_fn, batch)
        if not torch.isfinite(loss):
            raise ValidationError(f"training diverged at step {step} (loss {float(loss)}); lower --lr and --resume")
        if cfg.lr_schedule != "constant" or cfg.warmup:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, cfg.steps, cfg.lr_schedule, cfg.warmup)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # one wild HDR patch must not wreck the weights
        opt.step()
        step += 1
        metrics["loss"] = float(loss.detach())
        for k, v in metrics.items():
            acc[k] = acc.get(k, 0.0) + v
        n_acc += 1
        bar.update(1)
        if step % log_every == 0 or step == cfg.steps:
            flush(phase)
        if step % checkpoint_every == 0:
            save_checkpoint(step, elapsed_before + time.time() - t0)
        if max_minutes is not None and time.time() - t0 > 60.0 * max_minutes:
            stopped_early = step < cfg.steps
            break
    if last_phase is not None:
        flush(last_phase)
    bar.close()
    elapsed = elapsed_before + time.time() - t0
    save_checkpoint(step, elapsed)
    losses = [e for e in log if "event" not in e]
    if rank == 0:
        provenance = {
            "method": METHOD,
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]) if sys.argv else "",
            "train_config": asdict(cfg),
            "data_config": asdict(dcfg),
            "steps_done": step,
            "pretrain_steps": pretrain,
            "stopped_by_time_limit": stopped_early,
            "train_seconds": round(elapsed, 1),
            "loss": loss_info,
            "train_images": data.get("train_names", []),
            "held_out_images": data.get("held_out", []),
            "pretrain_photos": data.get("photo_names", []),
            "curves": "DoRF training split (RandomState(730) shuffle, first 191)",
            "final_log": losses[-1] if losses else None,
            "device": str(dev) + (f" x{world}" if world > 1 else ""),
            "torch": str(torch.__version__),
            "python": platform.python_version(),
            "crfkit_commit": _git_commit(),
            "weights_format": WEIGHTS_FORMAT,
        }
        save_weights(out / "weights.pt", METHOD, cfg.model_config(), model.state_dict(), provenance)
        atomic_write_text(out / "weights.json", json.dumps(provenance, indent=2) + "\n")
    if world > 1:
        torch.distributed.destroy_process_group()
    return {"step": step, "losses": losses, "out": str(out), "stopped_early": stopped_early, "loss": loss_info}
