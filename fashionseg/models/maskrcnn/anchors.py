"""Anchor boxes over the feature pyramid (constants, computed once per config with NumPy).

Boxes are ``(y1, x1, y2, x2)`` in input-image pixels, the convention of the rest
of this package's Mask R-CNN (and of matterport's).

Example:
    >>> from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    >>> anchors = pyramid_anchors(MaskRCNNConfig())
    >>> anchors.shape  # 3 ratios x (64^2 + 32^2 + 16^2 + 8^2 + 4^2) positions
    (16368, 4)
"""

from __future__ import annotations

import numpy as np


def level_anchors(
    scale: float, ratios, feature_shape: tuple[int, int], feature_stride: int, anchor_stride: int = 1
) -> np.ndarray:
    """Anchors of one pyramid level: for every ``anchor_stride``-th feature cell, one box per ratio.

    A box of side ``scale`` and ratio ``r`` (width / height) has height
    ``scale / sqrt(r)`` and width ``scale * sqrt(r)``, so its area stays ``scale**2``;
    it is centred on the cell's centre in image pixels.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    heights = scale / np.sqrt(ratios)
    widths = scale * np.sqrt(ratios)
    # Cell (i, j) covers pixels [i*stride, (i+1)*stride); its centre is at (i + 0.5) * stride.
    ys = (np.arange(0, feature_shape[0], anchor_stride) + 0.5) * feature_stride
    xs = (np.arange(0, feature_shape[1], anchor_stride) + 0.5) * feature_stride
    cy, cx = np.meshgrid(ys, xs, indexing="ij")
    cy, cx = cy.reshape(-1, 1), cx.reshape(-1, 1)
    boxes = np.stack([cy - heights / 2, cx - widths / 2, cy + heights / 2, cx + widths / 2], axis=-1)
    return boxes.reshape(-1, 4).astype(np.float32)


def anchor_grid(image_size: int, scales, ratios, strides, anchor_stride: int = 1) -> np.ndarray:
    """All anchors of a square ``image_size`` input, level by level (finest first): one level per
    ``strides`` entry, with the side ``scales`` gives it, in the order the RPN's outputs are concatenated."""
    levels = []
    for scale, stride in zip(scales, strides, strict=True):
        shape = (int(np.ceil(image_size / stride)), int(np.ceil(image_size / stride)))
        levels.append(level_anchors(scale, ratios, shape, stride, anchor_stride))
    return np.concatenate(levels, axis=0)


def pyramid_anchors(config) -> np.ndarray:
    """:func:`anchor_grid` of a :class:`~fashionseg.models.maskrcnn.config.MaskRCNNConfig`."""
    return anchor_grid(
        config.IMAGE_MAX_DIM,
        config.RPN_ANCHOR_SCALES,
        config.RPN_ANCHOR_RATIOS,
        config.BACKBONE_STRIDES,
        config.RPN_ANCHOR_STRIDE,
    )


def anchor_coverage(gt_boxes: np.ndarray, anchors: np.ndarray, thresholds=(0.3, 0.5, 0.7)) -> dict:
    """How well a set of anchors fits ground-truth boxes (``(N, 4)``, input pixels, ``y1, x1, y2, x2``).

    For each box the best IoU over all anchors; returns the share of boxes whose
    best IoU reaches each threshold (the RPN calls an anchor positive at 0.7,
    and otherwise gives each box its best anchor), and the median best IoU.

    Example:
        >>> anchors = np.array([[0, 0, 16, 16], [0, 0, 64, 64]], np.float32)
        >>> anchor_coverage(np.array([[0, 0, 60, 60], [0, 0, 200, 200]], np.float32), anchors)["share_iou_0.5"]
        0.5
    """
    from fashionseg.models.maskrcnn.targets import numpy_iou

    if len(gt_boxes) == 0:
        return {f"share_iou_{t}": float("nan") for t in thresholds} | {"median_best_iou": float("nan"), "boxes": 0}
    best = np.concatenate([numpy_iou(gt_boxes[i : i + 256], anchors).max(axis=1) for i in range(0, len(gt_boxes), 256)])
    out = {f"share_iou_{t}": float(np.mean(best >= t)) for t in thresholds}
    return out | {"median_best_iou": float(np.median(best)), "boxes": len(gt_boxes)}
