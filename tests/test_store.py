"""The annotation store: round trips, conflicts, crashes, bad input, undo; each test on SQLite and on PostgreSQL
(``new_store``, tests/conftest.py)."""

import json
import multiprocessing
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from sqlalchemy import select

from fashionseg.core.coco import CocoFormatError, dumps_coco, read_coco, write_coco
from fashionseg.core.mapping import load_mapping
from fashionseg.core.masks import decode_rle, encode_rle
from fashionseg.store import (
    AnnotationStore,
    ConflictError,
    ImageLabel,
    NewAnnotation,
    StoreError,
    export_coco,
    import_coco,
    schema,
)


@pytest.fixture()
def filled_store(new_store, tmp_path, fill_synthetic_store):
    """Four small synthetic photos, one with a ground-truth mask (conftest.fill_synthetic): saves, conflicts,
    crashes and undo need nothing more than that."""
    store = AnnotationStore(new_store())
    fill_synthetic_store(store, tmp_path, "client")
    return store


def square_mask(image, y0, y1, x0, x1):
    m = np.zeros((image.height, image.width), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_export_import_export_is_byte_stable_and_masks_exact(new_store, tmp_path, ccp_root, ccp_subset):
    ccp_store = AnnotationStore(new_store())
    import_coco(ccp_store, ccp_subset / "instances.json", ccp_root / "photos", "ccp")
    first = export_coco(ccp_store, "ccp")
    write_coco(first, tmp_path / "first.json")
    other = AnnotationStore(new_store())
    import_coco(other, tmp_path / "first.json", ccp_root / "photos", "ccp")
    write_coco(export_coco(other, "ccp"), tmp_path / "second.json")
    assert (tmp_path / "first.json").read_bytes() == (tmp_path / "second.json").read_bytes()

    source = read_coco(ccp_subset / "instances.json")
    assert len(first["annotations"]) == len(source["annotations"]) > 0
    for a, b in zip(source["annotations"], first["annotations"]):
        np.testing.assert_array_equal(decode_rle(a["segmentation"]), decode_rle(b["segmentation"]))
        assert (a["category_id"], a["area"], a["bbox"]) == (b["category_id"], b["area"], b["bbox"])
    assert all(im["sha256"] and im["split"] in ("train", "val") for im in first["images"])
    coco = COCO(str(tmp_path / "first.json"))
    assert len(coco.getAnnIds()) == len(first["annotations"])


def test_client_labels_and_mapping_round_trip(new_store, tmp_path, ccp_root, ccp_subset):
    store = AnnotationStore(new_store())
    import_coco(store, ccp_subset / "client.json", ccp_root / "photos", "client")
    image = store.images("client")[0]
    labels = store.image_labels(image.id)
    assert labels and any(x.category_id is None for x in labels)  # raw tags kept even when dropped
    assert store.get_mapping("client").rules == load_mapping("ccp").rules
    exported = export_coco(store, "client")
    assert exported["fashionseg"]["label_mapping"]["rules"]["shoes"] == ["shoe", "shoe"]
    write_coco(exported, tmp_path / "a.json")
    again = AnnotationStore(new_store())
    import_coco(again, tmp_path / "a.json", ccp_root / "photos", "client")
    assert dumps_coco(export_coco(again, "client")) == dumps_coco(exported)


def test_save_conflict_between_two_annotators(tmp_path, filled_store):
    path = filled_store.url
    alice, bob = AnnotationStore(path), AnnotationStore(path)
    image = alice.images("client")[0]
    opened_at = image.revision
    mask = square_mask(image, 10, 60, 10, 60)
    new_rev = alice.save_annotations(
        image.id, [NewAnnotation.from_mask(3, mask)], expected_revision=opened_at, author="alice"
    )
    with pytest.raises(ConflictError, match="saved by alice") as err:
        bob.save_annotations(image.id, [], expected_revision=opened_at, author="bob")
    assert err.value.current == new_rev
    (kept,) = bob.annotations(image.id)
    assert kept.author == "alice" and (kept.mask() == mask).all()


def _race(path, image_id, revision, author, results):
    store = AnnotationStore(path)
    try:
        store.save_annotations(image_id, [], expected_revision=revision, author=author)
        results.put(("ok", author))
    except ConflictError:
        results.put(("conflict", author))


@pytest.mark.slow
def test_concurrent_saves_from_processes_exactly_one_wins(filled_store):
    path = filled_store.url
    image = filled_store.images("client")[1]
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_race, args=(path, image.id, image.revision, f"annotator{i}", results)) for i in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    outcomes = sorted(results.get(timeout=5)[0] for _ in workers)
    assert outcomes == ["conflict", "conflict", "conflict", "ok"]
    assert filled_store.image(image.id).revision == image.revision + 1


