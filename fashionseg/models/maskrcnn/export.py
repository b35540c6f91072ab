"""Exporting a trained Mask R-CNN: a weights folder the CLI and app load, and an ONNX graph.

A weights folder holds ``config.json`` (the :class:`MaskRCNNConfig`),
``model.weights.h5``, ``training.json`` (data, split, epochs, time, hardware),
``training_log.csv`` (per-epoch losses, for the dashboard) and, once exported,
``model.onnx`` for ONNX Runtime.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import replace
from pathlib import Path

from fashionseg.core.files import write_json_atomic
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.predictor import CONFIG_FILE, WEIGHTS_FILE
from fashionseg.models.runtime import ONNX_FILE, export_keras
from fashionseg.exceptions import ModelNotTrainedError
from fashionseg.settings import PROJECT_ROOT

TRAINING_FILE = "training.json"
LOG_FILE = "training_log.csv"


def export_run(run_dir: str | Path, out_dir: str | Path, which: str = "best", min_confidence: float | None = None) -> Path:
    """Copy a run's ``best`` (lowest validation loss) or ``last`` weights, config and log into ``out_dir``.

    ``min_confidence`` replaces the config's ``DETECTION_MIN_CONFIDENCE`` (choose it on the
    validation split: ``evaluate maskrcnn`` reports the classification metrics per threshold).
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    weights = run_dir / f"{which}.weights.h5"
    if not weights.is_file():
        raise ModelNotTrainedError(f"{run_dir} has no {weights.name} yet")
    run = json.loads((run_dir / "run.json").read_text())
    state = json.loads((run_dir / "state.json").read_text())
    config = MaskRCNNConfig.from_dict(run["config"])
    out_dir.mkdir(parents=True, exist_ok=True)
    if min_confidence is not None:
        config = replace(config, DETECTION_MIN_CONFIDENCE=min_confidence)
    replace(config, BACKBONE_WEIGHTS=None).save(out_dir / CONFIG_FILE)
    shutil.copyfile(weights, out_dir / WEIGHTS_FILE)
    shutil.copyfile(run_dir / "log.csv", out_dir / LOG_FILE)
    (out_dir / ONNX_FILE).unlink(missing_ok=True)  # belongs to the weights it replaced
    training = {
        "initialised_from": _relative(run["settings"].get("init_weights") or run["config"].get("BACKBONE_WEIGHTS")),
        "settings": run["settings"], "framing": run.get("framing"),
        "train_photos": run["train_photos"], "val_photos": run["val_photos"],
        "epochs_trained": state["epoch"], "weights": which, "best_epoch": state["best_epoch"],
        "best_val_loss": state["best_val_loss"], "training_seconds": round(state.get("seconds", 0.0), 1),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPU cores", "run": str(run_dir),
    }
    write_json_atomic(out_dir / TRAINING_FILE, training)
    return out_dir


def _relative(path: str | None) -> str | None:
    """A weights path relative to the project (``../shared/...``), so the record is the same on every machine."""
    if path in (None, "imagenet"):
        return path
    return os.path.relpath(Path(path).resolve(), PROJECT_ROOT)


def export_onnx(weights_dir: str | Path, opset: int = 17) -> Path:
    """Convert ``weights_dir``'s model to ``model.onnx`` beside it (tf2onnx, TensorFlow backend)."""
    from fashionseg.models.maskrcnn.model import MaskRCNNNetworks

    weights_dir = Path(weights_dir)
    config = MaskRCNNConfig.load(weights_dir / CONFIG_FILE)
    networks = MaskRCNNNetworks(replace(config, BACKBONE_WEIGHTS=None))
    networks.load_weights(weights_dir / WEIGHTS_FILE)
    return export_keras(networks.inference_model(), config.IMAGE_SHAPE, weights_dir / ONNX_FILE, opset)
