"""The per-RoI heads: class and box refinement, and the mask.

- :class:`BoxHead`: the ``POOL_SIZE`` x ``POOL_SIZE`` RoI features through two
  fully connected layers of ``FPN_CLASSIF_FC_LAYERS_SIZE`` (the FPN paper's
  "2fc" head; matterport writes them as convolutions), then class logits and
  class-specific box deltas.
- :class:`MaskHead`: ``MASK_HEAD_CONV_LAYERS`` 3x3 convolutions on the
  ``MASK_POOL_SIZE`` RoI features, a 2x transposed convolution, and one
  ``MASK_SHAPE`` mask logit map per class.
- :class:`SelectClassMasks`: at inference, each detection's mask is the one of
  its class, as a probability.

Example:
    >>> import numpy as np
    >>> head = MaskHead(num_classes=12, channels=8, conv_layers=2)
    >>> tuple(head(np.zeros((2, 3, 14, 14, 8), "float32")).shape)
    (2, 3, 28, 28, 12)
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="fashionseg")
class BoxHead(layers.Layer):
    """Pooled RoIs ``(B, N, S, S, C)`` -> ``(class logits (B, N, K), deltas (B, N, K, 4))``."""

    def __init__(self, num_classes: int, fc_size: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.fc_size = num_classes, fc_size
        self.fc1 = layers.Dense(fc_size, activation="relu", name="mrcnn_class_fc1")
        self.fc2 = layers.Dense(fc_size, activation="relu", name="mrcnn_class_fc2")
        self.classes = layers.Dense(num_classes, name="mrcnn_class_logits")
        self.boxes = layers.Dense(
            4 * num_classes, name="mrcnn_bbox_fc", kernel_initializer=keras.initializers.RandomNormal(stddev=0.001)
        )

    def build(self, input_shape):
        flat = int(input_shape[2] * input_shape[3] * input_shape[4])
        self.fc1.build((None, flat))
        self.fc2.build((None, self.fc_size))
        self.classes.build((None, self.fc_size))
        self.boxes.build((None, self.fc_size))

    def call(self, pooled):
        batch, count = ops.shape(pooled)[0], ops.shape(pooled)[1]
        x = ops.reshape(pooled, (batch, count, -1))
        x = self.fc2(self.fc1(x))
        return self.classes(x), ops.reshape(self.boxes(x), (batch, count, self.num_classes, 4))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "fc_size": self.fc_size}


@keras.saving.register_keras_serializable(package="fashionseg")
class MaskHead(layers.Layer):
    """Pooled RoIs ``(B, N, S, S, C)`` -> mask logits ``(B, N, 2S, 2S, K)``."""

    def __init__(self, num_classes: int, channels: int, conv_layers: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.channels, self.conv_layers = num_classes, channels, conv_layers
        # He initialisation, as torchvision's mask head: with Keras' Glorot default a stack of
        # ReLU layers starts with activations shrinking layer by layer, and learns slowly.
        he = "he_normal"
        self.convs = [
            layers.Conv2D(
                channels, 3, padding="same", activation="relu", kernel_initializer=he, name=f"mrcnn_mask_conv{i + 1}"
            )
            for i in range(conv_layers)
        ]
        self.upsample = layers.Conv2DTranspose(
            channels, 2, strides=2, activation="relu", kernel_initializer=he, name="mrcnn_mask_deconv"
        )
        self.logits = layers.Conv2D(num_classes, 1, name="mrcnn_mask")

    def build(self, input_shape):
        shape = (None,) + tuple(input_shape[2:])
        for conv in self.convs:
            conv.build(shape)
            shape = shape[:3] + (self.channels,)
        self.upsample.build(shape)
        self.logits.build((None, shape[1] * 2, shape[2] * 2, self.channels))

    def call(self, pooled):
        batch, count, size = ops.shape(pooled)[0], ops.shape(pooled)[1], ops.shape(pooled)[2]
        x = ops.reshape(pooled, (-1,) + tuple(ops.shape(pooled)[2:]))
        for conv in self.convs:
            x = conv(x)
        x = self.logits(self.upsample(x))
        return ops.reshape(x, (batch, count, 2 * size, 2 * size, self.num_classes))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "channels": self.channels,
            "conv_layers": self.conv_layers,
        }


@keras.saving.register_keras_serializable(package="fashionseg")
class SelectClassMasks(layers.Layer):
    """Mask logits ``(B, D, M, M, K)`` and class ids ``(B, D)`` -> each detection's class mask, as probabilities ``(B, D, M, M)``.

    Example:
        >>> import numpy as np
        >>> logits = np.zeros((1, 2, 4, 4, 3), "float32")
        >>> logits[0, 1, ..., 2] = 10.0  # detection 1's class-2 mask: all in
        >>> masks = np.asarray(SelectClassMasks()(logits, np.array([[1, 2]], "int32")))
        >>> masks.shape, masks[0, 0, 0, 0].round(2), masks[0, 1, 0, 0].round(2)
        ((1, 2, 4, 4), np.float32(0.5), np.float32(1.0))
    """

    def call(self, mask_logits, class_ids):
        picked = ops.take_along_axis(mask_logits, ops.cast(class_ids, "int32")[:, :, None, None, None], axis=-1)
        return ops.sigmoid(picked[..., 0])

    def get_config(self):
        return super().get_config()
