"""U-Net models, loss, data formats, threshold search, and a train -> resume -> export ->
predict round trip on a tiny model (the trained model itself is tested in test_unet_trained.py)."""

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionseg.core.images import ImageLoadError
from fashionseg.core.metrics import dice
from fashionseg.models.unet.data import (
    GarmentBatches,
    examples_from_coco,
    examples_from_cutouts,
    focus_image,
    resize_up,
)
from fashionseg.models.unet.export import export_onnx, export_run
from fashionseg.models.unet.losses import bce_dice_loss, dice_coefficient
from fashionseg.models.unet.model import (
    IMAGENET_MEAN,
    InputNormalization,
    UNetConfig,
    build_unet,
    separable_factors,
)
from fashionseg.models.unet.predictor import GarmentSegmenter, ModelNotTrainedError
from fashionseg.models.unet.threshold import choose_threshold, dice_per_threshold
from fashionseg.models.unet.train import TrainSettings, load_initial_weights, train_unet

UNET_SOURCES = sorted((Path(__file__).resolve().parent.parent / "fashionseg" / "models" / "unet").glob("*.py"))


def test_models_use_keras_only():
    for path in UNET_SOURCES:
        text = path.read_text()
        assert "import tensorflow" not in text and "tf." not in text, path.name


def test_classic_architecture_follows_the_report():
    model = build_unet(UNetConfig(architecture="classic", input_size=64, base_filters=8, depth=3))
    assert model.output_shape == (None, 64, 64, 1)
    names = [layer.name for layer in model.layers]
    for level, filters in enumerate((8, 16, 32)):
        assert model.get_layer(f"down{level}_b_conv").filters == filters  # 2 convs per encoder block, doubling
        assert f"up{level}_2_conv" in names and f"up{level}_3_conv" not in names  # 3 convs per decoder block
    assert model.get_layer("center_b_conv").filters == 64
    assert model.get_layer("mask").activation.__name__ == "sigmoid"


@pytest.mark.data
@pytest.mark.slow
def test_mobilenet_unet_loads_the_shared_imagenet_encoder(tmp_path):
    from fashionseg import settings

    weights = settings.pretrained_weights_dir() / "mobilenet_v2_imagenet_notop.weights.h5"
    if not weights.is_file():
        pytest.skip(f"{weights} not found")
    random = build_unet(UNetConfig(input_size=96, encoder_weights=None))
    pretrained = build_unet(UNetConfig(input_size=96, encoder_weights=str(weights)))
    assert pretrained.output_shape == (None, 96, 96, 1)
    first = lambda m: m.get_layer("encoder").get_layer("Conv1").get_weights()[0]
    assert not np.allclose(first(random), first(pretrained))
    assert UNetConfig().mean == IMAGENET_MEAN  # torchvision normalisation for those weights
    bn = [layer for layer in pretrained.get_layer("encoder").layers if layer.__class__.__name__ == "BatchNormalization"]
    assert bn and not any(layer.trainable for layer in bn)  # TRAIN_BN False
    decoder_bn = [layer for layer in pretrained.layers if layer.name.endswith("_bn")]
    assert decoder_bn and all(layer.trainable for layer in decoder_bn)
    with pytest.raises(FileNotFoundError, match="encoder weights"):
        build_unet(UNetConfig(input_size=96, encoder_weights=str(tmp_path / "missing.h5")))


def test_config_validation_and_round_trip(tmp_path):
    config = UNetConfig(architecture="classic", input_size=256, threshold=0.67)
    config.save(tmp_path / "c.json")
    assert UNetConfig.load(tmp_path / "c.json") == config
    for bad in ({"input_size": 100}, {"input_size": 2048}, {"architecture": "resnet"}):
        with pytest.raises(ValueError):
            UNetConfig(**bad)
    layer = InputNormalization((1, 2, 3), (4, 5, 6))
    assert InputNormalization.from_config(layer.get_config()).mean == (1.0, 2.0, 3.0)


