"""The Mask R-CNN's parts and the whole model on tiny inputs: targets, NMS, losses, training,
resume, export, inference, post-processing, evaluation, and the same on JAX."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionseg.core.masks import encode_rle
from fashionseg.models.maskrcnn.anchors import pyramid_anchors
from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.nms import fast_nms_keep
from fashionseg.models.maskrcnn.postprocess import paste_mask, select_detections
from fashionseg.models.maskrcnn.targets import DetectionTargetLayer, numpy_iou, rpn_targets

MASKRCNN_SOURCES = sorted((Path(__file__).resolve().parent.parent / "fashionseg" / "models" / "maskrcnn").glob("*.py"))
# Everything but the graph-building parts may use TensorFlow; the model must not.
MODEL_SOURCES = [p for p in MASKRCNN_SOURCES if p.name not in ("export.py",)]


def tiny_config(**changes) -> MaskRCNNConfig:
    values = dict(
        IMAGE_MIN_DIM=128,
        IMAGE_MAX_DIM=128,
        PRE_NMS_LIMIT=200,
        POST_NMS_ROIS_TRAINING=64,
        POST_NMS_ROIS_INFERENCE=32,
        TRAIN_ROIS_PER_IMAGE=16,
        MAX_GT_INSTANCES=6,
        TOP_DOWN_PYRAMID_SIZE=16,
        FPN_CLASSIF_FC_LAYERS_SIZE=32,
        MASK_HEAD_CONV_LAYERS=1,
        IMAGES_PER_GPU=2,
    )
    values.update(changes)
    return MaskRCNNConfig(**values)


def test_models_use_keras_ops_only():
    for path in MODEL_SOURCES:
        text = path.read_text()
        assert "import tensorflow" not in text and "tf." not in text, path.name


def greedy_nms(boxes, scores, threshold):
    order = np.argsort(-scores)
    keep = []
    for i in order:
        if all(numpy_iou(boxes[[i]], boxes[[j]])[0, 0] <= threshold for j in keep):
            keep.append(i)
    return set(keep)


def test_fast_nms_keeps_a_subset_of_greedy_nms_and_all_isolated_boxes():
    rng = np.random.default_rng(1)
    yx = rng.uniform(0, 100, (60, 2))
    boxes = np.concatenate([yx, yx + rng.uniform(10, 40, (60, 2))], 1).astype("float32")
    scores = np.sort(rng.uniform(size=60))[::-1].astype("float32")
    keep = np.asarray(fast_nms_keep(boxes[None], scores[None], 0.5))[0]
    greedy = greedy_nms(boxes, scores, 0.5)
    assert set(np.flatnonzero(keep)) <= greedy
    isolated = [i for i in range(60) if (numpy_iou(boxes[[i]], boxes)[0] > 0.5).sum() == 1]
    assert all(keep[i] for i in isolated) and keep[0]


def test_rpn_targets_sample_positives_near_the_boxes():
    config = tiny_config()
    anchors = pyramid_anchors(config)
    gt = np.array([[10, 20, 60, 50], [70, 70, 120, 110]], "float32")
    match, deltas = rpn_targets(anchors, gt, config, np.random.default_rng(0))
    positives, negatives = np.flatnonzero(match == 1), np.flatnonzero(match == -1)
    assert 0 < len(positives) <= config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    assert len(positives) + len(negatives) == config.RPN_TRAIN_ANCHORS_PER_IMAGE
    iou = numpy_iou(anchors, gt)
    assert (iou[negatives].max(axis=1) < 0.3).all()
    assert set(iou.argmax(axis=0)) <= set(positives)  # every box has its best anchor
    from fashionseg.models.maskrcnn.boxes import decode_deltas

    decoded = np.asarray(decode_deltas(anchors[positives], deltas[positives], config.RPN_BBOX_STD_DEV))
    assert np.allclose(decoded, gt[iou[positives].argmax(axis=1)], atol=1e-3)


def test_detection_targets_sample_positives_first_with_their_masks():
    config = tiny_config(TRAIN_ROIS_PER_IMAGE=12, ROI_POSITIVE_RATIO=0.25, MINI_MASK_SHAPE=(8, 8), MASK_SHAPE=(4, 4))
    gt_boxes = np.zeros((1, 6, 4), "float32")
    gt_boxes[0, 0] = [0, 0, 64, 64]
    gt_ids = np.zeros((1, 6), "int32")
    gt_ids[0, 0] = 3
    masks = np.zeros((1, 6, 8, 8), "float32")
    masks[0, 0, :, :4] = 1  # the left half of the box
    proposals = np.array([[[0, 0, 64, 64], [0, 0, 64, 128], [64, 64, 128, 128]]], "float32")
    layer = DetectionTargetLayer(
        config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO, config.BBOX_STD_DEV, config.MASK_SHAPE[0], seed=0
    )
    rois, class_ids, deltas, valid, mask_targets = (
        np.asarray(x) for x in layer(proposals, np.ones((1, 3), bool), gt_ids, gt_boxes, masks)
    )
    positives = 3  # round(12 * 0.25)
    assert mask_targets.shape == (1, positives, 4, 4)
    pos = [k for k in range(positives) if valid[0, k]]
    assert len(pos) == 3  # the proposal equal to the box, the box itself (IoU 1) and the wide one (IoU 0.5)
    for k in pos:
        assert class_ids[0, k] == 3 and np.allclose(rois[0, k, :2], 0)
    # Masks follow the box: the left half, and for the double-width RoI the left quarter, zeros beyond the box.
    for k in pos:
        width = rois[0, k, 3]
        expected = np.zeros((4, 4))
        expected[:, : round(4 * 32 / width)] = 1
        np.testing.assert_array_equal(mask_targets[0, k], expected)
    negatives = valid[0, positives:].sum()
    assert 1 <= negatives <= np.ceil(len(pos) * 3)  # ratio 0.25: at most 3 negatives per positive
    assert (class_ids[0, positives:] == 0).all() and np.allclose(deltas[0, positives:], 0)


def test_select_and_paste():
    keep = select_detections(np.array([1, 9, 9, 9, 0]), np.array([0.5, 0.99, 0.98, 0.97, 0.99]), 0.6, 10, {9: 2})
    assert keep.tolist() == [1, 2]
    mask = paste_mask(np.ones((28, 28), "float32"), np.array([10.0, 20.0, 30.0, 60.0]), 100, 50)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (20, 59, 10, 29) and mask.sum() == 40 * 20
    left = np.zeros((28, 28), "float32")
    left[:, :14] = 1
    half = paste_mask(left, np.array([0.0, 0.0, 40.0, 40.0]), 40, 40)
    assert half[:, :20].all() and not half[:, 20:].any()


def test_paste_with_a_guide_moves_the_masks_edge_onto_the_photos():
    photo = np.full((60, 60), 40, np.uint8)
    photo[:, 30:] = 200  # the garment's edge: column 30
    soft = np.tile(np.clip((np.arange(28, dtype=np.float32) - 10) / 12, 0, 1), (28, 1))  # 0.5 at column 34
    box = np.array([10.0, 10.0, 50.0, 50.0])
    plain = paste_mask(soft, box, 60, 60)
    assert np.flatnonzero(plain[30])[0] == 34
    np.testing.assert_array_equal(paste_mask(soft, box, 60, 60, photo, radius=0), plain)  # 0: off
    np.testing.assert_array_equal(paste_mask(soft, box, 60, 60, None, radius=4), plain)  # no photo: off
    assert np.flatnonzero(paste_mask(soft, box, 60, 60, photo, radius=4)[30])[0] == 32
    assert np.flatnonzero(paste_mask(soft, box, 60, 60, photo, radius=2, scale=2)[30])[0] < 34
    # a box's mask on a flat photo stays in its box (the filter reaches past it; only the corners round off)
    full = paste_mask(np.ones((28, 28), "float32"), box, 60, 60, np.full((60, 60), 100, np.uint8), radius=3)
    assert not full[:10].any() and not full[50:].any() and not full[:, :10].any() and not full[:, 50:].any()
    assert full[10:50, 10:50].sum() >= 0.97 * 40 * 40 and full[20:40, 20:40].all()


def write_synthetic_set(folder: Path, count: int = 4) -> tuple[Path, Path]:
    """Photos of rectangles (pants) and small squares (shoes) with their COCO instances."""
    photos = folder / "photos"
    photos.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(count):
        image = np.full((160, 120, 3), 200, np.uint8)
        pants = np.zeros((160, 120), bool)
        y, x = rng.integers(20, 50), rng.integers(10, 40)
        pants[y : y + 80, x : x + 50] = True
        shoe = np.zeros((160, 120), bool)
        shoe[130:145, 20:40] = True
        image[pants] = (40, 40, 160)
        image[shoe] = (20, 20, 20)
        name = f"{i:04d}.jpg"
        Image.fromarray(image).save(photos / name)
        images.append(
            {"id": i + 1, "file_name": name, "height": 160, "width": 120, "split": "val" if i == 0 else "train"}
        )
        for cid, m in ((4, pants), (8, shoe)):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": cid,
                    "segmentation": encode_rle(m),
                    "area": int(m.sum()),
                    "bbox": [0, 0, 1, 1],
                    "iscrowd": 0,
                }
            )
    from fashionseg.core.vocabulary import FASHIONSEG11

    path = folder / "instances.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": FASHIONSEG11.coco_categories()})
    )
    return path, photos


@pytest.mark.slow
def test_train_resume_export_predict_and_evaluate(tmp_path, cli_logger):
    from fashionseg.models.maskrcnn.data import examples_from_coco
    from fashionseg.models.maskrcnn.evaluate import evaluate_maskrcnn, load_coco
    from fashionseg.models.maskrcnn.export import export_run
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
    from fashionseg.models.maskrcnn.train import TrainSettings, train_maskrcnn

    instances, photos = write_synthetic_set(tmp_path)
    config = tiny_config()
    train, val = examples_from_coco(instances, photos, "train"), examples_from_coco(instances, photos, "val")
    assert len(train) == 3 and len(val) == 1 and val[0].class_ids == (5, 9)
    run = tmp_path / "run"
    state = train_maskrcnn(
        config, TrainSettings(heads_epochs=1, all_epochs=1, steps_per_epoch=1), train, val, run, progress=False
    )
    assert state["epoch"] == 2 and (run / "last_optimizer.npz").is_file()
    # resumed with repeat-factor sampling on (the synthetic set's rarer class comes round more often)
    resumed = TrainSettings(heads_epochs=1, all_epochs=2, steps_per_epoch=1, repeat_threshold=0.9)
    state = train_maskrcnn(config, resumed, train, val, run, progress=False)
    assert json.loads((run / "run.json").read_text())["settings"]["repeat_threshold"] == 0.9
    rows = (run / "log.csv").read_text().splitlines()
    assert (
        state["epoch"] == 3 and len(rows) == 4 and rows[1].split(",")[1] == "heads" and rows[3].split(",")[1] == "all"
    )
    assert all(np.isfinite(float(v)) for v in rows[3].split(",")[3:])
    with pytest.raises(ValueError, match="different model config"):
        train_maskrcnn(tiny_config(TRAIN_ROIS_PER_IMAGE=8), TrainSettings(), train, val, run, progress=False)

    weights = export_run(run, tmp_path / "weights" / "maskrcnn_tiny")
    segmenter = InstanceSegmenter.load(weights, runtime="keras")
    result = segmenter.predict(photos / "0000.jpg", min_confidence=0.0)
    assert set(result.timings) == {"decode", "preprocess", "model", "postprocess"}
    assert len(result.instances) <= config.DETECTION_MAX_INSTANCES
    for inst in result.instances:
        assert inst.mask.shape == (160, 120) and 0 <= inst.box[0] <= inst.box[2] <= 120
    # Gray, alpha and tiny photos work; corrupt ones fail with a clear error.
    from fashionseg.core.images import ImageLoadError

    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((90, 70), 100, np.uint8)).save(gray)
    rgba = tmp_path / "alpha.png"
    Image.fromarray(np.zeros((50, 80, 4), np.uint8)).save(rgba)
    assert segmenter.predict(gray, min_confidence=0.0).height == 90
    assert segmenter.predict(rgba, min_confidence=0.0).width == 80
    with pytest.raises(ImageLoadError):
        segmenter.predict(b"\xff\xd8\xff\xe0 truncated jpeg")

    # The ONNX export gives the same detections, and becomes the default runtime.
    from fashionseg.models.maskrcnn.export import export_onnx

    export_onnx(weights)
    onnx = InstanceSegmenter.load(weights)
    assert onnx.runtime_name == "onnx"
    image = np.asarray(Image.open(photos / "0001.jpg"), dtype="float32")
    from fashionseg.core.images import letterbox

    batch = letterbox(image.astype(np.uint8), 128)[0][None].astype("float32")
    a, b = segmenter.runtime(batch), onnx.runtime(batch)
    np.testing.assert_array_equal(a["class_ids"], b["class_ids"])
    np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-4)
    np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-2)
    np.testing.assert_allclose(a["masks"], b["masks"], atol=1e-4)
    np.testing.assert_allclose(a["image_features"], b["image_features"], atol=1e-3)

    # A label head fitted on the model's own outputs is loaded with it and decides the classes.
    from fashionseg.models.maskrcnn.label_head import LABEL_HEAD_FILE, best_scores
    from fashionseg.models.maskrcnn.label_head_fit import fit_label_head, labelled_photos

    photo_labels = labelled_photos(load_coco(instances), None, split=None)
    assert len(photo_labels) == 4 and all(classes == [4, 8] for _, classes in photo_labels)
    head, summary = fit_label_head(segmenter, photo_labels, photos, progress=False)
    assert summary["photos"] == 4 and summary["photos_per_class"]["shoe"] == 4
    head.save(weights / LABEL_HEAD_FILE)
    headed = InstanceSegmenter.load(weights)
    assert headed.runtime_name == "onnx" and headed.label_head is not None
    result = headed.predict(photos / "0000.jpg")
    assert result.label_probabilities is not None and result.label_probabilities.shape == (11,)
    detections, features, _ = headed.detections(np.asarray(Image.open(photos / "0000.jpg")))
    _, present = head.decide(features, best_scores(detections.class_ids, detections.scores, 11))
    assert {i.class_id for i in result.instances} <= set(np.flatnonzero(present))
    (weights / LABEL_HEAD_FILE).unlink()

    # Self-training data through the CLI: tag-only photos pseudo-labelled by the model, merged for training.
    from fashionseg.cli import main

    client_images = []
    for n in range(2):
        (photos / f"tagged{n}.jpg").write_bytes((photos / f"000{n}.jpg").read_bytes())
        client_images.append(
            {"id": 50 + n, "file_name": f"tagged{n}.jpg", "height": 160, "width": 120, "split": "train"}
        )
    # tagged pants; the barely trained model may find none, so whether photos are kept is not asserted
    # here (tests/test_pseudo_labels.py checks what is kept, and the command's output, with a stand-in model)
    client_labels = [{"id": n + 1, "image_id": 50 + n, "category_id": 4} for n in range(2)]
    client = tmp_path / "client.json"
    client.write_text(
        json.dumps(
            {
                "images": client_images,
                "annotations": [],
                "categories": load_coco(instances)["categories"],
                "image_labels": client_labels,
            }
        )
    )
    merged_path = tmp_path / "merged.json"
    argv = ["train", "pseudo-labels", "--weights", str(weights), "--instances", str(instances)]
    argv += ["--client", str(client), "--images", str(photos), "--out", str(merged_path), "--min-score", "0", "--quiet"]
    argv += ["--audit-split", "val"]
    assert main(argv) == 0
    merged = load_coco(merged_path)
    report = merged["fashionseg"]["pseudo_labels"]["report"]
    audit = merged["fashionseg"]["pseudo_labels"]["audit"]
    assert audit["photos"] == 1 and 0 <= audit["precision"] <= 1 and 0 <= audit["recall"] <= 1
    assert report["photos"] == 2 and len(merged["images"]) == 4 + report["kept"]
    added = [a for a in merged["annotations"] if a["image_id"] > 4]
    assert all(a["category_id"] == 4 for a in added) and len(added) == report["instances"]
    assert len(examples_from_coco(merged_path, photos, "train")) == 3 + report["kept"]

    # Evaluation on an untrained model runs end to end and scores it low but validly.
    coco = load_coco(instances)
    results, _detections = evaluate_maskrcnn(
        segmenter, coco, photos, client=None, predict_options={"min_confidence": 0.0}, progress=False
    )
    assert results["test"]["images"] == 4 and 0 <= results["test"]["map50"] <= 1 and results["tto"] is None
    assert set(results["per_class"]) >= {"pants", "shoe"} and results["per_class"]["pants"]["true_images"] == 4


class PerfectRuntime:
    """A runtime that 'detects' exactly the ground truth of one photo (boxes and masks in model-input pixels)."""

    def __init__(self, boxes, class_ids, masks):
        self.out = {
            "boxes": boxes[None],
            "class_ids": class_ids[None],
            "scores": np.linspace(0.99, 0.9, len(class_ids))[None],
            "masks": masks[None],
        }

    def __call__(self, batch):
        return self.out


def test_evaluation_scores_a_perfect_model_as_perfect(tmp_path):
    """Real post-processing, pasting and metrics on a runtime that returns the truth: every score is 1."""
    from fashionseg.models.maskrcnn.evaluate import evaluate_maskrcnn, load_coco
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

    instances, photos = write_synthetic_set(tmp_path, count=1)
    coco = load_coco(instances)
    config = MaskRCNNConfig()  # 512 px: the 160 x 120 photo is scaled by 3.2 and padded 64 px left and right
    boxes, masks = [], []
    for ann in coco["annotations"]:
        from fashionseg.core.masks import decode_rle

        m = decode_rle(ann["segmentation"])
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        y1, x1, y2, x2 = rows[0], cols[0], rows[-1] + 1, cols[-1] + 1
        boxes.append([y1 * 3.2, x1 * 3.2 + 64, y2 * 3.2, x2 * 3.2 + 64])
        masks.append(np.ones((28, 28), "float32"))  # rectangles fill their boxes
    runtime = PerfectRuntime(np.array(boxes, "float32"), np.array([5, 9]), np.array(masks))
    segmenter = InstanceSegmenter(runtime, config)
    client = {
        "images": coco["images"],
        "image_labels": [{"image_id": 1, "category_id": 4}, {"image_id": 1, "category_id": 8}],
    }
    results, _ = evaluate_maskrcnn(segmenter, coco, photos, client=client, progress=False)
    t = results["test"]
    assert (t["exact_match_ratio"], t["overall_accuracy"], t["jaccard"], t["map50"], t["f1"]) == (
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
    )
    assert t["coco_ap50"] == pytest.approx(1.0) and results["client"]["exact_match_ratio"] == 1.0
    assert results["tto"] == pytest.approx(1.5 * 1.0 + 1.0 + 1.0 - t["inference_seconds"] / 10)
    assert results["per_image"][0]["errors"] == []


def test_confusions_are_told_apart_from_misses():
    from fashionseg.core.metrics import Instances, match_instances
    from fashionseg.models.maskrcnn.evaluate import image_errors

    a = np.zeros((3, 10, 10), bool)
    a[0, :5] = True  # shirt
    a[1, 6:, :3] = True  # shoe
    a[2, 6:, 6:] = True
    gt = Instances(a[:2], np.array([0, 8]))
    pred = Instances(a[[0, 2]], np.array([6, 8]), np.array([0.9, 0.8]))  # shirt taken for dress; a shoe where none is
    errors = image_errors(gt, pred, match_instances(gt, pred))
    kinds = sorted((e["type"], e["class_id"], e.get("predicted_class_id")) for e in errors)
    assert kinds == [("confusion", 0, 6), ("false_negative", 8, None), ("false_positive", 8, None)]


JAX_SCRIPT = """
import numpy as np, keras
from tests.test_maskrcnn_model import tiny_config
from fashionseg.models.maskrcnn.model import LOSS_NAMES, MaskRCNNNetworks
from fashionseg.models.maskrcnn.train import make_optimizer, passthrough_loss, TrainSettings
assert keras.backend.backend() == "jax"
config = tiny_config()
nets = MaskRCNNNetworks(config)
model = nets.training_model(seed=0)
n = nets.num_anchors
rng = np.random.default_rng(0)
x = {"image": rng.uniform(0, 255, (2, 128, 128, 3)).astype("float32"), "rpn_match": rng.integers(-1, 2, (2, n)).astype("int32"),
     "rpn_deltas": rng.normal(size=(2, n, 4)).astype("float32"), "gt_class_ids": np.array([[1, 2, 0, 0, 0, 0]] * 2, "int32"),
     "gt_boxes": np.array([[[10, 10, 60, 50], [70, 20, 120, 90]] + [[0, 0, 0, 0]] * 4] * 2, "float32"),
     "gt_masks": np.ones((2, 6, 56, 56), "float32")}
