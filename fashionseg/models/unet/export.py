"""Exporting a trained U-Net: a weights folder the CLI and app load, and an ONNX graph.

A weights folder (written by :meth:`fashionseg.models.run.TrainingRun.export`,
as the Mask R-CNN's) holds ``config.json`` (the :class:`UNetConfig`, with the
threshold chosen on the validation photos), ``model.weights.h5``,
``training.json`` (data, epochs, best epoch, time, hardware),
``training_log.csv`` (per-epoch loss and Dice, for the dashboard) and, once
exported, ``model.onnx`` for ONNX Runtime; the double pass's second model sits
in ``second_pass/``, a weights folder of its own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fashionseg.exceptions import ModelNotTrainedError
from fashionseg.models.model_folder import CONFIG_FILE, WEIGHTS_FILE
from fashionseg.models.runtime import ONNX_FILE, export_keras
from fashionseg.models.unet.model import UNetConfig, build_unet
from fashionseg.models.unet.predictor import SECOND_PASS_DIR
from fashionseg.models.unet.train import training_run


def export_run(run_dir: str | Path, out_dir: str | Path, second_pass: bool = False) -> Path:
    """Copy a finished run's best weights, config (with its threshold) and log into ``out_dir``
    (or ``out_dir/second_pass`` for a second-pass model); returns the folder written."""
    run = training_run(run_dir)
    state = run.read_state()
    if not state.get("finished"):
        raise ValueError(f"{run_dir} has not finished training")
    described = run.describe()
    config = replace(UNetConfig.from_dict(described["config"]), threshold=state["threshold"], encoder_weights=None)
    target = Path(out_dir) / SECOND_PASS_DIR if second_pass else Path(out_dir)
    started_from = described.get("init_weights") or described["config"].get("encoder_weights")
    return run.export(
        target,
        config,
        "best",
        initialised_from=started_from,
        training={"threshold": state["threshold"], "val_dice_at_threshold": state["val_dice_at_threshold"]},
    )


def export_onnx(path: str | Path) -> list[Path]:
    """Write ``model.onnx`` beside the weights of ``path`` (and of its second pass); returns the files."""
    path = Path(path)
    written = []
    for folder in (path, path / SECOND_PASS_DIR):
        if not (folder / CONFIG_FILE).is_file():
            continue
        config = UNetConfig.load(folder / CONFIG_FILE)
        model = build_unet(replace(config, encoder_weights=None))
        model.load_weights(str(folder / WEIGHTS_FILE))
        written.append(export_keras(model, (config.input_size, config.input_size, 3), folder / ONNX_FILE))
    if not written:
        raise ModelNotTrainedError(f"no trained U-Net in {path}")
    return written