def test_input_normalization_is_per_channel_mean_and_std():
    # It runs as a 1x1 convolution (ONNX Runtime's speed); the values must stay (x - mean) / std.
    images = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    mean, std = IMAGENET_MEAN, (58.4, 57.1, 57.4)
    out = np.asarray(InputNormalization(mean, std)(images))
    np.testing.assert_allclose(out, (images - np.array(mean)) / np.array(std), rtol=1e-5, atol=1e-5)


def test_separable_factors_are_each_input_channels_best_rank_one_split():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 4, 5))
    depthwise, pointwise = separable_factors(kernel)
    assert depthwise.shape == (3, 3, 4, 1) and pointwise.shape == (1, 1, 4, 5)
    for c in range(4):
        product = np.outer(depthwise[:, :, c, 0].ravel(), pointwise[0, 0, c])
        u, s, vt = np.linalg.svd(kernel[:, :, c, :].reshape(9, 5))
        np.testing.assert_allclose(product, s[0] * np.outer(u[:, 0], vt[0]), atol=1e-10)


def test_separable_full_resolution_starts_from_a_full_model(tmp_path):
    full_config = UNetConfig(input_size=64, decoder_filters=(16, 8, 8, 8, 4))
    full = build_unet(full_config)
    rng = np.random.default_rng(1)
    for name in ("up0_0_conv", "up0_1_conv"):  # kernels a separable convolution represents exactly
        layer = full.get_layer(name)
        kh, kw, cin, cout = layer.kernel.shape
        layer.set_weights([np.einsum("hwc,co->hwco", rng.normal(size=(kh, kw, cin)), rng.normal(size=(cin, cout)))])
    full.save_weights(str(tmp_path / "model.weights.h5"))
    full_config.save(tmp_path / "config.json")

    config = UNetConfig(input_size=64, decoder_filters=(16, 8, 8, 8, 4), separable_full_resolution=True)
    separable = build_unet(config)
    assert type(separable.get_layer("up0_0_conv")).__name__ == "SeparableConv2D"
    assert separable.count_params() < full.count_params()
    assert load_initial_weights(separable, config, tmp_path / "model.weights.h5") == ["up0_0_conv", "up0_1_conv"]
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(separable.predict_on_batch(images), full.predict_on_batch(images), atol=1e-5)

    # the same network loads as it is; the other way round there is nothing to factorise
    again = build_unet(full_config)
    assert load_initial_weights(again, full_config, tmp_path / "model.weights.h5") == []
    separable.save_weights(str(tmp_path / "separable.weights.h5"))
    config.save(tmp_path / "config.json")
    with pytest.raises(ValueError, match="cannot start a model with full convolutions"):
        load_initial_weights(again, full_config, tmp_path / "separable.weights.h5")


def test_loss_is_the_reports():
    y = np.zeros((1, 4, 4, 1), "float32")
    y[0, :2] = 1
    assert float(dice_coefficient(y, y)) == pytest.approx(1.0)
    half = np.full_like(y, 0.5)
    assert float(dice_coefficient(y, half)) == pytest.approx((2 * 4 + 1) / (8 + 8 + 1))
    bce = -np.mean(np.log(0.5))
    assert float(bce_dice_loss(y, half)) == pytest.approx(0.5 * bce - 2 * (9 / 17), rel=1e-4)
    assert float(bce_dice_loss(y, np.clip(y, 1e-6, 1 - 1e-6))) == pytest.approx(-2.0, abs=1e-3)


def test_threshold_search_matches_brute_force():
    rng = np.random.default_rng(0)
    truth = rng.random((40, 30)) > 0.5
    probability = np.clip(np.where(truth, 0.7, 0.3) + rng.normal(0, 0.2, truth.shape), 0, 1)
    probability = (np.floor(probability * 1000) + 0.5) / 1000  # keep pixels off bin edges
    grid = np.array([0.2, 0.4, 0.5, 0.6, 0.8])
    np.testing.assert_allclose(
        dice_per_threshold(probability, truth, grid), [dice(truth, probability >= t) for t in grid]
    )
    best, at_best, curve = choose_threshold([probability], [truth])
    assert 0.4 <= best <= 0.6 and at_best == pytest.approx(curve.max())


