"""scripts/anchor_coverage.py: boxes letterboxed into the model input, scored against the anchors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from fashionseg.models.maskrcnn.anchors import anchor_coverage, anchor_grid

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "anchor_coverage.py"


def load_script():
    spec = importlib.util.spec_from_file_location("anchor_coverage_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_boxes_are_letterboxed_like_the_model_input():
    script = load_script()
    coco = {
        "images": [{"id": 1, "height": 200, "width": 100}, {"id": 2, "height": 50, "width": 100}],
        "annotations": [{"image_id": 1, "bbox": [0, 0, 100, 200]}, {"image_id": 2, "bbox": [10, 5, 20, 10]}],
    }
    boxes = script.letterboxed_boxes(coco, 512)
    # a portrait photo fills the height, centred; a landscape one the width, centred (y1, x1, y2, x2)
    np.testing.assert_allclose(boxes[0], [0, 128, 512, 384])
    np.testing.assert_allclose(boxes[1], [128 + 25.6, 51.2, 128 + 76.8, 153.6])


def test_a_box_between_two_anchor_sides_is_covered_only_at_lower_iou():
    anchors = anchor_grid(512, [16, 32, 64, 128, 256], [0.5, 1.0, 2.0], [8, 16, 32, 64, 128])
    on_a_side = np.array([[160, 160, 288, 288]], np.float32)  # 128 px square, centred on a stride-64 cell
    between = np.array([[133.5, 133.5, 314.5, 314.5]], np.float32)  # 181 px, sqrt(2) x 128, same centre
    assert anchor_coverage(on_a_side, anchors)["share_iou_0.7"] == 1.0
    cover = anchor_coverage(between, anchors)
    assert cover["share_iou_0.7"] == 0.0 and 0.45 < cover["median_best_iou"] < 0.55
