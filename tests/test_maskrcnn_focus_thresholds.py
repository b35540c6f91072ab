"""The Mask R-CNN's focus pass and per-class confidence thresholds, with a scripted runtime."""

from dataclasses import replace

import numpy as np
import pytest

from fashionseg.models.maskrcnn.config import MaskRCNNConfig
from fashionseg.models.maskrcnn.focus import focus_window
from fashionseg.models.maskrcnn.postprocess import paste_mask, select_detections
from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
from fashionseg.models.maskrcnn.thresholds import choose_class_thresholds


class ScriptedRuntime:
    """Returns one detection per call: ``box`` (y1, x1, y2, x2 in the 512 px input) of class ``class_id``."""

    def __init__(self, *detections):
        self.detections, self.inputs = list(detections), []

    def __call__(self, batch):
        self.inputs.append(batch)
        class_id, score, box = self.detections[min(len(self.inputs) - 1, len(self.detections) - 1)]
        out = {
            "boxes": np.zeros((1, 10, 4), np.float32),
            "class_ids": np.zeros((1, 10), np.int32),
            "scores": np.zeros((1, 10), np.float32),
            "masks": np.ones((1, 10, 28, 28), np.float32),
        }
        out["boxes"][0, 0], out["class_ids"][0, 0], out["scores"][0, 0] = box, class_id, score
        return out


def test_focus_window_only_for_small_confident_regions():
    assert focus_window(np.array([[100.0, 100.0, 140.0, 200.0]]), np.array([0.9]), 720, 1280) == (50, 50, 190, 250)
    assert focus_window(np.array([[100.0, 100.0, 140.0, 200.0]]), np.array([0.1]), 720, 1280) is None  # not confident
    assert focus_window(np.zeros((0, 4)), np.zeros(0), 720, 1280) is None
    assert focus_window(np.array([[0.0, 0.0, 1000.0, 700.0]]), np.array([0.9]), 720, 1280) is None  # fills the photo


def test_focus_runs_a_second_pass_on_the_crop_and_maps_it_back():
    # a 1024 x 576 photo letterboxes at scale 0.5 (padding 112 rows on top): a pants box at (200, 300)-(240, 380)
    # in the input is (600, 176)-(760, 256) in the photo; the second pass sees the crop and finds it whole
    runtime = ScriptedRuntime((5, 0.6, (200, 300, 240, 380)), (5, 0.95, (0, 100, 512, 412)))
    segmenter = InstanceSegmenter(runtime, MaskRCNNConfig(DETECTION_MIN_CONFIDENCE=0.5))
    image = np.zeros((576, 1024, 3), np.uint8)
    plain = segmenter.predict(image)
    assert len(runtime.inputs) == 1 and "focus" not in plain.timings
    assert plain.instances[0].box == pytest.approx((600.0, 176.0, 760.0, 256.0))
    runtime.inputs.clear()
    focused = segmenter.predict(image, focus=True)
    assert len(runtime.inputs) == 2 and "focus" in focused.timings
    (pants,) = focused.instances
    assert pants.score == pytest.approx(0.95) and pants.class_name == "pants"
    x0, y0, x1, y1 = focus_window(np.array([[600.0, 176.0, 760.0, 256.0]]), np.array([0.6]), 576, 1024)
    crop_scale = 512 / max(x1 - x0, y1 - y0)
    pad_left = (512 - round((x1 - x0) * crop_scale)) // 2
    # the second pass's box, back in photo pixels: inside the crop, offset by its corner
    assert pants.box[0] == pytest.approx(x0 + (100 - pad_left) / crop_scale, abs=1)
    assert pants.box[1] == pytest.approx(y0, abs=1) and pants.box[3] == pytest.approx(y1, abs=1)
    assert pants.mask.shape == (576, 1024) and pants.mask[y0 + 5, int(pants.box[0]) + 5]


