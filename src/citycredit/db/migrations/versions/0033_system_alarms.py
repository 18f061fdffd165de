"""system alarms: stored incidents of the platform's operation, acknowledged by an operator (G25)

`system_alarms` keeps one row per storage-full incident (db/storage.py, db/alarms.py): when it
was raised, what failed (``detail``), when it ended (``resolved_at``) and who acknowledged it.
The application inserts and updates rows, never deletes them (`db grant-app-role`: no DELETE).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

TABLE = "system_alarms"
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raised_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False, comment="storage_full"),
        sa.Column(
            "detail",
            JSON,
            nullable=False,
            comment="where, error, first_line, failures, incident_start, last_failure",
        ),
        sa.Column(
            "resolved_at",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=True,
            comment="the incident ended (the operation worked again, or quiet)",
        ),
        sa.Column("acknowledged_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_alarms")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_alarms_raised_at"), ["raised_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_alarms_raised_at"))
    op.drop_table(TABLE)
