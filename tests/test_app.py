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
    assert any("Mask R-CNN" in i.value and "no trained model yet" in i.value for i in at.info)


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
