"""RoIAlign (Mask R-CNN's region feature pooling) in ``keras.ops``, with static shapes.

Each output bin averages ``sampling_ratio`` x ``sampling_ratio`` bilinear samples
taken at regularly spaced points inside the bin, with no rounding of box
coordinates (He et al., 2017). Coordinates use the half-pixel convention: feature
cell ``(i, j)`` of a map with stride ``s`` covers image pixels
``[i s, (i + 1) s)`` and its value sits at ``(i + 0.5) s``.

Example:
    >>> import numpy as np
    >>> features = np.ones((1, 8, 8, 2), "float32")
    >>> boxes = np.array([[[0.0, 0.0, 32.0, 32.0]]], "float32")  # (batch, rois, y1 x1 y2 x2) in px
    >>> np.asarray(roi_align(features, boxes, stride=4, output_size=2)).shape
    (1, 1, 2, 2, 2)
"""

from __future__ import annotations

from keras import ops

CANONICAL_SIZE = 224.0  # FPN paper: a 224 px box belongs on level 4
CANONICAL_LEVEL = 4


def pyramid_level(boxes, min_level: int = 2, max_level: int = 5):
    """FPN level of each ``(y1, x1, y2, x2)`` pixel box: ``4 + log2(sqrt(area) / 224)``, floored and clipped."""
    height = ops.maximum(boxes[..., 2] - boxes[..., 0], 1e-6)
    width = ops.maximum(boxes[..., 3] - boxes[..., 1], 1e-6)
    level = CANONICAL_LEVEL + ops.log2(ops.sqrt(height * width) / CANONICAL_SIZE)
    return ops.cast(ops.clip(ops.floor(level), min_level, max_level), "int32")


def roi_align(features, boxes, stride: int, output_size: int, sampling_ratio: int = 2):
    """Pool ``boxes`` ``(B, N, 4)`` (image pixels) from ``features`` ``(B, H, W, C)`` -> ``(B, N, S, S, C)``."""
    batch, height, width, channels = ops.shape(features)
    n = ops.shape(boxes)[1]
    size, ratio = output_size, sampling_ratio
    # Sample positions along one axis, in units of the box side: bin k, sample r.
    steps = (ops.arange(size * ratio, dtype="float32") + 0.5) / float(size * ratio)
    y1, x1, y2, x2 = (boxes[..., i : i + 1] / float(stride) for i in range(4))  # (B, N, 1) in feature cells
    ys = y1 + (y2 - y1) * steps - 0.5  # (B, N, S*r), cell-centre coordinates
    xs = x1 + (x2 - x1) * steps - 0.5
    # Bilinear interpolation; samples beyond the border take the border value (clamped).
    ys = ops.clip(ys, 0.0, ops.cast(height - 1, "float32"))
    xs = ops.clip(xs, 0.0, ops.cast(width - 1, "float32"))
    y0 = ops.floor(ys)
    x0 = ops.floor(xs)
    wy = ys - y0
    wx = xs - x0
    y0 = ops.cast(y0, "int32")
    x0 = ops.cast(x0, "int32")
    y1i = ops.minimum(y0 + 1, height - 1)
    x1i = ops.minimum(x0 + 1, width - 1)

    flat = ops.reshape(features, (-1, channels))
    base = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1, 1))

    def gather(yi, xi):
        index = base + yi[:, :, :, None] * width + xi[:, :, None, :]  # (B, N, S*r, S*r)
        return ops.reshape(ops.take(flat, ops.reshape(index, (-1,)), axis=0), (batch, n, size * ratio, size * ratio, channels))

    wy = wy[:, :, :, None, None]
    wx = wx[:, :, None, :, None]
    samples = (
        gather(y0, x0) * (1 - wy) * (1 - wx)
        + gather(y0, x1i) * (1 - wy) * wx
        + gather(y1i, x0) * wy * (1 - wx)
        + gather(y1i, x1i) * wy * wx
    )
    # Average the ratio x ratio samples of each bin.
    samples = ops.reshape(samples, (batch, n, size, ratio, size, ratio, channels))
    return ops.mean(samples, axis=(3, 5))


def pyramid_roi_align(feature_maps, boxes, strides, output_size: int, levels=(2, 3, 4, 5), sampling_ratio: int = 2):
    """RoIAlign over an FPN: each box is pooled from the level :func:`pyramid_level` assigns it.

    ``feature_maps[i]`` has stride ``strides[i]`` and is pyramid level ``levels[i]``.
    Every box is pooled from every level and the right one kept, which keeps the
    shapes static (one graph for TF, JAX and XLA) at the cost of extra pooling.
    """
    assigned = pyramid_level(boxes, min(levels), max(levels))[..., None, None, None]
    out = None
    for features, stride, level in zip(feature_maps, strides, levels):
        pooled = roi_align(features, boxes, stride, output_size, sampling_ratio)
        out = pooled if out is None else ops.where(assigned == level, pooled, out)
    return out
