"""reports: issued public credit reports (信用报告)

A report is the public archive, lists and evaluation of an organisation as of its issue, kept
as issued, with the digest of its canonical bytes; a `report.issued` ledger leaf commits to the
digest, so a report can be verified offline (ledger.bundle.verify_bundle).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 23:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from citycredit.db.base import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("report_no", sa.String(length=32), nullable=False, comment="报告编号"),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column(
            "kind", sa.String(length=20), nullable=False, comment="public (公共信用信息报告)"
        ),
        sa.Column("content", _json(), nullable=False),
        sa.Column(
            "content_hash",
            sa.String(length=64),
            nullable=False,
            comment="hex, the ledger suite's hash",
        ),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issued_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.subject_id"]),
        sa.PrimaryKeyConstraint("report_no"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_subject_id"))
    op.drop_table("reports")
