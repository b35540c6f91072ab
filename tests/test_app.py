"""The app's pages, driven through Streamlit's AppTest."""

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fashionseg.app import experiments_view as dashboard

pytestmark = pytest.mark.slow  # whole pages under AppTest, with the trained models

ROOT = Path(__file__).resolve().parent.parent


def ok(at: AppTest) -> AppTest:
    """``at`` after a run that raised nothing (AppTest keeps a page's exception instead of raising it)."""
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_landing_page_says_plainly_that_no_model_is_trained(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = ok(AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run())
    assert at.title[0].value == "FashionSeg"
    assert len([i for i in at.info if "no trained model yet" in i.value]) == 2


def test_landing_page_names_the_default_models():
    at = ok(AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run())
    from fashionseg.settings import default_weights

    unet, maskrcnn = default_weights("unet").name, default_weights("maskrcnn").name
    assert any(f"Garment cutout (U-Net): model {unet}" in s.value for s in at.success)
    assert any(f"Instance segmentation (Mask R-CNN): model {maskrcnn}" in s.value for s in at.success)


def test_landing_page_reports_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHIONSEG_CCP_ROOT", str(tmp_path / "nowhere"))
    at = ok(AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run())
    assert any("No CCP data" in w.value for w in at.warning)


def test_classes_page_shows_mappings_and_filters_dropped():
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "classes.py"), default_timeout=30).run())
    classes = at.table[0].value
    assert list(classes["annotation id"]) == list(range(11)) and classes.loc[8, "name"] == "shoe"
    assert classes["in base set"].sum() == 5
    ok(at.selectbox[0].select("client").run())
    table = at.dataframe[0].value
    assert table.loc[table["label"] == "shoes", "objects per label"].item() == 2
    ok(at.selectbox[0].select("ccp").run())
    assert at.dataframe[0].value["dropped"].any()
    ok(at.toggle[0].set_value(False).run())
    assert not at.dataframe[0].value["dropped"].any()


def test_navigation_reaches_the_classes_page():
    at = ok(AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run())
    ok(at.switch_page("app_pages/classes.py").run())
    assert at.title[0].value == "Classes and label mappings"


def test_segment_page_says_plainly_when_no_model_is_trained(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "segment.py"), default_timeout=30).run())
    assert len([i for i in at.info if "no trained model yet" in i.value]) == 2
    assert not at.file_uploader  # nothing to run, so nothing to upload


def test_segment_page_runs_both_pipelines_on_a_folder_photo(ccp_root):
    from fashionseg.app.resources import result_cache
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig
    from fashionseg.settings import default_weights

    result_cache().clear()  # shared by every session of the process: this one must run the models itself
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "segment.py"), default_timeout=300).run())
    photos = next(m for m in at.multiselect if m.label == "Photos")
    ok(photos.select(sorted(p.name for p in (ccp_root / "photos").glob("*.jpg"))[0]).run())
    table = at.dataframe[0].value
    threshold = next(s for s in at.slider if s.label == "Min confidence").value  # the model's DETECTION_MIN_CONFIDENCE
    # slider untouched: each class is kept from its own threshold where the model has one
    per_class = MaskRCNNConfig.load(default_weights("maskrcnn") / "config.json").DETECTION_MIN_CONFIDENCE_PER_CLASS
    floors = table["class"].map(lambda name: per_class.get(name, threshold))
    assert set(table.columns) >= {"class", "score", "area %"} and (table["score"] >= floors).all() and len(table)
    assert (table["class"] == "shoe").sum() <= 2
    labels = [m.label for m in at.metric]
    assert "Mask R-CNN: mean of 1 photo" in labels
    settings = next(d.value for d in at.sidebar.dataframe)
    assert settings.set_index("setting").loc["BACKBONE", "value"] == "mobilenet_v2"
    assert "U-Net cutout: mean of 1 photo" in labels
    assert {b.label for b in at.get("download_button")} >= {
        "Predictions (COCO JSON)",
        "Masks (PNG, zip)",
        "Cutout (RGBA PNG)",
    }
    # A settings change only redraws: the session still counts one photo.
    ok(next(s for s in at.slider if s.label == "Mask opacity").set_value(0.8).run())
    assert "Mask R-CNN: mean of 1 photo" in [m.label for m in at.metric]
    # A stricter threshold shows fewer instances, never more.
    ok(next(s for s in at.slider if s.label == "Min confidence").set_value(0.95).run())
    shown = at.dataframe[0].value if at.dataframe else table.iloc[:0]
    assert sorted(shown["score"]) == sorted(table.loc[table["score"] >= 0.95, "score"])


