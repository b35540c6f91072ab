"""The thesis' evaluation metrics (Sections 2.3 and 5.2), and COCO mask AP.

Multi-label classification metrics take 0/1 indicator arrays of shape
``(n_images, k_classes)``: ``y_true`` (the thesis' Y) and ``y_pred`` (Z).
Segmentation metrics compare instance masks per image at mask IoU 0.5. The
combined scores take plain numbers.

Example (thesis Table 2):
    >>> y_true, y_pred = [[1, 1, 1, 0, 1]], [[0, 1, 1, 0, 1]]
    >>> exact_match_ratio(y_true, y_pred), overall_accuracy(y_true, y_pred), jaccard_score(y_true, y_pred)
    (0.0, 0.8, 0.75)
    >>> round(classification_score(0.0, 0.8, 0.75), 3)
    0.383
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fashionseg.core.masks import annotation_masks, mask_iou

IOU_THRESHOLD = 0.5


# ---------------------------------------------------------------- multi-label classification


def _indicators(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.atleast_2d(np.asarray(y_true)).astype(bool)
    p = np.atleast_2d(np.asarray(y_pred)).astype(bool)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(f"y_true and y_pred must both be (n_images, k_classes); got {t.shape} and {p.shape}")
    if t.shape[0] == 0:
        raise ValueError("no images to score")
    return t, p


def exact_match_ratio(y_true, y_pred) -> float:
    """EMR, eq. 1: the fraction of images whose predicted label set equals the true one."""
    t, p = _indicators(y_true, y_pred)
    return float(np.mean(np.all(t == p, axis=1)))


def overall_accuracy(y_true, y_pred) -> float:
    """OA, eq. 2: the fraction of correct label decisions over all ``n * k`` (image, class) pairs."""
    t, p = _indicators(y_true, y_pred)
    return float(np.mean(t == p))


def jaccard_score(y_true, y_pred) -> float:
    """JSS, eq. 3: the mean over images of ``|Y ∩ Z| / |Y ∪ Z|``.

    An image with no true and no predicted label counts as 1 (full agreement).
    """
    t, p = _indicators(y_true, y_pred)
    inter = np.sum(t & p, axis=1)
    union = np.sum(t | p, axis=1)
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))


def per_class_accuracy(y_true, y_pred) -> np.ndarray:
    """Accuracy of each class's present/absent decision over the images (thesis Appendix E)."""
    t, p = _indicators(y_true, y_pred)
    return np.mean(t == p, axis=0)


def label_indicators(class_ids_per_image: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """Per-image lists of class ids (instances or labels) -> ``(n, k)`` 0/1 indicator array."""
    out = np.zeros((len(class_ids_per_image), num_classes), dtype=np.int8)
    for i, ids in enumerate(class_ids_per_image):
        for c in ids:
            if not 0 <= int(c) < num_classes:
                raise ValueError(f"class id {c} outside 0..{num_classes - 1}")
            out[i, int(c)] = 1
    return out


# ---------------------------------------------------------------- instance segmentation


@dataclass(frozen=True)
class Instances:
    """The instances of one image: ``masks`` ``(N, H, W)`` bool, ``class_ids`` ``(N,)``, ``scores`` ``(N,)``."""

    masks: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.class_ids)
        if len(self.masks) != n or (self.scores is not None and len(self.scores) != n):
            raise ValueError("masks, class_ids and scores must have one entry per instance")

    @classmethod
    def from_coco(cls, annotations: list[dict], shape: tuple[int, int], scored: bool = False) -> Instances:
        """One photo's COCO annotations (RLE segmentations); ``scored``: keep their ``score`` (detections)."""
        scores = np.array([a.get("score", 1.0) for a in annotations]) if scored else None
        return cls(annotation_masks(annotations, shape), np.array([a["category_id"] for a in annotations], int), scores)


@dataclass(frozen=True)
class Matches:
    """Greedy matching of predictions to ground truth at an IoU threshold.

    ``pred_match[i]`` is the index of the ground-truth instance prediction ``i``
    (in score order ``order``) matched, or -1; ``gt_match[j]`` likewise.
    """

    order: np.ndarray
    pred_match: np.ndarray
    gt_match: np.ndarray
    ious: np.ndarray  # (n_pred in score order, n_gt)


