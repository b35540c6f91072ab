"""The inference-time detection layer: refined, scored, de-duplicated boxes.

Each proposal takes its most likely class (background included, as matterport:
a proposal whose best class is background is no detection) and that class's box
deltas. Per-class NMS (at the config's ``DETECTION_NMS_THRESHOLD``) is one NMS
over boxes shifted apart by class, so boxes of different classes never suppress
each other. The best ``DETECTION_MAX_INSTANCES`` are kept; the confidence threshold
and per-class caps are applied afterwards (:mod:`postprocess`), so they can be
changed without rebuilding the model, down to ``CANDIDATE_MIN_SCORE``.

Example:
    >>> import numpy as np
    >>> layer = DetectionLayer(image_size=512, max_instances=2, nms_threshold=0.3, bbox_std_dev=(0.1, 0.1, 0.2, 0.2))
    >>> proposals = np.array([[[0, 0, 100, 100], [2, 2, 100, 100], [200, 200, 300, 300]]], "float32")
    >>> logits = np.log(np.array([[[0.1, 0.9] + [0] * 10, [0.2, 0.8] + [0] * 10, [0.3, 0, 0.7] + [0] * 9]], "float32") + 1e-6)
    >>> boxes, class_ids, scores = layer(proposals, np.ones((1, 3), bool), logits, np.zeros((1, 3, 12, 4), "float32"))
    >>> np.asarray(class_ids).tolist(), [round(float(s), 2) for s in np.asarray(scores)[0]]
    ([[1, 2]], [0.9, 0.7])
"""

from __future__ import annotations

import keras
from keras import layers, ops

from fashionseg.models.maskrcnn.boxes import clip_boxes, decode_deltas
from fashionseg.models.maskrcnn.nms import PADDING_SCORE, top_k_after_nms

CANDIDATE_MIN_SCORE = 0.05  # below this a detection is never shown, whatever the slider says


@keras.saving.register_keras_serializable(package="fashionseg")
class DetectionLayer(layers.Layer):
    """``(proposals (B, R, 4), valid (B, R), class logits (B, R, K), deltas (B, R, K, 4))`` ->
    ``(boxes (B, D, 4) pixels, class ids (B, D) int32, scores (B, D))``; empty slots have class 0, score 0.

    Deltas are scaled by ``bbox_std_dev``, boxes clipped to the ``image_size`` square, NMS is at
    ``nms_threshold`` (IoU) and ``D = max_instances``.
    """

    def __init__(self, image_size: int, max_instances: int, nms_threshold: float, bbox_std_dev, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.max_instances, self.nms_threshold = (
            int(image_size),
            int(max_instances),
            float(nms_threshold),
        )
        self.bbox_std_dev = tuple(bbox_std_dev)

    def call(self, proposals, proposal_valid, class_logits, deltas):
        probs = ops.softmax(class_logits, axis=-1)
        # top_k rather than argmax: Keras' TensorFlow argmax bit-casts floats, which ONNX cannot express.
        scores, class_ids = ops.top_k(probs, 1)
        scores, class_ids = scores[..., 0], ops.cast(class_ids[..., 0], "int32")
        index = ops.broadcast_to(class_ids[..., None, None], ops.shape(deltas)[:2] + (1, 4))
        class_deltas = ops.take_along_axis(deltas, index, axis=2)[:, :, 0]
        size = float(self.image_size)
        boxes = clip_boxes(decode_deltas(proposals, class_deltas, self.bbox_std_dev), (0.0, 0.0, size, size))
        usable = ops.logical_and(ops.logical_and(proposal_valid, class_ids > 0), scores >= CANDIDATE_MIN_SCORE)
        scores = ops.where(usable, scores, PADDING_SCORE)
        scores, order = ops.top_k(scores, ops.shape(scores)[1])
        boxes = ops.take_along_axis(boxes, order[..., None], axis=1)
        class_ids = ops.take_along_axis(class_ids, order, axis=1)
        shifted = boxes + ops.cast(class_ids, "float32")[..., None] * (2.0 * size)
        _, top_scores, keep = top_k_after_nms(shifted, scores, self.nms_threshold, self.max_instances)
        found = top_scores > 0
        boxes = ops.take_along_axis(boxes, keep[..., None], axis=1) * ops.cast(found, "float32")[..., None]
        class_ids = ops.where(found, ops.take_along_axis(class_ids, keep, axis=1), 0)
        return boxes, class_ids, ops.where(found, top_scores, 0.0)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "max_instances": self.max_instances,
            "nms_threshold": self.nms_threshold,
            "bbox_std_dev": self.bbox_std_dev,
        }
