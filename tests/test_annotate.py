"""Annotation drafts, label edits and batch pre-annotation against a real store."""


import numpy as np
import pytest

from fashionseg.annotate import Draft, LabelRow, label_rows, preannotate, review_queue, rule_from_counts, save_label_rows
from fashionseg.canvas import CanvasFrame
from fashionseg.maskrcnn.predictor import Instance, SegmentationResult
from fashionseg.store import AnnotationStore, ConflictError, StoreError, export_coco


class FakeSegmenter:
    """Stands in for the Mask R-CNN: one pants and one umbrella per photo, counting its calls."""

    def __init__(self, fail_on: str | None = None):
        self.calls, self.fail_on = 0, fail_on

    def predict(self, source):
        self.calls += 1
        if self.fail_on and str(source).endswith(self.fail_on):
            from fashionseg.images import ImageLoadError

            raise ImageLoadError("not an image")
        mask = np.zeros((90, 60), bool)
        mask[10:40, 5:25] = True
        return SegmentationResult([Instance(4, "pants", 0.9, (5, 10, 25, 40), mask),
                                   Instance(10, "umbrella", 0.6, (5, 10, 25, 40), mask)], 90, 60, {})


def rect(left, top, width, height, **extra):
    return {"type": "rect", "left": left, "top": top, "width": width, "height": height, "strokeWidth": 0, **extra}


def test_draft_edits_are_saved_exactly_and_reviewed(synthetic_store):
    path, name = synthetic_store
    store = AnnotationStore(path)
    image = store.images(name)[0]
    draft = Draft.from_store(store, image)
    assert [(i.class_name, i.origin, i.area) for i in draft.instances] == [("pants", "ground_truth", 600)]
    frame = CanvasFrame.fit(image.height, image.width, max_width=30)  # drawn at half size
    draft.draw(None, [rect(0, 0, 10, 5)], frame, "shoe")  # a new instance: photo pixels x 0-19, y 0-9
    draft.relabel(0, "skirt")
    assert draft.changed
    revision = draft.save(store, name, "ann")
    saved = {a.category_name: a for a in store.annotations(image.id)}
    assert set(saved) == {"skirt", "shoe"} and revision == image.revision + 1
    expected = np.zeros((90, 60), bool)
    expected[0:10, 0:20] = True
    np.testing.assert_array_equal(saved["shoe"].mask(), expected)
    assert saved["skirt"].origin == "annotator" and saved["skirt"].coco_id == 1  # relabelled, same annotation
    assert store.image(image.id).reviewed and store.review_progress(name) == (1, 4)
    assert [im.id for im in review_queue(store, name, only_unreviewed=True)] == [im.id for im in store.images(name)[1:]]


def test_a_conflicting_save_writes_nothing_and_keeps_the_draft(synthetic_store):
    path, name = synthetic_store
    alice, bob = AnnotationStore(path), AnnotationStore(path)
    image = alice.images(name)[0]
    mine = Draft.from_store(alice, image)
    mine.set_keep(0, False)
    theirs = Draft.from_store(bob, image)
    theirs.relabel(0, "dress")
    theirs.save(bob, name, "bob")
    with pytest.raises(ConflictError, match="by bob"):
        mine.save(alice, name, "alice")
    assert [a.category_name for a in alice.annotations(image.id)] == ["dress"]  # bob's save stands
    assert mine.changed and not mine.instances[0].keep  # alice's edit is still there to retry
    mine.revision = alice.image(image.id).revision  # "keep my version"
    mine.save(alice, name, "alice")
    assert alice.annotations(image.id) == []
    alice.undo(image.id, expected_revision=alice.image(image.id).revision, author="alice")
    assert [a.category_name for a in alice.annotations(image.id)] == ["dress"]


def test_model_drafts_keep_scores_and_unknown_sizes_are_refused(synthetic_store):
    path, name = synthetic_store
    store = AnnotationStore(path)
    image = store.images(name)[1]
    result = FakeSegmenter().predict("x")
    draft = Draft.from_prediction(image, result, ["pants"])  # the data set has no umbrella here
    assert [(i.class_name, i.origin, i.score) for i in draft.instances] == [("pants", "model", 0.9)]
    draft.save(store, name, "ann")
    (saved,) = store.annotations(image.id)
    assert (saved.origin, saved.score) == ("model", 0.9)
    wrong = SegmentationResult([], 10, 10, {})
    with pytest.raises(ValueError, match="decodes to 10 x 10"):
        Draft.from_prediction(image, wrong, ["pants"])


