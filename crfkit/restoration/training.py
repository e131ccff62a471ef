"""Training of the masked U-Net (``crfkit train restoration``).

Optional inpainting pre-training on photos with random holes, then fine-tuning
on synthetic (LDR, HDR) pairs (:mod:`crfkit.restoration.data`), with the losses
of :mod:`crfkit.restoration.losses`, in the loop shared with the estimators
(:mod:`crfkit._training`: Adam, a tqdm progress bar, atomic checkpoints every
few steps, ``resume``, deterministic seeds (sample ``i`` depends only on
``(seed, i)``), CPU or CUDA, and DistributedDataParallel under ``torchrun``).
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._io import atomic_write_text
from .._optional import require
from ..errors import ValidationError
from ..estimators.schedule import lr_factor

torch = require("torch", "torch", feature="training the masked-unet restoration network")

METHOD = "masked-unet"
#: Gradient-norm clip of every restoration step.
CLIP_GRAD = 5.0


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
    assumed_curve_prob, assumed_gamma, assumed_gamma_jitter : float
        "Train as you test": the share of HDR samples linearised with an
        assumed gamma curve (target aligned as in the evaluation) instead of
        the exact inverse CRF (:class:`crfkit.restoration.data.RestorationDataConfig`).
    init_weights : str or None
        A ``masked-unet`` weight file the network starts from (fine-tuning)
        instead of a random initialisation; its width and patch must match.
    snapshot_every : int
        Also write the weights every this many steps as
        ``weights_stepNNNNNN.pt`` (+ ``.json``), exported like ``weights.pt``
        (0: off), for choosing a step on a validation set afterwards.
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
    assumed_curve_prob: float = 0.0
    assumed_gamma: float = 2.0
    assumed_gamma_jitter: float = 0.0
    init_weights: str = None
    snapshot_every: int = 0

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
        if self.snapshot_every < 0:
            raise ValidationError(f"snapshot_every must not be negative, got {self.snapshot_every}")
        self.data_config()  # checks the data options

    def data_config(self):
        from .data import RestorationDataConfig

        return RestorationDataConfig(patch=self.patch, texture_threshold=self.texture_threshold,
                                     assumed_curve_prob=self.assumed_curve_prob, assumed_gamma=self.assumed_gamma,
                                     assumed_gamma_jitter=self.assumed_gamma_jitter)


def load_training_data(cfg):
    """HDR images (train split), photos for pre-training (or None), DoRF training curves, image names."""
    from .._training import load_image_split
    from ..synthesis import dorf_split, find_training_images, load_linear_images

    hdr, _, test_paths = load_image_split(cfg.images, cfg.test_fraction, cfg.short_side, cfg.patch, what="HDR image")
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


def init_from_weights(model, path):
    """Load a ``masked-unet`` weight file into ``model`` (fine-tuning); returns what was loaded, for the log."""
    from ..data import sha256_of
    from ..estimators._net import load_state, load_weights

    path = Path(path)
    blob = load_weights(path, METHOD, command="restoration")
    stored = dict(blob.get("config", {}))
    width = model.config()["width"]
    if stored.get("width", width) != width:
        raise ValidationError(f"--init-weights {path}: width {stored['width']} does not match --width {width}")
    load_state(model, blob["state_dict"], path, METHOD)
    return {"path": str(path), "sha256": sha256_of(path), "config": stored,
            "steps_done": blob.get("provenance", {}).get("steps_done")}


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

    from .._training import TrainLoop, dist_info, read_checkpoint, seed_everything, setup_device, step_loader, wrap_ddp
    from .data import HDRPairDataset, InpaintingDataset, PhaseDataset
    from .losses import RestorationLoss
    from .masked_unet import build_model

    out = Path(out)
    rank, world, local_rank = dist_info()
    if threads:
        torch.set_num_threads(int(threads))
    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume:
        state = read_checkpoint(ckpt_path, METHOD)
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
    dev = setup_device(device, world, local_rank)

    seed_everything(cfg.seed)
    if data is None:
        data = load_training_data(cfg)
    loss_fn = RestorationLoss(vgg_weights=cfg.vgg_weights, use_vgg=cfg.use_vgg).to(dev)
    if state is not None and state.get("loss", {}).get("kind") not in (None, loss_fn.kind):
        raise ValidationError(
            f"{ckpt_path}: the run was trained with the {state['loss']['kind']} loss but would resume with "
            f"{loss_fn.kind}; give the same --vgg-weights (or none) as the original run"
        )
    loss_info = loss_fn.describe()
    model = build_model(cfg.model_config())
    init_info = None
    if cfg.init_weights and state is None:
        init_info = init_from_weights(model, cfg.init_weights)
    model = model.to(dev)
    # one wild HDR patch must not wreck the weights: the gradient norm is always clipped
    loop = TrainLoop(
        out, model, method=METHOD, train_config=asdict(cfg), model_config=cfg.model_config(), steps=cfg.steps,
        lr=cfg.lr, lr_schedule=cfg.lr_schedule, warmup=cfg.warmup, clip_grad=CLIP_GRAD, state=state, rank=rank,
        checkpoint_extra=lambda: {"loss": loss_info, "held_out_images": data.get("held_out", [])},
        entry_extra={"loss_kind": loss_fn.kind}, log_every=log_every, checkpoint_every=checkpoint_every,
        max_minutes=max_minutes, progress=progress, desc="train restoration",
    )
    net = wrap_ddp(model, dev, world)

    dcfg = cfg.data_config()
    hdr_ds = HDRPairDataset(data["hdr"], data["curves"], seed=cfg.seed, config=dcfg)
    photos = data.get("photos")
    inp_ds = InpaintingDataset(photos, seed=cfg.seed, config=dcfg) if photos else None
    pretrain = cfg.pretrain_steps if inp_ds is not None else 0
    dataset = PhaseDataset(hdr_ds, inp_ds, pretrain, per_step=cfg.batch_size * world)
    loader = step_loader(dataset, cfg.batch_size, loop.step, cfg.steps, rank, world, workers, dev)

    # events (start, resume) go into the log too, so the checkpoint's log is the whole story
    loop.log_event("resume" if state is not None else "start", loss=loss_info, pretrain_steps=pretrain,
                   data=asdict(dcfg), **({"init_weights": init_info} if init_info else {}))

    def provenance():
        losses = loop.losses()
        prov = loop.provenance(dev, world)
        prov.update(
            data_config=asdict(dcfg), pretrain_steps=pretrain, loss=loss_info,
            train_images=data.get("train_names", []), held_out_images=data.get("held_out", []),
            pretrain_photos=data.get("photo_names", []), final_log=losses[-1] if losses else None,
        )
        start = next((e for e in loop.log if e.get("event") == "start"), {})
        if start.get("init_weights"):
            prov["init_weights"] = start["init_weights"]
        return prov

    def snapshot(step):
        if rank == 0 and cfg.snapshot_every and step % cfg.snapshot_every == 0:
            path = out / f"weights_step{step:06d}.pt"
            prov = provenance()
            loop.save_weights(path, prov)
            atomic_write_text(path.with_suffix(".json"), json.dumps(prov, indent=2) + "\n")

    step = loop.run(loader, lambda batch, phase: training_step(net, loss_fn, batch), dataset.phase,
                    after_step=snapshot, device=dev)
    loop.finish()
    losses = loop.losses()
    if rank == 0:
        prov = provenance()
        loop.save_weights(out / "weights.pt", prov)
        atomic_write_text(out / "weights.json", json.dumps(prov, indent=2) + "\n")
    if world > 1:
        torch.distributed.destroy_process_group()
    return {"step": step, "losses": losses, "out": str(out), "stopped_early": loop.stopped_early, "loss": loss_info}
