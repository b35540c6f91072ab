"""The annotation store: data sets, images, masks and labels, with revisions and history.

Every change to an image is one transaction that also bumps the image's
revision and appends to the history. A save names the revision it was based
on; if someone else saved the image since, it fails with
:class:`ConflictError` and changes nothing, so no edit is silently lost. A
process killed mid-save leaves the previous state, because the transaction
never committed.

Example:
    >>> store = AnnotationStore("sqlite://")  # in memory; pass a file path for a real store
    >>> store.datasets()
    []
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy.exc
from sqlalchemy import create_engine, event, func, insert, inspect, select, update
from sqlalchemy.engine import Connection, Engine, make_url

from fashionseg.core.mapping import LabelMapping
from fashionseg.core.masks import check_rle, decode_rle, encode_rle, rle_area, rle_bbox
from fashionseg.exceptions import (
    ConflictError,
    StoreBusyError,
    StoreError,
    StoreNotFoundError,
    StoreSchemaError,
    StoreUnreachableError,
)
from fashionseg.store import migrate
from fashionseg.store import schema as t

__all__ = [
    "AnnotationRecord",
    "AnnotationStore",
    "ConflictError",
    "ImageLabel",
    "ImageRecord",
    "NewAnnotation",
    "StoreBusyError",
    "StoreError",
    "StoreNotFoundError",
    "StoreSchemaError",
    "StoreUnreachableError",
]

# How long a writer waits for another writer's transaction before giving up. An import of
# CCP's 804 photos holds the lock 0.5 s; a busy app with a few annotators, well under a second.
DEFAULT_BUSY_TIMEOUT = 15.0
_WRITE = "fashionseg_write"  # execution option: this connection's transactions write
# Seconds to wait for a PostgreSQL server to answer before the store is called unreachable.
CONNECT_TIMEOUT = 10


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ImageRecord:
    id: int
    dataset_id: int
    coco_id: int
    file_name: str
    path: Path
    sha256: str
    width: int
    height: int
    split: str | None
    revision: int
    reviewed: bool


@dataclass(frozen=True)
class AnnotationRecord:
    coco_id: int
    category_id: int  # the data set's (COCO) category id
    category_name: str
    rle: dict
    bbox: list
    area: int
    iscrowd: int
    origin: str
    author: str
    created_at: str
    score: float | None

    def mask(self) -> np.ndarray:
        return decode_rle(self.rle)

    def to_coco(self, image_coco_id: int) -> dict:
        out = {
            "id": self.coco_id,
            "image_id": image_coco_id,
            "category_id": self.category_id,
            "segmentation": self.rle,
            "area": self.area,
            "bbox": self.bbox,
            "iscrowd": self.iscrowd,
            "origin": self.origin,
            "author": self.author,
            "created_at": self.created_at,
        }
        if self.score is not None:
            out["score"] = self.score
        return out


@dataclass
class NewAnnotation:
    """An annotation to save. Give ``coco_id`` to keep an existing annotation's id."""

    category_id: int
    rle: dict
    origin: str = "annotator"
    score: float | None = None
    iscrowd: int = 0
    coco_id: int | None = None

    @classmethod
    def from_mask(cls, category_id: int, mask: np.ndarray, **kwargs) -> NewAnnotation:
        return cls(category_id, encode_rle(mask), **kwargs)


@dataclass(frozen=True)
class ImageLabel:
    raw_label: str
    category_id: int | None  # the data set's category id; None: dropped by the mapping
    count: int = 1
    coco_id: int | None = None


def _locate(url_or_path: str | Path) -> tuple[str, Path | None]:
    """The SQLAlchemy URL of a store, and its database file when it is a SQLite file."""
    text = str(url_or_path)
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        return f"sqlite:///{path}", path
    if text.startswith("postgres://"):  # the spelling Heroku and libpq tools use; SQLAlchemy knows only postgresql://
        text = "postgresql://" + text[len("postgres://") :]
    try:
        url = make_url(text)
    except sqlalchemy.exc.ArgumentError as exc:
        raise StoreError(f"{text} is neither a file path nor a database URL ({exc})") from None
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:"):
        return text, Path(database).expanduser().resolve()
    return text, None


