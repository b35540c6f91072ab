"""The five losses of thesis eq. 14 (matterport's), each per image so a batch averages them.

``L = L_rpn_class + L_rpn_bbox + L_class + L_bbox + L_mask``: RPN objectness
(binary cross-entropy over the sampled anchors), RPN box regression (smooth L1
over positive anchors), RoI classification (cross-entropy over the valid RoIs),
RoI box regression (smooth L1 on the true class's deltas of positive RoIs) and
mask (per-pixel binary cross-entropy on the true class's mask of positive RoIs).
:class:`LossLayer` computes all five in the training graph (named :data:`LOSS_NAMES`).

Example:
    >>> import numpy as np
    >>> float(np.asarray(smooth_l1(np.array([0.5, 2.0], "float32"))).sum())  # 0.5 x 0.5^2 + (2 - 0.5)
    1.625
"""

from __future__ import annotations

import keras
from keras import layers, ops

LOSS_NAMES = ("rpn_class", "rpn_bbox", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask")


def smooth_l1(x):
    absolute = ops.abs(x)
    return ops.where(absolute < 1.0, 0.5 * x * x, absolute - 0.5)


def binary_cross_entropy_with_logits(labels, logits):
    """Stable ``-z log sigmoid(x) - (1 - z) log(1 - sigmoid(x))``."""
    return ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def _masked_mean(values, weights, axes):
    return ops.sum(values * weights, axis=axes) / ops.maximum(ops.sum(weights, axis=axes), 1.0)


def rpn_class_loss(rpn_match, rpn_logits):
    """``rpn_match`` (B, N): 1 positive, -1 negative, 0 not sampled."""
    sampled = ops.cast(ops.not_equal(rpn_match, 0), "float32")
    labels = ops.cast(ops.equal(rpn_match, 1), "float32")
    return _masked_mean(binary_cross_entropy_with_logits(labels, rpn_logits), sampled, 1)


def rpn_bbox_loss(rpn_match, target_deltas, rpn_deltas):
    positive = ops.cast(ops.equal(rpn_match, 1), "float32")[..., None] * ops.ones_like(target_deltas)
    return _masked_mean(smooth_l1(target_deltas - rpn_deltas), positive, (1, 2))


def mrcnn_class_loss(roi_class_ids, class_logits, roi_valid):
    log_probs = ops.log_softmax(class_logits, axis=-1)
    picked = ops.take_along_axis(log_probs, ops.cast(roi_class_ids, "int32")[..., None], axis=-1)[..., 0]
    return _masked_mean(-picked, roi_valid, 1)


def _positive(roi_class_ids, roi_valid):
    return ops.cast(roi_class_ids > 0, "float32") * roi_valid


def mrcnn_bbox_loss(roi_class_ids, target_deltas, deltas, roi_valid):
    """``deltas`` (B, T, K, 4): only the true class's are trained."""
    index = ops.cast(roi_class_ids, "int32")[..., None, None]
    picked = ops.take_along_axis(deltas, ops.broadcast_to(index, ops.shape(deltas)[:2] + (1, 4)), axis=2)[:, :, 0]
    weights = _positive(roi_class_ids, roi_valid)[..., None] * ops.ones_like(target_deltas)
    return _masked_mean(smooth_l1(target_deltas - picked), weights, (1, 2))


def mrcnn_mask_loss(roi_class_ids, mask_targets, mask_logits, roi_valid):
    """``mask_logits`` (B, P, M, M, K) for the P positive slots, ``mask_targets`` (B, P, M, M)."""
    positives = ops.shape(mask_logits)[1]
    class_ids = ops.cast(roi_class_ids[:, :positives], "int32")
    picked = ops.take_along_axis(mask_logits, class_ids[:, :, None, None, None], axis=-1)[..., 0]
    weights = _positive(roi_class_ids[:, :positives], roi_valid[:, :positives])[:, :, None, None] * ops.ones_like(
        mask_targets
    )
    return _masked_mean(binary_cross_entropy_with_logits(mask_targets, picked), weights, (1, 2, 3))


@keras.saving.register_keras_serializable(package="fashionseg")
class LossLayer(layers.Layer):
    """The five losses, each ``(B,)``, in the order of :data:`LOSS_NAMES`, from the heads' outputs and their targets.

    Inputs: the RPN's targets (``rpn_match`` (B, N), ``rpn_target_deltas`` (B, N, 4)) and
    outputs (``rpn_logits`` (B, N), ``rpn_deltas`` (B, N, 4)); the sampled RoIs' targets
    (``roi_class_ids`` (B, T), ``roi_deltas`` (B, T, 4), ``roi_valid`` (B, T), ``mask_targets``
    (B, P, M, M)) and the heads' outputs on them (``class_logits`` (B, T, K), ``deltas``
    (B, T, K, 4), ``mask_logits`` (B, P, M, M, K)).

    Example:
        >>> import numpy as np
        >>> z = lambda *shape: np.zeros(shape, "float32")
        >>> values = LossLayer()(np.array([[1, -1, 0]], "int32"), z(1, 3, 4), z(1, 3), z(1, 3, 4), np.array([[2, 0]], "int32"),
        ...                      z(1, 2, 4), np.ones((1, 2), "float32"), z(1, 1, 4, 4), z(1, 2, 3), z(1, 2, 3, 4), z(1, 1, 4, 4, 3))
        >>> {name: round(float(np.asarray(v)[0]), 4) for name, v in zip(LOSS_NAMES, values)}  # log 2, 0, log 3, 0, log 2
        {'rpn_class': 0.6931, 'rpn_bbox': 0.0, 'mrcnn_class': 1.0986, 'mrcnn_bbox': 0.0, 'mrcnn_mask': 0.6931}
    """

    def call(
        self,
        rpn_match,
        rpn_target_deltas,
        rpn_logits,
        rpn_deltas,
        roi_class_ids,
        roi_deltas,
        roi_valid,
        mask_targets,
        class_logits,
        deltas,
        mask_logits,
    ):
        return (
            rpn_class_loss(rpn_match, rpn_logits),
            rpn_bbox_loss(rpn_match, rpn_target_deltas, rpn_deltas),
            mrcnn_class_loss(roi_class_ids, class_logits, roi_valid),
            mrcnn_bbox_loss(roi_class_ids, roi_deltas, deltas, roi_valid),
            mrcnn_mask_loss(roi_class_ids, mask_targets, mask_logits, roi_valid),
        )

    def get_config(self):
        return super().get_config()
