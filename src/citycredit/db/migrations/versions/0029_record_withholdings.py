"""record withholdings: 不予公示 (涉及个人隐私, 国家秘密, 商业秘密, 安全稳定) and its release

`record_withholdings` keeps each step of the withholding workflow of ingest/withhold.py: the
record, withhold or release, the statutory reason, the 依据 stated, the acting department and
account, the time. The record's own `published` / `unpublished_reason` columns carry the
current state (read by every public view); each step is committed to the ledger
(`record.withheld` / `record.released`, the basis as its SHA-256 only) and checked by
`ledger verify` against this table and the record. Security goal G31.

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_withholdings",
        sa.Column("id", sa.Integer(), nullable=False, comment="in order: the newest step wins"),
        sa.Column("record_id", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False, comment="withhold | release"),
        sa.Column(
            "reason",
            sa.String(length=20),
            nullable=True,
            comment="privacy | state_secret | trade_secret | security; NULL: release",
        ),
        sa.Column(
            "basis", sa.Text(), nullable=False, comment="依据/说明 (the ledger commits its SHA-256)"
        ),
        sa.Column(
            "department_id",
            sa.Integer(),
            nullable=True,
            comment="the acting department; NULL: the credit office",
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_record_withholdings_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_record_withholdings_record_id_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_withholdings")),
    )
    with op.batch_alter_table("record_withholdings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_record_withholdings_record_id"), ["record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("record_withholdings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_withholdings_record_id"))
    op.drop_table("record_withholdings")