def _shown(url: str) -> str:
    """A database URL fit for a message: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def _engine(url: str, busy_timeout: float) -> Engine:
    options = {}
    if url.startswith("postgresql"):
        # lock_timeout: a save waiting for another save of the same image gives up like SQLite's
        # busy_timeout does; pre-ping: an app outlives server restarts without a failed request.
        options = {
            "pool_pre_ping": True,
            "connect_args": {
                "connect_timeout": CONNECT_TIMEOUT,
                "application_name": "fashionseg",
                "options": f"-c lock_timeout={round(busy_timeout * 1000)}",
            },
        }
    try:
        engine = create_engine(url, **options)
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the database URL {_shown(url)} ({exc})") from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Let SQLAlchemy's "begin" event issue BEGIN itself (below), not the driver.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            # A writer takes the write lock up front (BEGIN IMMEDIATE) instead of failing on a
            # read->write upgrade; a reader's deferred BEGIN takes no lock a writer holds.
            connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _database_problem(message: str) -> str:
    """SQLite's terse error text, said for a user."""
    known = {
        "file is not a database": "not a SQLite database (a wrong file, or a corrupt one)",
        "database disk image is malformed": "the database file is corrupt",
        "attempt to write a readonly database": "the store is read-only (file or folder permissions); nothing was written",
        "unable to open database file": "cannot open the database file (missing folder or no permission)",
    }
    return next((text for key, text in known.items() if key in message), message)


def _server_problem(exc: sqlalchemy.exc.DBAPIError) -> str | None:
    """Why a PostgreSQL server cannot be used, said for a user; None when the error is no connection problem."""
    code = getattr(exc.orig, "sqlstate", None) or ""
    message = str(exc.orig).strip()
    first = message.splitlines()[-1] if message else type(exc.orig).__name__
    if code in ("28P01", "28000") or "password authentication failed" in message or "no password supplied" in message:
        return "the server refused the user name or password"
    if code == "3D000" or ("database" in message and "does not exist" in message):
        return f"the server has no such database ({first}); create it first, e.g. 'createdb NAME' on the server"
    lost = any(
        key in message.lower()
        for key in (
            "connection refused",
            "connection failed",
            "server closed the connection",
            "timeout expired",
            "could not translate host name",
            "no such file or directory",
        )
    )
    if code.startswith(("08", "57P")) or exc.connection_invalidated or lost:
        return f"the server is not running or not reachable ({first})"
    return None


