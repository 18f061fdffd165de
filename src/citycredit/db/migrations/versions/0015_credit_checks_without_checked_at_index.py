"""credit_checks without the index on checked_at

No query reads credit checks by time: statistics group by month (``month`` column, with the
department in ix_credit_checks_department_month), a check is read by id and a subject's checks
by subject_id. The index cost every check one more entry to write on the hot path of 信用核查.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 16:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_checks_checked_at"))


def downgrade() -> None:
    with op.batch_alter_table("credit_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_checks_checked_at"), ["checked_at"], unique=False
        )
