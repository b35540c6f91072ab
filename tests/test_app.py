"""The app's pages, driven through Streamlit's AppTest."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def test_landing_page_says_plainly_that_no_model_is_trained(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "FashionSeg"
    assert len([i for i in at.info if "no trained model yet" in i.value]) == 2


def test_landing_page_names_the_default_models():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert any("Garment cutout (U-Net): model unet_mobilenet_v2_320" in s.value for s in at.success)
    assert any("Instance segmentation (Mask R-CNN): model maskrcnn_mobilenet_v2_512" in s.value for s in at.success)


def test_landing_page_reports_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHIONSEG_CCP_ROOT", str(tmp_path / "nowhere"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert any("No CCP data" in w.value for w in at.warning)


def test_classes_page_shows_mappings_and_filters_dropped():
    at = AppTest.from_file(str(ROOT / "pages" / "classes.py"), default_timeout=30).run()
    assert not at.exception
    classes = at.table[0].value
    assert list(classes["annotation id"]) == list(range(11)) and classes.loc[8, "name"] == "shoe"
    assert classes["in base set"].sum() == 5
    at.selectbox[0].select("client").run()
    table = at.dataframe[0].value
    assert table.loc[table["label"] == "shoes", "objects per label"].item() == 2
    at.selectbox[0].select("ccp").run()
    assert at.dataframe[0].value["dropped"].any()
    at.toggle[0].set_value(False).run()
    assert not at.dataframe[0].value["dropped"].any()


def test_navigation_reaches_the_classes_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page("pages/classes.py").run()
    assert not at.exception
    assert at.title[0].value == "Classes and label mappings"


def test_segment_page_says_plainly_when_no_model_is_trained(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "pages" / "segment.py"), default_timeout=30).run()
    assert not at.exception
    assert len([i for i in at.info if "no trained model yet" in i.value]) == 2
    assert not at.file_uploader  # nothing to run, so nothing to upload


def test_segment_page_runs_both_pipelines_on_a_folder_photo(ccp_root):
    at = AppTest.from_file(str(ROOT / "pages" / "segment.py"), default_timeout=300).run()
    assert not at.exception
    photos = next(m for m in at.multiselect if m.label == "Photos")
    photos.select(sorted(p.name for p in (ccp_root / "photos").glob("*.jpg"))[0]).run()
    assert not at.exception
    table = at.dataframe[0].value
    threshold = next(s for s in at.slider if s.label == "Min confidence").value  # the model's DETECTION_MIN_CONFIDENCE
    assert set(table.columns) >= {"class", "score", "area %"} and (table["score"] >= threshold).all() and len(table)
    assert (table["class"] == "shoe").sum() <= 2
    labels = [m.label for m in at.metric]
    assert any(label.startswith("Mask R-CNN: mean of 1 photos") for label in labels)
    settings = next(d.value for d in at.sidebar.dataframe)
    assert settings.set_index("setting").loc["BACKBONE", "value"] == "mobilenet_v2"
    assert any(label.startswith("U-Net cutout: mean of 1 photos") for label in labels)
    assert {b.label for b in at.get("download_button")} >= {"Predictions (COCO JSON)", "Masks (PNG, zip)", "Cutout (RGBA PNG)"}
    # Redrawing with the same photo and settings reuses the result: the session still counts one run.
    next(s for s in at.slider if s.label == "Mask opacity").set_value(0.8).run()
    assert any(m.label.startswith("Mask R-CNN: mean of 1 photos") for m in at.metric)
    # A stricter threshold shows fewer instances, never more.
    next(s for s in at.slider if s.label == "Min confidence").set_value(0.95).run()
    assert len(at.dataframe[0].value if at.dataframe else []) <= len(table)
