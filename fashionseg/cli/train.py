"""``fashionseg train unet|maskrcnn``: train a model (each resumes if its --run folder holds a run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fashionseg.cli import common
from fashionseg.cli.options import (
    SPLITS,
    add_runtime,
    add_split,
    add_weights,
    count,
    fraction,
    non_negative,
    output_file,
)
from fashionseg.exceptions import ModelFolderError, UsageError
from fashionseg.settings import pretrained_weights_dir, project_relative

# The ImageNet MobileNetV2 without its top, shared by both models' default backbones.
MOBILENET_NOTOP = "mobilenet_v2_imagenet_notop.weights.h5"


def _shared_backbone() -> str:
    shared = pretrained_weights_dir() / MOBILENET_NOTOP
    return str(shared) if shared.is_file() else "imagenet"


def _framing_settings(args, framing_off: bool, off_option: str):
    """The re-framing augmentation's settings from ``--framing-weights`` / ``--crop-anchor-weights``
    (:func:`_add_framing_options`); refused when ``off_option`` turns the re-framing off."""
    from fashionseg.models.augment import FramingSettings

    framing = FramingSettings()
    if framing_off and (args.framing_weights or args.crop_anchor_weights):
        raise UsageError(f"--framing-weights and --crop-anchor-weights set the re-framing that {off_option} turns off")
    try:
        if args.framing_weights:
            framing = dataclasses.replace(framing, framing_weights=tuple(args.framing_weights))
        if args.crop_anchor_weights:
            framing = dataclasses.replace(framing, crop_anchor_weights=tuple(args.crop_anchor_weights))
    except ValueError as exc:  # the settings name their fields; the user typed options
        message = (
            str(exc)
            .replace("framing_weights", "--framing-weights")
            .replace("crop_anchor_weights", "--crop-anchor-weights")
        )
        raise UsageError(message) from None
    return framing


def _add_framing_options(parser) -> None:
    parser.add_argument(
        "--framing-weights",
        type=non_negative,
        nargs=4,
        metavar=("KEEP", "CROP", "ZOOM_OUT", "GROUP"),
        help="relative odds of keeping a photo's framing, cropping into it, zooming out, and several people side "
        "by side (default 0.25 0.45 0.2 0.1)",
    )
    parser.add_argument(
        "--crop-anchor-weights",
        type=non_negative,
        nargs=3,
        metavar=("TOP", "BOTTOM", "ANYWHERE"),
        help="relative odds of a crop at the photo's top edge (waist-up), its bottom edge, or anywhere "
        "(default 0.25 0.25 0.5)",
    )


def _garment_examples(args, split: str):
    from fashionseg.models.unet.data import examples_from_coco, examples_from_cutouts

    if args.cutouts:
        return examples_from_cutouts(args.cutouts[0], args.cutouts[1], split=split)
    if not args.garment or not args.images:
        raise UsageError("give --garment GARMENT.json --images DIR, or --cutouts PHOTOS_DIR CUTOUTS_DIR")
    return examples_from_coco(args.garment, args.images, split=split)


def cmd_train_unet(args) -> int:
    from fashionseg.exceptions import ModelNotTrainedError
    from fashionseg.models.unet.export import export_run
    from fashionseg.models.unet.model import UNetConfig
    from fashionseg.models.unet.predictor import GarmentSegmenter
    from fashionseg.models.unet.train import TrainSettings, train_unet

    encoder = args.encoder_weights
    if encoder is None:
        encoder = _shared_backbone()
    first_pass = GarmentSegmenter.load(args.second_pass_of) if args.second_pass_of else None
    config = UNetConfig(
        architecture=args.architecture,
        input_size=args.input_size,
        encoder_weights=None if encoder == "none" or args.architecture == "classic" else encoder,
        double_pass_dilation=args.focus_dilation if first_pass else 0,
        separable_full_resolution=args.separable_full_resolution,
    )
    if args.architecture == "classic":
        config.mean, config.std = tuple(args.classic_mean_std[:3]), tuple(args.classic_mean_std[3:])
    settings = TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        augment=not args.no_augment,
        framing=not args.report_augmentation,
        framing_settings=_framing_settings(
            args, args.no_augment or args.report_augmentation, "--no-augment or --report-augmentation"
        ),
    )
    init = Path(args.init_from) / "model.weights.h5" if args.init_from else None
    if init is not None and not init.is_file():
        raise ModelNotTrainedError(f"--init-from: no {init}")
    state = train_unet(
        config,
        settings,
        _garment_examples(args, "train"),
        _garment_examples(args, "val"),
        args.run,
        first_pass,
        progress=not args.quiet,
        init_weights=init,
    )
    print(
        f"best validation Dice {state['best_val_dice']:.4f} (epoch {state['best_epoch']}); "
        f"threshold {state['threshold']:.2f} gives mean full-resolution Dice {state['val_dice_at_threshold']:.4f}"
    )
    if args.export:
        target = export_run(args.run, args.export, second_pass=first_pass is not None)
        print(f"exported to {target}")
    return 0


def cmd_train_maskrcnn(args) -> int:
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.models.maskrcnn.data import examples_from_coco
    from fashionseg.models.maskrcnn.train import TrainSettings, train_maskrcnn

    weights = args.backbone_weights
    if weights is None and args.backbone == "mobilenet_v2":
        weights = _shared_backbone()
    config = MaskRCNNConfig(BACKBONE=args.backbone, BACKBONE_WEIGHTS=None if weights in (None, "none") else weights)
    init_weights = None
    if args.init_from:
        init = Path(args.init_from)
        config, init_weights = MaskRCNNConfig.load(init / "config.json"), str(init / "model.weights.h5")
    if args.images_per_step:
        config = dataclasses.replace(config, IMAGES_PER_GPU=args.images_per_step)
    framing = _framing_settings(args, args.thesis_augmentation, "--thesis-augmentation")
    settings = TrainSettings(
        heads_epochs=args.heads_epochs,
        all_epochs=args.all_epochs,
        steps_per_epoch=args.steps_per_epoch,
        all_learning_rate=args.all_learning_rate,
        all_final_learning_rate=args.all_final_learning_rate,
        framing=not args.thesis_augmentation,
        framing_settings=framing,
        repeat_threshold=args.repeat_factor_threshold or None,
        init_weights=init_weights,
        workers=args.workers,
    )
    train = examples_from_coco(args.instances, args.images, split="train")
    val = examples_from_coco(args.instances, args.images, split="val")
    state = train_maskrcnn(config, settings, train, val, args.run, progress=not args.quiet)
    print(
        f"{state['epoch']} epochs done; best validation loss {state['best_val_loss']:.4f} (epoch {state['best_epoch']})"
    )
    if args.export:
        from fashionseg.models.maskrcnn.export import export_run

        print(f"exported to {export_run(args.run, args.export)}")
    return 0


def cmd_train_label_head(args) -> int:
    import json

    from fashionseg.models.maskrcnn.evaluate import load_coco
    from fashionseg.models.maskrcnn.label_head import LABEL_HEAD_FILE
    from fashionseg.models.maskrcnn.label_head_fit import fit_label_head, labelled_photos
    from fashionseg.models.maskrcnn.predictor import onnx_runtime
    from fashionseg.models.runtime import ONNX_FILE

    if not args.instances and not args.client:
        raise UsageError("give --instances, --client or both: the labelled photos to fit the head on")
    instances = load_coco(args.instances) if args.instances else None
    client = load_coco(args.client) if args.client else None
    photos = labelled_photos(instances, client, split=args.split)
    segmenter, weights = common.load_maskrcnn(args.weights, "keras")  # Keras always gives the image features
    head, summary = fit_label_head(
        segmenter,
        photos,
        args.images,
        l2=args.l2,
        threshold=args.threshold,
        min_score=args.min_score,
        progress=not args.quiet,
    )
    head.save(weights / LABEL_HEAD_FILE)
    data = {
        "instances": project_relative(args.instances) if args.instances else None,
        "client": project_relative(args.client) if args.client else None,
        "images": project_relative(args.images),
        "split": args.split or "all",
    }
    (weights / "label_head.json").write_text(json.dumps({**summary, "data": data}, indent=2) + "\n", encoding="utf-8")
    print(
        f"label head fitted on {summary['photos']} photos in {summary['seconds']:.0f} s; wrote {weights / LABEL_HEAD_FILE}"
    )
    if (weights / ONNX_FILE).is_file():
        try:  # the check loading the folder does, said now rather than at its next use
            onnx_runtime(weights, segmenter.config, label_head=True)
        except ModelFolderError as exc:
            print(exc)
    return 0


def cmd_train_pseudo_labels(args) -> int:
    from tqdm import tqdm

    from fashionseg.core.files import write_json_atomic
    from fashionseg.models.maskrcnn.evaluate import load_coco
    from fashionseg.models.maskrcnn.pseudo_labels import audit_pseudo_labels, merge_pseudo_labels, pseudo_label

    out = output_file(args.out)
    instances, client = load_coco(args.instances), load_coco(args.client)
    segmenter, weights = common.load_maskrcnn(args.weights, args.runtime)
    bar = tqdm(unit="photo", desc="pseudo-labelling", disable=args.quiet)

    def progress(done: int, total: int, _name: str) -> None:
        bar.total, bar.n = total, done
        bar.refresh()

    pseudo, report = pseudo_label(
        segmenter,
        client,
        args.images,
        split=args.split,
        min_score=args.min_score,
        relabel=not args.no_relabel,
        on_progress=progress,
    )
    bar.close()
    merged = merge_pseudo_labels(instances, pseudo)
    audit = None
    if args.audit_split:
        audit = audit_pseudo_labels(
            segmenter, instances, args.images, args.audit_split, args.min_score, not args.no_relabel
        )
        print(
            f"the same rule on the {audit['split']} photos with masks (their classes as tags): kept {audit['kept']} "
            f"of {audit['photos']}; pseudo-instances precision {audit['precision']:.3f}, recall {audit['recall']:.3f}, "
            f"mAP@50 {audit['map50']:.3f} at mask IoU 0.5"
        )
    merged["fashionseg"] = {
        **instances.get("fashionseg", {}),
        "pseudo_labels": {
            "model": project_relative(weights),
            "client": project_relative(args.client),
            "split": args.split,
            "min_score": args.min_score,
            "relabel": not args.no_relabel,
            "report": report.to_dict(),
            "audit": audit,
        },
    }
    write_json_atomic(out, merged)
    print(report.summary())
    print(f"wrote {args.out}: {len(merged['images'])} photos, {report.kept} of them pseudo-labelled (training split)")
    return 0


def register(commands) -> None:
    train = commands.add_parser("train", help="train a model").add_subparsers(dest="model", required=True)
    unet = train.add_parser("unet", help="train the garment-cutout U-Net (resumes if --run has a run)")
    unet.add_argument("--garment", help="garment.json from 'fashionseg convert ccp' (uses its train/val split)")
    unet.add_argument("--images", help="folder the garment.json file names are relative to")
    unet.add_argument(
        "--cutouts",
        nargs=2,
        metavar=("PHOTOS_DIR", "CUTOUTS_DIR"),
        help="the report's format: photos and RGBA cutouts with the same names",
    )
    unet.add_argument("--run", required=True, help="run folder (checkpoints, log, state)")
    unet.add_argument("--architecture", default="mobilenet_v2", choices=["mobilenet_v2", "classic"])
    unet.add_argument(
        "--input-size", type=int, default=320, help="square model input, 256-1024, a multiple of 32 (default 320)"
    )
    unet.add_argument(
        "--encoder-weights",
        help="MobileNetV2 weights file, 'imagenet' or 'none' (default: ../shared/weights notop file)",
    )
    unet.add_argument(
        "--classic-mean-std",
        type=float,
        nargs=6,
        default=[123.7, 116.8, 103.9, 58.4, 57.1, 57.4],
        metavar="V",
        help="classic U-Net input mean (3) and std (3) on 0-255",
    )
    unet.add_argument("--epochs", type=int, default=30)
    unet.add_argument("--batch-size", type=int, default=8)
    unet.add_argument("--learning-rate", type=float, default=3e-4)
    unet.add_argument("--patience", type=int, default=6, help="early stopping: epochs without a better validation Dice")
    unet.add_argument("--no-augment", action="store_true", help="no augmentation at all")
    unet.add_argument(
        "--report-augmentation",
        action="store_true",
        help="only the report's flip and mild colour changes instead of re-framing + copy-paste + photometric",
    )
    _add_framing_options(unet)
    unet.add_argument(
        "--second-pass-of", metavar="WEIGHTS_DIR", help="train the double-pass model for this first-pass model"
    )
    unet.add_argument(
        "--focus-dilation", type=int, default=25, help="double pass: px kept around the first mask (default 25)"
    )
    unet.add_argument(
        "--init-from",
        metavar="WEIGHTS_DIR",
        help="start from this trained model's weights instead of ImageNet (the same network, or one with full "
        "convolutions at full resolution for --separable-full-resolution)",
    )
    unet.add_argument(
        "--separable-full-resolution",
        action="store_true",
        help="mobilenet_v2: separable convolutions at full resolution too (faster; from --init-from's full "
        "ones, factorised)",
    )
    unet.add_argument("--export", metavar="WEIGHTS_DIR", help="when done, export the best model here")
    unet.set_defaults(func=cmd_train_unet)

    mr = train.add_parser("maskrcnn", help="train the Mask R-CNN: heads, then all layers (resumes if --run has a run)")
    mr.add_argument(
        "--instances", required=True, help="instances.json from 'fashionseg convert ccp' (uses its train/val split)"
    )
    mr.add_argument("--images", required=True, help="folder the instances.json file names are relative to")
    mr.add_argument("--run", required=True, help="run folder (checkpoints, log, state)")
    mr.add_argument("--backbone", default="mobilenet_v2", choices=["mobilenet_v2", "resnet50", "resnet101"])
    mr.add_argument(
        "--backbone-weights",
        help="weights file, 'imagenet' or 'none' (default for mobilenet_v2: the ../shared/weights notop file)",
    )
    mr.add_argument("--heads-epochs", type=int, default=8, help="epochs of the heads stage (default 8)")
    mr.add_argument("--all-epochs", type=int, default=16, help="epochs of the all-layers stage (default 16)")
    mr.add_argument("--steps-per-epoch", type=int, help="steps per epoch (default: one pass over the training photos)")
    mr.add_argument(
        "--all-learning-rate", type=float, default=0.004, help="all-layers stage: first learning rate (default 0.004)"
    )
    mr.add_argument(
        "--all-final-learning-rate",
        type=float,
        default=0.0004,
        help="all-layers stage: last learning rate (default 0.0004)",
    )
    mr.add_argument(
        "--thesis-augmentation",
        action="store_true",
        help="only the thesis' augmentation (flip, brightness, blur/noise) instead of re-framing + copy-paste + photometric",
    )
    mr.add_argument(
        "--init-from",
        metavar="WEIGHTS_DIR",
        help="start from this trained model (its config) instead of ImageNet; with --heads-epochs 0 this fine-tunes it",
    )
    mr.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes preparing augmented batches (default 1; use several where a GPU waits for data)",
    )
    mr.add_argument(
        "--images-per-step",
        type=count(1),
        help="photos per training step (the config's IMAGES_PER_GPU, default 2); more keep a GPU busy, "
        "with --all-learning-rate scaled to match; a run keeps the value it started with",
    )
    _add_framing_options(mr)
    mr.add_argument(
        "--repeat-factor-threshold",
        type=fraction,
        metavar="T",
        help="repeat-factor sampling (LVIS): photos of classes that fewer than this share of the training photos "
        "hold come round more often, sqrt(T / share) times (e.g. 0.3; default: every photo once an epoch)",
    )
    mr.add_argument("--export", metavar="WEIGHTS_DIR", help="when done, export the best model here")
    mr.set_defaults(func=cmd_train_maskrcnn)

    lh = train.add_parser(
        "label-head",
        help="fit a Mask R-CNN's image-level label head (which classes a photo holds) into its model folder",
    )
    add_weights(lh, "maskrcnn")
    lh.add_argument("--instances", help="instances.json (photos with masks) from 'fashionseg convert ccp'")
    lh.add_argument("--client", help="client.json (photos with image-level labels only) from 'fashionseg convert ccp'")
    lh.add_argument("--images", required=True, help="the photos folder")
    add_split(lh, default="train", of="--instances and --client", help="split of both files to fit on (default train)")
    lh.add_argument("--l2", type=float, default=0.1, help="L2 penalty of the logistic regression (default 0.1)")
    lh.add_argument(
        "--threshold", type=fraction, default=0.5, help="probability from which a class is in a photo (default 0.5)"
    )
    lh.add_argument(
        "--min-score",
        type=fraction,
        default=0.1,
        help="lowest detection score kept for a class the head puts in the photo (default 0.1)",
    )
    lh.set_defaults(func=cmd_train_label_head)

    pl = train.add_parser(
        "pseudo-labels",
        help="self-training data: a Mask R-CNN's instances on tag-only photos, kept where they agree with the tags",
    )
    add_weights(pl, "maskrcnn")
    add_runtime(pl)
    pl.add_argument("--instances", required=True, help="instances.json (photos with masks) to add the photos to")
    pl.add_argument("--client", required=True, help="client.json (photos with image-level labels only)")
    pl.add_argument("--images", required=True, help="the photos folder (both files' names are relative to it)")
    pl.add_argument("--out", required=True, help="the merged COCO file to write, for 'train maskrcnn --instances'")
    add_split(pl, default="train", of="--client", help="split of the tag-only photos to label (default train)")
    pl.add_argument("--min-score", type=fraction, default=0.3, help="lowest score of an instance kept (default 0.3)")
    pl.add_argument(
        "--no-relabel",
        action="store_true",
        help="leave out a photo lacking a tagged class instead of relabelling a same-supercategory instance",
    )
    pl.add_argument(
        "--audit-split",
        choices=SPLITS,
        help="also measure how clean the labels are: the rule run on the --instances photos of this split "
        "(their classes as tags), scored against their masks",
    )
    pl.set_defaults(func=cmd_train_pseudo_labels)
