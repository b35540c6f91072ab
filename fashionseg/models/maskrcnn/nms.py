"""Non-maximum suppression with static shapes, in ``keras.ops``.

Greedy NMS is a loop whose length depends on the data; on TensorFlow's CPU graph
and under JAX's ``jit`` that loop is slow or needs dynamic shapes. This is
*Fast NMS* (Bolya et al., YOLACT, 2019): with boxes sorted by score, a box is
dropped when any higher-scoring box overlaps it by more than the threshold,
decided for all boxes at once from the upper triangle of their IoU matrix. It
can drop a little more than greedy NMS (a box suppressed by a box that was
itself suppressed), never less, and costs one ``K x K`` IoU matrix.

Example:
    >>> import numpy as np
    >>> boxes = np.array([[[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]]], "float32")
    >>> scores = np.array([[0.9, 0.8, 0.7]], "float32")
    >>> np.asarray(fast_nms_keep(boxes, scores, 0.5)).tolist()
    [[True, False, True]]
"""

from __future__ import annotations

from keras import ops

from fashionseg.models.maskrcnn.boxes import box_iou

PADDING_SCORE = -1e9  # the score of a slot no box filled; real scores are probabilities


def fast_nms_keep(boxes, scores, iou_threshold: float):
    """Which of ``boxes`` ``(B, K, 4)``, sorted by descending ``scores`` ``(B, K)``, survive NMS."""
    iou = box_iou(boxes, boxes)
    k = ops.shape(boxes)[1]
    # Only higher-ranked boxes (row < column) may suppress.
    upper = ops.triu(ops.ones((k, k), dtype=iou.dtype), 1)
    max_overlap = ops.max(iou * upper[None], axis=1)
    return ops.logical_and(max_overlap <= iou_threshold, scores > PADDING_SCORE / 2)


def top_k_after_nms(boxes, scores, iou_threshold: float, k: int):
    """Fast NMS, then the ``k`` best survivors: ``(boxes (B, k, 4), scores (B, k), indices (B, k))``.

    Slots without a survivor get ``PADDING_SCORE``; callers treat
    those as padding. ``boxes``/``scores`` must be sorted by descending score.
    """
    keep = fast_nms_keep(boxes, scores, iou_threshold)
    kept_scores = ops.where(keep, scores, PADDING_SCORE)
    top_scores, indices = ops.top_k(kept_scores, k)
    top_boxes = ops.take_along_axis(boxes, indices[..., None], axis=1)
    return top_boxes, top_scores, indices
