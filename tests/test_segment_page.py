"""The Segment page in front of a client: photos named alike, settings that only redraw, honest timing.

AppTest cannot upload files, so uploads are stood in for by replacing
``st.file_uploader`` (the page reads only ``name`` and ``getvalue()`` of what it
returns), and the folder tab is used as in ``test_app.py``.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import streamlit
from PIL import Image
from streamlit.testing.v1 import AppTest

from fashionseg.app.resources import maskrcnn_config, result_cache, trained
from fashionseg.app.segment_view import (
    SAMPLE_PHOTOS,
    Detection,
    InstanceDetections,
    PackedMask,
    PhotoSource,
    ResultCache,
    TimingLog,
    display_photo,
    number_photos,
    run_cutout,
    run_instances,
    select_instances,
)
from fashionseg.core.overlay import draw_instances, place_labels
from fashionseg.models.maskrcnn.config import MaskRCNNConfig

pytestmark = pytest.mark.slow  # the Segment page under AppTest, with the trained models

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "segment.py")


@pytest.fixture(autouse=True)
def fresh_results():
    """Model results are shared by every session of a process; each test starts as after an app start."""
    result_cache().clear()
    yield
    result_cache().clear()


class Upload:
    """What ``st.file_uploader`` returns, as far as the page uses it."""

    def __init__(self, name: str, data: bytes):
        self.name, self.data = name, data

    def getvalue(self) -> bytes:
        return self.data


def photo_bytes(seed: int, size=(96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def page_with_uploads(monkeypatch, uploads: list[Upload]) -> AppTest:
    monkeypatch.setattr(streamlit, "file_uploader", lambda *args, **kwargs: uploads)
    return AppTest.from_file(PAGE, default_timeout=300).run()


def folder_page(folder: Path, names: list[str]) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    next(t for t in at.text_input if t.label == "Folder").input(str(folder)).run()
    next(m for m in at.multiselect if m.label == "Photos").set_value(names).run()
    return at


def widget(elements, label):
    return next(e for e in elements if e.label == label)


def metric_labels(at) -> list[str]:
    return [m.label for m in at.metric]


@pytest.fixture()
def model_calls(monkeypatch):
    """Every photo each model's ``predict`` is given (warm-ups, on blank squares, left out), by pipeline."""
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
    from fashionseg.models.unet.predictor import GarmentSegmenter

    calls = {"Mask R-CNN": [], "U-Net": []}
    for pipeline, cls in (("Mask R-CNN", InstanceSegmenter), ("U-Net", GarmentSegmenter)):

        def counting(self, source, *args, _predict=cls.predict, _pipeline=pipeline, **kwargs):
            if not (isinstance(source, np.ndarray) and not source.any()):
                calls[_pipeline].append(kwargs)
            return _predict(self, source, *args, **kwargs)

        monkeypatch.setattr(cls, "predict", counting)
    return calls


# ---------------------------------------------------------------- keys


def test_photos_named_alike_or_added_twice_get_distinct_keys():
    a, b = photo_bytes(1), photo_bytes(2)
    photos = number_photos([("image.jpg", a), ("image.jpg", b), ("image.jpg", a)])
    assert len({p.key for p in photos}) == 3
    assert [p.title for p in photos] == ["1. image.jpg", "2. image.jpg", "3. image.jpg"]
    assert photos[0].digest == photos[2].digest != photos[1].digest  # the results are shared by content


def test_two_uploads_with_one_name_and_one_photo_added_twice_all_show(monkeypatch):
    a, b = photo_bytes(11), photo_bytes(12)
    at = page_with_uploads(monkeypatch, [Upload("image.jpg", a), Upload("image.jpg", b), Upload("image.jpg", a)])
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader][:3] == ["1\\. image\\.jpg", "2\\. image\\.jpg", "3\\. image\\.jpg"]
    assert len(at.get("image")) == 3 * 2  # every photo, both pipelines
    # Two distinct photos: the third is the first again, taken from the cache and not counted twice.
    assert "Mask R-CNN: mean of 2 photos" in metric_labels(at) and "U-Net cutout: mean of 2 photos" in metric_labels(at)
    assert sum("cached, no model ran" in m.value for m in at.markdown) == 2


