"""dual publicity exports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 03:30:00

双公示 outbound exports to the provincial platform: one row per export (period, counts, files
with checksums, status, who, when) and one row per record version it sent (exports/db.py);
an index on record_versions.created_at for selecting the changes of a period.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False, comment="dual_publicity"),
        sa.Column(
            "mode",
            sa.String(length=12),
            nullable=False,
            comment="full | incremental (since the last export) | explicit (--since)",
        ),
        sa.Column(
            "period_since",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=True,
            comment="exclusive; NULL = from the beginning",
        ),
        sa.Column(
            "period_until",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=False,
            comment="inclusive",
        ),
        sa.Column("status", sa.String(length=12), nullable=False, comment="completed | failed"),
        sa.Column("trigger", sa.String(length=12), nullable=False, comment="job | cli | api"),
        sa.Column(
            "counts",
            citycredit.db.base.JsonType,
            nullable=False,
            comment="rows per item and operation",
        ),
        sa.Column(
            "files",
            citycredit.db.base.JsonType,
            nullable=False,
            comment="name, item, format, rows, bytes, sha256",
        ),
        sa.Column("directory", sa.Text(), nullable=True),
        sa.Column("catalog_version", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("started_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exports_kind_status_until", ["kind", "status", "period_until"], unique=False
        )

    op.create_table(
        "export_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("export_id", sa.String(length=24), nullable=False),
        sa.Column("record_id", sa.String(length=24), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=4), nullable=False, comment="新增 | 更新 | 删除"),
        sa.Column(
            "personal",
            sa.Boolean(),
            nullable=False,
            comment="the row carried non-public fields (ID numbers)",
        ),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["exports.id"],
            name=op.f("fk_export_records_export_id_exports"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_export_records_record_id_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_records")),
        sa.UniqueConstraint(
            "export_id",
            "record_id",
            name=op.f("uq_export_records_export_id_record_id"),
        ),
    )
    with op.batch_alter_table("export_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_records_record_id"), ["record_id"], unique=False
        )

    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.create_index("ix_record_versions_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_record_versions_created_at")

    with op.batch_alter_table("export_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_records_record_id"))

    op.drop_table("export_records")
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_index("ix_exports_kind_status_until")

    op.drop_table("exports")
