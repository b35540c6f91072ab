"""Mask R-CNN assembled from its parts: one set of networks, two graphs over it.

:class:`MaskRCNNNetworks` owns every layer with weights (backbone, FPN, RPN
head, box head, mask head). :meth:`~MaskRCNNNetworks.training_model` wires them
with the target layers into a model whose outputs are the five losses (so
Keras' own ``fit`` trains it on any backend); :meth:`~MaskRCNNNetworks.inference_model`
wires them with the proposal and detection layers into image -> detections.
Both share the same layer objects, so weights trained in one are the other's.

The training graph can start from the backbone's feature maps instead of the
image (``from_features=True``): with the backbone frozen, as in the thesis'
heads-only stage, its outputs are computed once per photo, not once per step.

Example:
    >>> import numpy as np
    >>> from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    >>> config = MaskRCNNConfig(IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128, PRE_NMS_LIMIT=100, POST_NMS_ROIS_TRAINING=50,
    ...                         POST_NMS_ROIS_INFERENCE=20, TRAIN_ROIS_PER_IMAGE=16, MAX_GT_INSTANCES=4)
    >>> nets = MaskRCNNNetworks(config)
    >>> out = nets.inference_model().predict_on_batch(np.zeros((1, 128, 128, 3), "float32"))
    >>> sorted(out), out["masks"].shape
    (['boxes', 'class_ids', 'masks', 'scores'], (1, 10, 28, 28))
"""

from __future__ import annotations

import keras
from keras import layers, ops

from fashionseg.models.maskrcnn import losses
from fashionseg.models.maskrcnn.anchors import pyramid_anchors
from fashionseg.models.maskrcnn.backbone import backbone_strides, build_backbone
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.detection import DetectionLayer
from fashionseg.models.maskrcnn.fpn import build_fpn
from fashionseg.models.maskrcnn.heads import BoxHead, MaskHead
from fashionseg.models.maskrcnn.roi_align import pyramid_roi_align
from fashionseg.models.maskrcnn.rpn import ProposalLayer, RPNHead
from fashionseg.models.maskrcnn.targets import DetectionTargetLayer