def test_resize_up_and_focus():
    square = np.zeros((8, 8), np.float32)
    square[:, 4:] = 1.0
    up = resize_up(square, 30, 20)
    assert up.shape == (30, 20) and up.min() >= 0 and up.max() <= 1
    image = np.full((50, 50, 3), 200, np.uint8)
    mask = np.zeros((50, 50), bool)
    mask[20:30, 20:30] = True
    focused = focus_image(image, mask, dilation=5)
    assert (focused[15:35, 20:30] == 200).all() and (focused[20:30, 15:35] == 200).all()  # 5 px around the box
    assert focused[15, 15].sum() == 0 and focused[5, 5].sum() == 0 and focused[25, 36].sum() == 0  # round dilation


def test_mirror_average_runs_the_mirror_image_and_maps_it_back():
    calls = []

    def run(batch):  # answers the red channel, with a bias towards the left half of what it is shown
        calls.append(batch.copy())
        bias = np.zeros((32, 32), np.float32)
        bias[:, :16] = 0.3
        return np.clip(batch[0, :, :, 0] / 255 * 0.8 + bias, 0, 1)

    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 20:28, 0] = 255  # a garment on the right
    config = UNetConfig(architecture="classic", input_size=32, depth=2, guided_filter_radius=0)
    plain = GarmentSegmenter(run, config, None, "scripted").probability(image)
    assert len(calls) == 1 and np.allclose(plain[:, :16], 0.3) and np.allclose(plain[:, 20:28], 0.8)
    calls.clear()
    both = GarmentSegmenter(run, replace(config, mirror_average=True), None, "scripted").probability(image)
    assert len(calls) == 2 and np.array_equal(calls[1], calls[0][:, :, ::-1])
    # the mirror pass saw the garment on its biased left (1.0) and the bias lands on the photo's right
    expected = np.full((32, 32), 0.15, np.float32)
    expected[:, 20:28] = 0.9
    assert np.allclose(both, expected, atol=1e-6)
    assert UNetConfig.from_dict({**config.to_dict(), "mirror_average": True}).mirror_average is True
    written_before = {k: v for k, v in config.to_dict().items() if k != "mirror_average"}
    assert UNetConfig.from_dict(written_before).mirror_average is False  # configs saved before it: one call
    with pytest.raises(ValueError, match="mirror_average"):
        UNetConfig(mirror_average="false")