def test_label_rows_edit_and_rule_multiplicity(synthetic_store):
    path, name = synthetic_store
    store = AnnotationStore(path)
    image = store.images(name)[0]
    rows = label_rows(store, name, image.id)
    assert rows == [LabelRow("shoes", "shoe", 2), LabelRow("hat", None, 0)]
    save_label_rows(store, name, image, [LabelRow("shoes", "shoe", 1), LabelRow("hat", "bag, wallet", 1), LabelRow("jeans", "pants", 0)], "ann")
    assert label_rows(store, name, image.id) == [LabelRow("shoes", "shoe", 1), LabelRow("hat", "bag, wallet", 1), LabelRow("jeans", None, 0)]
    with pytest.raises(ConflictError):
        save_label_rows(store, name, image, rows, "ann")  # ``image`` is the revision before the save
    with pytest.raises(StoreError, match="no category"):
        save_label_rows(store, name, store.image(image.id), [LabelRow("x", "hat", 1)], "ann")
    assert rule_from_counts({"shoe": 2, "bag, wallet": 1}) == ["shoe", "shoe", "bag, wallet"]
    mapping = store.get_mapping(name).with_rule("hat", rule_from_counts({"shoe": 2}))
    store.set_mapping(name, mapping, "ann")
    assert store.remap_image_labels(name, "ann") == 4
    assert LabelRow("hat", "shoe", 2) in label_rows(store, name, store.images(name)[2].id)


def test_preannotate_skips_reviewed_and_annotated_images_and_reports_failures(synthetic_store):
    path, name = synthetic_store
    store = AnnotationStore(path)
    first, second, third, fourth = store.images(name)
    Draft.from_store(store, second).save(store, name, "ann")  # reviewed, with no instance
    segmenter = FakeSegmenter(fail_on="p3.png")
    seen = []
    report = preannotate(store, name, segmenter, model_name="fake", on_progress=lambda n, total, _: seen.append((n, total)))
    assert (report.annotated, report.instances, report.skipped, len(report.failed)) == (1, 2, 2, 1)
    assert "p3.png: not an image" in report.failed[0] and seen[-1] == (2, 2)
    (pants, umbrella) = store.annotations(third.id)
    assert (pants.origin, pants.author, umbrella.category_name) == ("model", "model:fake", "umbrella")
    assert not store.image(third.id).reviewed and store.annotations(second.id) == []
    assert [a.origin for a in store.annotations(first.id)] == ["ground_truth"]
    # a rerun does only what is left; --overwrite redoes unreviewed images, never reviewed ones
    assert preannotate(store, name, FakeSegmenter(fail_on="p3.png"), model_name="fake").annotated == 0
    again = preannotate(store, name, FakeSegmenter(), model_name="fake", overwrite=True)
    assert again.annotated == 3 and store.annotations(second.id) == []
    assert len(export_coco(store, name)["annotations"]) == 6


def test_preannotate_cli_with_the_trained_model(ccp_root, ccp_subset, tmp_path, run_cli):
    db = tmp_path / "cli.db"
    done = run_cli("store", "import", str(ccp_subset / "client.json"), "--images", str(ccp_root / "photos"), "--name", "c", "--db", str(db), "--quiet")
    assert done.returncode == 0, done.stderr
    done = run_cli("store", "preannotate", "c", "--db", str(db), "--limit", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "pre-annotated 2 images" in done.stdout
    store = AnnotationStore(db)
    annotated = [im for im in store.images("c") if store.annotations(im.id)]
    assert len(annotated) == 2 and all(a.origin == "model" for im in annotated for a in store.annotations(im.id))
    missing = run_cli("store", "preannotate", "nope", "--db", str(db))
    assert missing.returncode == 2 and "no data set named 'nope'" in missing.stderr
