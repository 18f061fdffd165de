"""subjects: the search's order and its one- and two-character queries (PostgreSQL)

`subjects.archive.search_subjects` returns the shortest names first (ORDER BY length(name),
name, 20 at most). Through the trigram index (0036) a word most names contain (榆林市, 有限公司,
榆) fetched and sorted every match before the limit, and one or two characters, which have no
trigram, read every subject: 0.2–0.8 s each at 1,000,000 subjects (docs/benchmarks.md,
benchmarks/search.py). Two indexes:

- ix_subjects_name_order: B-tree on (length(name), name), carrying name_norm and subject_id,
  for organisations only (the public search's filter): the planner walks it in the result's
  order, checks the LIKE on the index entry and stops after the limit, reading no table row.
- ix_subjects_name_chars: GIN over the characters of name_norm (string_to_array(name_norm,
  NULL)): a rare one- or two-character query reads the names holding those characters only.

SQLite: nothing (its embedded deployments are small).

Revision ID: 0037
Revises: 0036
Create Date: 2026-11-28 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_subjects_name_order",
        "subjects",
        [sa.text("length(name)"), "name"],
        postgresql_include=["name_norm", "subject_id"],
        postgresql_where=sa.text("subject_type NOT IN ('natural_person', 'farm_household')"),
    )
    op.create_index(
        "ix_subjects_name_chars",
        "subjects",
        [sa.text("string_to_array(name_norm, NULL)")],
        postgresql_using="gin",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_subjects_name_chars", table_name="subjects")
    op.drop_index("ix_subjects_name_order", table_name="subjects")