model.compile(make_optimizer(config, TrainSettings(), "all", 1), loss={k: passthrough_loss for k in LOSS_NAMES})
logs = model.train_on_batch(x, {k: np.zeros(2, "float32") for k in LOSS_NAMES}, return_dict=True)
assert all(np.isfinite(v) for v in logs.values()), logs
out = nets.inference_model().predict_on_batch(x["image"][:1])
assert out["masks"].shape == (1, 10, 28, 28) and out["boxes"].shape == (1, 10, 4)
print("jax ok", sorted(logs))
"""


@pytest.mark.slow
def test_one_training_step_and_inference_on_jax():
    pytest.importorskip("jax")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(root)}
    r = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], capture_output=True, text=True, env=env, cwd=root, timeout=600
    )
    assert r.returncode == 0 and "jax ok" in r.stdout, r.stderr[-3000:]


def test_graph_layers_take_and_save_just_their_arguments():
    """Each layer without weights gets the few settings it uses, not the whole config, and round-trips them (through JSON)."""
    import inspect

    import keras

    from fashionseg.models.maskrcnn.heads import SelectClassMasks
    from fashionseg.models.maskrcnn.losses import LossLayer
    from fashionseg.models.maskrcnn.model import MaskRCNNNetworks

    nets = MaskRCNNNetworks(tiny_config())
    base = set(keras.layers.Layer(name="x").get_config())
    layers = [
        nets.proposal_layer(64),
        nets.detection_target_layer(seed=3),
        nets.detection_layer(),
        nets.box_pool,
        nets.mask_pool,
        SelectClassMasks(),
        LossLayer(),
    ]
    for layer in layers:
        config = layer.get_config()
        own = type(layer).__init__ is not keras.layers.Layer.__init__
        arguments = set(inspect.signature(type(layer).__init__).parameters) - {"self", "kwargs"} if own else set()
        assert set(config) - base == arguments, type(layer).__name__
        copy = type(layer).from_config(json.loads(json.dumps(config)))
        assert copy.get_config() == config, type(layer).__name__
    assert nets.proposal_layer(64).get_config()["post_nms_limit"] == 64
    assert nets.detection_layer().get_config()["image_size"] == 128


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet50", "resnet101"])
def test_resnet_backbones_build_and_run(backbone, tmp_path):
    """ResNets start from random weights or a weights file (no pretrained ResNet exists here)."""
    from fashionseg.models.maskrcnn.backbone import build_backbone, set_trainable
    from fashionseg.models.maskrcnn.model import MaskRCNNNetworks

    config = tiny_config(BACKBONE=backbone)
    nets = MaskRCNNNetworks(config)
    assert [tuple(t.shape[1:3]) for t in nets.backbone.outputs] == [(16, 16), (8, 8), (4, 4)]
    out = nets.inference_model().predict_on_batch(np.zeros((1, 128, 128, 3), "float32"))
    assert out["masks"].shape == (1, config.DETECTION_MAX_INSTANCES, 28, 28)
    set_trainable(nets.backbone, True, train_bn=False)  # the all-layers stage: BatchNormalization stays frozen
    trainable = nets.backbone.trainable_weights
    assert trainable and not any("gamma" in w.path or "beta" in w.path for w in trainable)
    set_trainable(nets.backbone, False, train_bn=True)
    assert not nets.backbone.trainable_weights
    with pytest.raises(FileNotFoundError, match="not found"):
        build_backbone(tiny_config(BACKBONE=backbone, BACKBONE_WEIGHTS=str(tmp_path / "missing.h5")))


def test_segment_page_helpers(tmp_path):
    import io
    import zipfile

    from fashionseg.app.segment_view import instance_rows, masks_zip, on_checkerboard, predictions_coco
    from fashionseg.models.maskrcnn.predictor import Instance, SegmentationResult

    mask = np.zeros((20, 10), bool)
    mask[2:6, 3:8] = True
    result = SegmentationResult([Instance(8, "shoe", 0.9, (3.0, 2.0, 8.0, 6.0), mask)], 20, 10, {"model": 0.1})
    assert instance_rows(result) == [
        {"class": "shoe", "score": 0.9, "area %": 10.0, "box (x1, y1, x2, y2)": "3, 2, 8, 6"}
    ]
    doc = json.loads(predictions_coco(result, "a.jpg"))
    assert doc["annotations"][0]["category_id"] == 8 and doc["annotations"][0]["area"] == 20
    names = zipfile.ZipFile(io.BytesIO(masks_zip(result, "../evil <b>name</b>.jpg"))).namelist()
    assert names == ["evil_b_name_b_01_shoe.png", "evil_b_name_b_instances.json"]
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    shown = on_checkerboard(rgba)
    assert tuple(shown[0, 0]) == (255, 0, 0) and shown[1, 1, 0] == shown[1, 1, 1]


def test_user_text_is_shown_as_text():
    from fashionseg.app.segment_view import escape_markdown

    assert escape_markdown("<b>x</b> **y**.jpg") == "\\<b\\>x\\</b\\> \\*\\*y\\*\\*\\.jpg"


def test_a_run_begun_before_new_inference_settings_still_resumes(tmp_path):
    from fashionseg.models.maskrcnn.data import InstanceExample
    from fashionseg.models.maskrcnn.train import TrainSettings, train_maskrcnn

    config = MaskRCNNConfig()
    older = config.to_dict()
    del older["DETECTION_FOCUS"], older["DETECTION_MIN_CONFIDENCE_PER_CLASS"]  # settings added later
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"config": older, "settings": {}}))
    (run / "state.json").write_text(json.dumps({"epoch": 3, "best_val_loss": 1.0, "best_epoch": 3}))
    example = [InstanceExample(1, tmp_path / "a.jpg", (), ())]
    state = train_maskrcnn(config, TrainSettings(heads_epochs=1, all_epochs=2), example, example, run, progress=False)
    assert state["epoch"] == 3
    with pytest.raises(ValueError, match="different model config"):
        train_maskrcnn(
            MaskRCNNConfig(TOP_DOWN_PYRAMID_SIZE=64),
            TrainSettings(heads_epochs=1, all_epochs=2),
            example,
            example,
            run,
            progress=False,
        )


def test_augmented_batches_depend_only_on_seed_epoch_and_index(tmp_path):
    """Loader workers are forked copies of the batches object and ask for batches in any order:
    a batch must come out the same whatever was drawn before it, and differ from epoch to epoch."""
    from fashionseg.models.augment import FramingSettings
    from fashionseg.models.maskrcnn.data import MaskRCNNBatches, examples_from_coco, prepare_all

    instances, photos = write_synthetic_set(tmp_path, count=4)
    config = tiny_config()
    prepared = prepare_all(examples_from_coco(instances, photos), config.IMAGE_MAX_DIM, progress=False)

    def batches():
        return MaskRCNNBatches(
            prepared, config, batch_size=2, shuffle=True, augment_images=True, framing=FramingSettings(), seed=7
        )

    in_order, reversed_order = batches(), batches()
    first = [in_order[0], in_order[1]]
    second = [reversed_order[1], reversed_order[0]][::-1]
    for (inputs_a, _), (inputs_b, _) in zip(first, second):
        for name in inputs_a:
            np.testing.assert_array_equal(inputs_a[name], inputs_b[name], err_msg=name)

    in_order.on_epoch_end()
    next_epoch = in_order[0][0]["image"]
    assert not np.array_equal(next_epoch, first[0][0]["image"])