# ---------------------------------------------------------------- Annotate


def annotate_page(monkeypatch, store_path, weights=None):
    monkeypatch.setenv("FASHIONSEG_STORE", str(store_path))
    if weights is not None:
        monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(weights))
    return ok(AppTest.from_file(str(ROOT / "app_pages" / "annotate.py"), default_timeout=120).run())


def plain(markdown: str) -> str:
    """Shown text without the backslashes that keep file names from being read as markup."""
    return markdown.replace("\\", "")


def button(at, prefix):
    return next(b for b in at.button if b.label.startswith(prefix))


def test_annotate_page_imports_a_folder_of_photos_into_an_empty_store(monkeypatch, tmp_path):
    import numpy as np
    from PIL import Image

    from fashionseg.store import AnnotationStore

    monkeypatch.setenv("FASHIONSEG_CCP_ROOT", str(tmp_path / "no-ccp"))  # a fresh install: no sample data either
    at = annotate_page(monkeypatch, tmp_path / "fresh.db", weights=tmp_path)
    assert "has no data set yet" in at.info[0].value
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for k, where in enumerate(("a.jpg", "sub/b.png")):
        Image.fromarray(np.full((40, 30, 3), 50 * k, np.uint8)).save(photos / where)
    (photos / "broken.jpg").write_bytes(b"not a photo")
    ok(at.radio(key="import-source-main").set_value("Folder on this machine").run())
    ok(at.text_input(key="folder-main").input(str(photos)).run())
    ok(at.text_input(key="import-name-main-folder").input("mine").run())
    ok(button(at, "Import").click().run())
    # One broken photo refuses the whole import, saying which; nothing is stored.
    assert any("broken.jpg: " in plain(e.value) and "Nothing was imported" in e.value for e in at.error)
    assert AnnotationStore(tmp_path / "fresh.db").datasets() == []
    (photos / "broken.jpg").unlink()
    ok(button(at, "Import").click().run())
    store = AnnotationStore(tmp_path / "fresh.db")
    assert store.datasets() == ["mine"] and [im.file_name for im in store.images("mine")] == ["a.jpg", "sub/b.png"]
    assert at.sidebar.selectbox(key="annotate_dataset").value == "mine"
    assert any("Imported the data set mine" in s.value for s in at.success)
    assert any(plain(c.value).startswith("a.jpg · 30 x 40 · revision 0") for c in at.caption)


def test_annotate_page_draws_relabels_saves_and_undoes(monkeypatch, tmp_path, synthetic_store):
    from fashionseg.store import AnnotationStore

    path, name = synthetic_store
    at = annotate_page(monkeypatch, path, weights=tmp_path)  # no model: images start from the store
    assert at.sidebar.progress[0].value == 0 and "0 of 4 reviewed" in at.sidebar.progress[0].proto.text
    assert button(at, "Save and mark reviewed").disabled  # no annotator name yet
    ok(at.sidebar.text_input[0].input("Ann").run())
    assert [s.value for s in at.selectbox if s.label == "Class of pants 1"] == ["pants"]
    # Draw a rectangle on the canvas (what streamlit-drawable-canvas sends back) as a new shoe instance.
    first = AnnotationStore(path).images(name)[0]
    canvas_key = f"canvas-{first.id}-0"  # image id, drawing round
    assert canvas_key in at.session_state
    at.session_state[canvas_key] = {
        "drawing": {
            "raw": {
                "objects": [
                    {"type": "rect", "left": 0, "top": 0, "width": 20, "height": 10, "strokeWidth": 0, "stroke": "x"}
                ]
            },
            "data": None,
        },
        "backgroundFit": None,
    }
    ok(next(s for s in at.selectbox if s.label == "New instance's class").select("shoe").run())
    ok(button(at, "Apply drawing (1)").click().run())
    assert [c.label for c in at.main.checkbox] == ["pants 1", "shoe 1"]  # numbered per class, as on the canvas
    ok(next(s for s in at.selectbox if s.label == "Class of pants 1").select("skirt").run())
    ok(button(at, "Save and mark reviewed").click().run())
    store = AnnotationStore(path)
    saved = {a.category_name: a for a in store.annotations(first.id)}
    assert set(saved) == {"skirt", "shoe"} and saved["shoe"].area == 200 and saved["shoe"].author == "Ann"
    assert store.image(first.id).reviewed and "1 of 4 reviewed" in at.sidebar.progress[0].proto.text
    assert any(plain(c.value).startswith("p1.png · ") for c in at.caption)  # moved on to the next image
    assert any(plain(c.value).startswith("Saved p0.png (revision 1)") for c in at.caption)
    # Previous reaches the image just saved, though the list shows only images still to review.
    ok(button(at, "Previous").click().run())
    assert any(plain(c.value).startswith("p0.png · 60 x 90 · revision 1 · reviewed") for c in at.caption)
    ok(button(at, "Next").click().run())
    # Undo that save from the next image: back on the first one, the ground truth returns, unreviewed.
    ok(button(at, "Undo that save").click().run())
    assert [a.category_name for a in store.annotations(first.id)] == ["pants"] and not store.image(first.id).reviewed
    assert any(plain(c.value).startswith("p0.png · 60 x 90 · revision 2 · not reviewed yet") for c in at.caption)
    assert [s.value for s in at.selectbox if s.label == "Class of pants 1"] == ["pants"]


