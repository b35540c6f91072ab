"""Box arithmetic in ``keras.ops``: IoU, the delta encoding of box regression, clipping.

Boxes are ``(y1, x1, y2, x2)``. Deltas are Faster R-CNN's ``(dy, dx, log dh, log dw)``
divided by the config's ``BBOX_STD_DEV`` / ``RPN_BBOX_STD_DEV``.

Example:
    >>> import numpy as np
    >>> anchors = np.array([[0.0, 0.0, 10.0, 20.0]], "float32")
    >>> target = np.array([[2.0, 4.0, 12.0, 24.0]], "float32")
    >>> deltas = encode_deltas(anchors, target)
    >>> np.allclose(np.asarray(decode_deltas(anchors, deltas)), target)
    True
"""

from __future__ import annotations

from keras import ops

DEFAULT_STD = (0.1, 0.1, 0.2, 0.2)


def box_iou(boxes_a, boxes_b):
    """IoU of every box in ``(..., A, 4)`` with every box in ``(..., B, 4)`` -> ``(..., A, B)``."""
    a = ops.expand_dims(boxes_a, -2)
    b = ops.expand_dims(boxes_b, -3)
    y1 = ops.maximum(a[..., 0], b[..., 0])
    x1 = ops.maximum(a[..., 1], b[..., 1])
    y2 = ops.minimum(a[..., 2], b[..., 2])
    x2 = ops.minimum(a[..., 3], b[..., 3])
    intersection = ops.maximum(y2 - y1, 0.0) * ops.maximum(x2 - x1, 0.0)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - intersection
    return ops.where(union > 0, intersection / ops.maximum(union, 1e-9), 0.0)


def _centres(boxes):
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * height, boxes[..., 1] + 0.5 * width, height, width


def encode_deltas(boxes, targets, std=DEFAULT_STD):
    """The regression targets that move ``boxes`` onto ``targets`` (same shape ``(..., 4)``)."""
    cy, cx, h, w = _centres(boxes)
    tcy, tcx, th, tw = _centres(targets)
    h, w = ops.maximum(h, 1e-6), ops.maximum(w, 1e-6)
    deltas = ops.stack(
        [(tcy - cy) / h, (tcx - cx) / w, ops.log(ops.maximum(th, 1e-6) / h), ops.log(ops.maximum(tw, 1e-6) / w)],
        axis=-1,
    )
    return deltas / ops.convert_to_tensor(std, dtype=deltas.dtype)


def decode_deltas(boxes, deltas, std=DEFAULT_STD):
    """Apply regression ``deltas`` to ``boxes`` (the inverse of :func:`encode_deltas`)."""
    deltas = deltas * ops.convert_to_tensor(std, dtype=deltas.dtype)
    cy, cx, h, w = _centres(boxes)
    cy = cy + deltas[..., 0] * h
    cx = cx + deltas[..., 1] * w
    h = h * ops.exp(deltas[..., 2])
    w = w * ops.exp(deltas[..., 3])
    return ops.stack([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w], axis=-1)


def clip_boxes(boxes, window):
    """Clip ``(..., 4)`` boxes to ``window = (y1, x1, y2, x2)``."""
    y1, x1, y2, x2 = window
    return ops.stack(
        [
            ops.clip(boxes[..., 0], y1, y2),
            ops.clip(boxes[..., 1], x1, x2),
            ops.clip(boxes[..., 2], y1, y2),
            ops.clip(boxes[..., 3], x1, x2),
        ],
        axis=-1,
    )
