"""Annotation drafts, label edits and batch pre-annotation against a real store."""

import numpy as np
import pytest

from fashionseg.annotation.canvas import CanvasFrame
from fashionseg.annotation.draft import Draft
from fashionseg.annotation.preannotation import preannotate
from fashionseg.app.annotation_session import LabelRow, label_rows, review_queue, rule_from_counts, save_label_rows
from fashionseg.models.maskrcnn.predictor import Instance, SegmentationResult
from fashionseg.store import AnnotationStore, ConflictError, StoreError, export_coco


class FakeSegmenter:
    """Stands in for the Mask R-CNN: one pants and one umbrella per photo, counting its calls."""

    def __init__(self, fail_on: str | None = None):
        self.calls, self.fail_on = 0, fail_on

    def predict(self, source):
        self.calls += 1
        if self.fail_on and str(source).endswith(self.fail_on):
            from fashionseg.core.images import ImageLoadError

            raise ImageLoadError("not an image")
        mask = np.zeros((90, 60), bool)
        mask[10:40, 5:25] = True
        return SegmentationResult(
            [Instance(4, "pants", 0.9, (5, 10, 25, 40), mask), Instance(10, "umbrella", 0.6, (5, 10, 25, 40), mask)],
            90,
            60,
            {},
        )


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
    save_label_rows(
        store,
        name,
        image,
        [LabelRow("shoes", "shoe", 1), LabelRow("hat", "bag, wallet", 1), LabelRow("jeans", "pants", 0)],
        "ann",
    )
    assert label_rows(store, name, image.id) == [
        LabelRow("shoes", "shoe", 1),
        LabelRow("hat", "bag, wallet", 1),
        LabelRow("jeans", None, 0),
    ]
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
    first, second, third, _fourth = store.images(name)
    Draft.from_store(store, second).save(store, name, "ann")  # reviewed, with no instance
    segmenter = FakeSegmenter(fail_on="p3.png")
    seen = []
    report = preannotate(
        store, name, segmenter, model_name="fake", on_progress=lambda n, total, _: seen.append((n, total))
    )
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
    done = run_cli(
        "store",
        "import",
        str(ccp_subset / "client.json"),
        "--images",
        str(ccp_root / "photos"),
        "--name",
        "c",
        "--db",
        str(db),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    done = run_cli("store", "preannotate", "c", "--db", str(db), "--limit", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "pre-annotated 2 images" in done.stdout
    store = AnnotationStore(db)
    annotated = [im for im in store.images("c") if store.annotations(im.id)]
    assert len(annotated) == 2 and all(a.origin == "model" for im in annotated for a in store.annotations(im.id))
    missing = run_cli("store", "preannotate", "nope", "--db", str(db))
    assert missing.returncode == 2 and "no data set named 'nope'" in missing.stderr


# ---------------------------------------------------------------- the session behind the page


def test_session_keeps_saved_images_in_reach_and_undoes_after_moving_on(synthetic_store):
    from fashionseg.app.annotation_session import AnnotationSession

    path, name = synthetic_store
    store = AnnotationStore(path)
    session = AnnotationSession(name)
    queue = session.queue(store, only_unreviewed=True)
    first = queue[session.position(queue)]
    _, draft = session.draft(store, first)
    draft.relabel(0, "dress")
    session.save(store, first, "ann", queue)
    queue = session.queue(store, only_unreviewed=True)
    assert [im.file_name for im in queue] == ["p0.png", "p1.png", "p2.png", "p3.png"]  # p0 stays, reviewed
    assert queue[session.position(queue)].file_name == "p1.png" and session.last_saved.image_id == first.id
    session.step(queue, -1)
    assert queue[session.position(queue)].id == first.id
    session.step(queue, 1)
    session.undo(store, session.last_saved.image_id, "ann")
    assert session.current == first.id and session.last_saved is None
    assert [a.category_name for a in store.annotations(first.id)] == ["pants"] and not store.image(first.id).reviewed
    # A new session's queue no longer keeps p0 because of the earlier one: it is simply unreviewed again.
    assert len(AnnotationSession(name).queue(store, True)) == 4


def test_session_follows_other_saves_unless_edited_and_names_who_saved_when(synthetic_store):
    from fashionseg.annotation.review import conflict_text, last_change
    from fashionseg.app.annotation_session import AnnotationSession

    path, name = synthetic_store
    store = AnnotationStore(path)
    session = AnnotationSession(name)
    image = store.images(name)[0]
    serial, _draft = session.draft(store, image)
    theirs = Draft.from_store(store, image)
    theirs.relabel(0, "skirt")
    theirs.save(store, name, "Bob")
    image = store.image(image.id)
    new_serial, fresh = session.draft(store, image)  # unedited: simply shows Bob's save
    assert new_serial != serial and [i.class_name for i in fresh.instances] == ["skirt"] and not session.conflict(image)
    fresh.relabel(0, "dress")
    theirs = Draft.from_store(store, image)
    theirs.set_keep(0, False)
    theirs.save(store, name, "Bob")
    image = store.image(image.id)
    assert session.draft(store, image)[1] is fresh and session.conflict(image)  # edited: kept, and the conflict is told
    change = last_change(store, image.id)
    assert change["author"] == "Bob" and change["revision"] == 2
    assert conflict_text(store, image).startswith(f"p0.png was saved by Bob at {change['at'][:10]} ")
    with pytest.raises(ConflictError):
        session.save(store, image, "ann", session.queue(store, True))
    session.keep_mine(image)
    session.save(store, image, "ann", session.queue(store, True))
    assert [a.category_name for a in store.annotations(image.id)] == ["dress"]


def test_accepting_an_unchanged_draft_reuses_the_stored_masks(synthetic_store, monkeypatch):
    import fashionseg.annotation.draft as annotate

    path, name = synthetic_store
    store = AnnotationStore(path)
    image = store.images(name)[0]
    before = store.annotations(image.id)
    draft = Draft.from_store(store, image)
    monkeypatch.setattr(annotate, "encode_rle", lambda mask: pytest.fail("an unchanged mask was encoded again"))
    draft.save(store, name, "ann")
    after = store.annotations(image.id)
    assert [(a.coco_id, a.rle, a.author, a.created_at) for a in after] == [
        (a.coco_id, a.rle, a.author, a.created_at) for a in before
    ]


def test_flags_are_history_entries_that_change_nothing_else(synthetic_store):
    from fashionseg.annotation.review import flag_ground_truth, flags, last_change
    from fashionseg.exceptions import UsageError

    path, name = synthetic_store
    store = AnnotationStore(path)
    image = store.images(name)[1]
    with pytest.raises(UsageError):
        flag_ground_truth(store, image.id, "ann", "  ")
    with pytest.raises(StoreError):
        flag_ground_truth(store, image.id, "", "a dress is missing")
    flag_ground_truth(store, image.id, "ann", "a dress is missing", {"error": "false positive", "predicted": "dress"})
    assert [(f["file_name"], f["author"], f["note"], f["predicted"]) for f in flags(store, name)] == [
        ("p1.png", "ann", "a dress is missing", "dress")
    ]
    assert store.image(image.id).revision == image.revision and last_change(store, image.id) is None
    with pytest.raises(StoreError, match="no change left to undo"):
        store.undo(image.id, expected_revision=image.revision, author="ann")  # a flag is not undone


def test_a_photo_is_located_in_the_store_by_path_or_by_identical_bytes_elsewhere(synthetic_store, tmp_path):
    import shutil

    from fashionseg.annotation.review import locate_photo

    path, name = synthetic_store
    store = AnnotationStore(path)
    image = store.images(name)[1]
    assert locate_photo(store, image.file_name, image.path.parent) == (name, image)
    # The same photos mounted at another path (a record written on another machine): found by their bytes.
    elsewhere = tmp_path / "mounted-elsewhere"
    shutil.copytree(image.path.parent, elsewhere)
    assert locate_photo(store, image.file_name, elsewhere) == (name, image)
    # Another photo under the same name is not that photo.
    (elsewhere / image.file_name).write_bytes(png(200))
    assert locate_photo(store, image.file_name, elsewhere) is None
    assert locate_photo(store, "not-in-the-store.png", image.path.parent) is None


# ---------------------------------------------------------------- imports from the app


def png(value: int = 0, size=(12, 9)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_uploaded_photos_and_zips_become_a_data_set(tmp_path, monkeypatch):
    from fashionseg.store.photo_import import import_uploads

    monkeypatch.setenv("FASHIONSEG_UPLOADS", str(tmp_path / "uploads"))
    store = AnnotationStore(tmp_path / "s.db")
    steps = []
    uploads = [
        ("image.jpg", png(1)),
        ("image.jpg", png(2)),  # two phones' image.jpg: both kept
        ("shoot.zip", zipped({"day1/a.png": png(3), "__MACOSX/day1/._a.png": b"junk", "notes.txt": b"x"})),
    ]
    import_uploads(store, uploads, "client photos", "ann", lambda stage, done, total: steps.append(stage))
    images = store.images("client photos")
    assert [im.file_name for im in images] == ["day1/a.png", "image-2.jpg", "image.jpg"]
    assert all(im.path.is_file() and (im.height, im.width) == (12, 9) for im in images)
    assert {"reading the photos", "checking the photos", "writing to the store"} <= set(steps)
    assert store.categories("client photos")[8] == "shoe"


@pytest.mark.parametrize(
    "upload, message",
    [
        (("evil.zip", zipped({"../../outside.png": png()})), "leads out"),
        (("evil.zip", zipped({"/etc/x.png": png()})), "absolute path"),
        (("broken.zip", b"PK\x03\x04 not really"), "not a readable zip"),
        (("notes.txt", b"hello"), "neither a photo"),
        (("fake.jpg", b"not a photo"), "not an image"),
    ],
)
def test_a_refused_upload_leaves_no_data_set_and_no_files(tmp_path, monkeypatch, upload, message):
    from fashionseg.exceptions import InvalidCocoError
    from fashionseg.store.photo_import import import_uploads

    monkeypatch.setenv("FASHIONSEG_UPLOADS", str(tmp_path / "uploads"))
    store = AnnotationStore(tmp_path / "s.db")
    with pytest.raises(InvalidCocoError, match=message):
        import_uploads(store, [("good.png", png()), upload], "x", "ann")
    assert store.datasets() == [] and not any((tmp_path / "uploads").rglob("*.*"))
    assert not (tmp_path / "outside.png").exists()


def test_a_taken_name_is_refused_before_any_copying(tmp_path, monkeypatch, synthetic_store):
    from fashionseg.store.photo_import import import_uploads

    monkeypatch.setenv("FASHIONSEG_UPLOADS", str(tmp_path / "uploads"))
    path, name = synthetic_store
    with pytest.raises(StoreError, match="exists already"):
        import_uploads(AnnotationStore(path), [("a.png", png())], name, "ann")
    assert not (tmp_path / "uploads").exists()


def test_a_zip_that_inflates_past_the_limit_is_refused(tmp_path, monkeypatch):
    import fashionseg.store.photo_import as photo_import
    from fashionseg.exceptions import InvalidCocoError

    monkeypatch.setenv("FASHIONSEG_UPLOADS", str(tmp_path / "uploads"))
    monkeypatch.setattr(photo_import, "MAX_UPLOAD_BYTES", 1000)
    noise = png(size=(40, 40)) + bytes(range(256)) * 8  # 2 KB after the photo: the zip member inflates past the limit
    with pytest.raises(InvalidCocoError, match="import them in parts"):
        photo_import.import_uploads(
            AnnotationStore(tmp_path / "s.db"), [("big.zip", zipped({"a.png": noise}))], "x", "ann"
        )
    assert not any((tmp_path / "uploads").rglob("*.*"))
