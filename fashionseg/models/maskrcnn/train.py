"""Training a Mask R-CNN the thesis' way (4.3.2), resumable across sessions.

Two stages, as the thesis trained: first the heads (FPN, RPN, box and mask
heads) with the backbone frozen and no augmentation at a constant learning
rate; then all layers with augmentation and a learning rate that decays
geometrically. The augmentation is the thesis' 4.2.5 (``framing=False``) or,
by default, the re-framing augmentation that client photos need (crops,
zoom-out, people side by side, copy-paste, low light, JPEG; see
:class:`fashionseg.models.augment.FramingAugmentation`). ``init_weights`` starts from
a trained model instead of ImageNet (``heads_epochs=0`` then fine-tunes it). SGD with momentum ``LEARNING_MOMENTUM``, decoupled weight
decay ``WEIGHT_DECAY`` and per-weight gradient clipping at ``GRADIENT_CLIP_NORM``.

The thesis started from COCO-trained heads at 0.0005; ours start from random
initialisation (no COCO weights exist here), so the rates are 40x the thesis'
(heads 0.02; all layers 0.004 decaying to 0.0004, the thesis' ratios), after a
linear warm-up of 300 steps.

While the backbone is frozen its feature maps of each photo are computed once
and kept in memory (float16), so a heads step costs what the heads cost.

The run folder is a :class:`fashionseg.models.run.TrainingRun`: ``run.json``
(config and settings), ``state.json`` (epochs done, the stage, best validation
loss), ``last.weights.h5`` and ``last_optimizer.npz`` (after the latest epoch;
the optimizer's state is restored when the next epoch is of the same stage),
``best.weights.h5`` (lowest validation loss) and ``log.csv`` (per epoch: the
total and the five losses on the training and the validation photos, learning
rate, time). Running the same command again resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from fashionseg.models.augment import FramingSettings
from fashionseg.models.maskrcnn.backbone import backbone_strides, set_trainable
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.data import InstanceExample, MaskRCNNBatches, PreparedExample, prepare_all
from fashionseg.models.maskrcnn.model import LOSS_NAMES, MaskRCNNNetworks
from fashionseg.models.maskrcnn.sampling import repeat_factors
from fashionseg.models.run import Monitor, TrainingRun, restore_optimizer, save_optimizer

LOG_FIELDS = (
    "epoch",
    "stage",
    "learning_rate",
    "loss",
    *(f"{n}_loss" for n in LOSS_NAMES),
    "val_loss",
    *(f"val_{n}_loss" for n in LOSS_NAMES),
    "seconds",
)
STAGES = ("heads", "all")
LAST_WEIGHTS, LAST_OPTIMIZER = "last.weights.h5", "last_optimizer.npz"


def training_run(run_dir: str | Path) -> TrainingRun:
    """A Mask R-CNN run folder: the best epoch has the lowest validation loss."""
    return TrainingRun(run_dir, Monitor("val_loss", "best_val_loss", "min"), LOG_FIELDS, {"stage": "heads"})


@dataclass
class TrainSettings:
    heads_epochs: int = 8
    all_epochs: int = 16
    all_learning_rate: float = 0.004
    all_final_learning_rate: float = 0.0004
    warmup_steps: int = 300
    steps_per_epoch: int | None = None  # None: one pass over the training photos
    seed: int = 0
    # The all-layers stage's augmentation: re-framing + copy-paste + photometric
    # (fashionseg.models.augment.FramingAugmentation) when True, else the thesis' 4.2.5.
    framing: bool = True
    # Its probabilities and ranges (more waist-up crops, say).
    framing_settings: FramingSettings = field(default_factory=FramingSettings)
    # Repeat-factor sampling's threshold t (fashionseg.models.maskrcnn.sampling): photos of classes
    # held by fewer than this share of the training photos come round more often. None: each once.
    repeat_threshold: float | None = None
    # A trained model's weights file to start from instead of ImageNet (same config).
    init_weights: str | None = None
    # Processes preparing augmented batches (forked; 1: in the training process).
    # Re-framing costs ~50 ms a photo, so a GPU needs several to stay busy.
    workers: int = 1

    def stage_of(self, epoch: int) -> str:
        """The stage of 0-based ``epoch``."""
        return "heads" if epoch < self.heads_epochs else "all"

    @property
    def epochs(self) -> int:
        return self.heads_epochs + self.all_epochs


@keras.saving.register_keras_serializable(package="fashionseg")
class WarmupGeometricDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``initial`` over ``warmup_steps``, then geometric decay to ``final`` at ``decay_steps``.

    Example:
        >>> schedule = WarmupGeometricDecay(0.01, 0.001, warmup_steps=10, decay_steps=110)
        >>> [round(float(schedule(s)), 5) for s in (0, 10, 60, 110, 500)]
        [0.001, 0.01, 0.00316, 0.001, 0.001]
    """

    def __init__(self, initial: float, final: float, warmup_steps: int, decay_steps: int):
        self.initial, self.final, self.warmup_steps, self.decay_steps = initial, final, warmup_steps, decay_steps

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.initial * keras.ops.minimum(1.0, (step + 1.0) / float(max(self.warmup_steps, 1)))
        progress = keras.ops.clip(
            (step - self.warmup_steps) / float(max(self.decay_steps - self.warmup_steps, 1)), 0.0, 1.0
        )
        decayed = self.initial * (self.final / self.initial) ** progress
        return keras.ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "initial": self.initial,
            "final": self.final,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
        }


