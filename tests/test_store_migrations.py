"""Schema migrations (Alembic): a store of the first release is refused, upgraded, and keeps everything;
the migrations build exactly the schema the code uses; a newer schema is refused. On SQLite and PostgreSQL."""

import numpy as np
import pytest
import store_schema_0001
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from sqlalchemy import create_engine, select, text

from fashionseg.core.masks import encode_rle
from fashionseg.store import AnnotationStore, ImageLabel, NewAnnotation, export_coco, import_coco, migrate, schema
from fashionseg.store.store import StoreSchemaError


def _doc(folder, first_id=1):
    """Two photos with a mask each, client labels and a mapping; ids start at ``first_id``."""
    folder.mkdir(exist_ok=True)
    images, annotations = [], []
    for k in range(2):
        Image.new("RGB", (8, 6), (40 * k, 0, 0)).save(folder / f"p{k}.png")
        mask = np.zeros((6, 8), bool)
        mask[1 : 3 + k, 2:5] = True
        images.append({"id": first_id + k, "file_name": f"p{k}.png", "height": 6, "width": 8, "split": "train"})
        annotations.append(
            {"id": first_id + k, "image_id": first_id + k, "category_id": k, "segmentation": encode_rle(mask)}
        )
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 0, "name": "shirt, blouse"}, {"id": 1, "name": "shoe"}],
        "image_labels": [{"id": first_id, "image_id": first_id, "raw_label": "shoes", "category_id": 1, "count": 2}],
        "fashionseg": {"label_mapping": {"name": "client", "rules": {"shoes": ["shoe", "shoe"]}}},
    }


def _rows(url):
    """Every row of every table of the store, in id order."""
    engine = create_engine(AnnotationStore(url, create=False, check_schema=False).url)
    with engine.connect() as c:
        return {
            table.name: [dict(r._mapping) for r in c.execute(select(table).order_by(table.c.id))]
            for table in schema.metadata.sorted_tables
        }


def _revision(url):
    with AnnotationStore(url, create=False, check_schema=False).reading() as c:
        return migrate.stored_revision(c)


@pytest.mark.slow
def test_a_first_release_store_is_refused_then_upgraded_and_keeps_everything(new_store, tmp_path, run_cli):
    url = new_store()
    engine = create_engine(url if "://" in url else f"sqlite:///{url}")
    store_schema_0001.metadata.create_all(engine)  # the tables 0.1.0 made, no version table
    engine.dispose()
    # Filled as 0.1.0 filled it: an import, saves, a relabel of client labels, an undo.
    old = AnnotationStore(url, check_schema=False)
    import_coco(old, _doc(tmp_path / "photos"), tmp_path / "photos", "client")
    first, second = old.images("client")
    rev = old.save_annotations(
        first.id, [NewAnnotation(1, old.annotations(first.id)[0].rle, coco_id=1)], expected_revision=0, author="ann"
    )
    rev = old.save_annotations(first.id, [], expected_revision=rev, author="ann")
    old.save_image_labels(second.id, [ImageLabel("bag", None, 0)], expected_revision=0, author="bob")
    rev = old.undo(first.id, expected_revision=rev, author="ann")
    before_rows, before_export = _rows(url), export_coco(old, "client")
    old.engine.dispose()

    with pytest.raises(
        StoreSchemaError,
        match=r"schema revision 0001, older than this FashionSeg's \(0002\); upgrade it with 'fashionseg store upgrade --db",
    ):
        AnnotationStore(url, create=False)
    listed = run_cli("store", "list", "--db", url)
    assert listed.returncode == 2 and "fashionseg store upgrade" in listed.stderr and "Traceback" not in listed.stderr

    done = run_cli("store", "upgrade", "--db", url)
    assert done.returncode == 0, done.stderr
    assert "upgraded the schema from 0001 to 0002" in done.stdout
    assert _revision(url) == "0002"
    assert _rows(url) == before_rows  # every annotation, label, mapping, history entry and revision
    store = AnnotationStore(url, create=False)
    assert export_coco(store, "client") == before_export
    assert [h["action"] for h in store.history("client")] == [
        "import",
        "save_annotations",
        "save_annotations",
        "save_image_labels",
        "undo",
    ]
    # The history from before the upgrade still drives undo ...
    store.undo(first.id, expected_revision=rev, author="ann")
    assert [a.category_id for a in store.annotations(first.id)] == [0]
    # ... and what 0002 is for: 64-bit COCO ids (PostgreSQL's INTEGER stopped at 2**31 - 1).
    import_coco(store, _doc(tmp_path / "big", first_id=2**40), tmp_path / "big", "big")
    assert [im.coco_id for im in store.images("big")] == [2**40, 2**40 + 1]
    again = run_cli("store", "upgrade", "--db", url)
    assert again.returncode == 0 and "0002 is the newest, nothing to do" in again.stdout


def test_the_migrations_build_the_schema_the_code_uses(new_store):
    url = new_store()
    made = AnnotationStore(url)  # a new store: made from schema.py and stamped with the newest revision
    assert _revision(url) == migrate.head_revision()
    with made.reading() as c:
        assert compare_metadata(MigrationContext.configure(c), schema.metadata) == []
    # The same schema built by running every migration on an empty database.
    empty = new_store()
    engine = create_engine(empty if "://" in empty else f"sqlite:///{empty}")
    with engine.begin() as c:
        command.upgrade(migrate._config(c), "head")
    with engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), schema.metadata) == []
        assert migrate.stored_revision(c) == migrate.head_revision()


def test_a_newer_schema_is_refused_and_left_alone(new_store, run_cli):
    url = new_store()
    store = AnnotationStore(url)
    with store.writing() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    store.engine.dispose()
    with pytest.raises(StoreSchemaError, match="schema revision 0099, newer than this FashionSeg knows"):
        AnnotationStore(url)
    refused = run_cli("store", "upgrade", "--db", url)
    assert (
        refused.returncode == 2
        and "newer than this FashionSeg knows" in refused.stderr
        and "Traceback" not in refused.stderr
    )
    assert _revision(url) == "0099"
