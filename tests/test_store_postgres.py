"""The store on a PostgreSQL server: connection problems are one clear error (CLI and app), a
save waiting on another transaction gives up like SQLite's, and a dropped connection is redone."""

import socket

import psycopg
import pytest
from streamlit.testing.v1 import AppTest
from test_app import ROOT, button, plain

from fashionseg.annotation.draft import Draft
from fashionseg.store import AnnotationStore, export_coco, import_coco
from fashionseg.store.store import StoreBusyError, StoreUnreachableError


def _admin(server):
    return psycopg.connect(
        f"host=127.0.0.1 port={server.port} user={server.user} password={server.password} dbname=postgres",
        autocommit=True,
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_connection_problems_are_one_clear_error(postgres_server, run_cli):
    url = postgres_server.new_database()
    AnnotationStore(url)
    name = url.rsplit("/", 1)[1]
    cases = {
        "server down": (
            url.replace(f":{postgres_server.port}/", f":{_free_port()}/"),
            "the server is not running or not reachable",
        ),
        "wrong password": (postgres_server.url(name, password="wrong"), "the server refused the user name or password"),
        "missing database": (postgres_server.url("no_such_db"), "the server has no such database"),
    }
    for case, (bad, message) in cases.items():
        with pytest.raises(StoreUnreachableError, match=message) as err:
            AnnotationStore(bad, create=False)
        assert "cannot reach the annotation store postgresql://fashionseg:***@127.0.0.1" in str(err.value), case
        assert "wrong" not in str(err.value) and postgres_server.password not in str(err.value), case
        shown = run_cli("store", "list", "--db", bad)
        assert shown.returncode == 2 and "Traceback" not in shown.stderr, (case, shown.stderr)
        assert shown.stderr.count("\n") == 1 and message in shown.stderr, (case, shown.stderr)


def test_a_save_waiting_on_a_held_row_gives_up_as_busy(postgres_server, synthetic_store):
    url = postgres_server.new_database()
    path, name = synthetic_store
    store = AnnotationStore(url, busy_timeout=0.5)
    import_coco(store, export_coco(AnnotationStore(path), name), path.parent / "photos", name)
    image = store.images(name)[0]
    with psycopg.connect(url) as holder:  # another writer's open transaction holds the image's row
        holder.execute("UPDATE images SET revision = revision WHERE id = %s", (image.id,))
        with pytest.raises(StoreBusyError, match="is busy"):
            store.save_annotations(image.id, [], expected_revision=image.revision, author="ann")
    assert store.save_annotations(image.id, [], expected_revision=image.revision, author="ann") == image.revision + 1


def test_a_connection_the_server_dropped_is_redone(postgres_server, synthetic_store):
    url = postgres_server.new_database()
    path, name = synthetic_store
    store = AnnotationStore(url)
    import_coco(store, export_coco(AnnotationStore(path), name), path.parent / "photos", name)
    with _admin(postgres_server) as admin:  # a server restart or an idle timeout ends pooled connections
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (url.rsplit("/", 1)[1],)
        )
    image = store.images(name)[0]
    assert store.save_annotations(image.id, [], expected_revision=0, author="ann") == 1


def _take_away(server, database, to):
    """Make ``database`` unreachable under its name (as a server gone away would be) or bring it back."""
    with _admin(server) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        admin.execute(f"ALTER DATABASE {database} RENAME TO {to}")


@pytest.mark.slow
def test_the_annotate_page_says_the_store_is_unreachable_and_keeps_the_edits(
    monkeypatch, tmp_path, postgres_server, synthetic_store
):
    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    path, name = synthetic_store
    store = AnnotationStore(url)
    import_coco(store, export_coco(AnnotationStore(path), name), path.parent / "photos", name)
    monkeypatch.setenv("FASHIONSEG_STORE", url)
    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app_pages" / "annotate.py"), default_timeout=120).run()
    at.sidebar.text_input[0].input("Ann").run()
    next(c for c in at.checkbox if c.label == "pants 1").uncheck().run()  # an unsaved edit
    _take_away(postgres_server, database, database + "_away")
    try:
        button(at, "Save and mark reviewed").click().run()
        assert not at.exception
        errors = [plain(e.value) for e in at.error]
        assert any("cannot reach the annotation store" in e and "Nothing was written" in e for e in errors), errors
        assert any("unsaved edits are kept" in i.value for i in at.info)
    finally:
        _take_away(postgres_server, database + "_away", database)
    at.run()  # the server is back
    assert not at.exception
    assert not next(c for c in at.checkbox if c.label == "pants 1").value  # the edit is still there
    button(at, "Save and mark reviewed").click().run()  # and saves
    image = store.images(name)[0]
    assert store.annotations(image.id) == [] and store.image(image.id).reviewed


def test_draft_survives_an_unreachable_store(postgres_server, synthetic_store):
    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    path, name = synthetic_store
    store = AnnotationStore(url)
    import_coco(store, export_coco(AnnotationStore(path), name), path.parent / "photos", name)
    image = store.images(name)[0]
    draft = Draft.from_store(store, image)
    draft.relabel(0, "dress")
    _take_away(postgres_server, database, database + "_away")
    try:
        with pytest.raises(StoreUnreachableError):
            draft.save(store, name, "ann")
        assert draft.changed and draft.revision == 0 and draft.instances[0].class_name == "dress"
    finally:
        _take_away(postgres_server, database + "_away", database)
    assert draft.save(store, name, "ann") == 1
