"""The report's loss and metric (``keras.ops`` only).

Example:
    >>> import numpy as np
    >>> y = np.ones((1, 4, 4, 1), "float32")
    >>> round(float(dice_coefficient(y, y)), 4), round(float(bce_dice_loss(y, y * 0.999)), 2)
    (1.0, -2.0)
"""

from __future__ import annotations

import keras
from keras import ops

SMOOTH = 1.0
BCE_WEIGHT = 0.5
DICE_WEIGHT = 2.0


@keras.saving.register_keras_serializable(package="fashionseg")
def dice_coefficient(y_true, y_pred):
    """Soft Dice over the whole batch with smoothing 1, as in the report."""
    y_true = ops.cast(ops.reshape(y_true, (-1,)), "float32")
    y_pred = ops.cast(ops.reshape(y_pred, (-1,)), "float32")
    intersection = ops.sum(y_true * y_pred)
    return (2.0 * intersection + SMOOTH) / (ops.sum(y_true) + ops.sum(y_pred) + SMOOTH)


@keras.saving.register_keras_serializable(package="fashionseg")
def bce_dice_loss(y_true, y_pred):
    """The report's loss: 0.5 x binary cross-entropy - 2 x Dice (so -2 is perfect)."""
    bce = ops.mean(keras.losses.binary_crossentropy(ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")))
    return BCE_WEIGHT * bce - DICE_WEIGHT * dice_coefficient(y_true, y_pred)
