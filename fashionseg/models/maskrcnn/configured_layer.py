"""The base of the layers built from a :class:`MaskRCNNConfig`: saved and restored with it."""

from __future__ import annotations

import keras

from fashionseg.models.maskrcnn.config import MaskRCNNConfig


class ConfiguredLayer(keras.layers.Layer):
    """A layer whose first argument is the model's config; ``get_config`` carries it as a dict."""

    def __init__(self, config: MaskRCNNConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, data):
        data = dict(data)
        return cls(MaskRCNNConfig.from_dict(data.pop("config")), **data)
