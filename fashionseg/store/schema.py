"""Tables of the annotation store, in SQLAlchemy Core (SQLite and PostgreSQL).

Alembic owns the schema: a change here goes with a new migration in
``migrations/versions/`` (see :mod:`fashionseg.store.migrate`).

``history`` is append-only: the store inserts into it and never updates or
deletes, so every change can be inspected and undone.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# COCO ids go up to 2**63 - 1 (fashionseg.core.coco.MAX_ID). SQLite's INTEGER is 64-bit already, and
# keeping it declared INTEGER there means old SQLite stores need no table rebuild (migration 0002).
COCO_ID = BigInteger().with_variant(Integer(), "sqlite")

ORIGINS = ("ground_truth", "model", "annotator")

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("image_root", Text, nullable=False),
    Column("info", Text, nullable=False, default="{}"),  # JSON: COCO info and provenance
    Column("created_at", String(40), nullable=False),
)

categories = Table(
    "categories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("coco_id", COCO_ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("supercategory", String(200), nullable=False, default=""),
    UniqueConstraint("dataset_id", "coco_id"),
    UniqueConstraint("dataset_id", "name"),
)

images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("coco_id", COCO_ID, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("split", String(20), nullable=True),
    Column("revision", Integer, nullable=False, default=0),
    Column("reviewed", Boolean, nullable=False, default=False),
    UniqueConstraint("dataset_id", "coco_id"),
    UniqueConstraint("dataset_id", "file_name"),
)

annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("coco_id", COCO_ID, nullable=False),
    Column("category_id", ForeignKey("categories.id"), nullable=False),
    Column("rle_counts", Text, nullable=False),  # compressed COCO RLE; size is the image's
    Column("bbox", Text, nullable=False),  # JSON [x, y, w, h]
    Column("area", Integer, nullable=False),
    Column("iscrowd", Integer, nullable=False, default=0),
    Column("origin", String(20), nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("score", Float, nullable=True),
    UniqueConstraint("dataset_id", "coco_id"),
)

image_labels = Table(
    "image_labels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("coco_id", COCO_ID, nullable=False),
    Column("raw_label", String(200), nullable=False),
    Column("category_id", ForeignKey("categories.id"), nullable=True),  # null: dropped by the mapping
    Column("count", Integer, nullable=False, default=1),
    UniqueConstraint("dataset_id", "coco_id"),
)

label_mappings = Table(
    "label_mappings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("mapping", Text, nullable=False),  # JSON, LabelMapping.to_dict()
    Column("revision", Integer, nullable=False, default=0),
    Column("updated_at", String(40), nullable=False),
)

history = Table(
    "history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("image_id", Integer, nullable=True, index=True),
    Column("action", String(40), nullable=False),
    Column("author", String(200), nullable=False),
    Column("at", String(40), nullable=False),
    Column("revision", Integer, nullable=True),  # the image's revision after the change
    Column("undoes", Integer, nullable=True),  # the history id an undo reverted
    Column("before", Text, nullable=True),  # JSON snapshot
    Column("after", Text, nullable=True),  # JSON snapshot
)
