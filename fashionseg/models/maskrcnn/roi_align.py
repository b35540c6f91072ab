"""RoIAlign (Mask R-CNN's region feature pooling) in ``keras.ops``, with static shapes.

Each output bin averages ``sampling_ratio`` x ``sampling_ratio`` bilinear samples
taken at regularly spaced points inside the bin, with no rounding of box
coordinates (He et al., 2017). Coordinates use the half-pixel convention: feature
cell ``(i, j)`` of a map with stride ``s`` covers image pixels
``[i s, (i + 1) s)`` and its value sits at ``(i + 0.5) s``.

Over a pyramid, every box is pooled from the one level FPN assigns it: the
levels are flattened into one array and each box gathers from its own level's
part of it, so the cost is that of pooling once, whatever the number of levels
(:func:`pyramid_roi_align`, and :class:`PyramidRoIAlign`, the same as a layer).

Example:
    >>> import numpy as np
    >>> features = np.ones((1, 8, 8, 2), "float32")
    >>> boxes = np.array([[[0.0, 0.0, 32.0, 32.0]]], "float32")  # (batch, rois, y1 x1 y2 x2) in px
    >>> np.asarray(roi_align(features, boxes, stride=4, output_size=2)).shape
    (1, 1, 2, 2, 2)
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

CANONICAL_SIZE = 224.0  # FPN paper: a 224 px box belongs on level 4
CANONICAL_LEVEL = 4


def pyramid_level(boxes, min_level: int = 2, max_level: int = 5):
    """FPN level of each ``(y1, x1, y2, x2)`` pixel box: ``4 + log2(sqrt(area) / 224)``, floored and clipped."""
    height = ops.maximum(boxes[..., 2] - boxes[..., 0], 1e-6)
    width = ops.maximum(boxes[..., 3] - boxes[..., 1], 1e-6)
    level = CANONICAL_LEVEL + ops.log2(ops.sqrt(height * width) / CANONICAL_SIZE)
    return ops.cast(ops.clip(ops.floor(level), min_level, max_level), "int32")


def bilinear_pool(flat, base, height, width, boxes, output_size: int, sampling_ratio: int):
    """Pool boxes from maps stored flat, each box with its own map.

    ``flat`` is ``(M, C)``; box ``(b, n)``'s map starts at row ``base[b, n]`` of it
    and is ``height[b, n]`` x ``width[b, n]``, row-major; ``boxes`` ``(B, N, 4)`` are
    in that map's cells. Returns ``(B, N, S, S, C)``.

    A bin's value is a weighted sum of the cells its samples read: ``ratio`` samples
    along each axis, each between two cells, so ``2 ratio`` rows times ``2 ratio``
    columns, with the bilinear weights and the ``1 / ratio^2`` average folded into one
    weight per cell. All cells are gathered at once and summed by one matrix product:
    on CPU the pooling is memory-bound, and this passes over the gathered cells twice
    (write, read) where interpolating the four corners' blocks and then averaging
    passed over them about ten times.
    """
    batch, n = ops.shape(boxes)[0], ops.shape(boxes)[1]
    channels = ops.shape(flat)[-1]
    size, ratio = output_size, sampling_ratio
    taps = 2 * ratio  # cells a bin reads along one axis
    # Sample positions along one axis, in units of the box side: bin k, sample r.
    steps = (ops.arange(size * ratio, dtype="float32") + 0.5) / float(size * ratio)
    y1, x1, y2, x2 = (boxes[..., i : i + 1] for i in range(4))  # (B, N, 1)
    height, width = height[..., None], width[..., None]

    def axis_taps(start, end, cells):
        """Cell index and weight of each of a bin's ``taps`` reads along one axis: (B, N, S, taps) each.
        Samples beyond the border take the border value (clamped)."""
        last = ops.cast(cells - 1, "float32")
        position = ops.minimum(ops.maximum(start + (end - start) * steps - 0.5, 0.0), last)
        low = ops.floor(position)
        frac = position - low
        low = ops.cast(low, "int32")
        index = ops.stack([low, ops.minimum(low + 1, cells - 1)], axis=-1)  # (B, N, S*r, 2)
        weight = ops.stack([1.0 - frac, frac], axis=-1) / float(ratio)
        return ops.reshape(index, (batch, n, size, taps)), ops.reshape(weight, (batch, n, size, taps))

    rows, row_weights = axis_taps(y1, y2, height)
    cols, col_weights = axis_taps(x1, x2, width)
    # (B, N, S, S, taps, taps): bin (i, j) reads rows[i, k] x cols[j, l].
    index = (
        base[:, :, None, None, None, None]
        + rows[:, :, :, None, :, None] * width[:, :, :, None, None, None]
        + cols[:, :, None, :, None, :]
    )
    weight = row_weights[:, :, :, None, :, None] * col_weights[:, :, None, :, None, :]
    cells = ops.take(flat, ops.reshape(index, (-1,)), axis=0)
    cells = ops.reshape(cells, (-1, taps * taps, channels))
    pooled = ops.matmul(ops.reshape(weight, (-1, 1, taps * taps)), cells)  # (B N S S, 1, C)
    return ops.reshape(pooled, (batch, n, size, size, channels))


def pyramid_roi_align(feature_maps, boxes, strides, output_size: int, sampling_ratio: int = 2):
    """RoIAlign over an FPN: each box ``(B, N, 4)`` (image pixels) is pooled from the level
    :func:`pyramid_level` assigns it. ``feature_maps[i]`` ``(B, H_i, W_i, C)`` has stride
    ``strides[i]``, a power of two; level ``log2(stride)``; strides must be consecutive levels."""
    levels = [round(math.log2(s)) for s in strides]
    if levels != list(range(levels[0], levels[0] + len(levels))):
        raise ValueError(f"strides {tuple(strides)} are not consecutive pyramid levels")
    batch = ops.shape(boxes)[0]
    shapes = [tuple(ops.shape(f)[1:3]) for f in feature_maps]
    cells = [h * w for h, w in shapes]
    total = sum(cells)
    channels = ops.shape(feature_maps[0])[-1]
    flat = ops.concatenate(
        [ops.reshape(f, (batch, h * w, channels)) for f, (h, w) in zip(feature_maps, shapes)], axis=1
    )
    flat = ops.reshape(flat, (-1, channels))

    level = pyramid_level(boxes, levels[0], levels[-1]) - levels[0]  # (B, N) index into the levels

    def per_box(values, dtype):
        return ops.take(ops.convert_to_tensor(values, dtype=dtype), level)

    offsets = [sum(cells[:i]) for i in range(len(cells))]
    image_base = ops.reshape(ops.arange(batch, dtype="int32") * total, (-1, 1))
    base = image_base + per_box(offsets, "int32")
    height = per_box([h for h, _ in shapes], "int32")
    width = per_box([w for _, w in shapes], "int32")
    stride = per_box([float(s) for s in strides], "float32")[..., None]
    return bilinear_pool(flat, base, height, width, boxes / stride, output_size, sampling_ratio)


def roi_align(features, boxes, stride: int, output_size: int, sampling_ratio: int = 2):
    """Pool ``boxes`` ``(B, N, 4)`` (image pixels) from one map ``features`` ``(B, H, W, C)`` -> ``(B, N, S, S, C)``."""
    batch, height, width, channels = ops.shape(features)
    n = ops.shape(boxes)[1]
    flat = ops.reshape(features, (-1, channels))
    base = ops.broadcast_to(ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1)), (batch, n))
    full = ops.ones((batch, n), dtype="int32")
    return bilinear_pool(flat, base, full * height, full * width, boxes / float(stride), output_size, sampling_ratio)


@keras.saving.register_keras_serializable(package="fashionseg")
class PyramidRoIAlign(layers.Layer):
    """:func:`pyramid_roi_align` as a layer: ``(boxes (B, N, 4), *feature_maps)`` -> pooled ``(B, N, S, S, C)``.

    ``feature_maps[i]`` has stride ``strides[i]``; ``S = output_size``, each bin
    averaging ``sampling_ratio`` x ``sampling_ratio`` samples.

    Example:
        >>> import numpy as np
        >>> pool = PyramidRoIAlign(strides=(8, 16), output_size=7)
        >>> maps = [np.ones((1, 16, 16, 4), "float32"), np.ones((1, 8, 8, 4), "float32")]
        >>> tuple(pool(np.array([[[0, 0, 32, 32], [0, 0, 128, 128]]], "float32"), *maps).shape)
        (1, 2, 7, 7, 4)
        >>> PyramidRoIAlign.from_config(pool.get_config()).strides
        (8, 16)
    """

    def __init__(self, strides, output_size: int, sampling_ratio: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.strides, self.output_size, self.sampling_ratio = tuple(strides), int(output_size), int(sampling_ratio)

    def call(self, boxes, *feature_maps):
        return pyramid_roi_align(list(feature_maps), boxes, self.strides, self.output_size, self.sampling_ratio)

    def get_config(self):
        return {
            **super().get_config(),
            "strides": self.strides,
            "output_size": self.output_size,
            "sampling_ratio": self.sampling_ratio,
        }
