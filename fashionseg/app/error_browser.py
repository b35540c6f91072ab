"""The error browser's data: every false positive, false negative and confusion of an evaluation, drawn.

``fashionseg evaluate maskrcnn`` keeps, per photo, its errors (with the index
of the ground-truth instance and of the prediction involved), and writes the
predicted masks to a detections file beside its metrics. This module reads
both back, lists the errors as a table, and draws any one as a pair of
thumbnails: ground truth on the left, prediction on the right, cropped to the
error. Ground-truth masks come from the test COCO file when it is at hand;
otherwise its boxes are drawn.

Example:
    >>> evaluation = Evaluation(per_image=[{"image_id": 1, "file_name": "a.jpg", "errors": [
    ...     {"type": "confusion", "class_id": 6, "predicted_class_id": 3, "iou": 0.6, "score": 0.8, "gt_index": 0, "pred_index": 0}]}],
    ...     images_dir=Path("."))
    >>> error_table(evaluation)[["type", "class", "predicted"]].values.tolist()
    [['confusion', 'dress', 'jacket']]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fashionseg.core.images import load_image
from fashionseg.core.masks import decode_rle
from fashionseg.core.overlay import draw_instances, fitting_scale
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.exceptions import EvaluationNotFoundError
from fashionseg.settings import ccp_root, project_path

ERROR_TYPES = ("false_positive", "false_negative", "confusion")
ERROR_LABELS = {"false_positive": "false positive", "false_negative": "false negative", "confusion": "confusion"}


@dataclass
class Evaluation:
    """One evaluation's per-photo results, with what is needed to draw them."""

    per_image: list[dict]
    images_dir: Path
    detections: dict[int, list[dict]] = field(default_factory=dict)  # image id -> predicted annotations, in order
    ground_truth: dict[int, list[dict]] | None = None  # image id -> annotations, in order; None: boxes only

    def image(self, image_id: int) -> dict:
        return next(p for p in self.per_image if p["image_id"] == image_id)


def _group_by_image(annotations: list[dict]) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for ann in annotations:
        grouped.setdefault(int(ann["image_id"]), []).append(ann)
    return grouped


def photos_folder(recorded: str | None) -> Path:
    """The recorded photo folder, or the local CCP photos when the record came from another machine."""
    path = project_path(recorded)
    if path is not None and path.is_dir():
        return path
    return ccp_root() / "photos"


def load_evaluation(
    record: dict, images_dir: str | Path | None = None, ground_truth_file: str | Path | None = None
) -> Evaluation:
    """The evaluation behind a registry record (its ``data.metrics_file`` and ``data.detections_file``)."""
    data = record.get("data", {})
    metrics_file = project_path(data.get("metrics_file"))
    if metrics_file is None or not metrics_file.is_file():
        raise EvaluationNotFoundError(f"record {record.get('run')!r}: metrics file {metrics_file} not found")
    per_image = json.loads(metrics_file.read_text(encoding="utf-8")).get("per_image", [])
    detections_file = project_path(data.get("detections_file"))
    detections = {}
    if detections_file is not None and detections_file.is_file():
        detections = _group_by_image(json.loads(detections_file.read_text(encoding="utf-8"))["annotations"])
    ground_truth = None
    gt_path = Path(ground_truth_file) if ground_truth_file else project_path(data.get("test"))
    if gt_path is not None and gt_path.is_file():
        ground_truth = _group_by_image(json.loads(gt_path.read_text(encoding="utf-8"))["annotations"])
    folder = Path(images_dir) if images_dir else photos_folder(data.get("images"))
    return Evaluation(per_image, folder, detections, ground_truth)


def error_table(evaluation: Evaluation) -> pd.DataFrame:
    """One row per error: photo, type, true class, predicted class, IoU, score and the instances involved."""
    rows = []
    for photo in evaluation.per_image:
        for n, error in enumerate(photo.get("errors", [])):
            predicted = error.get(
                "predicted_class_id", error["class_id"] if error["type"] == "false_positive" else None
            )
            rows.append(
                {
                    "image_id": photo["image_id"],
                    "file_name": photo["file_name"],
                    "error": n,
                    "type": error["type"],
                    "class": FASHIONSEG11.name_of(error["class_id"]) if error["type"] != "false_positive" else None,
                    "predicted": None if predicted is None else FASHIONSEG11.name_of(predicted),
                    "iou": error.get("iou"),
                    "score": error.get("score"),
                    "gt_index": error.get("gt_index"),
                    "pred_index": error.get("pred_index"),
                }
            )
    columns = ["image_id", "file_name", "error", "type", "class", "predicted", "iou", "score", "gt_index", "pred_index"]
    return pd.DataFrame(rows, columns=columns)


