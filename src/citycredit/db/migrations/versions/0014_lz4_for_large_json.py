"""lz4 for the large JSON columns on PostgreSQL (outbox payloads, record versions, check answers)

Values over ~2 kB are compressed when stored (TOAST); PostgreSQL's default, pglz, cost an
intake's outbox event (~2.4 kB with its ledger leaf) about twice what lz4 costs: 50,000 such
rows took 2.8–3.9 s to insert with pglz, 1.5–2.0 s with lz4, which also stored them smaller
(83 vs 104 MB). In benchmarks/intake.py (250,000 rows, PostgreSQL) the server's CPU went
from 58.8 to 54.0 s. Only new values are affected; existing ones stay readable as they are. Skipped
when the server was built without lz4. SQLite: nothing to do.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 13:20:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = (
    ("outbox", "payload"),
    ("record_versions", "payload"),
    ("record_versions", "personal"),
    ("rejects", "raw"),
    ("credit_checks", "result"),
)


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bool(
        bind.execute(
            text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                " WHERE name = 'default_toast_compression'"
            )
        ).scalar()
    )


def _set(method: str) -> None:
    if not _lz4_available():
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