def test_focus_is_skipped_for_a_person_filling_the_photo():
    runtime = ScriptedRuntime((5, 0.9, (0, 60, 512, 452)))
    segmenter = InstanceSegmenter(runtime, MaskRCNNConfig(DETECTION_FOCUS=True))
    result = segmenter.predict(np.zeros((600, 400, 3), np.uint8))
    assert len(runtime.inputs) == 1 and "focus" not in result.timings and len(result.instances) == 1


def test_per_class_thresholds_apply_unless_the_caller_sets_one():
    config = MaskRCNNConfig(DETECTION_MIN_CONFIDENCE=0.5, DETECTION_MIN_CONFIDENCE_PER_CLASS={"pants": 0.3})
    segmenter = InstanceSegmenter(ScriptedRuntime((5, 0.4, (100, 100, 300, 300))), config)
    image = np.zeros((512, 512, 3), np.uint8)
    assert [i.class_name for i in segmenter.predict(image).instances] == ["pants"]  # 0.4 >= pants' 0.3
    assert segmenter.predict(image, min_confidence=0.5).instances == []  # the caller's threshold wins
    with pytest.raises(ValueError, match="unknown classes"):
        MaskRCNNConfig(DETECTION_MIN_CONFIDENCE_PER_CLASS={"scarf": 0.3})
    with pytest.raises(ValueError, match="from 0 to 1"):
        MaskRCNNConfig(DETECTION_MIN_CONFIDENCE_PER_CLASS={"pants": 1.5})


def test_select_detections_with_per_class_thresholds():
    keep = select_detections(np.array([1, 2, 3]), np.array([0.9, 0.4, 0.35]), 0.5, 10, {}, {2: 0.3})
    assert keep.tolist() == [0, 1]


def test_chosen_thresholds_raise_the_classification_score_and_leave_rare_classes_alone():
    rng = np.random.default_rng(0)
    records = []
    for _ in range(60):
        truth = sorted(set(rng.choice(4, size=2).tolist()))
        # class 1 is detected with low scores when present, class 2 gives confident false alarms
        preds = [{"class_id": c, "score": 0.35 if c == 1 else 0.8} for c in truth]
        if rng.random() < 0.5:
            preds.append({"class_id": 2, "score": 0.55})
        records.append({"true_classes": truth, "predictions": preds})
    records.append({"true_classes": [3], "predictions": [{"class_id": 3, "score": 0.2}]})
    chosen = choose_class_thresholds(records, num_classes=5, start=0.5, min_images=10)
    assert chosen[1] <= 0.35 and chosen[2] > 0.55
    assert 4 not in chosen  # never seen: keeps the global threshold


def test_unet_focus_reruns_the_model_on_a_crop_around_a_small_person():
    from fashionseg.models.unet.model import UNetConfig
    from fashionseg.models.unet.predictor import GarmentSegmenter, garment_window

    calls = []

    def run(batch):  # first call: a small garment blob in the middle; then: all garment
        calls.append(batch.shape)
        square = np.zeros((32, 32), np.float32)
        if len(calls) == 1:
            square[12:20, 14:18] = 1.0
        else:
            square[:] = 1.0
        return square

    config = UNetConfig(architecture="classic", input_size=32, threshold=0.5, focus=True, guided_filter_radius=0)
    segmenter = GarmentSegmenter(run, config, None, "scripted")
    result = segmenter.predict(np.zeros((400, 800, 3), np.uint8))
    assert len(calls) == 2 and "focus" in result.timings
    calls.clear()
    first_pass = segmenter.predict(np.zeros((400, 800, 3), np.uint8), focus=False)
    assert len(calls) == 1 and "focus" not in first_pass.timings
    x0, y0, x1, y1 = garment_window(first_pass.mask)
    # the second pass's garment fills the crop, and nothing outside it changed
    assert result.mask[y0:y1, x0:x1].all() and result.mask.sum() == (y1 - y0) * (x1 - x0)
    assert first_pass.mask.sum() < result.mask.sum()
    # With the guided filter the window is still found on the map as the model gave it: on this flat
    # photo the filter blurs the small blob below the threshold, and on the filtered map no window
    # (so no focus pass) would be found at all.
    filtered = GarmentSegmenter(run, replace(config, guided_filter_radius=2), None, "scripted")
    calls.clear()
    refined = filtered.predict(np.zeros((400, 800, 3), np.uint8))
    assert len(calls) == 2 and refined.mask[y0:y1, x0:x1].all()
    calls.clear()
    blurred = filtered.predict(np.zeros((400, 800, 3), np.uint8), focus=False).mask
    assert garment_window(blurred) is None
    assert garment_window(np.ones((40, 40), bool)) is None  # a person filling the photo: no second look
    assert garment_window(np.zeros((40, 40), bool)) is None


