"""Evaluating a garment U-Net by Dice, the report's way (mean, median, outlier-corrected).

Example:
    >>> mean, kept, removed = outlier_corrected_mean([0.95, 0.96, 0.94, 0.95, 0.40, 0.96, 0.95, 0.94, 0.96, 0.95])
    >>> round(mean, 3), removed
    (0.951, 1)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
from tqdm import tqdm

from fashionseg.core.metrics import dice
from fashionseg.exceptions import ModelNotTrainedError
from fashionseg.models.unet.data import GarmentExample
from fashionseg.models.unet.predictor import GarmentSegmenter

OUTLIER_STDS = 2.0


def outlier_corrected_mean(scores, stds: float = OUTLIER_STDS) -> tuple[float, list[float], int]:
    """Mean Dice without the low outliers: scores under mean - ``stds`` x std are removed.

    The report removed 16 of 450 scores as outliers without giving its rule; this
    is ours. Returns (mean of the rest, the rest, how many were removed).
    """
    scores = np.asarray(scores, dtype=np.float64)
    cut = scores.mean() - stds * scores.std()
    kept = scores[scores >= cut]
    return float(kept.mean()), kept.tolist(), int(len(scores) - len(kept))


def predict_in_process(
    segmenter: GarmentSegmenter, examples: list[GarmentExample], double_pass: bool
) -> Iterator[tuple]:
    """(garment mask, seconds from encoded file to cutout) of each photo, in order."""
    for ex in examples:
        data = ex.image_path.read_bytes()
        start = time.perf_counter()
        result = segmenter.predict(data, double_pass=double_pass)  # decode -> cutout
        yield result.mask, time.perf_counter() - start


def evaluate_unet(
    segmenter: GarmentSegmenter,
    examples: list[GarmentExample],
    double_pass: bool = False,
    progress: bool = True,
    predict_many: Callable | None = None,
) -> dict:
    """Per-photo Dice at full resolution and the time from encoded file to cutout.

    ``predict_many(examples, double_pass)``: run the photos elsewhere
    (:func:`fashionseg.evaluation.ray_batch.ray_garment_predictions`); it yields what
    :func:`predict_in_process` yields.
    """
    if not examples:
        raise ValueError("no photos to evaluate")
    if double_pass and segmenter.second_pass is None:  # said before any photo runs, wherever they run
        raise ModelNotTrainedError("this model has no second-pass model (train one with --second-pass-of)")
    answers = (predict_many or partial(predict_in_process, segmenter))(examples, double_pass)
    scores, seconds, per_image = [], [], []
    for ex, (mask, elapsed) in zip(
        examples, tqdm(answers, total=len(examples), desc="evaluating", unit="photo", disable=not progress), strict=True
    ):
        seconds.append(elapsed)
        score = dice(ex.mask(), mask)
        scores.append(score)
        per_image.append({"file": ex.image_path.name, "dice": round(score, 5)})
    corrected, kept, removed = outlier_corrected_mean(scores)
    return {
        "images": len(scores),
        "dice_mean": float(np.mean(scores)),
        "dice_median": float(np.median(scores)),
        "dice_std": float(np.std(scores)),
        "dice_mean_outlier_corrected": corrected,
        "dice_median_outlier_corrected": float(np.median(kept)),
        "outliers_removed": removed,
        "outlier_rule": f"dice < mean - {OUTLIER_STDS:g} x std",
        "threshold": segmenter.second_pass.config.threshold if double_pass else segmenter.config.threshold,
        "double_pass": double_pass,
        "inference_seconds": float(np.mean(seconds)),
        "inference_seconds_median": float(np.median(seconds)),
        "per_image": per_image,
    }