def test_annotate_page_exports_reviewed_images_only_or_all(monkeypatch, tmp_path, synthetic_store):
    import json

    path, name = synthetic_store
    at = annotate_page(monkeypatch, path, weights=tmp_path)
    ok(at.sidebar.text_input[0].input("Ann").run())
    ok(button(at, "Save and mark reviewed").click().run())  # accept p0 as it is
    ok(at.sidebar.button(key="export-True").click().run())
    download = at.sidebar.get("download_button")[0]
    assert download.proto.label == "Download 1 images (reviewed)"
    ok(at.sidebar.button(key="export-False").click().run())
    assert at.sidebar.get("download_button")[0].proto.label == "Download 4 images (all)"
    from fashionseg.annotation.review import reviewed_only
    from fashionseg.store import AnnotationStore, export_coco

    document = reviewed_only(export_coco(AnnotationStore(path), name))
    assert [im["file_name"] for im in document["images"]] == ["p0.png"] and len(document["annotations"]) == 1
    assert {x["image_id"] for x in document["image_labels"]} == {1}
    json.dumps(document)


def test_annotate_page_reports_a_conflict_with_who_and_when_and_keeps_the_edits(monkeypatch, tmp_path, synthetic_store):
    from fashionseg.annotation.draft import Draft
    from fashionseg.store import AnnotationStore

    path, name = synthetic_store
    at = annotate_page(monkeypatch, path, weights=tmp_path)
    ok(at.sidebar.text_input[0].input("Ann").run())
    ok(next(c for c in at.checkbox if c.label == "pants 1").uncheck().run())  # reject the pants
    store = AnnotationStore(path)
    image = store.images(name)[0]
    theirs = Draft.from_store(store, image)
    theirs.relabel(0, "dress")
    theirs.save(store, name, "Bob")  # Bob saves first
    stamp = store.history(name, image.id)[-1]["at"].replace("T", " ")[:16]
    ok(button(at, "Save and mark reviewed").click().run())
    assert any("saved by Bob at " + stamp in plain(e.value) for e in at.error), [e.value for e in at.error]
    assert [a.category_name for a in store.annotations(image.id)] == ["dress"]
    assert not next(c for c in at.checkbox if c.label == "pants 1").value  # the rejection is still there
    ok(button(at, "Keep my version").click().run())
    ok(button(at, "Save and mark reviewed").click().run())
    assert store.annotations(image.id) == [] and store.image(image.id).reviewed


