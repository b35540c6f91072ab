"""Training a U-Net the report's way, resumable across sessions.

The run folder is a :class:`fashionseg.models.run.TrainingRun`: ``run.json``
(model config and training settings), ``state.json`` (epochs done, best
validation Dice, epochs since it for early stopping, and once finished the
threshold), ``last.keras`` (model and optimizer after the latest epoch),
``best.weights.h5`` and ``log.csv`` (per-epoch loss and Dice, train and
validation), and ``cache_*.npz`` and ``val_variants/`` (the prepared photos).
Running the same command again resumes where it stopped;
:func:`fashionseg.models.unet.export.export_run` writes the weights folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from fashionseg.core.images import load_image
from fashionseg.core.masks import encode_rle
from fashionseg.models.augment import FramingSettings
from fashionseg.models.model_folder import CONFIG_FILE, read_config
from fashionseg.models.run import BEST_WEIGHTS, Monitor, TrainingRun
from fashionseg.models.unet.data import (
    FramedGarmentBatches,
    GarmentBatches,
    GarmentExample,
    examples_from_coco,
    focus_image,
    load_arrays,
    load_photos,
)
from fashionseg.models.unet.losses import bce_dice_loss, dice_coefficient
from fashionseg.models.unet.model import UNetConfig, build_unet, transfer_weights
from fashionseg.models.unet.predictor import GarmentSegmenter
from fashionseg.models.unet.threshold import GRID, choose_threshold

LOG_FIELDS = ("epoch", "loss", "dice", "val_loss", "val_dice", "learning_rate", "seconds")
LAST_MODEL = "last.keras"


@dataclass
class TrainSettings:
    epochs: int = 30
    batch_size: int = 8
    learning_rate: float = 3e-4  # RMSprop, the report's choice
    patience: int = 6  # epochs without a better validation Dice before stopping
    min_delta: float = 1e-4
    augment: bool = True
    # With augment: re-framing + copy-paste + photometric (FramedGarmentBatches) when True,
    # else the report's flip and mild colour changes.
    framing: bool = True
    framing_settings: FramingSettings = field(default_factory=FramingSettings)
    # Validation (early stopping, best epoch, threshold) on the validation photos plus these
    # robustness variants of them (fashionseg.evaluation.robustness), so "best" means best in any framing.
    validation_variants: tuple[str, ...] = ("waist_up", "lower_body", "wide_0.5", "square_0.5", "group", "dark_jpeg_25")
    seed: int = 0


def training_run(run_dir: str | Path, settings: TrainSettings | None = None) -> TrainingRun:
    """A U-Net run folder: the best epoch has the highest validation Dice (by more than ``min_delta``)."""
    settings = settings or TrainSettings()
    return TrainingRun(
        run_dir,
        Monitor("val_dice_coefficient", "best_val_dice", "max", settings.min_delta, initial=-1.0),
        LOG_FIELDS,
        {"stopped_early": False},
    )


def _cached_arrays(run_dir: Path, name: str, examples, size: int, focus_dilation: int, progress: bool):
    cache = run_dir / f"cache_{name}.npz"
    if cache.exists():
        data = np.load(cache)
        if len(data["images"]) == len(examples):
            return data["images"], data["masks"]
    images, masks = load_arrays(examples, size, focus_dilation, progress)
    np.savez(cache, images=images, masks=masks)
    return images, masks


def train_unet(
    config: UNetConfig,
    settings: TrainSettings,
    train_examples: list[GarmentExample],
    val_examples: list[GarmentExample],
    run_dir: str | Path,
    first_pass: GarmentSegmenter | None = None,
    progress: bool = True,
    init_weights: str | Path | None = None,
) -> dict:
    """Train (or resume), then pick the threshold on the validation photos; returns the run's state.

    With ``first_pass`` this trains the report's second-pass model: training
    photos are focus images made from the true masks (``config.double_pass_dilation``
    px around them), the threshold is chosen on focus images made from the
    first model's predictions, as they will be at inference. ``init_weights``
    (a ``.weights.h5``, with its ``config.json`` beside it where its network differs:
    :func:`load_initial_weights`) starts a new run from a trained model instead of ImageNet.
    """
    run_dir = Path(run_dir)
    if not train_examples or not val_examples:
        raise ValueError("training needs photos in both the train and the validation split")
    run = training_run(run_dir, settings)
    focus = config.double_pass_dilation
    # A second-pass model trains on focus images of the true masks, never re-framed.
    reframes = settings.augment and settings.framing and not focus
    state = run.start(
        config,
        {
            "settings": {k: v for k, v in asdict(settings).items() if k != "framing_settings"},
            "framing": settings.framing_settings.to_dict() if reframes else None,
            "train_photos": len(train_examples),
            "val_photos": len(val_examples),
            "init_weights": str(init_weights) if init_weights is not None else None,
        },
    )

    if settings.validation_variants and not focus:
        val_examples = with_reframed_copies(
            val_examples, settings.validation_variants, run_dir / "val_variants", progress
        )
    if reframes:
        x_train = y_train = None  # photos are re-framed at full resolution per batch
    else:
        x_train, y_train = _cached_arrays(run_dir, "train", train_examples, config.input_size, focus, progress)
    x_val, y_val = _cached_arrays(run_dir, "val", val_examples, config.input_size, focus, progress)
    if reframes:
        train = FramedGarmentBatches(
            load_photos(train_examples, progress),
            config.input_size,
            settings.batch_size,
            seed=settings.seed + state["epoch"],
            settings=settings.framing_settings,
        )
    else:
        train = GarmentBatches(
            x_train,
            y_train,
            settings.batch_size,
            shuffle=True,
            augment=settings.augment,
            seed=settings.seed + state["epoch"],
        )
    val = GarmentBatches(x_val, y_val, settings.batch_size, shuffle=False, augment=False)

    done = state["stopped_early"] or state["epoch"] >= settings.epochs
    if not done:
        if run.path(LAST_MODEL).exists():
            model = keras.models.load_model(str(run.path(LAST_MODEL)))
        else:
            keras.utils.set_random_seed(settings.seed)
            model = build_unet(config)
            if init_weights is not None:
                load_initial_weights(model, config, init_weights)
            model.compile(
                optimizer=keras.optimizers.RMSprop(settings.learning_rate),
                loss=bce_dice_loss,
                metrics=[dice_coefficient],
            )

        def save_last(trained: keras.Model) -> None:
            run.replace_atomically(LAST_MODEL, lambda path: trained.save(str(path)))

        checkpoint = run.checkpoint(
            save_last,
            log_names={"dice": "dice_coefficient", "val_dice": "val_dice_coefficient"},
            patience=settings.patience,
        )
        model.fit(
            train,
            validation_data=val,
            epochs=settings.epochs,
            initial_epoch=state["epoch"],
            callbacks=[checkpoint],
            verbose=1 if progress else 0,
        )

    # Into a bare model: the best weights carry no optimizer state, and a compiled model warns about that.
    model = build_unet(replace(config, encoder_weights=None))
    model.load_weights(str(run.path(BEST_WEIGHTS)))
    segmenter = GarmentSegmenter.from_keras(model, config)
    threshold, val_dice, curve = select_threshold(segmenter, val_examples, first_pass, progress)
    return run.finish(
        threshold=threshold,
        val_dice_at_threshold=val_dice,
        threshold_curve={f"{t:.2f}": round(float(d), 5) for t, d in zip(GRID, curve, strict=True)},
    )


def load_initial_weights(model: keras.Model, config: UNetConfig, weights: str | Path) -> list[str]:
    """Start ``model`` from a trained U-Net's ``weights``; returns the layers factorised on the way.

    Where the ``config.json`` beside ``weights`` says the trained network has full
    convolutions at full resolution and ``config`` wants separable ones, the trained
    kernels are factorised (:func:`fashionseg.models.unet.model.transfer_weights`);
    otherwise the two networks must match layer for layer.
    """
    weights = Path(weights)
    source_config_file = weights.parent / CONFIG_FILE
    if source_config_file.is_file():
        source_config = read_config(source_config_file, UNetConfig)
        if source_config.separable_full_resolution != config.separable_full_resolution:
            if source_config.separable_full_resolution:
                raise ValueError("a separable full-resolution level cannot start a model with full convolutions there")
            source = build_unet(replace(source_config, encoder_weights=None, input_size=config.input_size))
            source.load_weights(str(weights))
            return transfer_weights(source, model)
    model.load_weights(str(weights))
    return []


def with_reframed_copies(
    examples: list[GarmentExample], variants: tuple[str, ...], folder: Path, progress: bool
) -> list[GarmentExample]:
    """``examples`` and their robustness variants (written once under ``folder``, reused on resume)."""
    from fashionseg.core.variants import build_variants, variants_named

    folders = {ex.image_path.parent for ex in examples}
    if len(folders) != 1:
        raise ValueError("re-framed validation needs the validation photos in one folder")
    chosen = variants_named(list(variants))
    files = {v.name: folder / v.name / "instances.json" for v in chosen}
    if not all(f.is_file() for f in files.values()):
        images, annotations = [], []
        for k, ex in enumerate(examples, start=1):
            mask = ex.mask()
            images.append({"id": k, "file_name": ex.image_path.name, "height": mask.shape[0], "width": mask.shape[1]})
            annotations.append(
                {"id": k, "image_id": k, "category_id": 0, "segmentation": encode_rle(mask), "iscrowd": 0}
            )
        coco = {"images": images, "annotations": annotations, "categories": [{"id": 0, "name": "garment"}]}
        files = build_variants(coco, folders.pop(), folder, chosen, progress=progress)
    out = list(examples)
    for path in files.values():
        out += examples_from_coco(path, path.parent)
    return out


def select_threshold(
    segmenter: GarmentSegmenter, examples: list[GarmentExample], first_pass: GarmentSegmenter | None, progress: bool
):
    """Full-resolution predictions of the validation photos -> the threshold with the best mean Dice."""
    probabilities, truths = [], []
    for ex in tqdm(examples, desc="choosing threshold", unit="photo", disable=not progress):
        image, truth = load_image(ex.image_path), ex.mask()
        if first_pass is not None:
            image = focus_image(image, first_pass.predict(image).mask, segmenter.config.double_pass_dilation)
        probabilities.append(segmenter.probability(image))
        truths.append(truth)
    return choose_threshold(probabilities, truths)