# ---------------------------------------------------------------- settings only redraw


def instance_table(at):
    """The page's table of instances (the one with a class column), or None when none is shown."""
    tables = [d.value for d in at.dataframe if "class" in d.value.columns]
    return tables[0] if tables else None


def test_settings_changes_filter_and_redraw_without_running_a_model(ccp_root, model_calls):
    at = folder_page(ccp_root / "photos", ["0001.jpg"])
    assert not at.exception
    assert len(model_calls["Mask R-CNN"]) == 1 and len(model_calls["U-Net"]) == 1
    shown = instance_table(at)
    widget(at.slider, "Min confidence").set_value(0.95).run()
    assert len(model_calls["Mask R-CNN"]) == 1
    strict = instance_table(at)
    assert strict is None or ((strict["score"] >= 0.95).all() and len(strict) <= len(shown))
    widget(at.slider, "Min confidence").set_value(0.05).run()
    assert len(instance_table(at)) >= len(shown)
    widget(at.slider, "Max instances").set_value(1).run()
    assert len(instance_table(at)) == 1
    widget(at.slider, "Max instances").set_value(10).run()
    widget(at.multiselect, "Hide classes").set_value(sorted(set(shown["class"]))).run()
    left = instance_table(at)  # the sidebar's model-settings table stays: look for the instance table
    if left is None:
        assert any(c.value == "No instance passes these settings." for c in at.caption)
    else:
        assert not set(left["class"]) & set(shown["class"])
    widget(at.slider, "Mask opacity").set_value(0.9).run()
    widget(at.toggle, "Boxes").set_value(False).run()
    widget(at.toggle, "Labels").set_value(False).run()
    widget(at.slider, "Threshold").set_value(0.3).run()
    assert not at.exception
    assert len(model_calls["Mask R-CNN"]) == 1 and len(model_calls["U-Net"]) == 1
    assert model_calls["Mask R-CNN"][0]["min_confidence"] == 0.0  # it kept everything; the page filtered
    lines = [m.value for m in at.markdown if m.value.startswith("**")]
    assert lines and all("cached, no model ran" in line for line in lines)
    assert "Mask R-CNN: mean of 1 photo" in metric_labels(at)


def test_session_mean_counts_each_distinct_photo_once(ccp_root, model_calls):
    at = folder_page(ccp_root / "photos", ["0001.jpg"])
    assert "Mask R-CNN: mean of 1 photo" in metric_labels(at)
    widget(at.multiselect, "Photos").set_value(["0001.jpg", "0002.jpg"]).run()
    assert "Mask R-CNN: mean of 2 photos" in metric_labels(at)
    widget(at.slider, "Mask opacity").set_value(0.2).run()
    widget(at.slider, "Min confidence").set_value(0.3).run()
    widget(at.slider, "Threshold").set_value(0.3).run()
    assert "Mask R-CNN: mean of 2 photos" in metric_labels(at) and "U-Net cutout: mean of 2 photos" in metric_labels(at)
    widget(at.multiselect, "Photos").set_value(["0002.jpg"]).run()
    widget(at.multiselect, "Photos").set_value(["0002.jpg", "0001.jpg"]).run()
    assert "Mask R-CNN: mean of 2 photos" in metric_labels(at)
    assert len(model_calls["Mask R-CNN"]) == 2
    assert any("a model ran on 0 of 2 photos" in c.value for c in at.caption)


def test_a_photo_cached_by_another_session_is_not_timed_again(ccp_root, model_calls):
    folder_page(ccp_root / "photos", ["0001.jpg"])
    at = folder_page(ccp_root / "photos", ["0001.jpg"])  # a second browser session, same photo
    assert len(model_calls["Mask R-CNN"]) == 1
    assert not at.metric  # nothing ran in this session, so there is nothing to average
    assert any("No model ran in this session yet" in c.value for c in at.caption)