def test_annotate_page_never_gives_an_added_label_a_class_by_default(monkeypatch, tmp_path, synthetic_store):
    from fashionseg.store import AnnotationStore

    path, name = synthetic_store
    at = annotate_page(monkeypatch, path, weights=tmp_path)
    ok(at.sidebar.text_input[0].input("Ann").run())
    image = AnnotationStore(path).images(name)[0]
    ok(at.radio(key="annotate_view").set_value("Labels").run())
    ok(at.text_input(key=f"new-raw-{image.id}-0").input("scarf").run())
    assert any("'scarf' is not in this data set's label mapping" in plain(w.value) for w in at.warning)
    assert button(at, "Save labels").disabled  # nothing counted until its class is chosen
    ok(at.selectbox(key=f"new-label-class-{image.id}-0").select("(dropped)").run())
    ok(button(at, "Save labels").click().run())
    store = AnnotationStore(path)
    assert ("scarf", None, 0) in [(x.raw_label, x.category_id, x.count) for x in store.image_labels(image.id)]
    # A word the mapping knows gets the mapping's classes: 'jean' -> pants.
    ok(at.text_input(key=f"new-raw-{image.id}-1").input("jean").run())
    assert not [w for w in at.warning if "jean" in w.value]
    ok(button(at, "Save labels").click().run())
    assert ("jean", 4, 1) in [(x.raw_label, x.category_id, x.count) for x in store.image_labels(image.id)]


def test_annotate_page_edits_labels_and_the_mapping_with_multiplicity(monkeypatch, tmp_path, synthetic_store):
    from fashionseg.store import AnnotationStore

    path, name = synthetic_store
    at = annotate_page(monkeypatch, path, weights=tmp_path)
    ok(at.sidebar.text_input[0].input("Ann").run())
    ok(at.radio(key="annotate_view").set_value("Labels").run())
    ok(next(s for s in at.selectbox if s.label == "Class for hat").select("bag, wallet").run())
    ok(next(n for n in at.number_input if n.key.startswith("label-count-") and n.key.endswith("-1")).set_value(1).run())
    ok(button(at, "Save labels").click().run())
    store = AnnotationStore(path)
    image = store.images(name)[0]
    assert [(x.raw_label, x.category_id, x.count) for x in store.image_labels(image.id)] == [
        ("shoes", 8, 2),
        ("hat", 9, 1),
    ]
    # Mapping: 'hat' -> 2 x umbrella, then re-map every image.
    ok(at.radio(key="annotate_view").set_value("Label mapping").run())
    ok(next(s for s in at.selectbox if s.label == "Client label").select("hat").run())
    ok(next(m for m in at.multiselect if m.label == "Maps to").select("umbrella").run())
    ok(next(n for n in at.number_input if n.label == "Objects of umbrella per label").set_value(2).run())
    ok(button(at, "Save rule").click().run())
    assert store.get_mapping(name).rules["hat"] == ("umbrella", "umbrella")
    ok(button(at, "Re-map every image's labels").click().run())
    assert any("4 images changed" in s.value for s in at.success)
    assert ("hat", 10, 2) in [
        (x.raw_label, x.category_id, x.count) for x in store.image_labels(store.images(name)[3].id)
    ]
    ok(at.sidebar.button(key="export-False").click().run())  # build the COCO export of every image
    assert [b.proto.label for b in at.sidebar.get("download_button")] == ["Download 4 images (all)"]


def test_annotate_page_starts_unannotated_photos_from_the_model(monkeypatch, tmp_path, ccp_root, ccp_subset):
    from fashionseg.store import AnnotationStore, import_coco

    store = AnnotationStore(tmp_path / "ccp.db")
    import_coco(store, ccp_subset / "client.json", ccp_root / "photos", "client")
    at = annotate_page(monkeypatch, tmp_path / "ccp.db")
    assert any("Pre-annotation" in i.value for i in at.info)
    assert any(c.value.startswith("model · score") for c in at.caption)
    ok(button(at, "Pre-annotate the data set").click().run())
    total = len(store.images("client"))
    assert any(f"pre-annotated {total} images" in plain(s.value) for s in at.sidebar.success)


# ---------------------------------------------------------------- Experiments and Errors


