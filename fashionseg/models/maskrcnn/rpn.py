"""The region proposal network: objectness and box deltas per anchor, and the proposals.

One head is shared by every pyramid level (as in FPN): a 3x3 separable
convolution, then per anchor one objectness logit (sigmoid; matterport's
two-way softmax is the same model with one redundant output) and four deltas.
:class:`ProposalLayer` turns them into the ``POST_NMS_ROIS_*`` best boxes after
NMS; proposals carry no gradient, as in matterport and the paper.

Example:
    >>> import numpy as np
    >>> strides = (8, 16, 32, 64, 128)
    >>> head = RPNHead(anchors_per_location=3, channels=8)
    >>> maps = [np.zeros((1, 128 // s, 128 // s, 8), "float32") for s in strides]
    >>> logits, deltas = head(maps)
    >>> proposals = ProposalLayer(image_size=128, anchor_scales=(16, 32, 64, 128, 256), anchor_ratios=(0.5, 1.0, 2.0),
    ...                           feature_strides=strides, pre_nms_limit=50, post_nms_limit=10, nms_threshold=0.7,
    ...                           bbox_std_dev=(0.1, 0.1, 0.2, 0.2))
    >>> boxes, valid = proposals(logits, deltas)
    >>> tuple(logits.shape), tuple(boxes.shape)
    ((1, 1023), (1, 10, 4))
"""

from __future__ import annotations

import keras
from keras import layers, ops

from fashionseg.models.maskrcnn.anchors import anchor_grid
from fashionseg.models.maskrcnn.boxes import clip_boxes, decode_deltas
from fashionseg.models.maskrcnn.nms import PADDING_SCORE, top_k_after_nms


@keras.saving.register_keras_serializable(package="fashionseg")
class RPNHead(layers.Layer):
    """Pyramid maps -> ``(logits (B, N), deltas (B, N, 4))`` over all anchors, finest level first."""

    def __init__(self, anchors_per_location: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.anchors_per_location, self.channels = anchors_per_location, channels
        self.shared = layers.SeparableConv2D(channels, 3, padding="same", activation="relu", name="rpn_conv_shared")
        self.objectness = layers.Conv2D(anchors_per_location, 1, name="rpn_class_raw")
        self.box = layers.Conv2D(4 * anchors_per_location, 1, name="rpn_bbox_pred")

    def build(self, input_shape):
        shape = input_shape[0]
        self.shared.build(shape)
        hidden = tuple(shape[:-1]) + (self.channels,)
        self.objectness.build(hidden)
        self.box.build(hidden)

    def call(self, feature_maps):
        logits, deltas = [], []
        for features in feature_maps:
            shared = self.shared(features)
            batch = ops.shape(features)[0]
            logits.append(ops.reshape(self.objectness(shared), (batch, -1)))
            deltas.append(ops.reshape(self.box(shared), (batch, -1, 4)))
        return ops.concatenate(logits, axis=1), ops.concatenate(deltas, axis=1)

    def get_config(self):
        return {**super().get_config(), "anchors_per_location": self.anchors_per_location, "channels": self.channels}


@keras.saving.register_keras_serializable(package="fashionseg")
class ProposalLayer(layers.Layer):
    """RPN outputs -> ``(proposals (B, R, 4) in image pixels, valid (B, R))``.

    The ``pre_nms_limit`` highest-scoring anchors are refined by their deltas
    (scaled by ``bbox_std_dev``), clipped to the ``image_size`` square, thinned
    by NMS at ``nms_threshold`` and the best ``R = post_nms_limit`` kept. The
    anchors are :func:`~fashionseg.models.maskrcnn.anchors.anchor_grid`'s for
    ``anchor_scales``, ``anchor_ratios``, ``feature_strides`` and ``anchor_stride``,
    the order of the RPN head's outputs.
    """

    def __init__(
        self,
        image_size: int,
        anchor_scales,
        anchor_ratios,
        feature_strides,
        pre_nms_limit: int,
        post_nms_limit: int,
        nms_threshold: float,
        bbox_std_dev,
        anchor_stride: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size, self.anchor_stride = int(image_size), int(anchor_stride)
        self.anchor_scales, self.anchor_ratios = tuple(anchor_scales), tuple(anchor_ratios)
        self.feature_strides, self.bbox_std_dev = tuple(feature_strides), tuple(bbox_std_dev)
        self.pre_nms_limit, self.post_nms_limit, self.nms_threshold = (
            int(pre_nms_limit),
            int(post_nms_limit),
            float(nms_threshold),
        )
        self.anchors = anchor_grid(
            image_size, self.anchor_scales, self.anchor_ratios, self.feature_strides, self.anchor_stride
        )

    def call(self, logits, deltas):
        logits, deltas = ops.stop_gradient(logits), ops.stop_gradient(deltas)
        scores, order = ops.top_k(ops.sigmoid(logits), min(self.pre_nms_limit, self.anchors.shape[0]))
        anchors = ops.take(ops.convert_to_tensor(self.anchors), order, axis=0)
        deltas = ops.take_along_axis(deltas, order[..., None], axis=1)
        size = float(self.image_size)
        boxes = clip_boxes(decode_deltas(anchors, deltas, self.bbox_std_dev), (0.0, 0.0, size, size))
        boxes, scores, _ = top_k_after_nms(boxes, scores, self.nms_threshold, self.post_nms_limit)
        return boxes, scores > PADDING_SCORE / 2

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "anchor_scales": self.anchor_scales,
            "anchor_ratios": self.anchor_ratios,
            "feature_strides": self.feature_strides,
            "anchor_stride": self.anchor_stride,
            "pre_nms_limit": self.pre_nms_limit,
            "post_nms_limit": self.post_nms_limit,
            "nms_threshold": self.nms_threshold,
            "bbox_std_dev": self.bbox_std_dev,
        }
