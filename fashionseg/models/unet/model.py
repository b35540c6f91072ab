"""U-Net models for the garment cutout (keras layers and ``keras.ops`` only, so the same
code trains on JAX and runs on TensorFlow).

- ``classic``: the report's final U-Net (its "final model", after the Carvana
  solution it cites): encoder blocks of 2 x conv-BN-ReLU and 2x2 max-pooling with
  filters doubling, a 2 x conv-BN-ReLU bottleneck, decoder blocks of 2x upsampling,
  concatenation with the skip and 3 x conv-BN-ReLU, and a 1x1 sigmoid.
- ``mobilenet_v2``: an ImageNet MobileNetV2 encoder (Keras' own architecture)
  with the skips the weights README names, and a light decoder of the same block
  shape (upsample, concatenate, conv-BN-ReLU).

Both take raw RGB in [0, 255] and normalise inside the model (``InputNormalization``),
so every caller feeds the same thing and the normalisation is saved with the model.

Example:
    >>> model = build_unet(UNetConfig(architecture="classic", input_size=64, base_filters=4, depth=3))
    >>> model.output_shape
    (None, 64, 64, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers

from fashionseg.core.masks import is_int
from fashionseg.models.layers import InputNormalization, headless_application, nested_layers
from fashionseg.models.model_folder import ModelConfig

ARCHITECTURES = ("classic", "mobilenet_v2")
# torchvision's ImageNet statistics, which the shared MobileNetV2 weights were trained with.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
# Keras' own ImageNet MobileNetV2 expects [-1, 1].
KERAS_MOBILENET_MEAN = (127.5, 127.5, 127.5)
KERAS_MOBILENET_STD = (127.5, 127.5, 127.5)
MOBILENET_SKIPS = ("block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu")


@dataclass
class UNetConfig(ModelConfig):
    """Everything needed to rebuild a U-Net and use it; saved as ``config.json`` with the weights.

    ``to_dict``/``from_dict``, ``to_json``/``from_json``, ``save``/``load``: see
    :class:`fashionseg.models.model_folder.ModelConfig`. The field names stay lower case:
    they are the keys of every saved U-Net ``config.json``.
    """

    KIND = "U-Net"

    architecture: str = "mobilenet_v2"
    input_size: int = 384
    # classic only
    base_filters: int = 32
    depth: int = 5
    # mobilenet_v2 only: a weights file, "imagenet" (Keras' download) or None (random)
    encoder_weights: str | None = None
    decoder_filters: tuple[int, ...] = (192, 96, 48, 32, 16)
    # matterport's TRAIN_BN: False keeps the encoder's BatchNorm in inference mode with its
    # pretrained statistics; with batches of 8 (and Keras' momentum 0.999) training them
    # leaves moving averages that lag the weights, and validation collapses.
    train_encoder_bn: bool = False
    # mobilenet_v2 only: the full-resolution level's two 3x3 convolutions as depthwise +
    # pointwise ones, like every other level's. Full, they run at the input size and took a
    # quarter of the model's time (ONNX Runtime profile, 384 px); separable, a fifth of their multiply-adds.
    separable_full_resolution: bool = False
    # per-channel RGB mean and std on the 0-255 scale
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    threshold: float = 0.5
    double_pass_dilation: int = 0  # >0: the model expects focus images (second pass), dilation in px
    # A second look at a person who fills little of the photo: the same model on a crop around
    # the first mask (fashionseg.models.maskrcnn.focus.focus_window), as the detector does.
    focus: bool = False
    # The map scaled up to the photo is soft across every garment edge; a guided filter with
    # the photo as guide (fashionseg.core.guided_filter) moves its edges onto the photo's, at
    # about the model's resolution: radius in those pixels, 0 turns it off. On every re-framed
    # variant of the validation photos it raised Dice, by 0.0005-0.004 (README "U-Net").
    guided_filter_radius: int = 2
    guided_filter_eps: float = 1e-3
    # Average the model's map over the photo and its mirror image (each pass, focus included;
    # a second-pass model by its own config).
    # A trained network is not exactly mirror-symmetric, and its two answers err differently
    # along garment edges; the mean is the better map (validation Dice +0.0013 full photos,
    # +0.003 waist-up, README "U-Net") for a second model call.
    mirror_average: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}")
        if not 32 <= self.input_size <= 1024 or self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 from 32 to 1024, not {self.input_size}")
        if self.architecture == "classic" and self.input_size % (2**self.depth):
            raise ValueError(f"input_size {self.input_size} is not divisible by 2**depth = {2**self.depth}")
        # from_dict refuses a string here already; a config built in Python does not pass through it,
        # and "false" would count as true.
        if not isinstance(self.mirror_average, bool):
            raise ValueError(f"mirror_average must be true or false, not {self.mirror_average!r}")
        if not (is_int(self.guided_filter_radius) and self.guided_filter_radius >= 0) or not (
            self.guided_filter_eps > 0  # NaN fails the comparison
        ):
            raise ValueError(
                f"guided_filter_radius must be a whole number >= 0 and guided_filter_eps > 0, not "
                f"{self.guided_filter_radius}, {self.guided_filter_eps}"
            )
        self.decoder_filters = tuple(self.decoder_filters)
        self.mean, self.std = tuple(self.mean), tuple(self.std)


# Keras' default 0.99 leaves the moving variance at 0.99^n of its initial 1.0 after n
# steps; decoder activations here have variances of 1e-2 to 1e-4, so inference-mode
# output stays wrong for ~14 epochs. 0.9 (PyTorch's default) converges within one.
BN_MOMENTUM = 0.9


def conv_bn_relu(x, filters: int, name: str, separable: bool = False):
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def decoder_block(x, skip, filters: int, convs: int, name: str, separable: bool = False):
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_up")(x)
    if skip is not None:
        x = layers.Concatenate(name=f"{name}_concat")([x, skip])
    for i in range(convs):
        x = conv_bn_relu(x, filters, f"{name}_{i}", separable)
    return x


def build_classic(config: UNetConfig) -> keras.Model:
    inputs = keras.Input((config.input_size, config.input_size, 3), name="image")
    x = InputNormalization(config.mean, config.std, name="normalize")(inputs)
    skips = []
    for level in range(config.depth):
        filters = config.base_filters * 2**level
        x = conv_bn_relu(x, filters, f"down{level}_a")
        x = conv_bn_relu(x, filters, f"down{level}_b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    bottleneck = config.base_filters * 2**config.depth
    x = conv_bn_relu(x, bottleneck, "center_a")
    x = conv_bn_relu(x, bottleneck, "center_b")
    for level in reversed(range(config.depth)):
        x = decoder_block(x, skips[level], config.base_filters * 2**level, 3, f"up{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inputs, outputs, name="unet_classic")


def mobilenet_v2_encoder(config: UNetConfig) -> keras.Model:
    """MobileNetV2 (width 1.0) without its top, with ImageNet weights if configured."""
    return headless_application(
        "MobileNetV2", (config.input_size, config.input_size, 3), config.encoder_weights, role="encoder"
    )


def build_mobilenet_v2(config: UNetConfig) -> keras.Model:
    inputs = keras.Input((config.input_size, config.input_size, 3), name="image")
    x = InputNormalization(config.mean, config.std, name="normalize")(inputs)
    backbone = mobilenet_v2_encoder(config)
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = config.train_encoder_bn
    taps = keras.Model(
        backbone.input,
        [backbone.get_layer(n).output for n in MOBILENET_SKIPS] + [backbone.get_layer("out_relu").output],
        name="encoder",
    )
    *skips, x = taps(x)
    skips = [None] + skips  # the full-resolution level has no skip
    for level, filters in zip(reversed(range(len(skips))), config.decoder_filters):
        separable = level > 0 or config.separable_full_resolution
        x = decoder_block(x, skips[level], filters, 2, f"up{level}", separable=separable)
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inputs, outputs, name="unet_mobilenet_v2")


def build_unet(config: UNetConfig) -> keras.Model:
    return build_classic(config) if config.architecture == "classic" else build_mobilenet_v2(config)


def separable_factors(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The depthwise and pointwise kernels closest (least squares, per input channel) to a full conv kernel.

    A separable convolution's kernel is ``depthwise[:, :, c] * pointwise[c, :]``: for each
    input channel an outer product of a spatial filter and a channel mix. The best one for
    a full kernel ``(kh, kw, cin, cout)`` is, per input channel, the first singular pair of
    its ``(kh * kw, cout)`` slice (Eckart-Young), each side scaled by the root of the
    singular value. Returns Keras' shapes: ``(kh, kw, cin, 1)`` and ``(1, 1, cin, cout)``.

    Example:
        >>> kernel = np.einsum("hwc,co->hwco", np.ones((3, 3, 2)), np.arange(8.0).reshape(2, 4))
        >>> depthwise, pointwise = separable_factors(kernel)
        >>> bool(np.allclose(depthwise[:, :, :, 0][..., None] * pointwise[0, 0], kernel))
        True
    """
    kh, kw, cin, cout = kernel.shape
    depthwise = np.zeros((kh, kw, cin, 1), kernel.dtype)
    pointwise = np.zeros((1, 1, cin, cout), kernel.dtype)
    for c in range(cin):
        u, s, vt = np.linalg.svd(kernel[:, :, c, :].reshape(kh * kw, cout), full_matrices=False)
        root = np.sqrt(s[0])
        depthwise[:, :, c, 0] = (u[:, 0] * root).reshape(kh, kw)
        pointwise[0, 0, c, :] = vt[0] * root
    return depthwise, pointwise


def transfer_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy a trained U-Net's weights into ``target``, layer by layer by name; returns the layers factorised.

    ``target`` is the same network with some full 3x3 convolutions made separable
    (``separable_full_resolution``): those start from :func:`separable_factors` of the
    trained kernels, so fine-tuning starts near the trained model rather than from noise.

    Raises:
        ValueError: a layer of ``target`` has no counterpart in ``source`` it can take weights from.
    """
    trained = {layer.name: layer for layer in nested_layers(source) if not isinstance(layer, keras.Model)}
    factorised = []
    for layer in nested_layers(target):
        if isinstance(layer, keras.Model) or not layer.weights:
            continue
        if layer.name not in trained:
            raise ValueError(f"the starting model has no layer {layer.name!r}")
        origin = trained[layer.name]
        weights = origin.get_weights()
        if [w.shape for w in weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(weights)
        elif isinstance(layer, layers.SeparableConv2D) and type(origin) is layers.Conv2D and not layer.use_bias:
            layer.set_weights(list(separable_factors(weights[0])))
            factorised.append(layer.name)
        else:
            raise ValueError(f"layer {layer.name!r} differs from the starting model's in a way no transfer bridges")
    return factorised