def test_experiments_page_compares_runs_with_the_thesis_reference():
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "experiments.py"), default_timeout=60).run())
    table = at.dataframe[0].value
    ours = table[table["source"] == "ours"]
    assert len(ours) >= 1 and set(table.loc[table["source"] == "thesis (reference)", "run id"]) == {
        f"{k} (thesis)" for k in [f"Base{k}" for k in range(1, 5)] + [f"Full{k}" for k in range(1, 5)]
    }
    assert {"EMR", "OA", "JSS", "mAP@50", "F1", "Class_C", "Segmentation", "Speed", "TO", "TTO"} <= set(table.columns)
    assert len(at.get("plotly_chart")) >= 3  # TTO, quality vs latency, per class (+ loss curves)
    # First shown: the default model's newest evaluation first, not merely the newest records.
    from fashionseg.settings import default_weights

    assert ours.iloc[0]["weights"] == default_weights("maskrcnn").name
    ok(at.toggle[0].set_value(False).run())
    assert set(at.dataframe[0].value["source"]) == {"ours"}
    per_class = next(d.value for d in at.dataframe if "image precision" in d.value.columns)
    assert len(per_class) == 11 and {
        "accuracy",
        "image recall",
        "image F1",
        "instance precision",
        "instance F1",
    } <= set(per_class.columns)
    umbrella = per_class.set_index("class").loc["umbrella"]
    assert umbrella["accuracy"] == 1.0 and pd.isna(umbrella["image precision"]) and pd.isna(umbrella["image recall"])


def test_experiments_page_keeps_same_named_runs_apart_and_labels_the_time_axis(tmp_path, monkeypatch):
    import json
    import shutil

    from fashionseg.evaluation.registry import list_records

    monkeypatch.setenv("FASHIONSEG_EXPERIMENTS", str(tmp_path))
    original = next(r for r in list_records("maskrcnn", registry=ROOT / "experiments") if "robust" in r["run"])
    for k, (stamp, seconds) in enumerate((("2026-11-26T16:18:07+00:00", 0.07), ("2026-11-27T10:00:00+00:00", 0.5))):
        record = {key: value for key, value in original.items() if key != "path"}
        record["evaluated_at"] = stamp
        record["metrics"] = {**record["metrics"], "test": {**record["metrics"]["test"], "inference_seconds": seconds}}
        (tmp_path / f"2026112{k}_maskrcnn_same.json").write_text(json.dumps(record))
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "experiments.py"), default_timeout=60).run())
    runs = at.multiselect(key="experiment_runs")
    assert len(runs.options) == 2 and runs.options[0] != runs.options[1]  # one name, two runs
    assert runs.value == [runs.options[1]]  # the model's newest evaluation
    ok(runs.set_value(runs.options).run())
    tto = at.get("plotly_chart")[0].proto.spec
    assert len(set(json.loads(tto)["data"][0]["y"])) == 2  # two bars, not one stacked bar
    axis = json.loads(at.get("plotly_chart")[1].proto.spec)["layout"]["xaxis"]
    assert axis["type"] == "log" and axis["ticktext"][:3] == ["20 ms", "50 ms", "100 ms"] and "5 s" in axis["ticktext"]
    shutil.rmtree(tmp_path)


def test_errors_page_filters_sorts_and_opens_a_photo_in_a_dialog_to_flag(ccp_root, tmp_path, monkeypatch):
    from fashionseg.annotation.review import flags
    from fashionseg.store import AnnotationStore, import_coco
    from fashionseg.store.photo_import import photos_document

    monkeypatch.setenv("FASHIONSEG_STORE", str(tmp_path / "store.db"))
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "errors.py"), default_timeout=120).run())
    assert len(at.get("image")) == 2 * 12  # a page of 12 errors, ground truth and prediction each
    ok(at.multiselect[0].select("dress").run())
    ok(at.multiselect[1].set_value(["confusion"]).run())
    ok(next(s for s in at.selectbox if s.label == "Sort by").select("IoU (highest first)").run())
    captions = [plain(c.value) for c in at.caption if " · " in c.value and "jpg" in c.value]
    assert captions and all("confusion" in c and "dress" in c for c in captions)
    file_name = captions[0].split(" · ")[0]
    ok(at.button[0].click().run())
    assert any(
        plain(m.value).startswith(f"{file_name}: confusion") for m in at.markdown
    )  # the dialog, with the whole photo
    assert any("in no data set of the annotation store" in i.value for i in at.info)
    # With the photo in a data set, its ground truth can be flagged from the dialog.
    store = AnnotationStore(tmp_path / "store.db")
    import_coco(store, photos_document(ccp_root / "photos", [file_name]), ccp_root / "photos", "ccp-val")
    ok(at.button[0].click().run())
    next(t for t in at.text_input if t.label == "What is wrong with the ground truth?").input(
        "the dress is not annotated"
    )
    next(t for t in at.text_input if t.label == "Your name").input("Dana")
    ok(next(b for b in at.button if b.label == "Flag it").click().run())
    assert [(f["file_name"], f["author"], f["note"]) for f in flags(store, "ccp-val")] == [
        (file_name, "Dana", "the dress is not annotated")
    ]
    assert any(b.label == "Open in Annotate" for b in at.button)


