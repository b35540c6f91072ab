import pytest

from fashionseg.models.maskrcnn.config import MaskRCNNConfig


def test_defaults_follow_the_thesis_and_the_spec():
    c = MaskRCNNConfig()
    assert (
        c.BACKBONE == "mobilenet_v2" and c.IMAGE_MIN_DIM == c.IMAGE_MAX_DIM == 512 and c.IMAGE_RESIZE_MODE == "square"
    )
    assert c.RPN_ANCHOR_SCALES == (16, 32, 64, 128, 256) and c.BACKBONE_STRIDES == (8, 16, 32, 64, 128)
    assert (c.POOL_SIZE, c.MASK_POOL_SIZE, c.MASK_SHAPE) == (7, 14, (28, 28))
    assert (c.DETECTION_MAX_INSTANCES, c.DETECTION_MIN_CONFIDENCE, c.DETECTION_NMS_THRESHOLD) == (10, 0.7, 0.3)
    assert (c.LEARNING_MOMENTUM, c.WEIGHT_DECAY, c.GRADIENT_CLIP_NORM, c.TRAIN_BN) == (0.9, 1e-4, 5.0, False)
    assert c.NUM_CLASSES == 12 and c.CLASS_NAMES[9] == "shoe" and c.DETECTION_MAX_PER_CLASS == {"shoe": 2}
    assert c.DETECTION_MASK_GUIDED_FILTER_RADIUS == 0  # the thesis' paste unless a model's config asks
    assert c.DETECTION_EXCLUSIVE_MASK_IOU == 0  # the thesis' per-class NMS alone unless a model's config asks
    assert c.MEAN_PIXEL == (123.675, 116.28, 103.53)  # torchvision's, for the shared MobileNetV2
    assert MaskRCNNConfig(BACKBONE="resnet101").MEAN_PIXEL == (123.7, 116.8, 103.9)  # thesis 4.2.4


def test_round_trip_and_validation(tmp_path):
    c = MaskRCNNConfig(BACKBONE="resnet50", DETECTION_MAX_PER_CLASS={"shoe": 2, "bag, wallet": 1})
    c.save(tmp_path / "c.json")
    assert MaskRCNNConfig.load(tmp_path / "c.json") == c
    assert ("IMAGE_SHAPE", "(512, 512, 3)") in c.rows()
    for bad, message in [
        ({"BACKBONE": "vgg"}, "BACKBONE"),
        ({"IMAGE_MAX_DIM": 500, "IMAGE_MIN_DIM": 500}, "divisible by 128"),
        ({"RPN_ANCHOR_SCALES": (32, 64)}, "one RPN_ANCHOR_SCALES"),
        ({"DETECTION_MAX_PER_CLASS": {"sock": 2}}, "unknown classes"),
        ({"DETECTION_MASK_GUIDED_FILTER_RADIUS": -1}, "GUIDED_FILTER"),
        ({"DETECTION_MASK_GUIDED_FILTER_RADIUS": 2.0}, "GUIDED_FILTER"),  # OpenCV fails on the first photo
        ({"DETECTION_MASK_GUIDED_FILTER_EPS": float("nan")}, "GUIDED_FILTER"),
        ({"DETECTION_MASK_GUIDED_FILTER_EPS": 0.0}, "GUIDED_FILTER"),
        ({"DETECTION_EXCLUSIVE_MASK_IOU": 1.0}, "EXCLUSIVE_MASK_IOU"),
        ({"DETECTION_EXCLUSIVE_MASK_IOU": float("nan")}, "EXCLUSIVE_MASK_IOU"),
        ({"DETECTION_EXCLUSIVE_MASK_IOU": -0.1}, "EXCLUSIVE_MASK_IOU"),
        ({"DETECTION_EXCLUSIVE_MASK_IOU": 0.3, "DETECTION_EXCLUSIVE_CLASSES": ("dress", "sock")}, "unknown classes"),
    ]:
        with pytest.raises(ValueError, match=message):
            MaskRCNNConfig(**bad)
    with pytest.raises(ValueError, match="unknown Mask R-CNN settings: GPU_COUNT"):
        MaskRCNNConfig.from_dict({"GPU_COUNT": 1})


def test_from_dict_checks_each_value_against_its_settings_type():
    """A config that skips read_config (a training run's, an export's) is checked as a folder's is:
    "512" or "false" from a hand-edited file would otherwise reach the model as a string."""
    import numpy as np

    for bad, message in [
        ({"IMAGE_MAX_DIM": "512"}, "IMAGE_MAX_DIM must be a number"),
        ({"DETECTION_FOCUS": "false"}, "DETECTION_FOCUS must be true or false"),
        ({"RPN_ANCHOR_SCALES": 24}, "RPN_ANCHOR_SCALES must be a list"),
        ({"DETECTION_MIN_CONFIDENCE": float("inf")}, "DETECTION_MIN_CONFIDENCE must be a number"),
    ]:
        with pytest.raises(ValueError, match=message):
            MaskRCNNConfig.from_dict(bad)
    # What to_dict gives (tuples) and what a threshold search returns (numpy scalars) pass.
    config = MaskRCNNConfig.from_dict({**MaskRCNNConfig().to_dict(), "DETECTION_MIN_CONFIDENCE": np.float32(0.6)})
    assert abs(config.DETECTION_MIN_CONFIDENCE - 0.6) < 1e-6
