"""Evaluating a Mask R-CNN with the thesis' metrics (Section 2.3 and 5.2) and COCO mask AP.

On a test set with masks (``instances.json``): multi-label classification of
each photo (the set of classes with at least one instance, true against
predicted: EMR, overall accuracy, Jaccard, per-class accuracy), instance
segmentation at mask IoU 0.5 (mAP@50 per image as matterport computed the
thesis' numbers, F1), COCO mask AP and AP50 (pycocotools), and the time from
the encoded file to full-resolution masks. On a client set with image-level
labels only (``client.json``): the classification metrics. Then the thesis'
combined scores: classification (eq. 15), segmentation (17), speed (18), TO
(19) and TTO (21).

Every photo's errors are kept for the error browser: false positives, false
negatives and confusions (a prediction of one class on a ground-truth instance
of another, mask IoU >= 0.5, e.g. a long shirt taken for a dress).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashionseg.core import metrics
from fashionseg.core.coco import annotations_by_image, read_coco, validate_coco
from fashionseg.core.split import select_coco_split
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.models.maskrcnn.predictor import InstanceSegmenter, SegmentationResult

NUM_CLASSES = len(FASHIONSEG11)


def select_first(coco: dict, count: int) -> dict:
    """The first ``count`` images of a COCO document and their annotations."""
    ids = {im["id"] for im in coco["images"][:count]}
    return {
        **coco,
        "images": coco["images"][:count],
        "annotations": [a for a in coco.get("annotations", []) if a["image_id"] in ids],
    }


def load_coco(path: str | Path, split: str | None = None) -> dict:
    """A COCO file, validated, with only the images of ``split`` (all when None)."""
    return select_coco_split(validate_coco(read_coco(path), str(path)), split)


def image_errors(gt: metrics.Instances, pred: metrics.Instances, matches: metrics.Matches) -> list[dict]:
    """False positives, false negatives and confusions of one photo (class ids 0-based)."""
    errors = []
    order = matches.order
    pred_classes, pred_scores = (
        np.asarray(pred.class_ids)[order],
        (np.asarray(pred.scores)[order] if len(order) else []),
    )
    confused_preds = set()
    for j in np.flatnonzero(matches.gt_match == -1):
        candidates = [
            i
            for i in np.flatnonzero(matches.pred_match == -1)
            if i not in confused_preds and matches.ious[i, j] >= metrics.IOU_THRESHOLD
        ]
        if candidates:
            i = max(candidates, key=lambda k: matches.ious[k, j])
            confused_preds.add(i)
            errors.append(
                {
                    "type": "confusion",
                    "class_id": int(gt.class_ids[j]),
                    "predicted_class_id": int(pred_classes[i]),
                    "iou": round(float(matches.ious[i, j]), 4),
                    "score": round(float(pred_scores[i]), 4),
                    "gt_index": int(j),
                    "pred_index": int(order[i]),
                }
            )
        else:
            best = float(matches.ious[:, j].max()) if len(order) else 0.0
            errors.append(
                {"type": "false_negative", "class_id": int(gt.class_ids[j]), "iou": round(best, 4), "gt_index": int(j)}
            )
    for i in np.flatnonzero(matches.pred_match == -1):
        if i in confused_preds:
            continue
        best = float(matches.ious[i].max()) if matches.ious.shape[1] else 0.0
        errors.append(
            {
                "type": "false_positive",
                "class_id": int(pred_classes[i]),
                "iou": round(best, 4),
                "score": round(float(pred_scores[i]), 4),
                "pred_index": int(order[i]),
            }
        )
    return errors


def _predict_timed(segmenter: InstanceSegmenter, path: Path, predict_options: dict) -> tuple[SegmentationResult, float]:
    data = path.read_bytes()
    start = time.perf_counter()
    result = segmenter.predict(data, **predict_options)  # decode -> full-resolution masks
    return result, time.perf_counter() - start


def _predictions(segmenter, images: list[dict], images_dir, predict_options: dict, predict_many):
    """(result, seconds) of each image in order: here one by one, or from ``predict_many(images,
    images_dir, predict_options)`` (Ray workers, :mod:`fashionseg.evaluation.ray_batch`)."""
    if predict_many is not None:
        return predict_many(images, images_dir, predict_options)
    return (_predict_timed(segmenter, Path(images_dir) / im["file_name"], predict_options) for im in images)


def _classification(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    emr, oa, jss = (
        metrics.exact_match_ratio(y_true, y_pred),
        metrics.overall_accuracy(y_true, y_pred),
        metrics.jaccard_score(y_true, y_pred),
    )
    return {
        "exact_match_ratio": emr,
        "overall_accuracy": oa,
        "jaccard": jss,
        "classification_score": metrics.classification_score(emr, oa, jss),
    }


def classification_by_min_confidence(records: list[dict], lowest: float, step: float = 0.05) -> list[dict]:
    """The classification metrics had the confidence threshold been higher: one row per threshold
    from ``lowest`` (the one evaluated) up to 0.95, from the per-photo predictions."""
    truths = [r["true_classes"] for r in records]
    rows = []
    for threshold in np.arange(lowest, 0.951, step):
        predicted = [
            sorted({p["class_id"] for p in r["predictions"] if p["score"] >= threshold - 1e-9}) for r in records
        ]
        scores = _classification(
            metrics.label_indicators(truths, NUM_CLASSES), metrics.label_indicators(predicted, NUM_CLASSES)
        )
        rows.append({"min_confidence": round(float(threshold), 3), **{k: round(v, 4) for k, v in scores.items()}})
    return rows


def evaluate_test_set(
    segmenter: InstanceSegmenter,
    coco: dict,
    images_dir: str | Path,
    predict_options: dict | None = None,
    progress: bool = True,
    predict_many=None,
) -> tuple[dict, dict, list[dict], list[dict]]:
    """Returns (test metrics, per-class results, per-image records, COCO detections)."""
    predict_options = predict_options or {}
    if not coco["images"]:
        raise ValueError("the test set has no images")
    per_image_anns = annotations_by_image(coco)
    gts, preds, seconds, records, detections = [], [], [], [], []
    aps, f1s = [], []
    predictions = _predictions(segmenter, coco["images"], images_dir, predict_options, predict_many)
    for im, (result, elapsed) in zip(
        tqdm(coco["images"], desc="evaluating", unit="photo", disable=not progress), predictions
    ):
        seconds.append(elapsed)
        anns = per_image_anns.get(im["id"], [])
        shape = (im["height"], im["width"])
        gt = metrics.Instances.from_coco(anns, shape)
        pred = metrics.Instances(
            np.stack([i.mask for i in result.instances]) if result.instances else np.zeros((0,) + shape, bool),
            np.array([i.class_id for i in result.instances], int),
            np.array([i.score for i in result.instances]),
        )
        matches = metrics.match_instances(gt, pred)
        aps.append(metrics.average_precision_from_matches(matches, len(anns)))
        f1s.append(metrics.f1_from_matches(matches, len(anns)))
        gts.append(gt)
        preds.append(pred)
        for det in result.to_coco_annotations(im["id"]):
            detections.append({k: det[k] for k in ("image_id", "category_id", "segmentation", "score", "bbox")})
        records.append(
            {
                "image_id": im["id"],
                "file_name": im["file_name"],
                "seconds": round(elapsed, 4),
                "ap50": round(aps[-1], 4),
                "f1": round(f1s[-1], 4),
                "true_classes": sorted({int(c) for c in gt.class_ids}),
                "predicted_classes": sorted({int(c) for c in pred.class_ids}),
                "ground_truth": [{"class_id": int(a["category_id"]), "bbox": a["bbox"]} for a in anns],
                "predictions": [
                    {"class_id": i.class_id, "score": round(i.score, 4), "bbox": [round(v, 1) for v in i.box]}
                    for i in result.instances
                ],
                "errors": image_errors(gt, pred, matches),
            }
        )
    y_true = metrics.label_indicators([g.class_ids for g in gts], NUM_CLASSES)
    y_pred = metrics.label_indicators([p.class_ids for p in preds], NUM_CLASSES)
    coco_scores = metrics.coco_mask_ap(coco, detections)
    test = {
        "images": len(gts),
        **_classification(y_true, y_pred),
        "map50": float(np.mean(aps)),
        "f1": float(np.mean(f1s)),
        "map50_per_class_pairs": metrics.mean_average_precision_50(gts, preds, per_class=True),
        "coco_ap": coco_scores["ap"],
        "coco_ap50": coco_scores["ap50"],
        "inference_seconds": float(np.mean(seconds)),
        "inference_seconds_median": float(np.median(seconds)),
    }
    accuracy = metrics.per_class_accuracy(y_true, y_pred)
    per_class = {}
    for k, name in enumerate(FASHIONSEG11.names):
        per_class[name] = {
            "accuracy": float(accuracy[k]),
            "true_images": int(y_true[:, k].sum()),
            "predicted_images": int(y_pred[:, k].sum()),
            "true_instances": int(sum(int(np.sum(g.class_ids == k)) for g in gts)),
            "predicted_instances": int(sum(int(np.sum(p.class_ids == k)) for p in preds)),
            "coco_ap": coco_scores["per_class_ap"].get(k),
            "coco_ap50": coco_scores["per_class_ap50"].get(k),
        }
    return test, per_class, records, detections


def tag_counts(client: dict) -> dict[int, dict[int, int]]:
    """Image id -> {class (0-based): how many instances its image-level labels count} of every image of
    ``client``; a label without a count counts one."""
    counts: dict[int, dict[int, int]] = {im["id"]: {} for im in client["images"]}
    for lab in client.get("image_labels", []):
        if lab.get("category_id") is not None and lab["image_id"] in counts:
            classes, class_id = counts[lab["image_id"]], int(lab["category_id"])
            classes[class_id] = classes.get(class_id, 0) + max(1, int(lab.get("count") or 1))
    return counts


def image_labels(client: dict) -> dict[int, set[int]]:
    """Image id -> the classes (0-based) of its image-level labels, for every image of ``client``."""
    return {image_id: set(classes) for image_id, classes in tag_counts(client).items()}


def evaluate_client_set(
    segmenter: InstanceSegmenter,
    client: dict,
    images_dir: str | Path,
    predict_options: dict | None = None,
    progress: bool = True,
    predict_many=None,
) -> tuple[dict, np.ndarray]:
    """Classification metrics on photos with image-level labels; returns (metrics, per-class accuracy)."""
    predict_options = predict_options or {}
    labels = image_labels(client)
    if not labels:
        raise ValueError("the client set has no images")
    true_sets, predicted_sets = [], []
    predictions = _predictions(segmenter, client["images"], images_dir, predict_options, predict_many)
    for im, (result, _) in zip(
        tqdm(client["images"], desc="client set", unit="photo", disable=not progress), predictions
    ):
        true_sets.append(sorted(labels[im["id"]]))
        predicted_sets.append(sorted({i.class_id for i in result.instances}))
    y_true = metrics.label_indicators(true_sets, NUM_CLASSES)
    y_pred = metrics.label_indicators(predicted_sets, NUM_CLASSES)
    return {"images": len(true_sets), **_classification(y_true, y_pred)}, metrics.per_class_accuracy(y_true, y_pred)


def evaluate_maskrcnn(
    segmenter: InstanceSegmenter,
    test: dict,
    images_dir: str | Path,
    client: dict | None = None,
    predict_options: dict | None = None,
    progress: bool = True,
    predict_many=None,
) -> tuple[dict, list[dict]]:
    """All metrics of the evaluation contract; returns (METRICS.json content, COCO detections).
    ``predict_many``: run the photos elsewhere (:func:`fashionseg.evaluation.ray_batch.ray_predictions`)."""
    test_metrics, per_class, records, detections = evaluate_test_set(
        segmenter, test, images_dir, predict_options, progress, predict_many
    )
    out = {"test": test_metrics, "per_class": per_class}
    lowest = (predict_options or {}).get("min_confidence", segmenter.config.DETECTION_MIN_CONFIDENCE)
    test_metrics["classification_by_min_confidence"] = classification_by_min_confidence(records, lowest)
    segmentation = metrics.segmentation_score(test_metrics["map50"], test_metrics["f1"])
    speed = metrics.speed_score(test_metrics["inference_seconds"])
    to = metrics.trade_off(test_metrics["classification_score"], segmentation, speed)
    out.update(
        classification_score_test=test_metrics["classification_score"],
        segmentation_score=segmentation,
        speed_score=speed,
        to=to,
    )
    if client is not None:
        client_metrics, client_accuracy = evaluate_client_set(
            segmenter, client, images_dir, predict_options, progress, predict_many
        )
        out["client"] = client_metrics
        for k, name in enumerate(FASHIONSEG11.names):
            per_class[name]["client_accuracy"] = float(client_accuracy[k])
        out["classification_score_client"] = client_metrics["classification_score"]
        out["tto"] = metrics.total_trade_off(client_metrics["classification_score"], to)
    else:
        out.update(client=None, classification_score_client=None, tto=None)
    c = segmenter.config
    options = predict_options or {}
    head = (
        segmenter.label_head
        if segmenter.uses_label_head(options.get("min_confidence"), options.get("label_head"))
        else None
    )
    out["settings"] = {
        "runtime": segmenter.runtime_name,
        "min_confidence": options.get("min_confidence", c.DETECTION_MIN_CONFIDENCE),
        "max_instances": options.get("max_instances", c.DETECTION_MAX_INSTANCES),
        "max_per_class": options.get("max_per_class", c.DETECTION_MAX_PER_CLASS),
        # the label head, when it decides, replaces the per-class thresholds
        "min_confidence_per_class": {}
        if "min_confidence" in options or head is not None
        else c.DETECTION_MIN_CONFIDENCE_PER_CLASS,
        "focus": options.get("focus", c.DETECTION_FOCUS),
        "label_head": head.get_config() if head is not None else None,
    }
    out["per_image"] = records
    return out, detections