def test_held_out_gain_is_near_zero_for_noise_and_positive_for_a_real_offset():
    from fashionseg.models.maskrcnn.thresholds import held_out_gain

    rng = np.random.default_rng(1)
    offset, noise = [], []
    for _ in range(80):
        present = bool(rng.random() < 0.5)
        # class 0 scores 0.35-0.45 when present, never seen when absent: 0.35 is a real, general threshold
        offset.append(
            {"true_classes": [0] if present else [], "predictions": [{"class_id": 0, "score": 0.4}] if present else []}
        )
        # class 1's score says nothing about whether it is there: any threshold fits only its own half
        noise.append({"true_classes": [1] if present else [], "predictions": [{"class_id": 1, "score": rng.random()}]})
    gain, _ = held_out_gain(offset, num_classes=2, start=0.5, halvings=3)
    assert gain > 0.1
    gain, spread = held_out_gain(noise, num_classes=2, start=0.5, halvings=3)
    assert gain < 0.02 and spread > 0


def test_the_configs_guided_filter_moves_each_instances_edge_onto_the_photos():
    """predict pastes each mask through the guided filter the config asks for, with the photo as guide."""
    soft = np.tile(np.clip((np.arange(28, dtype=np.float32) - 10) / 12, 0, 1), (28, 1))  # 0.5 at column 34

    class SoftMask(ScriptedRuntime):
        def __call__(self, batch):
            out = super().__call__(batch)
            out["masks"][0, 0] = soft
            return out

    # A 512 x 512 photo is its own model input; the box (10, 10)-(50, 50), the photo's edge at column 30.
    image = np.full((512, 512, 3), 40, np.uint8)
    image[:, 30:] = 200
    detection = (5, 0.9, (10, 10, 50, 50))
    plain = InstanceSegmenter(SoftMask(detection), MaskRCNNConfig(DETECTION_MIN_CONFIDENCE=0.5))
    config = MaskRCNNConfig(DETECTION_MIN_CONFIDENCE=0.5, DETECTION_MASK_GUIDED_FILTER_RADIUS=2)
    filtered = InstanceSegmenter(SoftMask(detection), config)
    (before,) = plain.predict(image).instances
    (after,) = filtered.predict(image).instances
    assert np.flatnonzero(before.mask[30])[0] == 34  # the map's own edge
    assert np.flatnonzero(after.mask[30])[0] < 34  # pulled towards the photo's
    box = np.array([10.0, 10.0, 50.0, 50.0])
    expected = paste_mask(soft, box, 512, 512, image, 2, config.DETECTION_MASK_GUIDED_FILTER_EPS, 1)
    np.testing.assert_array_equal(after.mask, expected)
    # a float photo on 0-255 is filtered as the same photo
    (as_float,) = filtered.predict(image.astype(np.float64)).instances
    np.testing.assert_array_equal(as_float.mask, after.mask)


class ManyDetections:
    """Returns the same detections on every call: (class_id, score, (y1, x1, y2, x2) in the 512 px input)."""

    def __init__(self, *detections):
        self.detections = detections

    def __call__(self, batch):
        out = {
            "boxes": np.zeros((1, 10, 4), np.float32),
            "class_ids": np.zeros((1, 10), np.int32),
            "scores": np.zeros((1, 10), np.float32),
            "masks": np.ones((1, 10, 28, 28), np.float32),
        }
        for k, (class_id, score, box) in enumerate(self.detections):
            out["boxes"][0, k], out["class_ids"][0, k], out["scores"][0, k] = box, class_id, score
        return out


