"""Mask R-CNN assembled from its parts: one set of networks, two graphs over it.

:class:`MaskRCNNNetworks` owns every layer with weights (backbone, FPN, RPN
head, box head, mask head). :meth:`~MaskRCNNNetworks.training_model` wires them
with the target layers into a model whose outputs are the five losses (so
Keras' own ``fit`` trains it on any backend); :meth:`~MaskRCNNNetworks.inference_model`
wires them with the proposal and detection layers into image -> detections.
Both share the same layer objects, so weights trained in one are the other's,
and one wiring (:meth:`~MaskRCNNNetworks.two_stages`: pyramid, RPN, proposals,
RoIAlign, box and mask heads) whose differences are its arguments. The layers
without weights are built here from the config's fields, each given just the
ones it uses.

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
    (['boxes', 'class_ids', 'image_features', 'masks', 'scores'], (1, 10, 28, 28))
"""

from __future__ import annotations

import keras
from keras import layers, ops

from fashionseg.models.maskrcnn.anchors import pyramid_anchors
from fashionseg.models.maskrcnn.backbone import backbone_strides, build_backbone
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.detection import DetectionLayer
from fashionseg.models.maskrcnn.fpn import build_fpn
from fashionseg.models.maskrcnn.heads import BoxHead, MaskHead, SelectClassMasks
from fashionseg.models.maskrcnn.losses import LOSS_NAMES, LossLayer
from fashionseg.models.maskrcnn.roi_align import PyramidRoIAlign
from fashionseg.models.maskrcnn.rpn import ProposalLayer, RPNHead
from fashionseg.models.maskrcnn.targets import DetectionTargetLayer

__all__ = ["LOSS_NAMES", "MaskRCNNNetworks"]