def test_segment_page_refuses_a_file_that_is_not_a_photo(tmp_path):
    (tmp_path / "<b>x<i>.jpg").write_bytes(b"not a photo")
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "segment.py"), default_timeout=120).run())
    ok(
        next(t for t in at.text_input if t.label == "Folder").input(str(tmp_path)).run()
    )  # the folder tab stands in for an upload
    ok(next(m for m in at.multiselect if m.label == "Photos").select("<b>x<i>.jpg").run())
    assert any("not an image" in e.value for e in at.error)
    assert not at.metric  # no session mean from refused photos


def test_experiments_page_compares_models_on_robustness_variants(tmp_path, monkeypatch):
    from fashionseg.evaluation.registry import record_evaluation

    monkeypatch.setenv("FASHIONSEG_EXPERIMENTS", str(tmp_path))
    for run, waist, options in (
        ("old model", 0.15, {}),
        ("old model", 0.2, {}),
        ("robust model", 0.5, {}),
        ("robust model, ablation", 0.4, {"focus": False}),
    ):
        variants = {
            "original": {"map50": 0.65, "classification_score": 0.45, "f1": 0.6, "inference_seconds": 0.07},
            "waist_up": {"map50": waist, "classification_score": 0.3, "f1": 0.3, "inference_seconds": 0.06},
        }
        record_evaluation(
            "robustness",
            run,
            {"variants": variants},
            config={"model_kind": "maskrcnn", "predict_options": options},
            data={"photos": 10},
            registry=tmp_path,
            weights="weights/" + run.split(",")[0].replace(" ", "_"),
        )
    at = ok(AppTest.from_file(str(ROOT / "app_pages" / "experiments.py"), default_timeout=60).run())
    chosen = at.multiselect(key="robustness_runs")
    assert len(chosen.options) == 4  # same-named runs stay apart (name + time)
    # by default: the newest run of each model as shipped, not the ablation
    assert (
        len(chosen.value) == 2
        and chosen.value[0].startswith("old model")
        and chosen.value[-1].startswith("robust model ·")
    )
    assert chosen.value[0] == chosen.options[1]  # the newer of the two old-model runs
    table = at.dataframe[-1].value
    # the robustness command's order, though the registry stores variants sorted by name
    assert list(table.index) == ["original", "waist_up"] and table.loc["waist_up", chosen.value[-1]] == 0.5
    assert dashboard.variant_order(["wide_0.3", "original", "custom", "group"]) == [
        "original",
        "wide_0.3",
        "group",
        "custom",
    ]
    ok(at.radio(key="robustness_kind").set_value("unet").run())
    assert not at.exception and any("No robustness run" in i.value for i in at.info)


def test_errors_page_opens_the_photo_in_annotate(ccp_root, tmp_path, monkeypatch):
    from fashionseg.store import AnnotationStore, import_coco
    from fashionseg.store.photo_import import photos_document

    monkeypatch.setenv("FASHIONSEG_STORE", str(tmp_path / "store.db"))
    at = ok(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run())
    ok(at.switch_page("app_pages/errors.py").run())
    file_name = plain(next(c.value for c in at.caption if " · " in c.value and "jpg" in c.value)).split(" · ")[0]
    store = AnnotationStore(tmp_path / "store.db")
    names = sorted({file_name, "0001.jpg", "0002.jpg"})  # the photo among others, so opening it is not the default
    import_coco(store, photos_document(ccp_root / "photos", names), ccp_root / "photos", "ccp-val")
    ok(next(b for b in at.button if b.label == "Full photo").click().run())
    ok(next(b for b in at.button if b.label == "Open in Annotate").click().run())
    assert at.title[0].value == "Annotate"
    assert any(plain(c.value).startswith(f"{file_name} · ") for c in at.caption)
