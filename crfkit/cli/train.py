"""``crfkit train``: train a single-image CRF estimator, or the restoration network, on synthetic data."""


def register(sub):
    p = sub.add_parser(
        "train",
        help="train crf-net or linearization-net on HDR images and photos",
        description="Synthesises training samples on the fly (random exposure, noise, DoRF training CRFs, 8-bit, "
        "JPEG) from linear images: .hdr/.exr files and ordinary photos (linearised with the sRGB inverse). "
        "A held-out image split (by file-name hash) is never trained on. Under torchrun (WORLD_SIZE > 1) it "
        "runs DistributedDataParallel.",
    )
    p.add_argument("method", choices=["crf-net", "linearization-net", "restoration"],
                   help="'restoration': the masked-feature U-Net (masked-unet) on (LDR, HDR) pairs synthesised from "
                   "the HDR images of --images, optionally after inpainting pre-training (--pretrain-inpainting)")
    p.add_argument("--images", action="append", required=True, metavar="DIR", help="folder of training images (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder: checkpoint.pt, weights.pt, weights.json, log.jsonl")
    p.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoint.pt (its config is kept; only --steps may change it)")
    p.add_argument("--steps", type=int, default=None,
                   help="total optimisation steps (default 20000; with --resume, default: the checkpoint's)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop with a checkpoint after this many minutes")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--patch", type=int, default=None,
                   help="patch size (default 227 for crf-net, 128 for linearization-net and restoration; "
                   "restoration needs a multiple of 128)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-4; restoration 2e-4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, default=None,
                   help="channel multiplier (default 1.0, the published widths; restoration 0.25)")
    p.add_argument("--pretrain-steps", type=int, default=None,
                   help="crf-net: classification pre-training steps (default: 20%% of --steps); restoration: "
                   "inpainting pre-training steps (default: 30%% of --steps with --pretrain-inpainting)")
    p.add_argument("--pretrain-inpainting", action="append", default=None, metavar="DIR",
                   help="restoration: folder of ordinary photos for inpainting pre-training (repeatable)")
    p.add_argument("--vgg-weights", default=None, metavar="PATH",
                   help="restoration: torchvision vgg16-*.pth for the perceptual/style losses (default: "
                   "$CRFKIT_VGG16_WEIGHTS or the torch hub cache; never downloaded; without them a weight-free "
                   "substitute loss is used, with a warning)")
    p.add_argument("--assumed-curve-prob", type=float, default=0.0, metavar="P",
                   help="restoration: share of the HDR training pairs linearised with an assumed gamma curve (as "
                   "`crfkit restore` and the evaluation do when the camera's curve is unknown) instead of the exact "
                   "inverse CRF, the target rescaled as the evaluation aligns its ground truth (default 0: always the "
                   "exact inverse)")
    p.add_argument("--assumed-gamma", type=float, default=2.0, metavar="G",
                   help="restoration: the assumed curve's exponent (default 2)")
    p.add_argument("--assumed-gamma-jitter", type=float, default=0.0, metavar="J",
                   help="restoration: draw the assumed exponent uniformly from G +- J (default 0)")
    p.add_argument("--init-weights", default=None, metavar="PATH",
                   help="start from these weights of the same method (fine-tuning; e.g. crfkit/weights/crf_net.pt "
                   "or masked_unet.pt) instead of a random initialisation")
    p.add_argument("--camera-pipeline", action="store_true",
                   help="crf-net, linearization-net: synthesise part of the samples through the camera pipeline "
                   "(real cameras' colour matrices and white balance, Bayer mosaic and demosaicking, denoising, "
                   "per-channel curves, sharpening; needs camera_color_matrices/libraw_cam_xyz.csv under "
                   "$CRFKIT_DATA) and validate on renderings through it")
    p.add_argument("--camera-fraction", type=float, default=0.5, metavar="P",
                   help="with --camera-pipeline: share of the training samples rendered through it (default 0.5; "
                   "the rest through the plain synthetic camera)")
    p.add_argument("--tone-curves", type=float, default=0.0, metavar="F",
                   help="crf-net, linearization-net: compose this share of the training samples' curves with a "
                   "random contrast tone curve (picture-style S-curve; the composed curve is the target; "
                   "default 0: off)")
    p.add_argument("--snapshot-every", type=int, default=0, metavar="STEPS",
                   help="restoration: also export the weights every STEPS steps as weights_stepNNNNNN.pt (default 0: off)")
    p.add_argument("--test-fraction", type=float, default=0.15, help="images held out (default 0.15)")
    p.add_argument("--short-side", type=int, default=384, help="downscale training images to this short side")
    p.add_argument("--val-every", type=int, default=200, metavar="STEPS",
                   help="score a fixed validation set (training images x held-aside training curves) every STEPS "
                   "steps and ship the best weights as weights.pt (default 200; 0: off, the final weights)")
    p.add_argument("--val-curves", type=int, default=16, help="training curves held aside for validation (default 16)")
    p.add_argument("--val-pairs", type=int, default=48, help="validation (image, curve) renderings (default 48)")
    p.add_argument("--clip-grad", type=float, default=0.0, metavar="NORM", help="clip the gradient norm (default 0: off)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=None,
                   help="constant, or cosine decay to 0 at --steps (default constant; with --resume, the "
                   "checkpoint's, except that restoration runs may switch it)")
    p.add_argument("--warmup", type=int, default=0, metavar="STEPS", help="linear learning-rate warm-up steps")
    p.add_argument("--workers", type=int, default=0, help="data-synthesis worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    p.add_argument("--checkpoint-every", type=int, default=100, metavar="STEPS")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args):
    from pathlib import Path

    from ..errors import ValidationError
    from ._common import check_output_folder

    # Before torch is loaded and anything is made under --out (a failed start leaves nothing behind).
    for opt, folders in (("--images", args.images), ("--pretrain-inpainting", args.pretrain_inpainting or [])):
        for d in folders:
            if not Path(d).is_dir():
                raise ValidationError(f"{opt} {d}: image folder not found")
    check_output_folder(args.out, what="--out")

    for name in ("steps", "batch_size", "checkpoint_every", "val_pairs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValidationError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("val_every", "val_curves", "clip_grad", "warmup"):
        if getattr(args, name) < 0:
            raise ValidationError(f"--{name.replace('_', '-')} must not be negative")
    if not 0.0 < args.camera_fraction <= 1.0:
        raise ValidationError(f"--camera-fraction must be in (0, 1], got {args.camera_fraction}")
    if not 0.0 <= args.tone_curves <= 1.0:
        raise ValidationError(f"--tone-curves must be in [0, 1], got {args.tone_curves}")
    if args.init_weights and not Path(args.init_weights).is_file():
        raise ValidationError(f"--init-weights {args.init_weights}: file not found")
    if args.method == "restoration":
        if args.camera_pipeline or args.tone_curves:
            raise ValidationError("--camera-pipeline and --tone-curves apply to crf-net and linearization-net only")
        return run_restoration(args)
    if args.pretrain_inpainting or args.vgg_weights or args.assumed_curve_prob or args.snapshot_every:
        raise ValidationError("--pretrain-inpainting, --vgg-weights, --assumed-curve-prob and "
                              "--snapshot-every apply to `crfkit train restoration` only")
    if args.resume and (args.init_weights or args.camera_pipeline or args.tone_curves):
        raise ValidationError("--init-weights, --camera-pipeline and --tone-curves start a run; "
                              "--resume keeps the checkpoint's")
    from ..estimators.training import TrainConfig, train

    patch = args.patch or (227 if args.method == "crf-net" else 128)
    if patch < 32:
        raise ValidationError("--patch must be at least 32")
    steps = args.steps if args.steps is not None else (0 if args.resume else 20000)  # 0: keep the checkpoint's
    pre = args.pretrain_steps if args.pretrain_steps is not None else (steps // 5 if args.method == "crf-net" else 0)
    cfg = TrainConfig(
        method=args.method, images=[str(d) for d in args.images], steps=steps, batch_size=args.batch_size,
        patch=patch, lr=args.lr if args.lr is not None else 1e-4, seed=args.seed,
        width=args.width if args.width is not None else 1.0, pretrain_steps=pre,
        test_fraction=args.test_fraction, short_side=args.short_side, val_every=args.val_every,
        val_curves=args.val_curves, val_pairs=args.val_pairs, clip_grad=args.clip_grad,
        lr_schedule=args.lr_schedule or "constant", warmup=args.warmup,
        camera_pipeline=args.camera_pipeline, camera_fraction=args.camera_fraction, init_weights=args.init_weights,
        tone_curves=args.tone_curves,
    )
    res = train(cfg, args.out, resume=args.resume, max_minutes=args.max_minutes, workers=args.workers,
                threads=args.threads, device=args.device, checkpoint_every=args.checkpoint_every,
                progress=not args.no_progress)
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun only rank 0 reports (its losses are its own shard's)
    last = res["losses"][-1] if res["losses"] else {}
    print(f"{args.method}: {res['step']} steps, last logged loss {last.get('loss', float('nan')):.6g}; "
          f"weights in {res['out']}/weights.pt")
    return 0


def run_restoration(args):
    """``crfkit train restoration``: the masked U-Net (estimator-only options are ignored)."""
    import os

    from ..errors import ValidationError
    from ..restoration.training import RestorationTrainConfig, train

    patch = args.patch or 128
    if patch % 128:
        raise ValidationError(f"--patch must be a multiple of 128 for restoration (7 stride-2 levels), got {patch}")
    steps = args.steps if args.steps is not None else (0 if args.resume else 4000)  # 0: keep the checkpoint's
    photos = [str(d) for d in args.pretrain_inpainting or []]
    pre = args.pretrain_steps if args.pretrain_steps is not None else (int(0.3 * steps) if photos else 0)
    if pre and not photos and not args.resume:
        raise ValidationError("--pretrain-steps needs --pretrain-inpainting DIR (photos to pre-train on)")
    cfg = RestorationTrainConfig(
        images=[str(d) for d in args.images], pretrain_images=photos, steps=steps, pretrain_steps=pre,
        batch_size=args.batch_size, patch=patch, lr=args.lr if args.lr is not None else 2e-4, seed=args.seed,
        width=args.width if args.width is not None else 0.25, test_fraction=args.test_fraction,
        short_side=args.short_side, vgg_weights=args.vgg_weights,
        lr_schedule=args.lr_schedule or "constant", warmup=args.warmup,
        assumed_curve_prob=args.assumed_curve_prob, assumed_gamma=args.assumed_gamma,
        assumed_gamma_jitter=args.assumed_gamma_jitter, init_weights=args.init_weights,
        snapshot_every=args.snapshot_every,
    )
    if args.resume and (args.init_weights or args.assumed_curve_prob):
        raise ValidationError("--init-weights and --assumed-curve-prob start a run; --resume keeps the checkpoint's")
    res = train(cfg, args.out, resume=args.resume, max_minutes=args.max_minutes, workers=args.workers,
                threads=args.threads, device=args.device, checkpoint_every=args.checkpoint_every,
                progress=not args.no_progress,
                pretrain_steps=args.pretrain_steps if args.resume else None,  # resume: only an explicit value changes it
                lr_schedule=args.lr_schedule if args.resume else None)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun only rank 0 reports
    last = res["losses"][-1] if res["losses"] else {}
    print(f"restoration (masked-unet): {res['step']} steps, loss {res['loss']['kind']}, last logged loss "
          f"{last.get('loss', float('nan')):.6g}; weights in {res['out']}/weights.pt")
    return 0
