"""COCO ids are 64-bit on every database.

Imports accept ids up to 2**63 - 1 (``fashionseg.core.coco.MAX_ID``), which
SQLite's INTEGER holds; PostgreSQL's INTEGER stops at 2**31 - 1, so a client
archive with large photo ids failed there. On SQLite nothing changes: its
integers are 64-bit whatever the declared type, and rebuilding its tables
would only cost time.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("categories", "images", "annotations", "image_labels")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.alter_column(table, "coco_id", type_=sa.BigInteger, existing_type=sa.Integer, existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.alter_column(table, "coco_id", type_=sa.Integer, existing_type=sa.BigInteger, existing_nullable=False)
