"""subjects.name_norm trigram index (PostgreSQL): the portal's search by part of a name

`subjects.archive.search_subjects` finds organisations by any part of their name (name_norm
LIKE '%…%'), which no B-tree index serves: every search read every subject — ~130 ms at
1,000,000 subjects, growing with the city (docs/benchmarks.md, session 17). A GIN index with
pg_trgm's trigram operator class answers such a LIKE from the index (~1 ms for a 4-character
part of a name). pg_trgm ships with PostgreSQL and is a trusted extension: the database's owner
may create it. Chinese characters count as word characters under a UTF-8 ctype (C.UTF-8,
zh_CN.UTF-8), so names in Chinese get their trigrams. SQLite: nothing (no such index).

Revision ID: 0036
Revises: 0035
Create Date: 2026-11-28 00:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_subjects_name_trgm",
        "subjects",
        ["name_norm"],
        postgresql_using="gin",
        postgresql_ops={"name_norm": "gin_trgm_ops"},
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_subjects_name_trgm", table_name="subjects")  # the extension stays
