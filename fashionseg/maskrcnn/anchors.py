"""Anchor boxes over the feature pyramid (constants, computed once per config with NumPy).

Boxes are ``(y1, x1, y2, x2)`` in input-image pixels, the convention of the rest
of this package's Mask R-CNN (and of matterport's).

Example:
    >>> from fashionseg.maskrcnn.config import MaskRCNNConfig
    >>> anchors = pyramid_anchors(MaskRCNNConfig())
    >>> anchors.shape  # 3 ratios x (64^2 + 32^2 + 16^2 + 8^2 + 4^2) positions
    (16368, 4)
"""

from __future__ import annotations

import numpy as np


def level_anchors(scale: float, ratios, feature_shape: tuple[int, int], feature_stride: int, anchor_stride: int = 1) -> np.ndarray:
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


def pyramid_anchors(config) -> np.ndarray:
    """All anchors, level by level (finest first), in the order the RPN's outputs are concatenated."""
    size = config.IMAGE_MAX_DIM
    levels = []
    for scale, stride in zip(config.RPN_ANCHOR_SCALES, config.BACKBONE_STRIDES):
        shape = (int(np.ceil(size / stride)), int(np.ceil(size / stride)))
        levels.append(level_anchors(scale, config.RPN_ANCHOR_RATIOS, shape, stride, config.RPN_ANCHOR_STRIDE))
    return np.concatenate(levels, axis=0)