def make_optimizer(
    config: MaskRCNNConfig, settings: TrainSettings, stage: str, steps_per_epoch: int
) -> keras.optimizers.Optimizer:
    if stage == "heads":
        schedule = WarmupGeometricDecay(config.LEARNING_RATE, config.LEARNING_RATE, settings.warmup_steps, 1)
    else:
        total = max(settings.all_epochs * steps_per_epoch, 1)
        schedule = WarmupGeometricDecay(
            settings.all_learning_rate, settings.all_final_learning_rate, min(settings.warmup_steps, total), total
        )
    # clipnorm clips each weight's gradient on its own, as matterport's Keras 2 SGD did for the
    # thesis; one global norm of 5 over all weights held the randomly initialised heads back.
    return keras.optimizers.SGD(
        schedule,
        momentum=config.LEARNING_MOMENTUM,
        weight_decay=config.WEIGHT_DECAY,
        clipnorm=config.GRADIENT_CLIP_NORM,
    )


def passthrough_loss(y_true, y_pred):
    """The model's outputs are already its losses."""
    return y_pred


def backbone_features(nets: MaskRCNNNetworks, examples: list[PreparedExample], progress: bool) -> list[np.ndarray]:
    """The frozen backbone's feature maps of every photo, float16, one array per tap."""
    outputs = None
    batch = 8
    for start in tqdm(range(0, len(examples), batch), desc="backbone features", unit="batch", disable=not progress):
        size = nets.config.IMAGE_MAX_DIM
        images = np.stack([ex.square(size) for ex in examples[start : start + batch]]).astype(np.float32)
        maps = nets.backbone.predict_on_batch(images)
        if outputs is None:
            outputs = [np.zeros((len(examples),) + m.shape[1:], np.float16) for m in maps]
        for array, m in zip(outputs, maps):
            array[start : start + len(images)] = np.asarray(m).astype(np.float16)
    return outputs


