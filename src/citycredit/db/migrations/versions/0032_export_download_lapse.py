"""export download requests lapse: a request nobody decided becomes `lapsed` (G35)

`export_download_requests.status` is a plain string (no CHECK constraint, no enum): the new
status `lapsed` needs no change of the column, only of its comment, which PostgreSQL stores
(SQLite keeps no column comments). The `export_downloads_expire` job marks a request still
pending `export_download_request_lapse_hours` (default 72) after it was made as lapsed.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

TABLE = "export_download_requests"
OLD = "pending | approved | refused | expired (copies deleted)"
NEW = "pending | approved | refused | expired (copies deleted) | lapsed (undecided)"


def _comment(comment: str, existing: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        TABLE,
        "status",
        existing_type=sa.String(length=12),
        existing_nullable=False,
        comment=comment,
        existing_comment=existing,
    )


def upgrade() -> None:
    _comment(NEW, OLD)


def downgrade() -> None:
    # Lapsed requests stay as they are: the old comment simply does not name their status.
    _comment(OLD, NEW)
