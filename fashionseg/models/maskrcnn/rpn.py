"""The region proposal network: objectness and box deltas per anchor, and the proposals.

One head is shared by every pyramid level (as in FPN): a 3x3 separable
convolution, then per anchor one objectness logit (sigmoid; matterport's
two-way softmax is the same model with one redundant output) and four deltas.
:class:`ProposalLayer` turns them into the ``POST_NMS_ROIS_*`` best boxes after
NMS; proposals carry no gradient, as in matterport and the paper.

Example:
    >>> import numpy as np
    >>> from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    >>> config = MaskRCNNConfig(IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128, PRE_NMS_LIMIT=50,
    ...                         POST_NMS_ROIS_TRAINING=20, POST_NMS_ROIS_INFERENCE=10)
    >>> head = RPNHead(anchors_per_location=3, channels=8)
    >>> maps = [np.zeros((1, 128 // s, 128 // s, 8), "float32") for s in config.BACKBONE_STRIDES]
    >>> logits, deltas = head(maps)
    >>> boxes, valid = ProposalLayer(config, training_mode=False)(logits, deltas)
    >>> tuple(logits.shape), tuple(boxes.shape)
    ((1, 1023), (1, 10, 4))
"""

from __future__ import annotations

import keras
from keras import layers, ops

from fashionseg.models.maskrcnn.anchors import pyramid_anchors
from fashionseg.models.maskrcnn.boxes import clip_boxes, decode_deltas
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.configured_layer import ConfiguredLayer
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
class ProposalLayer(ConfiguredLayer):
    """RPN outputs -> ``(proposals (B, R, 4) in image pixels, valid (B, R))``.

    The ``PRE_NMS_LIMIT`` highest-scoring anchors are refined by their deltas,
    clipped to the image, thinned by NMS at ``RPN_NMS_THRESHOLD`` and the best
    ``POST_NMS_ROIS_TRAINING`` (or ``_INFERENCE``) kept.
    """

    def __init__(self, config: MaskRCNNConfig, training_mode: bool, **kwargs):
        super().__init__(config, **kwargs)
        self.training_mode = training_mode
        self.anchors = pyramid_anchors(config)

    def call(self, logits, deltas):
        c = self.config
        logits, deltas = ops.stop_gradient(logits), ops.stop_gradient(deltas)
        scores, order = ops.top_k(ops.sigmoid(logits), min(c.PRE_NMS_LIMIT, self.anchors.shape[0]))
        anchors = ops.take(ops.convert_to_tensor(self.anchors), order, axis=0)
        deltas = ops.take_along_axis(deltas, order[..., None], axis=1)
        boxes = clip_boxes(decode_deltas(anchors, deltas, c.RPN_BBOX_STD_DEV), (0.0, 0.0, float(c.IMAGE_MAX_DIM), float(c.IMAGE_MAX_DIM)))
        count = c.POST_NMS_ROIS_TRAINING if self.training_mode else c.POST_NMS_ROIS_INFERENCE
        boxes, scores, _ = top_k_after_nms(boxes, scores, c.RPN_NMS_THRESHOLD, count)
        return boxes, scores > PADDING_SCORE / 2

    def get_config(self):
        return {**super().get_config(), "training_mode": self.training_mode}
