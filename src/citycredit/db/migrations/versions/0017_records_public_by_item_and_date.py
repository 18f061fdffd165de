"""public records by item and decision date (the portal's 双公示 pages)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 23:10:00

ix_records_item_public_date: the portal's 行政许可 / 行政处罚 publicity pages
(subjects.archive.dual_publicity) read the newest public records of one item, newest decision
date first and then by id; a partial index on (item_code, decision_date, id) holding only records
on the public view gives that order, so a page stops after its rows instead of sorting every
licence or penalty of the city (or every one of a day, without the id).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

PUBLIC = sa.text("status = 'active' AND openness = 'public' AND published")


def upgrade() -> None:
    op.create_index(
        "ix_records_item_public_date",
        "records",
        ["item_code", "decision_date", "id"],
        unique=False,
        postgresql_where=PUBLIC,
        sqlite_where=PUBLIC,
    )


def downgrade() -> None:
    op.drop_index("ix_records_item_public_date", table_name="records")
