"""The first released schema (FashionSeg 0.1.0), before the store was versioned.

Stores made before versioning have exactly these tables and no
``alembic_version`` table; ``fashionseg store upgrade`` stamps them with this
revision and goes on from here.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("image_root", sa.Text, nullable=False),
        sa.Column("info", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("coco_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("supercategory", sa.String(200), nullable=False),
        sa.UniqueConstraint("dataset_id", "coco_id"),
        sa.UniqueConstraint("dataset_id", "name"),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("coco_id", sa.Integer, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("split", sa.String(20), nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("reviewed", sa.Boolean, nullable=False),
        sa.UniqueConstraint("dataset_id", "coco_id"),
        sa.UniqueConstraint("dataset_id", "file_name"),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("coco_id", sa.Integer, nullable=False),
        sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False),
        sa.Column("rle_counts", sa.Text, nullable=False),
        sa.Column("bbox", sa.Text, nullable=False),
        sa.Column("area", sa.Integer, nullable=False),
        sa.Column("iscrowd", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.UniqueConstraint("dataset_id", "coco_id"),
    )
    op.create_table(
        "image_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("coco_id", sa.Integer, nullable=False),
        sa.Column("raw_label", sa.String(200), nullable=False),
        sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.UniqueConstraint("dataset_id", "coco_id"),
    )
    op.create_table(
        "label_mappings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("mapping", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("image_id", sa.Integer, nullable=True, index=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("revision", sa.Integer, nullable=True),
        sa.Column("undoes", sa.Integer, nullable=True),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
    )


def downgrade() -> None:
    for table in ("history", "label_mappings", "image_labels", "annotations", "images", "categories", "datasets"):
        op.drop_table(table)