LOSS_NAMES = ("rpn_class", "rpn_bbox", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask")


@keras.saving.register_keras_serializable(package="fashionseg")
class PyramidRoIAlign(layers.Layer):
    """:func:`~fashionseg.models.maskrcnn.roi_align.pyramid_roi_align` as a layer: ``(boxes, *maps)`` -> pooled."""

    def __init__(self, strides, output_size: int, **kwargs):
        super().__init__(**kwargs)
        self.strides, self.output_size = tuple(strides), output_size

    def call(self, boxes, *feature_maps):
        return pyramid_roi_align(list(feature_maps), boxes, self.strides, self.output_size)

    def get_config(self):
        return {**super().get_config(), "strides": self.strides, "output_size": self.output_size}


@keras.saving.register_keras_serializable(package="fashionseg")
class SelectClassMasks(layers.Layer):
    """Mask logits ``(B, D, M, M, K)`` and class ids ``(B, D)`` -> each detection's class mask, as probabilities."""

    def call(self, mask_logits, class_ids):
        picked = ops.take_along_axis(mask_logits, ops.cast(class_ids, "int32")[:, :, None, None, None], axis=-1)
        return ops.sigmoid(picked[..., 0])


@keras.saving.register_keras_serializable(package="fashionseg")
class LossLayer(layers.Layer):
    """The five losses, each ``(B,)``, from the heads' outputs and their targets."""

    def call(self, rpn_match, rpn_target_deltas, rpn_logits, rpn_deltas, roi_class_ids, roi_deltas, roi_valid,
             mask_targets, class_logits, deltas, mask_logits):
        return (
            losses.rpn_class_loss(rpn_match, rpn_logits),
            losses.rpn_bbox_loss(rpn_match, rpn_target_deltas, rpn_deltas),
            losses.mrcnn_class_loss(roi_class_ids, class_logits, roi_valid),
            losses.mrcnn_bbox_loss(roi_class_ids, roi_deltas, deltas, roi_valid),
            losses.mrcnn_mask_loss(roi_class_ids, mask_targets, mask_logits, roi_valid),
        )


class MaskRCNNNetworks:
    """Every weighted part of one Mask R-CNN, built once."""

    def __init__(self, config: MaskRCNNConfig):
        self.config = config
        self.backbone = build_backbone(config)
        self.fpn = build_fpn(config, [int(t.shape[-1]) for t in self.backbone.outputs])
        self.rpn = RPNHead(len(config.RPN_ANCHOR_RATIOS), config.TOP_DOWN_PYRAMID_SIZE, name="rpn")
        self.box_head = BoxHead(config.NUM_CLASSES, config.FPN_CLASSIF_FC_LAYERS_SIZE, name="box_head")
        self.mask_head = MaskHead(config.NUM_CLASSES, config.TOP_DOWN_PYRAMID_SIZE, config.MASK_HEAD_CONV_LAYERS, name="mask_head")
        levels = list(config.BACKBONE_STRIDES)
        self.pool_levels = [levels.index(s) for s in config.ROI_POOLING_STRIDES]
        self.box_pool = PyramidRoIAlign(config.ROI_POOLING_STRIDES, config.POOL_SIZE, name="roi_align_classifier")
        self.mask_pool = PyramidRoIAlign(config.ROI_POOLING_STRIDES, config.MASK_POOL_SIZE, name="roi_align_mask")
        self.num_anchors = len(pyramid_anchors(config))
        self._inference = None

    def feature_inputs(self) -> list:
        size = self.config.IMAGE_MAX_DIM
        return [keras.Input((size // s, size // s, int(t.shape[-1])), name=f"c{s}")
                for s, t in zip(backbone_strides(self.config), self.backbone.outputs)]

    def training_model(self, from_features: bool = False, seed: int | None = None) -> keras.Model:
        """Inputs (dict): ``image`` (or the ``c8``, ``c16``, ``c32`` feature maps), ``rpn_match``,
        ``rpn_deltas``, ``gt_class_ids``, ``gt_boxes``, ``gt_masks``; outputs: the five losses (dict)."""
        c = self.config
        if from_features:
            image_inputs = self.feature_inputs()
            taps = image_inputs
        else:
            image_inputs = [keras.Input(c.IMAGE_SHAPE, name="image")]
            taps = self.backbone(image_inputs[0])
        rpn_match = keras.Input((self.num_anchors,), name="rpn_match", dtype="int32")
        rpn_target_deltas = keras.Input((self.num_anchors, 4), name="rpn_deltas")
        gt_class_ids = keras.Input((c.MAX_GT_INSTANCES,), name="gt_class_ids", dtype="int32")
        gt_boxes = keras.Input((c.MAX_GT_INSTANCES, 4), name="gt_boxes")
        gt_masks = keras.Input((c.MAX_GT_INSTANCES,) + tuple(c.MINI_MASK_SHAPE), name="gt_masks")

        pyramid = self.fpn(taps)
        rpn_logits, rpn_deltas = self.rpn(pyramid)
        proposals, valid = ProposalLayer(c, training_mode=True, name="proposals")(rpn_logits, rpn_deltas)
        rois, roi_class_ids, roi_deltas, roi_valid, mask_targets = DetectionTargetLayer(c, seed=seed, name="detection_targets")(
            proposals, valid, gt_class_ids, gt_boxes, gt_masks)
        pooled = [pyramid[i] for i in self.pool_levels]
        class_logits, deltas = self.box_head(self.box_pool(rois, *pooled))
        positives = ops.shape(mask_targets)[1]
        mask_logits = self.mask_head(self.mask_pool(rois[:, :positives], *pooled))
        values = LossLayer(name="losses")(rpn_match, rpn_target_deltas, rpn_logits, rpn_deltas, roi_class_ids, roi_deltas,
                                          roi_valid, mask_targets, class_logits, deltas, mask_logits)
        outputs = {name: layers.Identity(name=name)(value) for name, value in zip(LOSS_NAMES, values)}
        inputs = {t.name: t for t in image_inputs}
        inputs.update(rpn_match=rpn_match, rpn_deltas=rpn_target_deltas, gt_class_ids=gt_class_ids, gt_boxes=gt_boxes, gt_masks=gt_masks)
        return keras.Model(inputs, outputs, name="mask_rcnn_training")

    def inference_model(self) -> keras.Model:
        """Image ``(B, S, S, 3)`` on 0-255 -> ``boxes`` (B, D, 4) ``y1, x1, y2, x2`` in input pixels,
        ``class_ids`` (B, D), ``scores`` (B, D) and ``masks`` (B, D, 28, 28) probabilities in each box."""
        if self._inference is not None:
            return self._inference
        c = self.config
        image = keras.Input(c.IMAGE_SHAPE, name="image")
        pyramid = self.fpn(self.backbone(image))
        rpn_logits, rpn_deltas = self.rpn(pyramid)
        proposals, valid = ProposalLayer(c, training_mode=False, name="proposals")(rpn_logits, rpn_deltas)
        pooled = [pyramid[i] for i in self.pool_levels]
        class_logits, deltas = self.box_head(self.box_pool(proposals, *pooled))
        boxes, class_ids, scores = DetectionLayer(c, name="detections")(proposals, valid, class_logits, deltas)
        masks = SelectClassMasks(name="masks")(self.mask_head(self.mask_pool(boxes, *pooled)), class_ids)
        outputs = {"boxes": layers.Identity(name="boxes")(boxes), "class_ids": layers.Identity(name="class_ids")(class_ids),
                   "scores": layers.Identity(name="scores")(scores), "masks": masks}
        self._inference = keras.Model(image, outputs, name="mask_rcnn")
        return self._inference

    def save_weights(self, path) -> None:
        self.inference_model().save_weights(str(path))

    def load_weights(self, path) -> None:
        self.inference_model().load_weights(str(path))
