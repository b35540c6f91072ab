"""Training targets: which anchors and which proposals should predict what.

- :func:`rpn_targets` (NumPy, in the data pipeline): each anchor is positive
  when it overlaps a ground-truth box by IoU >= 0.7 or is some box's best
  anchor, negative under 0.3, and ``RPN_TRAIN_ANCHORS_PER_IMAGE`` of them are
  sampled, at most half positive (matterport's ``build_rpn_targets``).
- :class:`DetectionTargetLayer` (in the graph): proposals, with the ground-truth
  boxes added to them (as torchvision does; it gives the heads positives from
  the first step, when the RPN still proposes noise), are sampled into
  ``TRAIN_ROIS_PER_IMAGE`` RoIs with ``ROI_POSITIVE_RATIO`` positives (IoU >= 0.5),
  and each positive gets its class, box deltas and a ``MASK_SHAPE`` mask cut
  from its ground truth's mini-mask. Positives take the first slots, so the
  mask head runs on those slots only. Shapes are static: slots that sampling
  could not fill are marked invalid.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fashionseg.models.maskrcnn.boxes import box_iou, encode_deltas
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.roi_align import bilinear_pool

RPN_POSITIVE_IOU, RPN_NEGATIVE_IOU = 0.7, 0.3
ROI_POSITIVE_IOU = 0.5


def numpy_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`~fashionseg.models.maskrcnn.boxes.box_iou` in NumPy, for the data pipeline (no backend calls per photo)."""
    y1 = np.maximum(a[:, None, 0], b[None, :, 0])
    x1 = np.maximum(a[:, None, 1], b[None, :, 1])
    y2 = np.minimum(a[:, None, 2], b[None, :, 2])
    x2 = np.minimum(a[:, None, 3], b[None, :, 3])
    intersection = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-9), 0.0)


def numpy_encode_deltas(boxes: np.ndarray, targets: np.ndarray, std) -> np.ndarray:
    """:func:`~fashionseg.models.maskrcnn.boxes.encode_deltas` in NumPy."""
    h, w = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    th, tw = targets[:, 2] - targets[:, 0], targets[:, 3] - targets[:, 1]
    dy = (targets[:, 0] + 0.5 * th - boxes[:, 0] - 0.5 * h) / h
    dx = (targets[:, 1] + 0.5 * tw - boxes[:, 1] - 0.5 * w) / w
    deltas = np.stack([dy, dx, np.log(th / h), np.log(tw / w)], axis=1)
    return (deltas / np.asarray(std)).astype(np.float32)


def rpn_targets(anchors: np.ndarray, gt_boxes: np.ndarray, config: MaskRCNNConfig, rng: np.random.Generator):
    """``(match (N,) int8 in {1 positive, -1 negative, 0 ignored}, deltas (N, 4) float32)`` for one image."""
    n = len(anchors)
    match = np.zeros(n, np.int8)
    deltas = np.zeros((n, 4), np.float32)
    if len(gt_boxes) == 0:
        match[rng.choice(n, config.RPN_TRAIN_ANCHORS_PER_IMAGE, replace=False)] = -1
        return match, deltas
    iou = numpy_iou(anchors, gt_boxes)
    best_gt = iou.argmax(axis=1)
    best_iou = iou[np.arange(n), best_gt]
    match[best_iou < RPN_NEGATIVE_IOU] = -1
    # Every box gets its best anchors, however poor, so small objects are not left without one.
    best_anchors = np.flatnonzero((iou == iou.max(axis=0, keepdims=True)).any(axis=1) & (best_iou > 0))
    match[best_anchors] = 1
    match[best_iou >= RPN_POSITIVE_IOU] = 1
    positives = np.flatnonzero(match == 1)
    extra = len(positives) - config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    if extra > 0:
        match[rng.choice(positives, extra, replace=False)] = 0
        positives = np.flatnonzero(match == 1)
    negatives = np.flatnonzero(match == -1)
    extra = len(negatives) - (config.RPN_TRAIN_ANCHORS_PER_IMAGE - len(positives))
    if extra > 0:
        match[rng.choice(negatives, extra, replace=False)] = 0
    deltas[positives] = numpy_encode_deltas(anchors[positives], gt_boxes[best_gt[positives]], config.RPN_BBOX_STD_DEV)
    return match, deltas