def test_process_killed_mid_save_leaves_previous_state(tmp_path, filled_store):
    path = filled_store.url
    image = filled_store.images("client")[0]
    before = dumps_coco(export_coco(filled_store, "client"))
    script = textwrap.dedent(f"""
        import os, signal
        from fashionseg.store import AnnotationStore, store as store_module
        original = store_module._insert_rows
        def insert_then_die(c, table, rows):
            original(c, table, rows)   # the old annotations are deleted, new ones written ...
            os.kill(os.getpid(), signal.SIGKILL)   # ... and the process dies before COMMIT
        store_module._insert_rows = insert_then_die
        s = AnnotationStore({str(path)!r})
        s.save_annotations({image.id}, [], expected_revision={image.revision}, author="doomed")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    reopened = AnnotationStore(path)
    assert dumps_coco(export_coco(reopened, "client")) == before
    assert reopened.image(image.id).revision == image.revision
    assert reopened.history("client", image.id) == []


def test_undo_walks_back_through_saves(filled_store):
    image = filled_store.images("client")[0]
    original = [a.to_coco(image.coco_id) for a in filled_store.annotations(image.id)]
    first = filled_store.annotations(image.id)[0]
    # Relabel the first instance, drop the others.
    rev = filled_store.save_annotations(
        image.id, [NewAnnotation(5, first.rle, "annotator", coco_id=first.coco_id)], expected_revision=0, author="alice"
    )
    rev = filled_store.save_annotations(image.id, [], expected_revision=rev, author="alice")
    assert filled_store.annotations(image.id) == []
    rev = filled_store.undo(image.id, expected_revision=rev, author="alice")
    (relabelled,) = filled_store.annotations(image.id)
    assert relabelled.category_id == 5 and relabelled.coco_id == first.coco_id
    rev = filled_store.undo(image.id, expected_revision=rev, author="alice")
    assert [a.to_coco(image.coco_id) for a in filled_store.annotations(image.id)] == original
    with pytest.raises(StoreError, match="no change left to undo"):
        filled_store.undo(image.id, expected_revision=rev, author="alice")
    actions = [h["action"] for h in filled_store.history("client", image.id)]
    assert actions == ["save_annotations", "save_annotations", "undo", "undo"]


def test_history_is_append_only_and_complete(filled_store):
    image = filled_store.images("client")[0]
    rev = filled_store.save_annotations(image.id, [], expected_revision=0, author="alice")
    filled_store.save_image_labels(image.id, [ImageLabel("shoes", 8, 2)], expected_revision=rev, author="bob")
    entries = filled_store.history("client", image.id)
    assert [(e["author"], e["revision"]) for e in entries] == [("alice", 1), ("bob", 2)]
    assert json.loads(entries[0]["after"])["annotations"] == []
    assert len(json.loads(entries[0]["before"])["annotations"]) > 0
    (label,) = json.loads(entries[1]["after"])["image_labels"]
    assert {k: v for k, v in label.items() if k != "id"} == {"raw_label": "shoes", "category_id": 8, "count": 2}
    with filled_store.engine.connect() as c:
        all_actions = [r.action for r in c.execute(select(schema.history).order_by(schema.history.c.id))]
    assert all_actions == ["import", "save_annotations", "save_image_labels"]


def test_review_progress(filled_store):
    done, total = filled_store.review_progress("client")
    assert done == 0 and total == len(filled_store.images("client"))
    image = filled_store.images("client")[0]
    filled_store.save_annotations(image.id, [], expected_revision=0, author="alice")
    assert filled_store.review_progress("client") == (1, total)


def test_bad_saves_change_nothing(filled_store):
    image = filled_store.images("client")[0]
    before = dumps_coco(export_coco(filled_store, "client"))
    wrong_size = NewAnnotation.from_mask(3, np.ones((10, 10), bool))
    for bad, message in [
        (NewAnnotation.from_mask(99, square_mask(image, 0, 5, 0, 5)), "unknown category"),
        (NewAnnotation.from_mask(3, square_mask(image, 0, 5, 0, 5), origin="robot"), "origin"),
        (wrong_size, "mask is"),
    ]:
        with pytest.raises(StoreError, match=message):
            filled_store.save_annotations(image.id, [bad], expected_revision=0, author="alice")
    with pytest.raises(StoreError, match="author"):
        filled_store.save_annotations(image.id, [], expected_revision=0, author=" ")
    assert dumps_coco(export_coco(filled_store, "client")) == before
    assert filled_store.image(image.id).revision == 0


def test_mapping_edit_and_remap(new_store, tmp_path, ccp_root, ccp_subset):
    store = AnnotationStore(new_store())
    import_coco(store, ccp_subset / "client.json", ccp_root / "photos", "client")
    mapping = store.get_mapping("client").with_rule("shoes", ["shoe"]).with_rule("shorts", ["pants"])
    store.set_mapping("client", mapping, author="carol")
    changed = store.remap_image_labels("client", author="carol")
    labels = [x for im in store.images("client") for x in store.image_labels(im.id)]
    assert all(x.count == 1 for x in labels if x.raw_label == "shoes")
    assert all(x.category_id == 4 for x in labels if x.raw_label == "shorts")
    assert changed == sum(
        1 for im in store.images("client") if any(x.raw_label in ("shoes", "shorts") for x in store.image_labels(im.id))
    )
    assert store.remap_image_labels("client", author="carol") == 0


# ---------------------------------------------------------------- bad COCO input


@pytest.fixture()
def tiny(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (8, 6)).save(folder / "a.png")
    Image.new("RGB", (8, 6)).save(folder / "b.png")
    mask = np.zeros((6, 8), bool)
    mask[1:3, 2:5] = True
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 6, "width": 8},
            {"id": 2, "file_name": "b.png", "height": 6, "width": 8},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 0, "segmentation": encode_rle(mask)},
            {"id": 2, "image_id": 2, "category_id": 0, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]},
        ],
        "categories": [{"id": 0, "name": "shirt, blouse"}],
    }
    return doc, folder


def test_tiny_import_polygons_become_rle(new_store, tmp_path, tiny):
    doc, folder = tiny
    store = AnnotationStore(new_store())
    import_coco(store, doc, folder, "tiny")
    out = export_coco(store, "tiny")
    assert all(isinstance(a["segmentation"]["counts"], str) for a in out["annotations"])
    assert out["annotations"][0]["area"] == 6


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: d.pop("categories"), "missing 'categories' list"),
        (lambda d: d["images"][0].pop("width"), "lacks width"),
        (lambda d: d["annotations"][0].update(category_id=7), "unknown category 7"),
        (
            lambda d: d["annotations"][1].update(segmentation=encode_rle(np.zeros((5, 5), bool))),
            r"mask size \[5, 5\] does not match",
        ),
        (lambda d: d["annotations"][1].update(id=1), "duplicate annotation id 1"),
        (lambda d: d["images"][1].update(id=1), "duplicate image id 1"),
        (lambda d: d["annotations"][1].update(image_id=9), "unknown image 9"),
        (lambda d: d["images"][1].update(file_name="missing.png"), "not found"),
        (lambda d: d["images"][1].update(width=9), "file is 8 x 6"),
        (lambda d: d["annotations"][1].update(segmentation=[[1, 2]]), "bad segmentation"),
    ],
)
def test_bad_coco_is_refused_whole(new_store, tmp_path, tiny, breakage, message):
    doc, folder = tiny
    breakage(doc)
    store = AnnotationStore(new_store())
    with pytest.raises(CocoFormatError, match=message):
        import_coco(store, doc, folder, "tiny")
    assert store.datasets() == []
    with store.engine.connect() as c:
        for table in schema.metadata.sorted_tables:
            assert c.execute(select(table)).first() is None, table.name


def test_broken_json_files(new_store, tmp_path, tiny):
    _, folder = tiny
    store = AnnotationStore(new_store())
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(CocoFormatError, match="not valid JSON"):
        import_coco(store, tmp_path / "broken.json", folder, "x")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(CocoFormatError, match="JSON object"):
        import_coco(store, tmp_path / "list.json", folder, "x")
    assert store.datasets() == []


def test_duplicate_dataset_name_refused(new_store, tmp_path, tiny):
    doc, folder = tiny
    store = AnnotationStore(new_store())
    import_coco(store, doc, folder, "tiny")
    with pytest.raises(StoreError, match="exists already"):
        import_coco(store, doc, folder, "tiny")


def test_store_cli_round_trip(new_store, tmp_path, tiny, run_cli):
    doc, folder = tiny
    write_coco(doc, tmp_path / "in.json")
    db = new_store()
    r = run_cli(
        "store",
        "import",
        str(tmp_path / "in.json"),
        "--images",
        str(folder),
        "--name",
        "tiny",
        "--db",
        str(db),
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    assert "tiny: 2 images, 0 reviewed" in run_cli("store", "list", "--db", str(db)).stdout
    r = run_cli("store", "export", "tiny", "--out", str(tmp_path / "out.json"), "--db", str(db))
    assert r.returncode == 0 and len(read_coco(tmp_path / "out.json")["annotations"]) == 2
    store = AnnotationStore(db, create=False)
    first = store.images("tiny")[0]
    store.save_annotations(first.id, [], expected_revision=first.revision, author="alice")  # reviewed, now empty
    r = run_cli("store", "export", "tiny", "--reviewed-only", "--out", str(tmp_path / "reviewed.json"), "--db", str(db))
    reviewed = read_coco(tmp_path / "reviewed.json")
    assert (
        r.returncode == 0
        and [im["id"] for im in reviewed["images"]] == [first.coco_id]
        and reviewed["annotations"] == []
    )
    r = run_cli(
        "store",
        "import",
        str(tmp_path / "in.json"),
        "--images",
        str(tmp_path / "nowhere"),
        "--name",
        "t2",
        "--db",
        str(db),
    )
    assert r.returncode == 2 and "image folder" in r.stderr and "Traceback" not in r.stderr
    assert AnnotationStore(db, create=False).datasets() == ["tiny"]
