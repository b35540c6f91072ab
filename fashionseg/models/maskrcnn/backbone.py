"""The convolutional backbone: an ImageNet classifier cut into feature taps at strides 8, 16, 32.

The image comes in as RGB on 0-255 and is normalised inside the model with the
config's ``MEAN_PIXEL`` / ``STD_PIXEL``, so every caller feeds the same thing and
the normalisation the weights need is saved with the model (the shared
MobileNetV2 wants torchvision's, not Keras' [-1, 1]).

Example:
    >>> from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    >>> backbone = build_backbone(MaskRCNNConfig(IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128))
    >>> [tuple(t.shape[1:3]) for t in backbone.outputs]
    [(16, 16), (8, 8), (4, 4)]
"""

from __future__ import annotations

import keras
from keras import layers

from fashionseg.models.layers import InputNormalization, headless_application, nested_layers

# The last activation at each stride (the MobileNetV2 taps the shared weights' README names).
TAPS = {
    "mobilenet_v2": {4: "block_3_expand_relu", 8: "block_6_expand_relu", 16: "block_13_expand_relu", 32: "out_relu"},
    "resnet50": {4: "conv2_block3_out", 8: "conv3_block4_out", 16: "conv4_block6_out", 32: "conv5_block3_out"},
    "resnet101": {4: "conv2_block3_out", 8: "conv3_block4_out", 16: "conv4_block23_out", 32: "conv5_block3_out"},
}
APPLICATIONS = {"mobilenet_v2": "MobileNetV2", "resnet50": "ResNet50", "resnet101": "ResNet101"}


def backbone_strides(config) -> tuple[int, ...]:
    """The pyramid strides the backbone itself provides (the rest are made by subsampling)."""
    return tuple(s for s in config.BACKBONE_STRIDES if s <= 32)


def classifier(config) -> keras.Model:
    """The ImageNet classifier without its top, with the configured weights."""
    return headless_application(APPLICATIONS[config.BACKBONE], config.IMAGE_SHAPE, config.BACKBONE_WEIGHTS)


def set_trainable(backbone: keras.Model, trainable: bool, train_bn: bool) -> None:
    """Freeze or unfreeze a :func:`build_backbone`; its BatchNormalization layers train only if ``train_bn`` too."""
    backbone.trainable = trainable
    for layer in nested_layers(backbone):
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = trainable and train_bn


def build_backbone(config) -> keras.Model:
    """Image (B, S, S, 3) on 0-255 -> feature maps at :func:`backbone_strides`, finest first."""
    net = classifier(config)
    for layer in net.layers:
        if isinstance(layer, layers.BatchNormalization):
            # matterport's TRAIN_BN: with 2 images per batch, batch statistics are noise.
            layer.trainable = config.TRAIN_BN
    taps = [net.get_layer(TAPS[config.BACKBONE][s]).output for s in backbone_strides(config)]
    features = keras.Model(net.input, taps, name=f"{config.BACKBONE}_taps")
    image = keras.Input(config.IMAGE_SHAPE, name="image")
    normalised = InputNormalization(config.MEAN_PIXEL, config.STD_PIXEL, name="normalize")(image)
    return keras.Model(image, features(normalised), name="backbone")
