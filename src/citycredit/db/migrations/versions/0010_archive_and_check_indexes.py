"""archive and check indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 03:30:00

ix_records_subject_public: the public archive (subjects.archive._public_records) reads a
subject's public records through a partial index that holds only records on the public view
(active, 公开, published), so a read at 10,000,000 records touches no authorised or withdrawn
record (benchmarks/archive.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PUBLIC = sa.text("status = 'active' AND openness = 'public' AND published")


def upgrade() -> None:
    op.create_index(
        "ix_records_subject_public",
        "records",
        ["subject_id"],
        unique=False,
        postgresql_where=PUBLIC,
        sqlite_where=PUBLIC,
    )


def downgrade() -> None:
    op.drop_index("ix_records_subject_public", table_name="records")