@keras.saving.register_keras_serializable(package="fashionseg")
class DetectionTargetLayer(keras.layers.Layer):
    """Samples RoIs and their targets.

    Inputs: proposals ``(B, R, 4)``, proposal validity ``(B, R)``, ground-truth class
    ids ``(B, G)`` (0 marks padding), boxes ``(B, G, 4)`` in pixels and mini-masks
    ``(B, G, m, m)`` (each the mask inside its box, resized to ``m`` x ``m``).
    Outputs: RoIs ``(B, T, 4)``, class ids ``(B, T)`` (0: background), box deltas
    ``(B, T, 4)`` (divided by ``bbox_std_dev``), validity ``(B, T)`` and mask targets
    ``(B, P, mask_size, mask_size)`` for the ``P = round(T * positive_ratio)`` positive
    slots, where ``T = rois_per_image``. ``seed`` fixes the sampling.

    Example:
        >>> import numpy as np
        >>> layer = DetectionTargetLayer(rois_per_image=4, positive_ratio=0.5, bbox_std_dev=(0.1, 0.1, 0.2, 0.2), mask_size=4, seed=0)
        >>> gt_ids, gt_boxes = np.array([[3, 0]], "int32"), np.array([[[0, 0, 64, 64], [0, 0, 0, 0]]], "float32")
        >>> proposals = np.array([[[0, 0, 64, 64], [64, 64, 128, 128]]], "float32")
        >>> gt_masks = np.ones((1, 2, 8, 8), "float32")
        >>> rois, class_ids, deltas, valid, masks = layer(proposals, np.ones((1, 2), bool), gt_ids, gt_boxes, gt_masks)
        >>> np.asarray(class_ids).tolist(), np.asarray(valid).tolist(), tuple(masks.shape)
        ([[3, 3, 0, 0]], [[1.0, 1.0, 1.0, 0.0]], (1, 2, 4, 4))
    """

    def __init__(
        self,
        rois_per_image: int,
        positive_ratio: float,
        bbox_std_dev,
        mask_size: int,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rois_per_image, self.positive_ratio, self.mask_size = (
            int(rois_per_image),
            float(positive_ratio),
            int(mask_size),
        )
        self.bbox_std_dev = tuple(bbox_std_dev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.positive_slots = round(self.rois_per_image * self.positive_ratio)

    def call(self, proposals, proposal_valid, gt_class_ids, gt_boxes, gt_masks):
        ratio = self.positive_ratio
        batch = ops.shape(proposals)[0]
        gt_valid = gt_class_ids > 0
        candidates = ops.concatenate([proposals, gt_boxes], axis=1)
        candidate_valid = ops.concatenate([proposal_valid, gt_valid], axis=1)
        iou = ops.where(gt_valid[:, None, :], box_iou(candidates, gt_boxes), -1.0)
        best_iou = ops.max(iou, axis=-1)
        assigned = ops.argmax(iou, axis=-1)
        positive = ops.logical_and(best_iou >= ROI_POSITIVE_IOU, candidate_valid)
        negative = ops.logical_and(best_iou < ROI_POSITIVE_IOU, candidate_valid)

        # Random subsets: top-k of uniform noise among the eligible.
        noise = keras.random.uniform(ops.shape(best_iou), seed=self.seed_generator)
        p, t = self.positive_slots, self.rois_per_image
        pos_rank, pos_index = ops.top_k(ops.where(positive, noise, -1.0), p)
        neg_rank, neg_index = ops.top_k(ops.where(negative, noise, -1.0), t - p)
        pos_taken = pos_rank >= 0
        # Keep matterport's ratio: at most (1 - r) / r negatives per positive (at least one).
        allowed = ops.maximum(
            ops.ceil(ops.sum(ops.cast(pos_taken, "float32"), axis=1, keepdims=True) * (1 - ratio) / ratio), 1.0
        )
        neg_taken = ops.logical_and(neg_rank >= 0, ops.cast(ops.arange(t - p), "float32")[None] < allowed)

        index = ops.concatenate([pos_index, neg_index], axis=1)
        rois = ops.take_along_axis(candidates, index[..., None], axis=1)
        valid = ops.concatenate([pos_taken, neg_taken], axis=1)
        gt_index = ops.take_along_axis(assigned, pos_index, axis=1)  # (B, P)
        pos_classes = ops.where(pos_taken, ops.take_along_axis(gt_class_ids, gt_index, axis=1), 0)
        class_ids = ops.concatenate([pos_classes, ops.zeros((batch, t - p), dtype=pos_classes.dtype)], axis=1)
        matched_boxes = ops.take_along_axis(gt_boxes, gt_index[..., None], axis=1)
        pos_deltas = (
            encode_deltas(rois[:, :p], matched_boxes, self.bbox_std_dev) * ops.cast(pos_taken, "float32")[..., None]
        )
        deltas = ops.concatenate([pos_deltas, ops.zeros((batch, t - p, 4))], axis=1)
        masks = self.mask_targets(rois[:, :p], matched_boxes, gt_index, gt_masks)
        rois, deltas, masks = (ops.stop_gradient(x) for x in (rois, deltas, masks))
        return rois, class_ids, deltas, ops.cast(valid, "float32"), masks

    def mask_targets(self, rois, gt_boxes, gt_index, gt_masks):
        """Each RoI's part of its ground truth's mini-mask, resampled to ``mask_size`` x ``mask_size``, 0/1."""
        batch, count = ops.shape(gt_masks)[0], ops.shape(gt_masks)[1]
        # A border of zeros: samples beyond the ground truth's box read background, not the
        # clamped edge of its mask.
        side = int(gt_masks.shape[2]) + 2
        padded = ops.pad(ops.cast(gt_masks, "float32"), ((0, 0), (0, 0), (1, 1), (1, 1)))
        flat = ops.reshape(padded, (-1, 1))
        base = (ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1)) * count + ops.cast(gt_index, "int32")) * (
            side * side
        )
        # RoI corners in the padded mini-mask's cells: the mini-mask spans its box exactly.
        origin = ops.concatenate([gt_boxes[..., :2], gt_boxes[..., :2]], axis=-1)
        extent = ops.concatenate([gt_boxes[..., 2:] - gt_boxes[..., :2]] * 2, axis=-1)
        boxes = (rois - origin) / ops.maximum(extent, 1e-3) * (side - 2) + 1.0
        side = ops.full(ops.shape(base), side, dtype="int32")
        pooled = bilinear_pool(flat, base, side, side, boxes, self.mask_size, sampling_ratio=1)
        return ops.cast(pooled[..., 0] >= 0.5, "float32")

    def get_config(self):
        return {
            **super().get_config(),
            "rois_per_image": self.rois_per_image,
            "positive_ratio": self.positive_ratio,
            "bbox_std_dev": self.bbox_std_dev,
            "mask_size": self.mask_size,
            "seed": self.seed,
        }