# ---------------------------------------------------------------- page states


def test_camera_only_on_request(monkeypatch):
    at = page_with_uploads(monkeypatch, [])
    assert not at.get("camera_input")
    widget(at.toggle, "Use the camera").set_value(True).run()
    assert not at.exception and len(at.get("camera_input")) == 1


def test_without_a_model_chosen_the_page_says_to_choose_one(monkeypatch):
    at = page_with_uploads(monkeypatch, [])
    widget(at.multiselect, "Run").set_value([]).run()
    assert not at.exception
    assert any("Choose a model" in i.value for i in at.info)
    assert not any("Add a photo" in e.value for e in [*at.info, *at.caption])


def test_sample_photos_from_the_data_folder(ccp_root):
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert any("Add a photo to start" in i.value for i in at.info)
    widget(at.button, "Try the sample photos").click().run()
    assert not at.exception
    assert [s.value.split(" ", 1)[1].replace("\\", "") for s in at.subheader[: len(SAMPLE_PHOTOS)]] == list(
        SAMPLE_PHOTOS
    )


def test_without_the_data_folder_the_page_says_how_to_add_photos(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHIONSEG_CCP_ROOT", str(tmp_path / "nowhere"))
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception
    assert not [b for b in at.button if b.label == "Try the sample photos"]
    assert any("not at" in i.value and "Upload tab" in i.value for i in at.info)


def test_a_broken_model_folder_is_an_error_box_not_a_traceback(monkeypatch, tmp_path):
    shutil.copytree(
        ROOT / "weights" / "unet_mobilenet_v2_320", tmp_path / "unet", ignore=shutil.ignore_patterns("*.h5", "*.onnx")
    )
    (tmp_path / "maskrcnn").mkdir()
    (tmp_path / "maskrcnn" / "config.json").write_text("{not json")
    (tmp_path / "maskrcnn" / "model.weights.h5").write_bytes(b"")
    (tmp_path / "defaults.json").write_text(json.dumps({"maskrcnn": "maskrcnn", "unet": "unet"}))
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = page_with_uploads(monkeypatch, [Upload("a.png", photo_bytes(4))])
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]  # shown as text: markdown characters escaped
    assert any(e.startswith("Mask R-CNN: ") and "config.json: not valid JSON" in e for e in errors)
    assert any(
        e.startswith("U-Net: ") and "model.weights.h5" in e for e in errors
    )  # found when it loads, shown the same way


# ---------------------------------------------------------------- the package functions the page calls


def fake_detections(scores_by_class: list[tuple[str, float]]) -> InstanceDetections:
    names = MaskRCNNConfig().CLASS_NAMES[1:]
    mask = np.zeros((4, 4), bool)
    return InstanceDetections(
        [Detection(names.index(n), n, s, (0, 0, 1, 1), 0, PackedMask.pack(mask), mask) for n, s in scores_by_class],
        4,
        4,
        {},
        0.0,
    )


def test_the_default_confidence_means_the_models_own_per_class_thresholds():
    config = MaskRCNNConfig(
        DETECTION_MIN_CONFIDENCE=0.7,
        DETECTION_MIN_CONFIDENCE_PER_CLASS={"shoe": 0.3},
        DETECTION_MAX_PER_CLASS={"shoe": 2},
    )
    found = fake_detections([("pants", 0.9), ("shoe", 0.5), ("shoe", 0.4), ("shoe", 0.35), ("bag, wallet", 0.6)])
    assert [(d.class_name, d.score) for d in select_instances(found, config).instances] == [
        ("pants", 0.9),
        ("shoe", 0.5),
        ("shoe", 0.4),
    ]
    chosen = select_instances(found, config, min_confidence=0.45, max_per_class={})
    assert [(d.class_name, d.score) for d in chosen.instances] == [("pants", 0.9), ("bag, wallet", 0.6), ("shoe", 0.5)]
    assert len(select_instances(found, config, min_confidence=0.0, max_instances=2).instances) == 2