class MaskRCNNNetworks:
    """Every weighted part of one Mask R-CNN, built once."""

    def __init__(self, config: MaskRCNNConfig):
        self.config = config
        self.backbone = build_backbone(config)
        self.fpn = build_fpn(config, [int(t.shape[-1]) for t in self.backbone.outputs])
        self.rpn = RPNHead(len(config.RPN_ANCHOR_RATIOS), config.TOP_DOWN_PYRAMID_SIZE, name="rpn")
        self.box_head = BoxHead(config.NUM_CLASSES, config.FPN_CLASSIF_FC_LAYERS_SIZE, name="box_head")
        self.mask_head = MaskHead(
            config.NUM_CLASSES, config.TOP_DOWN_PYRAMID_SIZE, config.MASK_HEAD_CONV_LAYERS, name="mask_head"
        )
        self.tap_strides = backbone_strides(config)
        levels = list(config.BACKBONE_STRIDES)
        self.pool_levels = [levels.index(s) for s in config.ROI_POOLING_STRIDES]
        self.box_pool = PyramidRoIAlign(config.ROI_POOLING_STRIDES, config.POOL_SIZE, name="roi_align_classifier")
        self.mask_pool = PyramidRoIAlign(config.ROI_POOLING_STRIDES, config.MASK_POOL_SIZE, name="roi_align_mask")
        self.num_anchors = len(pyramid_anchors(config))
        self._inference = None

    def feature_inputs(self) -> list:
        size = self.config.IMAGE_MAX_DIM
        return [
            keras.Input((size // s, size // s, int(t.shape[-1])), name=f"c{s}")
            for s, t in zip(backbone_strides(self.config), self.backbone.outputs, strict=True)
        ]

    def proposal_layer(self, post_nms_limit: int) -> ProposalLayer:
        """The RPN's ``post_nms_limit`` best boxes (``POST_NMS_ROIS_TRAINING`` or ``_INFERENCE``)."""
        c = self.config
        return ProposalLayer(
            image_size=c.IMAGE_MAX_DIM,
            anchor_scales=c.RPN_ANCHOR_SCALES,
            anchor_ratios=c.RPN_ANCHOR_RATIOS,
            feature_strides=c.BACKBONE_STRIDES,
            anchor_stride=c.RPN_ANCHOR_STRIDE,
            pre_nms_limit=c.PRE_NMS_LIMIT,
            post_nms_limit=post_nms_limit,
            nms_threshold=c.RPN_NMS_THRESHOLD,
            bbox_std_dev=c.RPN_BBOX_STD_DEV,
            name="proposals",
        )

    def detection_target_layer(self, seed: int | None = None) -> DetectionTargetLayer:
        """Training RoIs and their targets: ``TRAIN_ROIS_PER_IMAGE``, ``ROI_POSITIVE_RATIO`` positive."""
        c = self.config
        return DetectionTargetLayer(
            rois_per_image=c.TRAIN_ROIS_PER_IMAGE,
            positive_ratio=c.ROI_POSITIVE_RATIO,
            bbox_std_dev=c.BBOX_STD_DEV,
            mask_size=c.MASK_SHAPE[0],
            seed=seed,
            name="detection_targets",
        )

    def detection_layer(self) -> DetectionLayer:
        """The inference detections: at most ``DETECTION_MAX_INSTANCES``, per-class NMS at ``DETECTION_NMS_THRESHOLD``."""
        c = self.config
        return DetectionLayer(
            image_size=c.IMAGE_MAX_DIM,
            max_instances=c.DETECTION_MAX_INSTANCES,
            nms_threshold=c.DETECTION_NMS_THRESHOLD,
            bbox_std_dev=c.BBOX_STD_DEV,
            name="detections",
        )

    def two_stages(
        self,
        taps,
        proposals: ProposalLayer,
        sample_rois: DetectionTargetLayer | None = None,
        ground_truth=None,
        detect: DetectionLayer | None = None,
    ) -> dict:
        """The wiring both graphs share: backbone taps -> pyramid -> RPN -> ``proposals`` ->
        RoIAlign -> box head, then RoIAlign -> mask head.

        Training passes ``sample_rois`` and its ``ground_truth`` (class ids, boxes,
        mini-masks): the proposals are sampled into RoIs with their targets, and the
        mask head runs on the positive RoIs. Inference passes ``detect``: the box
        head's outputs on the proposals become detections, and the mask head runs
        on those. Returns the graph's tensors by name: ``rpn_logits``, ``rpn_deltas``,
        ``class_logits``, ``deltas``, ``mask_logits``, and the RoI targets
        (``rois``, ``roi_class_ids``, ``roi_deltas``, ``roi_valid``, ``mask_targets``)
        or the detections (``boxes``, ``class_ids``, ``scores``).
        """
        if (sample_rois is None) == (detect is None) or (sample_rois is None) != (ground_truth is None):
            raise ValueError("pass sample_rois and ground_truth (training) or detect (inference)")
        pyramid = self.fpn(taps)
        rpn_logits, rpn_deltas = self.rpn(pyramid)
        proposal_boxes, valid = proposals(rpn_logits, rpn_deltas)
        out = {"rpn_logits": rpn_logits, "rpn_deltas": rpn_deltas}
        rois = proposal_boxes
        if sample_rois is not None:
            rois, roi_class_ids, roi_deltas, roi_valid, mask_targets = sample_rois(proposal_boxes, valid, *ground_truth)
            out.update(
                rois=rois,
                roi_class_ids=roi_class_ids,
                roi_deltas=roi_deltas,
                roi_valid=roi_valid,
                mask_targets=mask_targets,
            )
        pooled = [pyramid[i] for i in self.pool_levels]
        class_logits, deltas = self.box_head(self.box_pool(rois, *pooled))
        if sample_rois is not None:
            mask_rois = rois[:, : ops.shape(mask_targets)[1]]  # the positive slots come first
        else:
            boxes, class_ids, scores = detect(proposal_boxes, valid, class_logits, deltas)
            out.update(boxes=boxes, class_ids=class_ids, scores=scores)
            mask_rois = boxes
        mask_logits = self.mask_head(self.mask_pool(mask_rois, *pooled))
        out.update(class_logits=class_logits, deltas=deltas, mask_logits=mask_logits)
        return out

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
        gt_masks = keras.Input((c.MAX_GT_INSTANCES, *c.MINI_MASK_SHAPE), name="gt_masks")

        graph = self.two_stages(
            taps,
            self.proposal_layer(c.POST_NMS_ROIS_TRAINING),
            sample_rois=self.detection_target_layer(seed),
            ground_truth=(gt_class_ids, gt_boxes, gt_masks),
        )
        values = LossLayer(name="losses")(
            rpn_match,
            rpn_target_deltas,
            *(
                graph[name]
                for name in (
                    "rpn_logits",
                    "rpn_deltas",
                    "roi_class_ids",
                    "roi_deltas",
                    "roi_valid",
                    "mask_targets",
                    "class_logits",
                    "deltas",
                    "mask_logits",
                )
            ),
        )
        outputs = {name: layers.Identity(name=name)(value) for name, value in zip(LOSS_NAMES, values, strict=True)}
        inputs = {t.name: t for t in image_inputs}
        inputs.update(
            rpn_match=rpn_match,
            rpn_deltas=rpn_target_deltas,
            gt_class_ids=gt_class_ids,
            gt_boxes=gt_boxes,
            gt_masks=gt_masks,
        )
        return keras.Model(inputs, outputs, name="mask_rcnn_training")

    def inference_model(self) -> keras.Model:
        """Image ``(B, S, S, 3)`` on 0-255 -> ``boxes`` (B, D, 4) ``y1, x1, y2, x2`` in input pixels,
        ``class_ids`` (B, D), ``scores`` (B, D), ``masks`` (B, D, 28, 28) probabilities in each box
        and ``image_features`` (B, F): the backbone's two coarsest maps averaged over the image."""
        if self._inference is not None:
            return self._inference
        c = self.config
        image = keras.Input(c.IMAGE_SHAPE, name="image")
        taps = self.backbone(image)
        graph = self.two_stages(taps, self.proposal_layer(c.POST_NMS_ROIS_INFERENCE), detect=self.detection_layer())
        masks = SelectClassMasks(name="masks")(graph["mask_logits"], graph["class_ids"])
        outputs = {name: layers.Identity(name=name)(graph[name]) for name in ("boxes", "class_ids", "scores")}
        # What the photo looks like as a whole (the two coarsest taps, averaged over the image), for the
        # image-level label head; no weights, so weight files stay the same.
        pooled = [layers.GlobalAveragePooling2D(name=f"pool_c{s}")(t) for s, t in zip(self.tap_strides, taps)][-2:]
        features = layers.Concatenate(name="image_features")(pooled)
        self._inference = keras.Model(image, {**outputs, "masks": masks, "image_features": features}, name="mask_rcnn")
        return self._inference

    def save_weights(self, path) -> None:
        self.inference_model().save_weights(str(path))

    def load_weights(self, path) -> None:
        self.inference_model().load_weights(str(path))
