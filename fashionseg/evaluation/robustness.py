"""Robustness: a model's metrics on re-framed, re-lit and re-compressed copies of a test set.

:func:`run_robustness` builds the variants of :mod:`fashionseg.core.variants`
(waist-up, lower body, a small person in a wide shot, several people, dim
light, heavy JPEG, a tilted camera, and the untouched photos) and evaluates a
model on each with the same metrics as ``fashionseg evaluate``: the Mask
R-CNN's thesis metrics, or the U-Net's Dice.

Example:
    >>> MASKRCNN_COLUMNS[:3]
    ('map50', 'f1', 'classification_score')
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fashionseg.core.variants import MIN_INSTANCE_AREA, VARIANTS, Variant, build_variants

log = logging.getLogger(__name__)

MASKRCNN_COLUMNS = (
    "map50",
    "f1",
    "classification_score",
    "exact_match_ratio",
    "overall_accuracy",
    "jaccard",
    "coco_ap50",
    "instances",
    "inference_seconds",
)
UNET_COLUMNS = ("dice_mean", "dice_median", "inference_seconds")


def evaluate_variant(
    kind: str, model, coco_path: Path, predict_options: dict | None = None, progress: bool = True, predict_many=None
) -> dict:
    """One variant's metrics: the Mask R-CNN's thesis metrics, or the U-Net's Dice. ``predict_many``:
    the photos run on Ray (:func:`fashionseg.evaluation.ray_batch.ray_predictions` for the Mask R-CNN,
    :func:`~fashionseg.evaluation.ray_batch.ray_garment_predictions` for the U-Net)."""
    images_dir = coco_path.parent
    if kind == "maskrcnn":
        from fashionseg.models.maskrcnn.evaluate import evaluate_test_set, load_coco

        coco = load_coco(coco_path)
        test, _, _, _ = evaluate_test_set(model, coco, images_dir, predict_options, progress, predict_many)
        test["instances"] = len(coco["annotations"])
        return {k: test[k] for k in MASKRCNN_COLUMNS}
    if kind == "unet":
        from fashionseg.models.unet.data import examples_from_coco
        from fashionseg.models.unet.evaluate import evaluate_unet

        result = evaluate_unet(
            model, examples_from_coco(coco_path, images_dir), progress=progress, predict_many=predict_many
        )
        return {k: result[k] for k in UNET_COLUMNS}
    raise ValueError(f"kind must be 'maskrcnn' or 'unet', not {kind!r}")


def run_robustness(
    kind: str,
    model,
    coco: dict,
    images_dir: str | Path,
    work_dir: str | Path,
    variants: list[Variant] | None = None,
    seed: int = 0,
    min_area: int = MIN_INSTANCE_AREA,
    predict_options: dict | None = None,
    progress: bool = True,
    predict_many=None,
) -> dict:
    """Build the variants of ``coco`` under ``work_dir`` and evaluate ``model`` on each.

    Returns ``{"variants": {name: metrics}, "descriptions": {...}, "seed", "min_area", "images"}``.
    """
    variants = variants or list(VARIANTS)
    files = build_variants(coco, images_dir, work_dir, variants, seed, min_area, progress)
    results = {}
    for variant in variants:
        if progress:
            log.info("%s: %s", variant.name, variant.description)
        results[variant.name] = evaluate_variant(
            kind, model, files[variant.name], predict_options, progress, predict_many
        )
    return {
        "kind": kind,
        "images": len(coco["images"]),
        "seed": seed,
        "min_area": min_area,
        "descriptions": {v.name: v.description for v in variants},
        "variants": results,
    }


def format_table(result: dict) -> str:
    """The per-variant metrics as a Markdown table (also readable in a terminal)."""
    columns = MASKRCNN_COLUMNS if result["kind"] == "maskrcnn" else UNET_COLUMNS
    header = "| variant | " + " | ".join(columns) + " |"
    lines = [header, "| " + " | ".join(["---"] * (len(columns) + 1)) + " |"]
    for name, row in result["variants"].items():
        cells = []
        for column in columns:
            value = row[column]
            cells.append(
                f"{value * 1000:.0f} ms"
                if column == "inference_seconds"
                else str(value)
                if isinstance(value, int)
                else f"{value:.3f}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_result(result: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
