"""Keras layers shared by the U-Net and the Mask R-CNN."""

from __future__ import annotations

from pathlib import Path

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
        # A 1x1 convolution with a diagonal kernel, not (x - mean) / std: ONNX Runtime broadcasts a
        # 3-vector over the innermost axis of an NHWC image element by element (the subtraction and
        # division took longer than the first convolution), while a convolution runs in its fast
        # kernels. Same values up to float rounding.
        scale = [1.0 / s for s in self.std]
        kernel = ops.reshape(ops.diag(ops.convert_to_tensor(scale, dtype=inputs.dtype)), (1, 1, len(scale), len(scale)))
        shift = ops.convert_to_tensor([-m / s for m, s in zip(self.mean, self.std)], dtype=inputs.dtype)
        return ops.conv(inputs, kernel, strides=1, padding="valid") + shift

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def headless_application(name: str, input_shape, weights: str | None, role: str = "backbone") -> keras.Model:
    """A ``keras.applications`` classifier (e.g. "MobileNetV2") without its top.

    ``weights``: None (random initialisation), "imagenet" (Keras' own download) or
    a weights file such as the shared, torchvision-trained MobileNetV2.
    """
    keyword = "imagenet" if weights == "imagenet" else None
    model = getattr(keras.applications, name)(input_shape=tuple(input_shape), include_top=False, weights=keyword)
    if weights not in (None, "imagenet"):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"{role} weights {path} not found (see ../shared/weights/README.md)")
        model.load_weights(str(path))
    return model


def nested_layers(model: keras.Model) -> list:
    """Every layer inside ``model``, the layers of the models nested in it included, depth first."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(nested_layers(layer))
    return found