def test_one_garment_is_not_shown_as_two_rival_classes():
    shirt, top, pants, skirt, dress, bag = 1, 2, 5, 6, 7, 10  # model class ids (0: background)
    runtime = ManyDetections(
        (dress, 0.9, (100, 100, 400, 300)),
        (bag, 0.85, (100, 100, 400, 300)),  # the dress's very box: bags lie on garments and never compete
        (skirt, 0.7, (250, 100, 400, 300)),  # the dress's lower half: mask IoU 0.5
        (pants, 0.6, (100, 350, 400, 450)),  # beside the dress
        (top, 0.58, (20, 350, 90, 450)),
        (shirt, 0.55, (20, 350, 90, 450)),  # the top's box: the first class id, which an off-by-one would miss
    )
    photo = np.zeros((512, 512, 3), np.uint8)

    def names(config):
        return [i.class_name.split(",")[0] for i in InstanceSegmenter(runtime, config).predict(photo).instances]

    assert names(MaskRCNNConfig(DETECTION_MIN_CONFIDENCE=0.5)) == ["dress", "bag", "skirt", "pants", "top", "shirt"]
    for threshold, shown in ((0.3, ["dress", "bag", "pants", "top"]), (0.6, ["dress", "bag", "skirt", "pants", "top"])):
        config = MaskRCNNConfig(DETECTION_MIN_CONFIDENCE=0.5, DETECTION_EXCLUSIVE_MASK_IOU=threshold)
        assert names(config) == shown
    # only the named classes compete: without "skirt" and "shirt" among them both stay
    config = MaskRCNNConfig(
        DETECTION_MIN_CONFIDENCE=0.5,
        DETECTION_EXCLUSIVE_MASK_IOU=0.3,
        DETECTION_EXCLUSIVE_CLASSES=("dress", "top, t-shirt, sweatshirt"),
    )
    assert len(names(config)) == 6
    # the caps come after the rule: a slot a dropped rival frees goes to the next instance
    rule = MaskRCNNConfig(DETECTION_MIN_CONFIDENCE=0.5, DETECTION_EXCLUSIVE_MASK_IOU=0.3)
    result = InstanceSegmenter(runtime, rule).predict(photo, max_instances=3)
    assert [i.class_name.split(",")[0] for i in result.instances] == ["dress", "bag", "pants"]


def test_rival_masks_are_compared_where_they_reach_past_their_boxes():
    """A guided-filtered mask may reach past its box; the overlap there counts when ``reach`` covers it."""
    from fashionseg.models.maskrcnn.postprocess import drop_rival_classes

    a, b = np.zeros((40, 40), bool), np.zeros((40, 40), bool)
    a[10:20, 10:24] = True  # box (10, 10)-(20, 20), reaching 4 px right of it
    b[10:20, 20:30] = True  # box (24, 10)-(30, 20), reaching 4 px left of it: they share columns 20-23
    boxes = np.array([[10.0, 10.0, 20.0, 20.0], [24.0, 10.0, 30.0, 20.0]])
    # mask IoU 40 / 200 = 0.2
    assert drop_rival_classes([a, b], boxes, np.array([5, 6]), {5, 6}, max_iou=0.15, reach=0) == [0, 1]
    assert drop_rival_classes([a, b], boxes, np.array([5, 6]), {5, 6}, max_iou=0.15, reach=4) == [0]
    assert drop_rival_classes([a, b], boxes, np.array([5, 6]), {5, 6}, max_iou=0.25, reach=4) == [0, 1]
    assert drop_rival_classes([], np.zeros((0, 4)), np.zeros(0, int), {5, 6}, max_iou=0.3) == []
