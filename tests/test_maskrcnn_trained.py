"""The trained default Mask R-CNN in weights/: real photos, real masks, the CLI contracts."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from fashionseg import settings
from fashionseg.core import metrics
from fashionseg.core.images import ImageLoadError
from fashionseg.core.masks import decode_rle
from fashionseg.core.metrics import Instances, average_precision_50
from fashionseg.models.maskrcnn.data import examples_from_coco
from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

pytestmark = pytest.mark.slow  # the trained Mask R-CNN on real photos

WEIGHTS = settings.default_weights("maskrcnn")


@pytest.fixture(scope="module")
def segmenter():
    assert WEIGHTS is not None and (WEIGHTS / "config.json").is_file(), (
        "the default Mask R-CNN is missing from weights/"
    )
    return InstanceSegmenter.load(WEIGHTS)


def test_weights_are_small_named_and_documented():
    assert "maskrcnn" in WEIGHTS.name
    files = [p for p in WEIGHTS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 60 * 2**20
    for name in ("MODEL_CARD.md", "training_log.csv", "training.json", "config.json", "model.weights.h5"):
        assert (WEIGHTS / name).is_file(), name


def test_validation_photos_are_segmented(segmenter, ccp_subset, ccp_root):
    examples = examples_from_coco(ccp_subset / "instances.json", ccp_root / "photos", split="val")
    assert examples
    aps = []
    for ex in examples:
        result = segmenter.predict(ex.image_path)
        truth = Instances(np.stack([decode_rle(r) for r in ex.rles]), np.array(ex.class_ids) - 1)
        assert all(i.mask.shape == truth.masks.shape[1:] for i in result.instances)
        assert sum(i.class_name == "shoe" for i in result.instances) <= 2  # the thesis' per-class cap
        pred = Instances(
            np.stack([i.mask for i in result.instances])
            if result.instances
            else np.zeros((0,) + truth.masks.shape[1:], bool),
            np.array([i.class_id for i in result.instances]),
            np.array([i.score for i in result.instances]),
        )
        aps.append(average_precision_50(truth, pred))
    assert np.mean(aps) > 0.3, aps


def test_both_runtimes_agree(segmenter, ccp_root):
    if not (WEIGHTS / "model.onnx").is_file():
        pytest.skip("no ONNX export")
    keras_runtime = InstanceSegmenter.load(WEIGHTS, runtime="keras")
    photo = sorted((ccp_root / "photos").glob("*.jpg"))[3]
    a, b = keras_runtime.predict(photo), segmenter.predict(photo)
    assert [i.class_id for i in a.instances] == [i.class_id for i in b.instances]
    assert all(abs(x.score - y.score) < 1e-3 for x, y in zip(a.instances, b.instances))


def test_bad_photos_get_clear_errors_or_results(segmenter, tmp_path):
    with pytest.raises(ImageLoadError, match="not an image"):
        segmenter.predict(b"this is not a photo")
    huge = tmp_path / "huge.png"
    Image.new("L", (10_000, 8_000)).save(huge)
    with pytest.raises(ImageLoadError, match="megapixels"):
        segmenter.predict(huge)
    gray = np.full((300, 200, 3), 128, np.uint8)
    assert segmenter.predict(gray).height == 300
    alpha = tmp_path / "alpha.png"
    Image.fromarray(np.zeros((120, 90, 4), np.uint8), "RGBA").save(alpha)
    assert segmenter.predict(alpha).width == 90


def test_evaluate_cli_contract(tmp_path, ccp_subset, ccp_root, run_cli):
    env = {**os.environ, "FASHIONSEG_EXPERIMENTS": str(tmp_path / "registry")}
    out = tmp_path / "metrics.json"
    r = run_cli(
        "evaluate",
        "maskrcnn",
        "--weights",
        str(WEIGHTS),
        "--test",
        str(ccp_subset / "instances.json"),
        "--client",
        str(ccp_subset / "client.json"),
        "--images",
        str(ccp_root / "photos"),
        "--out",
        str(out),
        "--quiet",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    m = json.loads(out.read_text())
    # The image-level scores follow from the per-photo class sets the file keeps ...
    per_image = m["per_image"]
    assert len(per_image) == m["test"]["images"]
    emr = np.mean([p["true_classes"] == p["predicted_classes"] for p in per_image])
    assert m["test"]["exact_match_ratio"] == pytest.approx(emr)
    assert m["test"]["map50"] == pytest.approx(np.mean([p["ap50"] for p in per_image]), abs=1e-4)
    assert m["classification_score_test"] == pytest.approx(
        metrics.classification_score(
            m["test"]["exact_match_ratio"], m["test"]["overall_accuracy"], m["test"]["jaccard"]
        )
    )
    # ... the trade-off scores from the thesis' formulas (eq. 9-12) ...
    assert m["segmentation_score"] == pytest.approx(metrics.segmentation_score(m["test"]["map50"], m["test"]["f1"]))
    assert m["speed_score"] == pytest.approx(metrics.speed_score(m["test"]["inference_seconds"]))
    assert m["to"] == pytest.approx(
        metrics.trade_off(m["classification_score_test"], m["segmentation_score"], m["speed_score"])
    )
    assert m["tto"] == pytest.approx(metrics.total_trade_off(m["classification_score_client"], m["to"]))
    # ... the detections file holds every prediction scored ...
    detections = json.loads(out.with_name(out.stem + ".detections.json").read_text())
    assert len(detections["annotations"]) == sum(len(p["predictions"]) for p in per_image)
    # ... and the shipped model is about as good as its card says (mAP@50 0.61 on all 151 validation photos).
    assert m["test"]["map50"] > 0.4 and m["test"]["overall_accuracy"] > 0.8, m["test"]
    assert set(m["per_class"]["shoe"]) >= {
        "accuracy",
        "coco_ap",
        "coco_ap50",
        "true_images",
        "predicted_images",
        "client_accuracy",
    }
    assert m["test"]["images"] == len(json.loads((ccp_subset / "instances.json").read_text())["images"])
    (record,) = (tmp_path / "registry").glob("*.json")
    saved = json.loads(record.read_text())
    assert (
        saved["kind"] == "maskrcnn"
        and saved["metrics"]["tto"] == m["tto"]
        and saved["loss_log"].endswith("training_log.csv")
    )
    assert saved["per_class"]["pants"]["accuracy"] == m["per_class"]["pants"]["accuracy"]


def test_predict_and_bench_cli(tmp_path, ccp_root, run_cli):
    photo = sorted((ccp_root / "photos").glob("*.jpg"))[0]
    r = run_cli(
        "predict",
        "maskrcnn",
        str(photo),
        "--out",
        str(tmp_path),
        "--min-confidence",
        "0.5",
        "--max-per-class",
        "shoe=1",
    )
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / f"{photo.stem}_overlay.png").size == Image.open(photo).size
    coco = json.loads((tmp_path / f"{photo.stem}.json").read_text())
    assert sum(a["category_id"] == 8 for a in coco["annotations"]) <= 1 and all(
        a["score"] >= 0.5 for a in coco["annotations"]
    )
    r = run_cli("bench", "maskrcnn", str(photo), "--repeat", "2", "--warmup", "1")
    assert r.returncode == 0 and "median" in r.stdout and "peak memory" in r.stdout, r.stdout + r.stderr
    r = run_cli("predict", "maskrcnn", str(tmp_path / "missing.jpg"), "--out", str(tmp_path))
    assert r.returncode == 2 and "no such file" in r.stderr
