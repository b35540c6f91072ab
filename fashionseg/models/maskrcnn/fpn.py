"""The feature pyramid network (Lin et al., 2017): backbone taps -> P levels of equal width.

Top-down: each level is a 1x1 projection of its tap plus the 2x upsampled
level above; a 3x3 convolution then smooths it. Levels above the backbone's
coarsest stride are max-pooled from the one below (matterport's P6). The 3x3
convolutions are depthwise-separable: on P3 (64 x 64 at 512 px) a dense one
costs 8x more and was where the stock design spent its time on a CPU.

Example:
    >>> from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    >>> fpn = build_fpn(MaskRCNNConfig(IMAGE_MIN_DIM=128, IMAGE_MAX_DIM=128), [8, 16, 32])
    >>> [tuple(t.shape[1:]) for t in fpn.outputs]
    [(16, 16, 128), (8, 8, 128), (4, 4, 128), (2, 2, 128), (1, 1, 128)]
"""

from __future__ import annotations

import keras
from keras import layers

from fashionseg.models.maskrcnn.backbone import backbone_strides


def build_fpn(config, tap_channels) -> keras.Model:
    """Feature maps from :mod:`backbone` (channels ``tap_channels``) -> one map per ``BACKBONE_STRIDES``."""
    size, width = config.IMAGE_MAX_DIM, config.TOP_DOWN_PYRAMID_SIZE
    strides = backbone_strides(config)
    taps = [keras.Input((size // s, size // s, c), name=f"c{s}") for s, c in zip(strides, tap_channels)]
    merged = [None] * len(taps)
    for i in reversed(range(len(taps))):
        lateral = layers.Conv2D(width, 1, name=f"fpn_c{strides[i]}_lateral")(taps[i])
        if i + 1 < len(taps):
            above = layers.UpSampling2D(2, name=f"fpn_p{strides[i + 1]}_upsampled")(merged[i + 1])
            lateral = layers.Add(name=f"fpn_p{strides[i]}_add")([lateral, above])
        merged[i] = lateral
    outputs = [layers.SeparableConv2D(width, 3, padding="same", name=f"fpn_p{s}")(m) for s, m in zip(strides, merged)]
    for stride in config.BACKBONE_STRIDES[len(strides) :]:
        outputs.append(layers.MaxPooling2D(1, strides=2, name=f"fpn_p{stride}")(outputs[-1]))
    return keras.Model(taps, outputs, name="fpn")