def filter_errors(
    table: pd.DataFrame,
    classes: list[str] | None = None,
    types: list[str] | None = None,
    sort_by: str = "score",
    descending: bool = True,
) -> pd.DataFrame:
    """Errors of the given types whose true or predicted class is one of ``classes``, sorted."""
    shown = table
    if types:
        shown = shown[shown["type"].isin(types)]
    if classes:
        shown = shown[shown["class"].isin(classes) | shown["predicted"].isin(classes)]
    return shown.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Errors per class and type (a false positive counts for its predicted class)."""
    counted = table.assign(for_class=table["class"].fillna(table["predicted"]))
    pivot = counted.pivot_table(index="for_class", columns="type", values="error", aggfunc="count", fill_value=0)
    pivot = pivot.reindex(
        index=[c for c in FASHIONSEG11.names if c in pivot.index], columns=list(ERROR_TYPES), fill_value=0
    )
    return pivot.rename_axis(index="class", columns=None).reset_index()


# ---------------------------------------------------------------- drawing


def _gt_instance(evaluation: Evaluation, photo: dict, index: int):
    """(class name, box x1y1x2y2, mask or None, None) of ground-truth instance ``index``."""
    if evaluation.ground_truth is not None:
        anns = evaluation.ground_truth.get(photo["image_id"], [])
        if index < len(anns):
            ann = anns[index]
            x, y, w, h = ann["bbox"]
            return FASHIONSEG11.name_of(ann["category_id"]), (x, y, x + w, y + h), decode_rle(ann["segmentation"]), None
    gt = photo["ground_truth"][index]
    x, y, w, h = gt["bbox"]
    return FASHIONSEG11.name_of(gt["class_id"]), (x, y, x + w, y + h), None, None


def _predicted_instance(evaluation: Evaluation, photo: dict, index: int):
    """(class name, box x1y1x2y2, mask or None, score) of predicted instance ``index``."""
    pred = photo["predictions"][index]
    anns = evaluation.detections.get(photo["image_id"], [])
    mask = decode_rle(anns[index]["segmentation"]) if index < len(anns) else None
    return FASHIONSEG11.name_of(pred["class_id"]), tuple(pred["bbox"]), mask, pred["score"]


def _draw(image: np.ndarray, involved: tuple | None, others: list[tuple], label: bool = True) -> np.ndarray:
    """The other instances faintly (context), the one in the error strongly, labelled unless ``label`` is False.

    Each instance is ``(name, box, mask or None, score or None)``; without a mask its box is drawn.
    """
    masked = [_as_overlay(image, *o) for o in others if o[2] is not None]
    boxed = [_as_overlay(image, *o) for o in others if o[2] is None]  # ground truth without its COCO file
    shown = draw_instances(image, masked, opacity=0.25, boxes=False, labels=False)
    shown = draw_instances(shown, boxed, opacity=0.25, boxes=True, labels=False)
    if involved is None:
        return shown
    return draw_instances(shown, [_as_overlay(image, *involved)], opacity=0.55, boxes=True, labels=label)


def _as_overlay(image: np.ndarray, name, box, mask, score):
    return name, score, box, np.zeros(image.shape[:2], bool) if mask is None else mask


def _label_thumbnail(
    thumbnail: np.ndarray, involved: tuple | None, window: tuple[int, int, int, int], scale: float
) -> np.ndarray:
    """The error's label drawn on the thumbnail itself: sized for it and kept inside it (drawn on the photo
    and then cropped, it was cut off at the crop's edge and as large as the photo's own labels)."""
    if involved is None:
        return thumbnail
    name, (bx1, by1, bx2, by2), _, score = involved
    x0, y0 = window[0], window[1]
    box = ((bx1 - x0) * scale, (by1 - y0) * scale, (bx2 - x0) * scale, (by2 - y0) * scale)
    text = name if score is None else f"{name} {score:.2f}"
    # Large enough to read with the thumbnail shown at half its size in the gallery, small enough to fit it.
    scale = fitting_scale(text, thumbnail.shape[1], largest=0.8)
    return draw_instances(
        thumbnail,
        [(name, score, box, np.zeros(thumbnail.shape[:2], bool))],
        opacity=0.0,
        boxes=False,
        labels=True,
        texts=[text],
        text_scale=scale,
    )


def error_views(
    evaluation: Evaluation, row: pd.Series | dict, crop: bool = True, size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth, prediction) images of one error, cropped around it and fitted into ``size`` unless ``crop`` is False.

    Each side shows all of the photo's instances faintly and the one in the error strongly, labelled.
    """
    photo = evaluation.image(int(row["image_id"]))
    image = load_image(evaluation.images_dir / photo["file_name"])
    truths = [_gt_instance(evaluation, photo, k) for k in range(len(photo.get("ground_truth", [])))]
    predictions = [_predicted_instance(evaluation, photo, k) for k in range(len(photo.get("predictions", [])))]
    gt_index = int(row["gt_index"]) if pd.notna(row.get("gt_index")) else None
    pred_index = int(row["pred_index"]) if pd.notna(row.get("pred_index")) else None
    truth = None if gt_index is None else truths[gt_index]
    prediction = None if pred_index is None else predictions[pred_index]
    boxes = [b[1] for b in (truth, prediction) if b is not None]
    cropped = crop and bool(boxes)
    gt_view = _draw(image, truth, [t for k, t in enumerate(truths) if k != gt_index], label=not cropped)
    pred_view = _draw(image, prediction, [p for k, p in enumerate(predictions) if k != pred_index], label=not cropped)
    if not cropped:
        return gt_view, pred_view
    window = x1, y1, x2, y2 = _crop_window(boxes, image.shape[:2])
    scale = size / max(y2 - y1, x2 - x1)
    return (
        _label_thumbnail(_fit(gt_view[y1:y2, x1:x2], size), truth, window, scale),
        _label_thumbnail(_fit(pred_view[y1:y2, x1:x2], size), prediction, window, scale),
    )


def _crop_window(boxes, shape: tuple[int, int], margin: float = 0.25) -> tuple[int, int, int, int]:
    height, width = shape
    x1 = min(b[0] for b in boxes)
    y1 = min(b[1] for b in boxes)
    x2 = max(b[2] for b in boxes)
    y2 = max(b[3] for b in boxes)
    pad = margin * max(x2 - x1, y2 - y1, 32)
    return (
        max(0, int(x1 - pad)),
        max(0, int(y1 - pad)),
        min(width, int(np.ceil(x2 + pad))),
        min(height, int(np.ceil(y2 + pad))),
    )


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    scale = size / max(image.shape[:2])
    return cv2.resize(
        image,
        (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