def test_filtering_kept_detections_gives_what_the_predictor_gives(ccp_root):
    from fashionseg.models.maskrcnn.predictor import InstanceSegmenter

    path = trained("maskrcnn")
    segmenter = InstanceSegmenter.load(path)
    config = maskrcnn_config(path)
    data = (ccp_root / "photos" / "0044.jpg").read_bytes()
    source = PhotoSource(data)
    found = run_instances(segmenter, source, display_photo(source).shape)
    for options in ({}, {"min_confidence": 0.3, "max_instances": 3, "max_per_class": {"shoe": 1}}):
        expected = segmenter.predict(data, **options).instances
        got = select_instances(found, config, **options).full_result().instances
        assert [(i.class_name, i.score) for i in got] == [(i.class_name, i.score) for i in expected]
        assert all((g.mask == e.mask).all() for g, e in zip(got, expected))


def test_a_12_mp_photo_is_drawn_at_display_size_and_downloaded_at_full_size(ccp_root):
    from fashionseg.models.unet.predictor import GarmentSegmenter

    image = Image.open(ccp_root / "photos" / "0044.jpg").resize((2832, 4240))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    source = PhotoSource(buffer.getvalue())
    shown = display_photo(source)
    assert shown.shape == (1024, 684) and (shown.height, shown.width) == (4240, 2832)
    segmenter = GarmentSegmenter.load(trained("unet"))
    cut = run_cutout(segmenter, source, shown.shape, 0.5, False)
    assert cut.display_probability.shape == shown.shape and cut.probability.shape == (4240, 2832)
    full = np.asarray(Image.open(io.BytesIO(cut.cutout_png(buffer.getvalue(), 0.6))))
    expected = segmenter.predict(buffer.getvalue(), threshold=0.6).mask
    assert (
        full.shape == (4240, 2832, 4) and np.mean((full[:, :, 3] > 0) != expected) < 1e-4
    )  # float16 kept: only ties differ


def test_labels_of_overlapping_instances_do_not_collide():
    sizes = [(80, 20)] * 4
    boxes = [(10, 40, 60, 120), (12, 42, 62, 118), (14, 41, 58, 121), (11, 39, 61, 119)]  # four shoes in one place
    rects = place_labels(boxes, sizes, 200, 200)
    for k, a in enumerate(rects):
        assert a[0] >= 0 and a[2] <= 200 and a[1] >= 0 and a[3] <= 200
        for b in rects[k + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    mask = np.zeros((200, 200), bool)
    mask[40:120, 10:60] = True
    out = draw_instances(np.zeros((200, 200, 3), np.uint8), [("shoe", 1.0, box, mask) for box in boxes])
    assert out.shape == (200, 200, 3)


def test_result_cache_keeps_within_its_bytes_and_reports_what_ran():
    cache = ResultCache(max_bytes=100)
    _value, ran = cache.get_or_compute("a", lambda: np.zeros(60, np.uint8))
    assert ran and cache.get_or_compute("a", lambda: pytest.fail("computed twice"))[1] is False
    cache.put("b", np.zeros(60, np.uint8))
    assert cache.get("a") is None and cache.get("b") is not None and len(cache) == 1


def test_timing_log_counts_photos_by_content():
    log = TimingLog()
    log.add("Mask R-CNN", "digest-a", 0.4, "image.jpg", {"model": 0.3})
    log.add("Mask R-CNN", "digest-a", 0.9, "image.jpg", {"model": 0.8})  # the same photo again
    log.add("Mask R-CNN", "digest-b", 0.2, "image.jpg", {"model": 0.1})  # another photo, same name
    assert log.count("Mask R-CNN") == 2 and log.mean("Mask R-CNN") == pytest.approx(0.3)
    assert len(log.stage_rows()) == 2
