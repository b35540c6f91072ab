"""Keras layers shared by the U-Net and the Mask R-CNN."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="fashionseg")
class InputNormalization(layers.Layer):
    """``(x - mean) / std`` per channel with fixed statistics.

    Example:
        >>> import numpy as np
        >>> layer = InputNormalization(mean=(10, 20, 30), std=(2, 4, 5))
        >>> np.asarray(layer(np.full((1, 1, 1, 3), 40.0, "float32"))).ravel().tolist()
        [15.0, 5.0, 2.0]
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = tuple(float(v) for v in mean), tuple(float(v) for v in std)

    def call(self, inputs):
        mean = ops.convert_to_tensor(self.mean, dtype=inputs.dtype)
        std = ops.convert_to_tensor(self.std, dtype=inputs.dtype)
        return (inputs - mean) / std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}