def match_instances(gt: Instances, pred: Instances, iou_threshold: float = IOU_THRESHOLD) -> Matches:
    """Match predictions, highest score first, to the unmatched ground truth of the same
    class with the highest mask IoU, if that IoU reaches ``iou_threshold``."""
    scores = pred.scores if pred.scores is not None else np.ones(len(pred.class_ids))
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    pred_masks = np.asarray(pred.masks)[order] if len(order) else np.asarray(pred.masks)
    pred_classes = np.asarray(pred.class_ids)[order]
    ious = mask_iou(pred_masks, gt.masks)
    pred_match = np.full(len(order), -1)
    gt_match = np.full(len(gt.class_ids), -1)
    gt_classes = np.asarray(gt.class_ids)
    for i in range(len(order)):
        for j in np.argsort(-ious[i], kind="stable"):
            if ious[i, j] < iou_threshold:
                break
            if gt_match[j] == -1 and gt_classes[j] == pred_classes[i]:
                gt_match[j], pred_match[i] = i, j
                break
    return Matches(order, pred_match, gt_match, ious)


def average_precision_from_matches(matches: Matches, n_gt: int) -> float:
    """AP of one image from a matching already made (eq. 9); see :func:`average_precision_50`."""
    n_pred = len(matches.pred_match)
    if n_gt == 0:
        return 1.0 if n_pred == 0 else 0.0
    if n_pred == 0:
        return 0.0
    tp = np.cumsum(matches.pred_match > -1)
    precision = np.concatenate([[0.0], tp / np.arange(1, n_pred + 1), [0.0]])
    recall = np.concatenate([[0.0], tp / n_gt, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # interpolation
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def f1_from_matches(matches: Matches, n_gt: int) -> float:
    """F1 of one image from a matching already made; see :func:`f1_at_50`."""
    n_pred = len(matches.pred_match)
    if n_gt == 0 and n_pred == 0:
        return 1.0
    if n_gt == 0 or n_pred == 0:
        return 0.0
    tp = int(np.sum(matches.pred_match > -1))
    return 0.0 if tp == 0 else 2 * tp / (n_gt + n_pred)  # = 2PR / (P + R)


def average_precision_50(gt: Instances, pred: Instances, iou_threshold: float = IOU_THRESHOLD) -> float:
    """AP@50 of one image, eq. 9: area under the interpolated precision-recall curve.

    Predictions are ranked by score; precision is interpolated as the highest
    precision at any recall at least as large. An image with no ground truth
    scores 1 without predictions and 0 with any.
    """
    return average_precision_from_matches(match_instances(gt, pred, iou_threshold), len(gt.class_ids))


def f1_at_50(gt: Instances, pred: Instances, iou_threshold: float = IOU_THRESHOLD) -> float:
    """F1 of one image at mask IoU 0.5 (eq. 6-8). No ground truth and no prediction scores 1."""
    return f1_from_matches(match_instances(gt, pred, iou_threshold), len(gt.class_ids))


def _per_class(instances: Instances, class_id: int) -> Instances:
    keep = np.asarray(instances.class_ids) == class_id
    scores = None if instances.scores is None else np.asarray(instances.scores)[keep]
    return Instances(np.asarray(instances.masks)[keep], np.asarray(instances.class_ids)[keep], scores)


def mean_average_precision_50(
    ground_truths: Sequence[Instances],
    predictions: Sequence[Instances],
    per_class: bool = False,
    iou_threshold: float = IOU_THRESHOLD,
) -> float:
    """mAP@50, eq. 10.

    With ``per_class=False`` (default) each image's AP is computed over all its
    instances, classes matched, and averaged over the images: matterport's
    ``compute_ap`` per image, with which the thesis produced its numbers.
    With ``per_class=True``, AP is computed for every (image, class) pair in
    which the class is present in the ground truth or the predictions, and
    averaged over those pairs: eq. 10 read literally, skipping pairs where the
    class is absent from both (their AP is undefined).
    """
    if len(ground_truths) != len(predictions):
        raise ValueError("one prediction per ground-truth image is needed")
    if not ground_truths:
        raise ValueError("no images to score")
    if not per_class:
        return float(np.mean([average_precision_50(g, p, iou_threshold) for g, p in zip(ground_truths, predictions)]))
    aps = []
    for g, p in zip(ground_truths, predictions):
        for c in sorted(set(np.asarray(g.class_ids).tolist()) | set(np.asarray(p.class_ids).tolist())):
            aps.append(average_precision_50(_per_class(g, c), _per_class(p, c), iou_threshold))
    return float(np.mean(aps)) if aps else 1.0


def f1_score_50(
    ground_truths: Sequence[Instances], predictions: Sequence[Instances], iou_threshold: float = IOU_THRESHOLD
) -> float:
    """F1-score, eq. 8: the per-image F1 at mask IoU 0.5, averaged over images."""
    if len(ground_truths) != len(predictions):
        raise ValueError("one prediction per ground-truth image is needed")
    if not ground_truths:
        raise ValueError("no images to score")
    return float(np.mean([f1_at_50(g, p, iou_threshold) for g, p in zip(ground_truths, predictions)]))


def dice(mask_true: np.ndarray, mask_pred: np.ndarray) -> float:
    """Dice coefficient ``2|A ∩ B| / (|A| + |B|)`` of two binary masks; 1 when both are empty."""
    a, b = np.asarray(mask_true, dtype=bool), np.asarray(mask_pred, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} and {b.shape}")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.sum(a & b)) / total


# ---------------------------------------------------------------- combined scores (Section 5.2)


def classification_score(emr: float, oa: float, jss: float) -> float:
    """Eq. 15: ``(3 EMR + OA + 2 JSS) / 6``."""
    return (3 * emr + oa + 2 * jss) / 6


def segmentation_score(map50: float, f1: float) -> float:
    """Eq. 17: the mean of mAP@50 and F1."""
    return (map50 + f1) / 2


def speed_score(seconds: float) -> float:
    """Eq. 18: the mean inference time in seconds, divided by 10."""
    return seconds / 10


def trade_off(classification: float, segmentation: float, speed: float) -> float:
    """TO, eq. 19: classification + segmentation - speed score (on the test set)."""
    return classification + segmentation - speed


def total_trade_off(classification_client: float, to: float) -> float:
    """TTO, eq. 21: 1.5 x the client set's classification score + TO."""
    return 1.5 * classification_client + to


# ---------------------------------------------------------------- COCO


def coco_mask_ap(ground_truth: dict, detections: list[dict]) -> dict:
    """COCO mask AP (IoU .50:.95) and AP50 with pycocotools' COCOeval, overall and per class.

    ``ground_truth`` is a COCO document; ``detections`` COCO results
    (``image_id``, ``category_id``, ``segmentation`` RLE, ``score``). Classes
    without ground truth get ``None`` per-class AP.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    categories = [c["id"] for c in ground_truth["categories"]]
    if not detections:
        return {
            "ap": 0.0,
            "ap50": 0.0,
            "per_class_ap": {c: 0.0 for c in categories},
            "per_class_ap50": {c: 0.0 for c in categories},
        }
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = COCO()
        gt.dataset = {k: ground_truth[k] for k in ("images", "annotations", "categories")}
        gt.createIndex()
        dt = gt.loadRes([dict(d) for d in detections])
        ev = COCOeval(gt, dt, iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # (iou, recall, class, area, max dets)

    def mean_valid(p):
        p = p[p > -1]
        return float(p.mean()) if p.size else None

    per_ap, per_ap50 = {}, {}
    for k, cid in enumerate(ev.params.catIds):
        per_ap[cid] = mean_valid(precision[:, :, k, 0, -1])
        per_ap50[cid] = mean_valid(precision[0, :, k, 0, -1])
    return {
        "ap": float(max(ev.stats[0], 0.0)),
        "ap50": float(max(ev.stats[1], 0.0)),
        "per_class_ap": per_ap,
        "per_class_ap50": per_ap50,
    }