def make_cutout_folder(root: Path, count: int, size=(48, 40)) -> tuple[Path, Path]:
    """Photos with a bright box on a dark background and RGBA cutouts of the box."""
    photos, cutouts = root / "photos", root / "cutouts"
    photos.mkdir(parents=True)
    cutouts.mkdir()
    rng = np.random.default_rng(1)
    for i in range(count):
        h, w = size
        image = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        y0, x0 = rng.integers(2, h // 2), rng.integers(2, w // 2)
        image[y0 : y0 + h // 3, x0 : x0 + w // 3] = rng.integers(180, 255, 3)
        alpha = np.zeros((h, w), np.uint8)
        alpha[y0 : y0 + h // 3, x0 : x0 + w // 3] = 255
        name = f"item{i:02d}"
        Image.fromarray(image).save(photos / f"{name}.jpg", quality=95)
        Image.fromarray(np.dstack([image, alpha]), "RGBA").save(cutouts / f"{name}.png")
    return photos, cutouts


def test_cutout_folders_give_alpha_masks(tmp_path):
    photos, cutouts = make_cutout_folder(tmp_path, 3)
    examples = examples_from_cutouts(photos, cutouts)
    assert [e.image_path.name for e in examples] == ["item00.jpg", "item01.jpg", "item02.jpg"]
    alpha = np.asarray(Image.open(cutouts / "item00.png"))[:, :, 3]
    np.testing.assert_array_equal(examples[0].mask(), alpha >= 128)
    Image.new("RGB", (40, 48)).save(cutouts / "item01.png")  # no alpha
    with pytest.raises(ImageLoadError, match="alpha channel"):
        examples_from_cutouts(photos, cutouts)[1].mask()
    with pytest.raises(FileNotFoundError, match="no cutout"):
        examples_from_cutouts(photos, tmp_path)


def test_garment_examples_from_converted_ccp(ccp_subset, ccp_root):
    val = examples_from_coco(ccp_subset / "garment.json", ccp_root / "photos", split="val")
    train = examples_from_coco(ccp_subset / "garment.json", ccp_root / "photos", split="train")
    everything = json.loads((ccp_subset / "garment.json").read_text())["images"]
    assert len(val) + len(train) == len(everything) and val and train
    mask = val[0].mask()
    assert mask.dtype == bool and 0.05 < mask.mean() < 0.9


def test_batches_flip_images_and_masks_together():
    images = np.zeros((4, 16, 16, 3), np.uint8)
    images[:, :, :4] = 255
    masks = (images[..., 0] > 0).astype(np.uint8)
    batches = GarmentBatches(images, masks, batch_size=4, shuffle=False, augment=True, seed=3)
    for _ in range(5):
        x, y = batches[0]
        assert x.shape == (4, 16, 16, 3) and y.shape == (4, 16, 16, 1)
        for i in range(4):
            assert ((x[i, :, :, 0] > 128) == (y[i, :, :, 0] > 0)).all()


@pytest.mark.slow
def test_train_resume_export_predict_double_pass(tmp_path):
    photos, cutouts = make_cutout_folder(tmp_path, 8)
    examples = examples_from_cutouts(photos, cutouts)
    train, val = examples[:6], examples[6:]
    config = UNetConfig(architecture="classic", input_size=32, base_filters=4, depth=2, mean=(128,) * 3, std=(64,) * 3)
    settings = TrainSettings(epochs=2, batch_size=3, patience=10)
    run = tmp_path / "run"
    state = train_unet(config, settings, train, val, run, progress=False)
    assert state["epoch"] == 2 and state["finished"] and 0.05 <= state["threshold"] <= 0.95
    for name in ("run.json", "state.json", "last.keras", "best.weights.h5", "log.csv", "cache_val.npz"):
        assert (run / name).is_file(), name
    # training photos are re-framed per batch (no cache); validation adds re-framed copies of its photos
    assert not (run / "cache_train.npz").exists()
    assert len(np.load(run / "cache_val.npz")["images"]) == len(val) * (1 + len(settings.validation_variants))

    # Resume: a later call with more epochs continues from epoch 2, not from scratch.
    state = train_unet(config, TrainSettings(epochs=3, batch_size=3, patience=10), train, val, run, progress=False)
    with open(run / "log.csv") as log:
        rows = list(csv.DictReader(log))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and state["epoch"] == 3
    assert all(float(r["val_dice"]) > 0 for r in rows)
    with pytest.raises(ValueError, match="different model config"):
        train_unet(
            UNetConfig(architecture="classic", input_size=64, base_filters=4, depth=2),
            settings,
            train,
            val,
            run,
            progress=False,
        )

    weights = tmp_path / "weights" / "unet_tiny"
    export_run(run, weights)
    segmenter = GarmentSegmenter.load(weights)
    assert segmenter.config.threshold == state["threshold"] and segmenter.second_pass is None
    result = segmenter.predict(photos / "item07.jpg")
    assert result.probability.shape == (48, 40) and result.cutout.shape == (48, 40, 4)
    np.testing.assert_array_equal(result.cutout[:, :, 3], result.mask * 255)
    assert set(result.timings) == {"decode", "preprocess", "model", "postprocess"}
    with pytest.raises(ModelNotTrainedError, match="second-pass"):
        segmenter.predict(photos / "item07.jpg", double_pass=True)

    second = UNetConfig(
        architecture="classic",
        input_size=32,
        base_filters=4,
        depth=2,
        mean=(128,) * 3,
        std=(64,) * 3,
        double_pass_dilation=3,
    )
    train_unet(
        second,
        settings,
        train,
        val,
        tmp_path / "run2",
        first_pass=segmenter,
        progress=False,
        init_weights=weights / "model.weights.h5",
    )
    export_run(tmp_path / "run2", weights, second_pass=True)
    both = GarmentSegmenter.load(weights)
    assert both.second_pass is not None and both.second_pass.config.double_pass_dilation == 3
    double = both.predict(photos / "item07.jpg", double_pass=True)
    assert "second pass" in double.timings and double.mask.shape == (48, 40)

    # ONNX: both passes exported, then the default runtime, with the same output; a re-export of the
    # weights drops the stale ONNX file.
    assert [p.parent.name for p in export_onnx(weights)] == ["unet_tiny", "second_pass"]
    onnx = GarmentSegmenter.load(weights)
    assert (onnx.runtime_name, onnx.second_pass.runtime_name) == ("onnx", "onnx")
    again = onnx.predict(photos / "item07.jpg", double_pass=True)
    np.testing.assert_allclose(again.probability, double.probability, atol=1e-4)
    export_run(run, weights)
    assert not (weights / "model.onnx").exists() and GarmentSegmenter.load(weights).runtime_name == "keras"

    with pytest.raises(ModelNotTrainedError, match="no trained U-Net"):
        GarmentSegmenter.load(tmp_path / "nothing")


@pytest.mark.slow
def test_decoder_batchnorm_statistics_track_the_activations():
    # Regression: with Keras' default BN momentum (0.99) the decoder's moving variance kept
    # 0.99^n of its initial 1.0 while the true variances were 1e-2 to 1e-4, so inference-mode
    # output was wrong for many epochs (validation Dice sat at 0.25 on CCP).
    import keras

    keras.utils.set_random_seed(0)
    model = build_unet(UNetConfig(input_size=64, encoder_weights=None))
    model.compile(optimizer=keras.optimizers.RMSprop(3e-4), loss=bce_dice_loss)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (8, 64, 64, 3)).astype("float32")
    y = (x[..., :1] > 127).astype("float32")
    model.fit(x, y, batch_size=8, epochs=60, verbose=0)
    decoder_bn = [layer for layer in model.layers if layer.name.startswith("up") and layer.name.endswith("_bn")]
    inputs = keras.Model(model.input, [layer.input for layer in decoder_bn])(x, training=True)
    for layer, activation in zip(decoder_bn, inputs):
        batch_var = float(np.asarray(activation).var(axis=(0, 1, 2)).mean())
        moving_var = float(np.asarray(layer.moving_variance).mean())
        assert moving_var < 3 * batch_var + 1e-2, (layer.name, moving_var, batch_var)


def test_framed_batches_follow_their_framing_settings():
    from fashionseg.models.augment import FramingSettings
    from fashionseg.models.unet.data import FramedGarmentBatches

    image = np.full((96, 64, 3), 128, np.uint8)
    mask = np.zeros((96, 64), bool)
    mask[8:88, 8:56] = True  # the garment fills 62.5 % of the photo
    still = dict(copy_paste_probability=0.0, rotate_probability=0.0)
    kept = FramedGarmentBatches(
        [(image, mask)] * 4, 32, 4, settings=FramingSettings(framing_weights=(1, 0, 0, 0), **still)
    )
    zoomed = FramedGarmentBatches(
        [(image, mask)] * 4,
        32,
        4,
        settings=FramingSettings(framing_weights=(0, 0, 1, 0), person_scale=(0.3, 0.3), **still),
    )
    assert abs(kept[0][1].mean() - mask.mean()) < 0.03  # framing kept: only the flip, which keeps the share
    assert zoomed[0][1].mean() < mask.mean() / 4  # at 0.3 of the frame's height the person is a small part
