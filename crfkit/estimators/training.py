"""Training of the neural estimators (``crfkit train``).

Both nets train on synthetic batches from
:class:`~crfkit.synthesis.dataset.SyntheticCRFDataset` in the loop shared with
the restoration network (:mod:`crfkit._training`: Adam, progress bar,
periodic atomic checkpoints, ``resume``, deterministic seeds, CPU or CUDA
automatically, DistributedDataParallel under ``torchrun``), with validation
and best-step selection (:mod:`crfkit.estimators.validation`).
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._io import atomic_write_text
from .._optional import require
from ..errors import ValidationError

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
    camera_pipeline : bool
        Synthesise with the camera-pipeline mode (:mod:`crfkit.synthesis.camera`):
        a share ``camera_fraction`` of the training samples goes through it, the
        rest through the plain synthetic camera; the validation set is then
        rendered entirely through it.
    camera_fraction : float
        See ``camera_pipeline``.
    tone_curves : float
        Share of the training samples whose drawn curve is composed with a
        random contrast tone curve (:mod:`crfkit.synthesis.tone`; the composed
        curve is the target).  0 (default): off.  The validation set is not
        affected.  (crf-net's classification pre-training keeps the DoRF label.)
    init_weights : str or None
        Start from these weights of the same method (fine-tuning) instead of a
        random initialisation; the network's config (width, patch) must match.
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
    camera_pipeline: bool = False
    camera_fraction: float = 0.5
    init_weights: str = None
    tone_curves: float = 0.0

    def synthesis_config(self, validation=False):
        """The :class:`~crfkit.synthesis.SynthesisConfig` of the training samples (or of the validation set)."""
        from ..synthesis import SynthesisConfig

        if validation:  # whole images, as the held-out evaluation renders them
            return SynthesisConfig(patch=None, flip=False, camera_pipeline=self.camera_pipeline, camera_fraction=1.0)
        if self.camera_pipeline:
            return SynthesisConfig(patch=self.patch, camera_pipeline=True, camera_fraction=self.camera_fraction,
                                   tone_curves=self.tone_curves)
        return SynthesisConfig(patch=self.patch, tone_curves=self.tone_curves)

    def model_config(self):
        if self.method == "crf-net":
            return {"width": self.width, "patch": self.patch, "n_classes": 191}
        return {"width": self.width, "patch": self.patch}


def load_training_data(cfg):
    """Images (train split) and DoRF training curves for ``cfg``; also returns the held-out file names."""
    from .._training import load_image_split
    from ..synthesis import dorf_split

    images, train_paths, test_paths = load_image_split(cfg.images, cfg.test_fraction, cfg.short_side, cfg.patch)
    train_curves, _ = dorf_split()
    return images, train_curves, [p.name for p in train_paths], [p.name for p in test_paths]


def init_from_weights(model, path, method):
    """Load ``method`` weights from ``path`` into ``model`` (fine-tuning); returns what was loaded, for the provenance."""
    from ..data import sha256_of
    from ._net import load_state, load_weights

    path = Path(path)
    blob = load_weights(path, method)
    stored = dict(blob.get("config", {}))
    own = model.config() if hasattr(model, "config") else {}
    for key in ("width", "patch"):
        if key in stored and key in own and stored[key] != own[key]:
            raise ValidationError(f"--init-weights {path}: {key} {stored[key]} does not match --{key} {own[key]}")
    load_state(model, blob["state_dict"], path, method)
    prov = blob.get("provenance", {})
    return {"path": str(path), "sha256": sha256_of(path), "config": stored, "steps_done": prov.get("steps_done"),
            "crfkit_commit": prov.get("crfkit_commit")}


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

    from .._training import TrainLoop, dist_info, read_checkpoint, seed_everything, setup_device, step_loader, wrap_ddp
    from ..synthesis.dataset import SyntheticCRFDataset

    if cfg.method not in METHODS:
        raise ValidationError(f"unknown method {cfg.method!r}; trainable: {', '.join(METHODS)}")
    out = Path(out)
    rank, world, local_rank = dist_info()
    if threads:
        torch.set_num_threads(int(threads))
    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume:
        state = read_checkpoint(ckpt_path, METHODS)
        steps = cfg.steps
        cfg = TrainConfig(**state["train_config"])
        if steps:  # an explicit new total; 0 keeps the checkpoint's
            cfg.steps = steps
    elif ckpt_path.exists():
        raise ValidationError(f"{out} already holds a checkpoint; use --resume to continue it or another --out")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    dev = setup_device(device, world, local_rank)

    seed_everything(cfg.seed)
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
            validator = Validator(cfg.method, images, val_curves, cfg.val_pairs, seed=0,
                                  config=cfg.synthesis_config(validation=True))
    model = module.build_model(cfg.model_config(), basis=basis if basis is not None else _basis(cfg.method))
    init_info = None
    if cfg.init_weights and state is None:
        init_info = init_from_weights(model, cfg.init_weights, cfg.method)
    elif cfg.init_weights:
        init_info = (state.get("init_weights") if isinstance(state.get("init_weights"), dict)
                     else {"path": cfg.init_weights})
    model = model.to(dev)
    loop = TrainLoop(
        out, model, method=cfg.method, train_config=asdict(cfg), model_config=cfg.model_config(), steps=cfg.steps,
        lr=cfg.lr, lr_schedule=cfg.lr_schedule, warmup=cfg.warmup, clip_grad=cfg.clip_grad, state=state, rank=rank,
        checkpoint_extra=lambda: {"held_out_images": test_names,
                                  "validation": validator.state() if validator is not None else None,
                                  **({"init_weights": init_info} if init_info else {})},
        log_every=log_every, checkpoint_every=checkpoint_every, max_minutes=max_minutes, progress=progress,
    )
    if validator is not None and state is not None:
        validator.load_state(state.get("validation"))
    net = wrap_ddp(model, dev, world, find_unused_parameters=cfg.method == "crf-net")
    dataset = SyntheticCRFDataset(images, curves, seed=cfg.seed, config=cfg.synthesis_config())
    loader = step_loader(dataset, cfg.batch_size, loop.step, cfg.steps, rank, world, workers, dev)

    def validate(at):
        entry = validator.update(model, at)
        entry.update(phase="validate", elapsed_s=round(loop.elapsed, 1))
        loop.write_entry(entry)  # in the file, not in the loss log
        loop.bar.write(f"step {at}: validation inverse-CRF RMSE {entry['val_curve_rmse']:.5f}"
                       + (" (best)" if entry["best"] else
                          f" (best {validator.best_score:.5f} at step {validator.best_step})"))

    def after_step(step):
        if validator is not None and (step % cfg.val_every == 0 or step == cfg.steps):
            validate(step)

    if validator is not None and not validator.history:
        validate(loop.step)  # the untrained net predicts the mean curve: the constant-curve reference
    step = loop.run(
        loader,
        lambda batch, phase: module.training_loss(net, batch, phase),
        lambda step: "classify" if cfg.method == "crf-net" and step < cfg.pretrain_steps else "regress",
        after_step=after_step, device=dev,
    )
    if validator is not None and validator.history[-1]["step"] != step:
        validate(step)  # stopped by the time limit between validations
    loop.finish()
    if rank == 0:
        provenance = loop.provenance(dev, world)
        provenance.update(train_images=train_names, held_out_images=test_names,
                          final_log=loop.log[-1] if loop.log else None)
        if cfg.camera_pipeline or cfg.tone_curves:
            provenance["synthesis"] = cfg.synthesis_config().to_dict()
            provenance["validation_synthesis"] = cfg.synthesis_config(validation=True).to_dict()
        if init_info:
            provenance["init_weights"] = init_info
        final_state = None  # the model as it is
        if validator is not None and validator.best_state is not None:
            provenance.update(validator.summary())
            loop.save_weights(out / "weights_last.pt", dict(provenance, selected="last step"))
            final_state = validator.best_state
        loop.save_weights(out / "weights.pt", provenance, final_state)
        atomic_write_text(out / "weights.json", json.dumps(provenance, indent=2) + "\n")
    if world > 1:
        torch.distributed.destroy_process_group()
    return {"step": step, "losses": loop.losses(), "out": str(out), "stopped_early": loop.stopped_early}
