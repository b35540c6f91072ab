"""The error browser's data: error tables, filters, summaries and the drawn views."""

import json

import numpy as np
import pytest
from PIL import Image

from fashionseg.app import error_browser as errors
from fashionseg.core.masks import encode_rle
from fashionseg.evaluation.registry import list_records


@pytest.fixture()
def evaluation(tmp_path):
    Image.fromarray(np.full((100, 80, 3), 128, np.uint8)).save(tmp_path / "a.jpg")
    truth = np.zeros((100, 80), bool)
    truth[20:80, 10:50] = True
    per_image = [
        {
            "image_id": 7,
            "file_name": "a.jpg",
            "ap50": 0.0,
            "f1": 0.0,
            "true_classes": [6],
            "predicted_classes": [0, 3],
            "ground_truth": [{"class_id": 6, "bbox": [10, 20, 40, 60]}],
            "predictions": [
                {"class_id": 3, "score": 0.8, "bbox": [10, 20, 50, 80]},
                {"class_id": 0, "score": 0.3, "bbox": [60, 0, 70, 10]},
            ],
            "errors": [
                {
                    "type": "confusion",
                    "class_id": 6,
                    "predicted_class_id": 3,
                    "iou": 0.9,
                    "score": 0.8,
                    "gt_index": 0,
                    "pred_index": 0,
                },
                {"type": "false_positive", "class_id": 0, "iou": 0.0, "score": 0.3, "pred_index": 1},
            ],
        },
        {
            "image_id": 8,
            "file_name": "a.jpg",
            "ground_truth": [{"class_id": 8, "bbox": [0, 0, 5, 5]}],
            "predictions": [],
            "errors": [{"type": "false_negative", "class_id": 8, "iou": 0.0, "gt_index": 0}],
        },
    ]
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"per_image": per_image}))
    detections = tmp_path / "d.json"
    predicted = truth.copy()
    small = np.zeros_like(truth)
    small[0:10, 60:70] = True
    detections.write_text(
        json.dumps(
            {
                "annotations": [
                    {"image_id": 7, "segmentation": encode_rle(predicted)},
                    {"image_id": 7, "segmentation": encode_rle(small)},
                ]
            }
        )
    )
    gt = tmp_path / "gt.json"
    gt.write_text(
        json.dumps(
            {
                "annotations": [
                    {"image_id": 7, "category_id": 6, "bbox": [10, 20, 40, 60], "segmentation": encode_rle(truth)}
                ]
            }
        )
    )
    record = {
        "run": "r",
        "data": {
            "metrics_file": str(metrics),
            "detections_file": str(detections),
            "test": str(gt),
            "images": str(tmp_path),
        },
    }
    return errors.load_evaluation(record)


def test_error_table_filters_and_summary(evaluation):
    table = errors.error_table(evaluation)
    assert table[["type", "class", "predicted"]].fillna("-").values.tolist() == [
        ["confusion", "dress", "jacket"],
        ["false_positive", "-", "shirt, blouse"],
        ["false_negative", "shoe", "-"],
    ]
    assert errors.filter_errors(table, ["jacket"])["type"].tolist() == ["confusion"]  # predicted class counts too
    assert errors.filter_errors(table, types=["false_positive", "false_negative"], sort_by="score")[
        "type"
    ].tolist() == ["false_positive", "false_negative"]
    assert errors.filter_errors(table, sort_by="iou", descending=False)["iou"].tolist() == [0.0, 0.0, 0.9]
    summary = errors.summary(table).set_index("class")
    assert (
        summary.loc["dress", "confusion"] == 1
        and summary.loc["shirt, blouse", "false_positive"] == 1
        and summary.loc["shoe", "false_negative"] == 1
    )


def test_views_draw_truth_and_prediction_cropped_around_the_error(evaluation):
    table = errors.error_table(evaluation)
    truth, prediction = errors.error_views(evaluation, table.iloc[0], size=64)
    assert max(truth.shape[:2]) == 64 and truth.shape == prediction.shape
    assert not np.array_equal(truth, prediction)  # dress mask on one side, jacket on the other
    full_truth, _full_prediction = errors.error_views(evaluation, table.iloc[0], crop=False)
    assert full_truth.shape == (100, 80, 3)
    assert (full_truth[50, 30] != 128).any() and (full_truth[5, 5] == 128).all()  # the mask is tinted, the rest is not
    # a false negative has no prediction: the right side is the plain photo
    _, plain = errors.error_views(evaluation, table.iloc[2], crop=False)
    assert (plain == 128).all()


def test_without_the_ground_truth_file_its_boxes_are_drawn(tmp_path, evaluation):
    boxes_only = errors.Evaluation(
        evaluation.per_image, evaluation.images_dir, evaluation.detections, ground_truth=None
    )
    table = errors.error_table(boxes_only)
    truth, _ = errors.error_views(boxes_only, table.iloc[1], crop=False)  # a false positive: the truth is context only
    assert (truth[20, 10:50] != 128).any() and (
        truth[50, 30] == 128
    ).all()  # the dress's box outline, not a filled mask


def test_missing_files_are_reported_or_fall_back(tmp_path, evaluation):
    with pytest.raises(errors.EvaluationNotFoundError, match="metrics file"):
        errors.load_evaluation({"run": "x", "data": {"metrics_file": str(tmp_path / "nope.json")}})
    assert errors.photos_folder(str(tmp_path / "elsewhere")).name == "photos"  # the local CCP photos


def test_the_committed_evaluation_lists_its_errors(ccp_root):
    record = [r for r in list_records("maskrcnn") if r["data"].get("metrics_file")][-1]
    evaluation = errors.load_evaluation(record, images_dir=ccp_root / "photos")
    table = errors.error_table(evaluation)
    assert len(evaluation.per_image) == record["metrics"]["test"]["images"] and set(table["type"]) == set(
        errors.ERROR_TYPES
    )
    truth, prediction = errors.error_views(evaluation, table[table["type"] == "confusion"].iloc[0])
    assert truth.shape == prediction.shape and max(truth.shape[:2]) == 256
