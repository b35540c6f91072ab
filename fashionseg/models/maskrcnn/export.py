"""Exporting a trained Mask R-CNN: a weights folder the CLI and app load, and an ONNX graph.

A weights folder (written by :meth:`fashionseg.models.run.TrainingRun.export`,
as the U-Net's) holds ``config.json`` (the :class:`MaskRCNNConfig`),
``model.weights.h5``, ``training.json`` (data, split, epochs, time, hardware),
``training_log.csv`` (per-epoch losses, for the dashboard) and, once exported,
``model.onnx`` for ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.train import training_run
from fashionseg.models.model_folder import CONFIG_FILE, WEIGHTS_FILE
from fashionseg.models.runtime import ONNX_FILE, export_keras


def export_run(
    run_dir: str | Path, out_dir: str | Path, which: str = "best", min_confidence: float | None = None
) -> Path:
    """Copy a run's ``best`` (lowest validation loss) or ``last`` weights, config and log into ``out_dir``.

    ``min_confidence`` replaces the config's ``DETECTION_MIN_CONFIDENCE`` (choose it on the
    validation split: ``evaluate maskrcnn`` reports the classification metrics per threshold).
    """
    run = training_run(run_dir)
    described = run.describe()
    config = replace(MaskRCNNConfig.from_dict(described["config"]), BACKBONE_WEIGHTS=None)
    if min_confidence is not None:
        config = replace(config, DETECTION_MIN_CONFIDENCE=min_confidence)
    started_from = described["settings"].get("init_weights") or described["config"].get("BACKBONE_WEIGHTS")
    return run.export(
        out_dir, config, which, initialised_from=started_from, training={"framing": described.get("framing")}
    )


def export_onnx(weights_dir: str | Path, opset: int = 17) -> Path:
    """Convert ``weights_dir``'s model to ``model.onnx`` beside it (tf2onnx, TensorFlow backend)."""
    from fashionseg.models.maskrcnn.model import MaskRCNNNetworks

    weights_dir = Path(weights_dir)
    config = MaskRCNNConfig.load(weights_dir / CONFIG_FILE)
    networks = MaskRCNNNetworks(replace(config, BACKBONE_WEIGHTS=None))
    networks.load_weights(weights_dir / WEIGHTS_FILE)
    return export_keras(networks.inference_model(), config.IMAGE_SHAPE, weights_dir / ONNX_FILE, opset)
