"""quality_reports: the 数据质量 report stored as a snapshot, not recomputed per public read

`GET /api/v1/quality` and the portal's /quality are public; each read used to scan every record,
every current version's payload and every reject of the archive (minutes at the city's scale,
repeatable by anyone). The report is now computed by the hourly job `quality_report`, by the
credit office (`POST /api/v1/quality/refresh`) or by `citycredit quality`, and stored here with
its 统计时间; the reads serve the newest row (one indexed read). Rows older than 90 days are
pruned when a new one is stored (ingest/quality.py, ``KEEP_DAYS``).

The table starts empty: the scheduler runs the job at start, and the first read before it has
finished computes and stores the first report itself.

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-28 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

TABLE = "quality_reports"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "computed_at",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=False,
            comment="统计时间: when the scan began; the newest is served",
        ),
        sa.Column(
            "as_of",
            sa.Date(),
            nullable=False,
            comment="the report's day (Asia/Shanghai): obligations due before it are counted",
        ),
        sa.Column("took_ms", sa.Integer(), nullable=False, comment="how long the full scan took"),
        sa.Column(
            "trigger",
            sa.String(length=20),
            nullable=False,
            comment="job | cli | api | read (first read, no report stored yet)",
        ),
        sa.Column(
            "computed_by", sa.String(length=100), nullable=False, comment="the actor's label"
        ),
        sa.Column(
            "report",
            sa.JSON(),
            nullable=False,
            comment="the report as computed (ingest.quality.compute_quality_report)",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_reports")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quality_reports_computed_at"), ["computed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_reports_computed_at"))
    op.drop_table(TABLE)