class AnnotationStore:
    """A COCO-shaped annotation database (SQLite file by default, any SQLAlchemy URL).

    ``create``: make the store when it does not exist yet (an import does); with
    False a missing store raises :class:`StoreNotFoundError` and nothing is
    created, so a mistyped path is an error, not a new empty store.
    ``busy_timeout``: seconds a write waits for another process's write to end
    before :class:`StoreBusyError`. Reads never wait for writes.
    """

    def __init__(
        self,
        url_or_path: str | Path,
        *,
        create: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        check_schema: bool = True,
    ):
        url, path = _locate(url_or_path)
        self.url = url  # with its password, to open the store again (another process, a worker)
        self.location = str(path) if path is not None else _shown(url)
        self.busy_timeout = busy_timeout
        if path is not None:
            if path.is_dir():
                raise StoreError(f"{path} is a folder, not a store file")
            if not path.exists():
                if not create:
                    raise StoreNotFoundError(
                        f"no annotation store at {path} (a store is made by importing a data set into it)"
                    )
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the store {path} ({exc.strerror or exc})") from None
        self.engine = _engine(url, busy_timeout)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        # PostgreSQL readers get one snapshot for all their statements (an export, say), as SQLite's
        # readers do; writers stay READ COMMITTED so a save racing another one for the same image
        # re-reads its revision after the wait and fails with ConflictError (see _claim).
        self._reader = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.engine.dialect.name == "postgresql"
            else self.engine
        )
        self._open_schema(create, check_schema)

    def _open_schema(self, create: bool, check_schema: bool) -> None:
        with self.reading() as c:
            present = set(inspect(c).get_table_names())
            revision = migrate.stored_revision(c)
        ours = set(t.metadata.tables)
        if revision is not None or ours <= present:
            if check_schema:
                migrate.check_revision(revision, self.location)
            return
        present.discard(migrate.VERSION_TABLE)
        if present and not present & ours:
            raise StoreError(
                f"{self.location} is a database, but not an annotation store (its tables: {', '.join(sorted(present)[:5])})"
            )
        if not create:
            raise StoreNotFoundError(
                f"{self.location} holds no annotation store yet (a store is made by importing a data set into it)"
            )
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            self._use_wal()
        with self.writing() as c:
            t.metadata.create_all(c)
            migrate.stamp_head(c)

    def _use_wal(self) -> None:
        """Put a new SQLite store in WAL mode (kept in the file): a reader sees the last commit and
        neither waits for a writer nor blocks one."""
        raw = self.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # outside a transaction, as it must be
        except sqlite3.Error as exc:
            raise StoreError(f"{self.location}: {_database_problem(str(exc))}") from exc
        finally:
            raw.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot, taken without the write lock."""
        with self._database_errors(), self._reader.connect() as c:
            yield c

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction, committed at the end; waits up to ``busy_timeout`` for another writer."""
        with self._database_errors(), self._writer.begin() as c:
            yield c

    @contextmanager
    def _database_errors(self):
        """Database failures as :class:`StoreError` naming the store; the rest passes through."""
        try:
            yield
        except sqlalchemy.exc.DBAPIError as exc:
            raise self._store_error(exc) from exc

    def _store_error(self, exc: sqlalchemy.exc.DBAPIError) -> StoreError:
        message = str(exc.orig)
        if self.engine.dialect.name == "postgresql":
            problem = _server_problem(exc)
            if problem is not None:
                return StoreUnreachableError(
                    f"cannot reach the annotation store {self.location}: {problem}. Nothing was written"
                )
        if isinstance(exc, sqlalchemy.exc.OperationalError) and (
            "locked" in message or "busy" in message or getattr(exc.orig, "sqlstate", None) == "55P03"
        ):
            return StoreBusyError(
                f"{self.location} is busy: another process has held its write lock for over {self.busy_timeout:g} s "
                "(an import, or pre-annotation?); nothing was written, try again when it is done"
            )
        if isinstance(exc, sqlalchemy.exc.IntegrityError):
            return StoreError(
                f"{self.location}: the change breaks a rule of the store ({exc.orig}); nothing was written"
            )
        return StoreError(f"{self.location}: {_database_problem(message)}")

    # ---------------------------------------------------------------- reading

    def datasets(self) -> list[str]:
        with self.reading() as c:
            return list(c.scalars(select(t.datasets.c.name).order_by(t.datasets.c.name)))

    def dataset_id(self, name: str) -> int:
        with self.reading() as c:
            found = c.scalar(select(t.datasets.c.id).where(t.datasets.c.name == name))
        if found is None:
            raise StoreError(f"no data set named {name!r}; data sets: {', '.join(self.datasets()) or 'none'}")
        return found

    def categories(self, dataset: str) -> dict[int, str]:
        """COCO category id -> name."""
        ds = self.dataset_id(dataset)
        with self.reading() as c:
            rows = c.execute(
                select(t.categories.c.coco_id, t.categories.c.name)
                .where(t.categories.c.dataset_id == ds)
                .order_by(t.categories.c.coco_id)
            )
            return {r.coco_id: r.name for r in rows}

    def category_ids(self, dataset: str) -> dict[str, int]:
        """Category name -> COCO category id."""
        return {name: cid for cid, name in self.categories(dataset).items()}

    def images(self, dataset: str, split: str | None = None) -> list[ImageRecord]:
        ds = self.dataset_id(dataset)
        query = select(t.images, t.datasets.c.image_root).join(t.datasets).where(t.images.c.dataset_id == ds)
        if split is not None:
            query = query.where(t.images.c.split == split)
        with self.reading() as c:
            return [_image_record(r) for r in c.execute(query.order_by(t.images.c.coco_id))]

    def image(self, image_id: int) -> ImageRecord:
        with self.reading() as c:
            return self._image(c, image_id)

    def _image(self, c: Connection, image_id: int) -> ImageRecord:
        row = c.execute(
            select(t.images, t.datasets.c.image_root).join(t.datasets).where(t.images.c.id == image_id)
        ).first()
        if row is None:
            raise StoreError(f"no image with id {image_id}")
        return _image_record(row)

    def annotations(self, image_id: int) -> list[AnnotationRecord]:
        with self.reading() as c:
            return self._annotations(c, self._image(c, image_id))

    def _annotations(self, c: Connection, image: ImageRecord) -> list[AnnotationRecord]:
        rows = c.execute(
            select(t.annotations, t.categories.c.coco_id.label("cat_coco_id"), t.categories.c.name.label("cat_name"))
            .join(t.categories, t.annotations.c.category_id == t.categories.c.id)
            .where(t.annotations.c.image_id == image.id)
            .order_by(t.annotations.c.coco_id)
        )
        return [
            AnnotationRecord(
                r.coco_id,
                r.cat_coco_id,
                r.cat_name,
                {"size": [image.height, image.width], "counts": r.rle_counts},
                json.loads(r.bbox),
                r.area,
                r.iscrowd,
                r.origin,
                r.author,
                r.created_at,
                r.score,
            )
            for r in rows
        ]

    def image_labels(self, image_id: int) -> list[ImageLabel]:
        with self.reading() as c:
            return self._image_labels(c, image_id)

    def _image_labels(self, c: Connection, image_id: int) -> list[ImageLabel]:
        rows = c.execute(
            select(t.image_labels, t.categories.c.coco_id.label("cat_coco_id"))
            .outerjoin(t.categories, t.image_labels.c.category_id == t.categories.c.id)
            .where(t.image_labels.c.image_id == image_id)
            .order_by(t.image_labels.c.coco_id)
        )
        return [ImageLabel(r.raw_label, r.cat_coco_id, r.count, r.coco_id) for r in rows]

    def review_progress(self, dataset: str) -> tuple[int, int]:
        """(reviewed images, all images) of a data set."""
        ds = self.dataset_id(dataset)
        with self.reading() as c:
            total = c.scalar(select(func.count()).select_from(t.images).where(t.images.c.dataset_id == ds))
            done = c.scalar(
                select(func.count())
                .select_from(t.images)
                .where(t.images.c.dataset_id == ds, t.images.c.reviewed.is_(True))
            )
        return int(done), int(total)

    def annotated_image_ids(self, dataset: str) -> set[int]:
        """Ids of the data set's images that have at least one annotation (one query, for batch work)."""
        ds = self.dataset_id(dataset)
        with self.reading() as c:
            return set(c.scalars(select(t.annotations.c.image_id).where(t.annotations.c.dataset_id == ds).distinct()))

    def history(self, dataset: str, image_id: int | None = None) -> list[dict]:
        ds = self.dataset_id(dataset)
        query = select(t.history).where(t.history.c.dataset_id == ds)
        if image_id is not None:
            query = query.where(t.history.c.image_id == image_id)
        with self.reading() as c:
            return [dict(r._mapping) for r in c.execute(query.order_by(t.history.c.id))]

    def get_mapping(self, dataset: str) -> LabelMapping | None:
        ds = self.dataset_id(dataset)
        with self.reading() as c:
            text = c.scalar(select(t.label_mappings.c.mapping).where(t.label_mappings.c.dataset_id == ds))
        return None if text is None else LabelMapping.from_dict(json.loads(text))

    # ---------------------------------------------------------------- writing

    def save_annotations(
        self, image_id: int, new: list[NewAnnotation], *, expected_revision: int, author: str, reviewed: bool = True
    ) -> int:
        """Replace an image's annotations; returns the new revision.

        Raises:
            ConflictError: the image changed since ``expected_revision``.
            StoreError: unknown category, origin, or a mask of the wrong size.
        """
        _check_author(author)
        with self.writing() as c:
            self._save_annotations(c, image_id, new, expected_revision, author, reviewed)
        return expected_revision + 1

    def save_many(
        self, saves: list[tuple[int, list[NewAnnotation], int]], *, author: str, reviewed: bool = False
    ) -> list[int]:
        """Several images' :meth:`save_annotations` in one transaction, for a batch writer; each
        ``(image id, annotations, expected revision)`` is its own recorded change. Returns the ids of
        images someone saved since their revision: those are left as they are, the rest are saved.

        Raises:
            StoreError: a bad annotation; then nothing of the batch is written.
        """
        _check_author(author)
        conflicts = []
        with self.writing() as c:
            for image_id, new, expected_revision in saves:
                try:
                    self._save_annotations(c, image_id, new, expected_revision, author, reviewed)
                except ConflictError:  # raised by _claim before it wrote anything for this image
                    conflicts.append(image_id)
        return conflicts

    def _save_annotations(
        self,
        c: Connection,
        image_id: int,
        new: list[NewAnnotation],
        expected_revision: int,
        author: str,
        reviewed: bool,
    ) -> None:
        image = self._claim(c, image_id, expected_revision)
        before = self._snapshot(c, image)
        self._write_annotations(c, image, new, author)
        c.execute(update(t.images).where(t.images.c.id == image.id).values(reviewed=reviewed))
        after = self._snapshot(c, image)
        self._record(
            c, image, "save_annotations", author, expected_revision + 1, before, after, keys=("annotations", "reviewed")
        )

    def save_image_labels(self, image_id: int, labels: list[ImageLabel], *, expected_revision: int, author: str) -> int:
        """Replace an image's image-level labels; returns the new revision."""
        _check_author(author)
        with self.writing() as c:
            image = self._claim(c, image_id, expected_revision)
            before = self._snapshot(c, image)
            self._write_labels(c, image, labels)
            after = self._snapshot(c, image)
            self._record(
                c, image, "save_image_labels", author, expected_revision + 1, before, after, keys=("image_labels",)
            )
        return expected_revision + 1

    def undo(self, image_id: int, *, expected_revision: int, author: str) -> int:
        """Revert the image's latest change not yet undone; returns the new revision.

        Undo is itself a change (recorded in the history), so it too can
        conflict, and repeated undos walk back through the saves.
        """
        _check_author(author)
        with self.writing() as c:
            image = self._claim(c, image_id, expected_revision)
            undone = set(
                c.scalars(
                    select(t.history.c.undoes).where(t.history.c.image_id == image.id, t.history.c.undoes.is_not(None))
                )
            )
            entries = c.execute(
                select(t.history.c.id, t.history.c.before)
                .where(
                    t.history.c.image_id == image.id, t.history.c.action.in_(("save_annotations", "save_image_labels"))
                )
                .order_by(t.history.c.id.desc())
            ).all()
            target = next((e for e in entries if e.id not in undone), None)
            if target is None:
                raise StoreError(f"image {image_id} has no change left to undo")
            before_undo = self._snapshot(c, image)
            restore = json.loads(target.before)
            if "annotations" in restore:
                self._write_annotations(
                    c,
                    image,
                    [_new_from_coco(a) for a in restore["annotations"]],
                    author,
                    keep_provenance=restore["annotations"],
                )
                c.execute(update(t.images).where(t.images.c.id == image.id).values(reviewed=restore["reviewed"]))
            if "image_labels" in restore:
                self._write_labels(
                    c,
                    image,
                    [
                        ImageLabel(d["raw_label"], d["category_id"], d["count"], d["id"])
                        for d in restore["image_labels"]
                    ],
                )
            after = self._snapshot(c, image)
            keys = tuple(restore)
            self._record(
                c, image, "undo", author, expected_revision + 1, before_undo, after, keys=keys, undoes=target.id
            )
        return expected_revision + 1

    def set_mapping(self, dataset: str, mapping: LabelMapping, author: str) -> None:
        """Store the label mapping in use for a data set (the client vocabulary -> our classes)."""
        _check_author(author)
        ds = self.dataset_id(dataset)
        text = json.dumps(mapping.to_dict(), sort_keys=True)
        with self.writing() as c:
            old = c.execute(select(t.label_mappings).where(t.label_mappings.c.dataset_id == ds)).first()
            if old is None:
                c.execute(insert(t.label_mappings).values(dataset_id=ds, mapping=text, revision=1, updated_at=now()))
            else:
                c.execute(
                    update(t.label_mappings)
                    .where(t.label_mappings.c.id == old.id)
                    .values(mapping=text, revision=old.revision + 1, updated_at=now())
                )
            c.execute(
                insert(t.history).values(
                    dataset_id=ds,
                    image_id=None,
                    action="set_mapping",
                    author=author,
                    at=now(),
                    before=None if old is None else old.mapping,
                    after=text,
                )
            )

    def remap_image_labels(self, dataset: str, author: str) -> int:
        """Re-derive every image's mapped labels from its raw labels with the stored mapping.

        Returns how many images changed. Each image is its own recorded change.
        """
        mapping = self.get_mapping(dataset)
        if mapping is None:
            raise StoreError(f"data set {dataset!r} has no label mapping")
        name_to_id = self.category_ids(dataset)
        changed = 0
        unknown = {c for classes in mapping.rules.values() for c in classes} - set(name_to_id)
        if unknown:
            raise StoreError(
                f"the mapping names classes data set {dataset!r} does not have: {', '.join(sorted(unknown))}"
            )
        for image in self.images(dataset):
            labels = self.image_labels(image.id)
            new = [
                ImageLabel(raw_label, None if name is None else name_to_id[name], count)
                for raw_label in dict.fromkeys(x.raw_label for x in labels)
                for name, count in mapping.label_counts(raw_label)
            ]
            if [(x.raw_label, x.category_id, x.count) for x in new] != [
                (x.raw_label, x.category_id, x.count) for x in labels
            ]:
                self.save_image_labels(image.id, new, expected_revision=image.revision, author=author)
                changed += 1
        return changed

    # ---------------------------------------------------------------- internals

    def _claim(self, c: Connection, image_id: int, expected_revision: int) -> ImageRecord:
        """Bump the revision if it is still ``expected_revision``; otherwise raise ConflictError."""
        image = self._image(c, image_id)
        result = c.execute(
            update(t.images)
            .where(t.images.c.id == image_id, t.images.c.revision == expected_revision)
            .values(revision=expected_revision + 1)
        )
        if result.rowcount != 1:
            last = c.scalar(
                select(t.history.c.author)
                .where(t.history.c.image_id == image_id)
                .order_by(t.history.c.id.desc())
                .limit(1)
            )
            raise ConflictError(image_id, expected_revision, image.revision, last)
        return image

    def _category_rows(self, c: Connection, dataset_id: int) -> dict[int, int]:
        rows = c.execute(
            select(t.categories.c.coco_id, t.categories.c.id).where(t.categories.c.dataset_id == dataset_id)
        )
        return {r.coco_id: r.id for r in rows}

    def _write_annotations(
        self,
        c: Connection,
        image: ImageRecord,
        new: list[NewAnnotation],
        author: str,
        keep_provenance: list | None = None,
    ) -> None:
        categories = self._category_rows(c, image.dataset_id)
        existing = {a.coco_id: a for a in self._annotations(c, image)}
        next_id = (
            c.scalar(select(func.max(t.annotations.c.coco_id)).where(t.annotations.c.dataset_id == image.dataset_id))
            or 0
        ) + 1
        rows, stamp = [], now()
        for n, ann in enumerate(new):
            if ann.category_id not in categories:
                raise StoreError(f"annotation {n}: unknown category id {ann.category_id}")
            if ann.origin not in t.ORIGINS:
                raise StoreError(f"annotation {n}: origin must be one of {t.ORIGINS}, not {ann.origin!r}")
            if [int(v) for v in ann.rle["size"]] != [image.height, image.width]:
                raise StoreError(f"annotation {n}: mask is {ann.rle['size']}, image is {[image.height, image.width]}")
            try:
                check_rle(
                    {"size": [int(v) for v in ann.rle["size"]], "counts": ann.rle["counts"]}, image.height, image.width
                )
            except ValueError as exc:
                raise StoreError(f"annotation {n}: {exc}") from None
            rle = encode_rle(decode_rle(ann.rle)) if not isinstance(ann.rle["counts"], str) else ann.rle
            coco_id = ann.coco_id
            if coco_id is None or (coco_id not in existing and keep_provenance is None):
                coco_id, next_id = next_id, next_id + 1
            old = existing.get(coco_id)
            unchanged = (
                old is not None
                and old.rle["counts"] == rle["counts"]
                and old.category_id == ann.category_id
                and old.origin == ann.origin
            )
            if keep_provenance is not None:
                source = keep_provenance[n]
                who, when = source["author"], source["created_at"]
            elif unchanged:
                who, when = old.author, old.created_at
            else:
                who, when = author, stamp
            rows.append(
                {
                    "dataset_id": image.dataset_id,
                    "image_id": image.id,
                    "coco_id": coco_id,
                    "category_id": categories[ann.category_id],
                    "rle_counts": rle["counts"],
                    "bbox": json.dumps(rle_bbox(rle)),
                    "area": rle_area(rle),
                    "iscrowd": int(ann.iscrowd),
                    "origin": ann.origin,
                    "author": who,
                    "created_at": when,
                    "score": None if ann.score is None else float(ann.score),
                }
            )
        if len({r["coco_id"] for r in rows}) != len(rows):
            raise StoreError("two annotations share one id")
        c.execute(t.annotations.delete().where(t.annotations.c.image_id == image.id))
        _insert_rows(c, t.annotations, rows)

    def _write_labels(self, c: Connection, image: ImageRecord, labels: list[ImageLabel]) -> None:
        categories = self._category_rows(c, image.dataset_id)
        next_id = (
            c.scalar(select(func.max(t.image_labels.c.coco_id)).where(t.image_labels.c.dataset_id == image.dataset_id))
            or 0
        ) + 1
        rows = []
        for label in labels:
            if label.category_id is not None and label.category_id not in categories:
                raise StoreError(f"label {label.raw_label!r}: unknown category id {label.category_id}")
            if label.count < 0:
                raise StoreError(f"label {label.raw_label!r}: count must not be negative")
            coco_id = label.coco_id
            if coco_id is None:
                coco_id, next_id = next_id, next_id + 1
            rows.append(
                {
                    "dataset_id": image.dataset_id,
                    "image_id": image.id,
                    "coco_id": coco_id,
                    "raw_label": label.raw_label,
                    "category_id": None if label.category_id is None else categories[label.category_id],
                    "count": int(label.count),
                }
            )
        c.execute(t.image_labels.delete().where(t.image_labels.c.image_id == image.id))
        _insert_rows(c, t.image_labels, rows)

    def _snapshot(self, c: Connection, image: ImageRecord) -> dict:
        reviewed = c.scalar(select(t.images.c.reviewed).where(t.images.c.id == image.id))
        return {
            "annotations": [a.to_coco(image.coco_id) for a in self._annotations(c, image)],
            "image_labels": [
                {"id": x.coco_id, "raw_label": x.raw_label, "category_id": x.category_id, "count": x.count}
                for x in self._image_labels(c, image.id)
            ],
            "reviewed": bool(reviewed),
        }

    def _record(self, c, image, action, author, revision, before, after, keys, undoes=None) -> None:
        """Append a history entry holding the ``keys`` of the before and after snapshots."""

        def pick(snapshot: dict) -> str:
            return json.dumps({k: snapshot[k] for k in keys}, sort_keys=True)

        c.execute(
            insert(t.history).values(
                dataset_id=image.dataset_id,
                image_id=image.id,
                action=action,
                author=author,
                at=now(),
                revision=revision,
                undoes=undoes,
                before=pick(before),
                after=pick(after),
            )
        )


def _insert_rows(c: Connection, table, rows: list[dict]) -> None:
    if rows:
        c.execute(insert(table), rows)


def _new_from_coco(a: dict) -> NewAnnotation:
    return NewAnnotation(a["category_id"], a["segmentation"], a["origin"], a.get("score"), a.get("iscrowd", 0), a["id"])


def _image_record(r) -> ImageRecord:
    return ImageRecord(
        r.id,
        r.dataset_id,
        r.coco_id,
        r.file_name,
        Path(r.image_root) / r.file_name,
        r.sha256,
        r.width,
        r.height,
        r.split,
        r.revision,
        bool(r.reviewed),
    )


def _check_author(author: str) -> None:
    if not isinstance(author, str) or not author.strip():
        raise StoreError("an author name is required for every change")
    if len(author) > 200:
        raise StoreError("an author name has at most 200 characters")
