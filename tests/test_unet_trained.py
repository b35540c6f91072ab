"""The trained default U-Net in weights/: real photos, real masks, the CLI contracts."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from fashionseg import settings
from fashionseg.core.metrics import dice
from fashionseg.exceptions import ModelNotTrainedError
from fashionseg.models.unet.data import examples_from_coco
from fashionseg.models.unet.predictor import GarmentSegmenter

pytestmark = pytest.mark.slow  # the trained U-Net on real photos

WEIGHTS = settings.default_weights("unet")


@pytest.fixture(scope="module")
def segmenter():
    assert WEIGHTS is not None and (WEIGHTS / "config.json").is_file(), "the default U-Net is missing from weights/"
    return GarmentSegmenter.load(WEIGHTS)


def test_weights_are_small_and_documented(segmenter):
    models = list(WEIGHTS.rglob("model.weights.h5")) + list(WEIGHTS.rglob("model.onnx"))
    # Keras weights and ONNX, and the same for a second-pass model where there is one
    assert len(models) == (4 if segmenter.second_pass is not None else 2)
    assert all(p.stat().st_size < 40 * 2**20 for p in models)  # the report's budget, per model
    assert (WEIGHTS / "MODEL_CARD.md").is_file() and (WEIGHTS / "training_log.csv").is_file()
    assert 0.05 <= segmenter.config.threshold <= 0.95


def test_cutouts_of_validation_photos_match_ccp_masks(segmenter, ccp_subset, ccp_root):
    examples = examples_from_coco(ccp_subset / "garment.json", ccp_root / "photos", split="val")[:4]
    scores = []
    for ex in examples:
        result = segmenter.predict(ex.image_path)
        assert result.mask.shape == ex.mask().shape and result.cutout.shape[2] == 4
        scores.append(dice(ex.mask(), result.mask))
    assert np.mean(scores) > 0.8, scores


def test_bad_photos_get_clear_errors(segmenter):
    from fashionseg.core.images import ImageLoadError

    with pytest.raises(ImageLoadError, match="not an image"):
        segmenter.predict(b"this is not a photo")
    gray = np.full((300, 200), 128, np.uint8)
    assert segmenter.predict(gray[:, :, None].repeat(3, axis=2)).mask.shape == (300, 200)


def test_evaluate_cli_writes_metrics_and_a_registry_record(segmenter, tmp_path, ccp_subset, ccp_root, run_cli):
    env = {**os.environ, "FASHIONSEG_EXPERIMENTS": str(tmp_path / "registry")}
    out = tmp_path / "metrics.json"
    r = run_cli(
        "evaluate",
        "unet",
        "--weights",
        str(WEIGHTS),
        "--test",
        str(ccp_subset / "garment.json"),
        "--images",
        str(ccp_root / "photos"),
        "--out",
        str(out),
        "--quiet",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    metrics = json.loads(out.read_text())
    for key in ("dice_mean", "dice_median", "dice_mean_outlier_corrected", "outliers_removed", "inference_seconds"):
        assert key in metrics
    assert metrics["images"] == len(json.loads((ccp_subset / "garment.json").read_text())["images"])
    dices = [p["dice"] for p in metrics["per_image"]]
    assert metrics["dice_median"] == pytest.approx(np.median(dices), abs=1e-5)
    assert metrics["dice_mean"] == pytest.approx(np.mean(dices), abs=1e-5)
    # The command scores what the model gives in this process (same photo, same default settings) ...
    first = examples_from_coco(ccp_subset / "garment.json", ccp_root / "photos")[0]
    assert metrics["per_image"][0]["file"] == first.image_path.name
    assert dices[0] == pytest.approx(dice(first.mask(), segmenter.predict(first.image_path).mask), abs=1e-4)
    # ... and the shipped model is as good as its card says (Dice 0.95 on full validation photos).
    assert metrics["dice_median"] > 0.9, dices
    (record,) = (tmp_path / "registry").glob("*.json")
    saved = json.loads(record.read_text())
    assert saved["kind"] == "unet" and saved["metrics"]["dice_mean"] == metrics["dice_mean"]
    assert saved["loss_log"].endswith("training_log.csv")


def test_predict_and_bench_cli(tmp_path, ccp_root, run_cli):
    photo = sorted((ccp_root / "photos").glob("*.jpg"))[0]
    r = run_cli("predict", "unet", str(photo), "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    cutout = Image.open(tmp_path / f"{photo.stem}_cutout.png")
    assert cutout.mode == "RGBA" and cutout.size == Image.open(photo).size
    r = run_cli("bench", "unet", str(photo), "--repeat", "2", "--warmup", "1")
    assert r.returncode == 0 and "median" in r.stdout and "peak memory" in r.stdout
    r = run_cli("predict", "unet", str(tmp_path / "missing.jpg"), "--out", str(tmp_path))
    assert r.returncode == 2 and "no such file" in r.stderr


# the model before #10 ships the report's double-pass (second_pass/) model
DOUBLE_PASS_WEIGHTS = settings.weights_dir() / "unet_mobilenet_v2_320"


@pytest.mark.parametrize("folder", [WEIGHTS, DOUBLE_PASS_WEIGHTS], ids=["default", "double-pass"])
def test_onnx_export_is_the_default_and_agrees_with_keras(folder, ccp_root, tmp_path):
    segmenter = GarmentSegmenter.load(folder)
    assert segmenter.runtime_name == "onnx"
    keras_model = GarmentSegmenter.load(folder, runtime="keras")
    photos = sorted((ccp_root / "photos").glob("*.jpg"))[:3]
    small = tmp_path / "small.png"  # a person at a third of a wide frame: the focus pass runs
    Image.fromarray(
        np.pad(np.asarray(Image.open(photos[0]).convert("RGB").reduce(3)), ((275, 275), (700, 700), (0, 0)))
    ).save(small)
    for photo in photos + [small]:
        for double_pass in (False, True) if segmenter.second_pass is not None else (False,):
            a, b = (
                keras_model.predict(photo, double_pass=double_pass),
                segmenter.predict(photo, double_pass=double_pass),
            )
            assert np.abs(a.probability - b.probability).max() < 1e-3
            assert (a.mask != b.mask).mean() < 1e-4
    # Without an export the Keras model is used; asking for ONNX then says how to make one.
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.weights.h5"):
        (bare / name).write_bytes((WEIGHTS / name).read_bytes())
    assert GarmentSegmenter.load(bare).runtime_name == "keras"
    with pytest.raises(ModelNotTrainedError, match="fashionseg export unet"):
        GarmentSegmenter.load(bare, runtime="onnx")
