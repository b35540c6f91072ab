"""The Mask R-CNN configuration: one documented object with matterport's field names.

Defaults are the thesis' Appendix B (its Full runs), changed where the product
spec says so: a MobileNetV2 backbone by default (the only pretrained backbone
here), 11 classes + background, at most 10 detections at inference (thesis
4.4.1), and the normalisation of the backbone's weights. A second group of
changes buys CPU speed (the product's budget is 400 ms per photo on 2 cores,
the thesis' 2 s on 4): the pyramid starts at stride 8 instead of 4 (the
16 px anchors sit on P3) and is 128 channels wide instead of 256, the box head's
fully connected layers are 512 wide instead of 1024, and fewer proposals are
kept (1,000 before NMS, 300 after in training, 100 at inference). Each such
field says so next to it.

Example:
    >>> config = MaskRCNNConfig()
    >>> config.NUM_CLASSES, config.IMAGE_SHAPE, config.DETECTION_MAX_INSTANCES
    (12, (512, 512, 3), 10)
    >>> MaskRCNNConfig.from_dict(config.to_dict()) == config
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from fashionseg.core.masks import is_int
from fashionseg.core.vocabulary import FASHIONSEG11
from fashionseg.models.model_folder import ModelConfig

BACKBONES = ("mobilenet_v2", "resnet50", "resnet101")
# Per backbone weights: (mean, std) on the 0-255 scale. torchvision's ImageNet statistics
# for the shared MobileNetV2; the thesis' COCO mean pixel, unit std, for ResNets (4.2.4).
NORMALISATION = {
    "mobilenet_v2": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    "resnet50": ((123.7, 116.8, 103.9), (1.0, 1.0, 1.0)),
    "resnet101": ((123.7, 116.8, 103.9), (1.0, 1.0, 1.0)),
}

# The classes worn on the body (the thesis' upperbody, lowerbody and wholebody supercategories):
# shirt, top, sweater, jacket, pants, skirt, dress.
GARMENT_CLASSES = tuple(
    c.name for c in FASHIONSEG11.categories if c.supercategory in ("upperbody", "lowerbody", "wholebody")
)


@dataclass
class MaskRCNNConfig(ModelConfig):
    """Every setting of a Mask R-CNN model; saved with each trained model and shown by the app.

    ``to_dict``/``from_dict``, ``to_json``/``from_json``, ``save``/``load``: see
    :class:`fashionseg.models.model_folder.ModelConfig`.
    """

    KIND = "Mask R-CNN"
    # Settings configs saved before #13 hold and nothing reads (NAME, and USE_MINI_MASK: mini-masks
    # are always used); dropped when such a config is read.
    RETIRED = ("NAME", "USE_MINI_MASK")

    # Backbone: "mobilenet_v2" (default), "resnet50" or "resnet101".
    BACKBONE: str = "mobilenet_v2"
    # A weights file, "imagenet" (Keras' download) or None (random initialisation).
    BACKBONE_WEIGHTS: str | None = None
    # Strides of the pyramid levels relative to the input: P3-P7 (matterport: P2-P6, 4-64).
    # Starting at stride 8 quarters the cost of the largest level of FPN and RPN.
    BACKBONE_STRIDES: tuple[int, ...] = (8, 16, 32, 64, 128)
    # The levels RoIAlign pools from (FPN paper: all but the RPN-only top level).
    ROI_POOLING_STRIDES: tuple[int, ...] = (8, 16, 32)
    # Background + the 11 classes of thesis Table 5.
    NUM_CLASSES: int = 1 + len(FASHIONSEG11)
    CLASS_NAMES: tuple[str, ...] = ("background",) + FASHIONSEG11.names

    # Input: resized to fit a square and zero-padded (thesis 4.2.2).
    IMAGE_RESIZE_MODE: str = "square"
    IMAGE_MIN_DIM: int = 512
    IMAGE_MAX_DIM: int = 512
    IMAGE_CHANNEL_COUNT: int = 3
    # Input normalisation, (pixel - MEAN_PIXEL) / STD_PIXEL; set from the backbone if None.
    MEAN_PIXEL: tuple[float, float, float] | None = None
    STD_PIXEL: tuple[float, float, float] | None = None

    # Region proposal network. Anchor sides in px (thesis 4.3.2: 16-256 for 512 px images).
    RPN_ANCHOR_SCALES: tuple[int, ...] = (16, 32, 64, 128, 256)
    RPN_ANCHOR_RATIOS: tuple[float, ...] = (0.5, 1.0, 2.0)
    RPN_ANCHOR_STRIDE: int = 1
    RPN_NMS_THRESHOLD: float = 0.7
    RPN_TRAIN_ANCHORS_PER_IMAGE: int = 256
    RPN_BBOX_STD_DEV: tuple[float, ...] = (0.1, 0.1, 0.2, 0.2)
    # Matterport: 6000 / 2000 / 1000. NMS here compares all pairs (static shapes), so
    # its cost grows with the square of PRE_NMS_LIMIT.
    PRE_NMS_LIMIT: int = 1000
    POST_NMS_ROIS_TRAINING: int = 300
    POST_NMS_ROIS_INFERENCE: int = 100
    # Channels of the pyramid and of the RPN and mask heads (matterport: 256).
    TOP_DOWN_PYRAMID_SIZE: int = 128

    # Heads.
    # matterport 200. CCP photos hold ~5 instances; the RoI count sets the cost of a training
    # step here (128 RoIs: 0.53 s per step of 2 photos, 64: 0.32 s).
    TRAIN_ROIS_PER_IMAGE: int = 64
    ROI_POSITIVE_RATIO: float = 0.33
    POOL_SIZE: int = 7
    MASK_POOL_SIZE: int = 14
    MASK_SHAPE: tuple[int, int] = (28, 28)
    FPN_CLASSIF_FC_LAYERS_SIZE: int = 512  # matterport 1024
    MASK_HEAD_CONV_LAYERS: int = 4  # 3x3 convs before the 2x upsampling, as matterport
    BBOX_STD_DEV: tuple[float, ...] = (0.1, 0.1, 0.2, 0.2)
    MAX_GT_INSTANCES: int = 100
    # Instance masks are kept at this size inside their box during training (matterport's mini-masks).
    MINI_MASK_SHAPE: tuple[int, int] = (56, 56)

    # Inference (thesis 4.4.1 and 5.5.1).
    DETECTION_MAX_INSTANCES: int = 10
    DETECTION_MIN_CONFIDENCE: float = 0.7
    DETECTION_NMS_THRESHOLD: float = 0.3
    # At most this many instances of a class per image (5.5.1: two shoes); absent: no cap.
    DETECTION_MAX_PER_CLASS: dict = field(default_factory=lambda: {"shoe": 2})
    # Ours: class name -> confidence threshold, chosen on validation photos (fashionseg.models.maskrcnn.thresholds);
    # a class not named uses DETECTION_MIN_CONFIDENCE. Ignored when a caller sets min_confidence.
    DETECTION_MIN_CONFIDENCE_PER_CLASS: dict = field(default_factory=dict)
    # Ours: a second pass on a crop around people who fill little of the photo (fashionseg.models.maskrcnn.focus).
    DETECTION_FOCUS: bool = False
    # Ours: each 28 x 28 mask, scaled up to its box, guided-filtered with the photo as guide before
    # the 0.5 threshold (fashionseg.core.guided_filter), radius in pixels of the pass's input
    # (IMAGE_MAX_DIM; for the focus pass, of its crop), but at a working resolution that keeps the
    # box's short side at 32 px or more (predictor.mask_filter_scale); 0 (matterport's and the
    # thesis' paste) turns it off.
    DETECTION_MASK_GUIDED_FILTER_RADIUS: int = 0
    DETECTION_MASK_GUIDED_FILTER_EPS: float = 1e-3
    # Ours: NMS runs per class, so one garment can come out as a skirt and a dress, or a shirt and
    # a top. A kept instance of one of DETECTION_EXCLUSIVE_CLASSES whose mask overlaps a better-scored
    # one of another of them by more than this mask IoU is dropped (postprocess.drop_rival_classes);
    # 0 (the thesis' per-class NMS alone) turns it off. Ties, shoes and bags lie on or beside garments.
    DETECTION_EXCLUSIVE_MASK_IOU: float = 0.0
    DETECTION_EXCLUSIVE_CLASSES: tuple[str, ...] = GARMENT_CLASSES

    # Training (thesis 4.3.2): SGD with momentum, weight decay, gradient clipping.
    IMAGES_PER_GPU: int = 2
    # The heads stage's rate. The thesis used 0.0005 on COCO-trained heads (all layers: 0.0001
    # decaying to 0.00001); ours start from random initialisation: at 0.005 their losses fell
    # too slowly for a CPU's budget of epochs (measured on CCP, see the README).
    LEARNING_RATE: float = 0.02
    LEARNING_MOMENTUM: float = 0.9
    WEIGHT_DECAY: float = 0.0001
    GRADIENT_CLIP_NORM: float = 5.0
    TRAIN_BN: bool = False
    LOSS_WEIGHTS: dict = field(
        default_factory=lambda: {
            "rpn_class_loss": 1.0,
            "rpn_bbox_loss": 1.0,
            "mrcnn_class_loss": 1.0,
            "mrcnn_bbox_loss": 1.0,
            "mrcnn_mask_loss": 1.0,
        }
    )

    def __post_init__(self) -> None:
        if self.BACKBONE not in BACKBONES:
            raise ValueError(f"BACKBONE must be one of {BACKBONES}, not {self.BACKBONE!r}")
        if self.IMAGE_RESIZE_MODE != "square" or self.IMAGE_MIN_DIM != self.IMAGE_MAX_DIM:
            raise ValueError("only IMAGE_RESIZE_MODE 'square' with IMAGE_MIN_DIM == IMAGE_MAX_DIM is supported")
        if self.IMAGE_MAX_DIM % max(self.BACKBONE_STRIDES):
            raise ValueError(
                f"IMAGE_MAX_DIM must be divisible by {max(self.BACKBONE_STRIDES)} (the top pyramid stride), not {self.IMAGE_MAX_DIM}"
            )
        if len(self.RPN_ANCHOR_SCALES) != len(self.BACKBONE_STRIDES):
            raise ValueError("one RPN_ANCHOR_SCALES entry per pyramid level (BACKBONE_STRIDES) is needed")
        if not set(self.ROI_POOLING_STRIDES) <= set(self.BACKBONE_STRIDES):
            raise ValueError("ROI_POOLING_STRIDES must be pyramid levels (a subset of BACKBONE_STRIDES)")
        if self.POST_NMS_ROIS_TRAINING > self.PRE_NMS_LIMIT or self.POST_NMS_ROIS_INFERENCE > self.PRE_NMS_LIMIT:
            raise ValueError("POST_NMS_ROIS_TRAINING/INFERENCE cannot exceed PRE_NMS_LIMIT")
        if len(self.CLASS_NAMES) != self.NUM_CLASSES:
            raise ValueError(f"CLASS_NAMES has {len(self.CLASS_NAMES)} names for NUM_CLASSES {self.NUM_CLASSES}")
        unknown = set(self.DETECTION_MAX_PER_CLASS) - set(self.CLASS_NAMES[1:])
        if unknown:
            raise ValueError(f"DETECTION_MAX_PER_CLASS names unknown classes: {sorted(unknown)}")
        unknown = set(self.DETECTION_MIN_CONFIDENCE_PER_CLASS) - set(self.CLASS_NAMES[1:])
        if unknown:
            raise ValueError(f"DETECTION_MIN_CONFIDENCE_PER_CLASS names unknown classes: {sorted(unknown)}")
        if not all(
            isinstance(v, (int, float)) and 0 <= v <= 1 for v in self.DETECTION_MIN_CONFIDENCE_PER_CLASS.values()
        ):
            raise ValueError("DETECTION_MIN_CONFIDENCE_PER_CLASS values must be numbers from 0 to 1")
        radius = self.DETECTION_MASK_GUIDED_FILTER_RADIUS
        if not (is_int(radius) and radius >= 0) or not (
            self.DETECTION_MASK_GUIDED_FILTER_EPS > 0  # NaN fails the comparison
        ):
            raise ValueError(
                "DETECTION_MASK_GUIDED_FILTER_RADIUS must be a whole number >= 0 and "
                f"DETECTION_MASK_GUIDED_FILTER_EPS > 0, not {radius!r}, {self.DETECTION_MASK_GUIDED_FILTER_EPS!r}"
            )
        unknown = set(self.DETECTION_EXCLUSIVE_CLASSES) - set(self.CLASS_NAMES[1:])
        if unknown and self.DETECTION_EXCLUSIVE_MASK_IOU > 0:  # a model of other classes need not list them
            raise ValueError(f"DETECTION_EXCLUSIVE_CLASSES names unknown classes: {sorted(unknown)}")
        if not 0 <= self.DETECTION_EXCLUSIVE_MASK_IOU < 1:  # NaN fails the comparison
            raise ValueError(
                f"DETECTION_EXCLUSIVE_MASK_IOU must be from 0 to below 1, not {self.DETECTION_EXCLUSIVE_MASK_IOU!r}"
            )
        if not 0 < self.ROI_POSITIVE_RATIO < 1:
            raise ValueError("ROI_POSITIVE_RATIO must be in (0, 1)")
        mean, std = NORMALISATION[self.BACKBONE]
        self.MEAN_PIXEL = tuple(self.MEAN_PIXEL or mean)
        self.STD_PIXEL = tuple(self.STD_PIXEL or std)
        for f in fields(self):  # JSON gives lists; keep tuples so configs compare equal
            value = getattr(self, f.name)
            if isinstance(value, list):
                setattr(self, f.name, tuple(value))

    @property
    def IMAGE_SHAPE(self) -> tuple[int, int, int]:
        return (self.IMAGE_MAX_DIM, self.IMAGE_MAX_DIM, self.IMAGE_CHANNEL_COUNT)

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) for every setting, IMAGE_SHAPE included, for display."""
        values = {**self.to_dict(), "IMAGE_SHAPE": self.IMAGE_SHAPE}
        return [(name, str(values[name])) for name in sorted(values)]