def train_maskrcnn(
    config: MaskRCNNConfig,
    settings: TrainSettings,
    train_examples: list[InstanceExample],
    val_examples: list[InstanceExample],
    run_dir: str | Path,
    progress: bool = True,
) -> dict:
    """Train (or resume) both stages; returns the run's state."""
    if not train_examples or not val_examples:
        raise ValueError("training needs photos in both the train and the validation split")
    run = training_run(run_dir)
    state = run.start(
        config,
        {
            # the re-framing odds once, under "framing", and only when the run re-frames
            "settings": {k: v for k, v in asdict(settings).items() if k != "framing_settings"},
            "framing": settings.framing_settings.to_dict() if settings.framing else None,
            "train_photos": len(train_examples),
            "val_photos": len(val_examples),
        },
    )
    state.pop("optimizer_stage", None)  # runs before #13 kept the stage twice
    if state["epoch"] >= settings.epochs:
        return state

    keras.utils.set_random_seed(settings.seed + state["epoch"])
    nets = MaskRCNNNetworks(config)
    if run.path(LAST_WEIGHTS).exists():
        nets.load_weights(run.path(LAST_WEIGHTS))
    elif settings.init_weights:
        nets.load_weights(settings.init_weights)
    train = prepare_all(train_examples, config.IMAGE_MAX_DIM, progress, "loading training photos")
    val = prepare_all(val_examples, config.IMAGE_MAX_DIM, progress, "loading validation photos")
    for stage in STAGES:
        last = settings.heads_epochs if stage == "heads" else settings.epochs
        if state["epoch"] >= last:
            continue
        fit_stage(nets, stage, settings, train, val, run, progress)
    return run.finish()


def fit_stage(
    nets: MaskRCNNNetworks,
    stage: str,
    settings: TrainSettings,
    train: list[PreparedExample],
    val: list[PreparedExample],
    run: TrainingRun,
    progress: bool,
) -> None:
    state = run.state
    last_epoch = settings.heads_epochs if stage == "heads" else settings.epochs
    config = nets.config
    names = [f"c{s}" for s in backbone_strides(config)]
    common = dict(batch_size=config.IMAGES_PER_GPU, loss_names=LOSS_NAMES)
    repeat = None
    if settings.repeat_threshold:
        repeat = repeat_factors([ex.class_ids for ex in train], settings.repeat_threshold, config.NUM_CLASSES)
    if stage == "heads":
        set_trainable(nets.backbone, False, nets.config.TRAIN_BN)
        model = nets.training_model(from_features=True, seed=settings.seed)
        train_data = MaskRCNNBatches(
            train,
            config,
            shuffle=True,
            features=backbone_features(nets, train, progress),
            feature_names=names,
            seed=settings.seed + state["epoch"],
            repeat=repeat,
            **common,
        )
        val_data = MaskRCNNBatches(
            val,
            config,
            shuffle=False,
            features=backbone_features(nets, val, progress),
            feature_names=names,
            seed=0,
            **common,
        )
    else:
        set_trainable(nets.backbone, True, nets.config.TRAIN_BN)
        model = nets.training_model(seed=settings.seed)
        framing = settings.framing_settings if settings.framing else None
        train_data = MaskRCNNBatches(
            train,
            config,
            shuffle=True,
            augment_images=True,
            framing=framing,
            repeat=repeat,
            seed=settings.seed + state["epoch"],
            workers=settings.workers,
            use_multiprocessing=settings.workers > 1,
            **common,
        )
        val_data = MaskRCNNBatches(val, config, shuffle=False, seed=0, **common)
    steps = settings.steps_per_epoch or len(train_data)
    optimizer = make_optimizer(config, settings, stage, steps)
    model.compile(
        optimizer,
        loss={n: passthrough_loss for n in LOSS_NAMES},
        loss_weights={n: config.LOSS_WEIGHTS[f"{n}_loss"] for n in LOSS_NAMES},
    )
    # The saved optimizer state belongs to the stage of the last finished epoch; a new stage starts
    # with a new optimizer.
    if run.path(LAST_OPTIMIZER).exists() and state["stage"] == stage:
        restore_optimizer(optimizer, model.trainable_variables, run.path(LAST_OPTIMIZER))

    def save_last(training_model: keras.Model) -> None:
        run.replace_atomically(LAST_WEIGHTS, nets.save_weights)
        run.replace_atomically(LAST_OPTIMIZER, lambda path: save_optimizer(training_model.optimizer, path))

    checkpoint = run.checkpoint(save_last, lambda _, path: nets.save_weights(path), stage=stage)
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=last_epoch,
        initial_epoch=state["epoch"],
        steps_per_epoch=settings.steps_per_epoch,
        callbacks=[checkpoint],
        verbose=1 if progress else 0,  # --quiet: nothing per epoch (the run log has it)
    )
