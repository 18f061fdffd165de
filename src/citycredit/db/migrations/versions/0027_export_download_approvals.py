"""export download requests and their watermarked copies (G35)

A 双公示 export file that carries natural persons' data is no longer downloaded on request: a
credit-office account asks (`export_download_requests`, with a purpose), another approves or
refuses, and an approval writes a watermarked copy of each file for the requester
(`export_download_copies`, with its SHA-256, so a leaked copy is traced to its request). The
copies expire `export_download_expiry_hours` after the approval and are then deleted by the
`export_downloads_expire` job; the rows stay. See exports/downloads.py and
docs/howto/dual-publicity-export.md.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-29 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_download_requests",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("export_id", sa.String(length=24), nullable=False),
        sa.Column(
            "files",
            citycredit.db.base.JsonType,
            nullable=False,
            comment="names of the export's files asked for",
        ),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.String(length=12),
            nullable=False,
            comment="pending | approved | refused | expired (copies deleted)",
        ),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True, comment="the refusal's reason"),
        sa.Column(
            "expires_at",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=True,
            comment="approved: the copies are refused from then on and deleted",
        ),
        sa.Column("directory", sa.Text(), nullable=True, comment="where the copies are"),
        sa.Column(
            "deleted_at",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=True,
            comment="the copies were deleted (expiry); NULL = not yet",
        ),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["exports.id"],
            name=op.f("fk_export_download_requests_export_id_exports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_download_requests")),
    )
    with op.batch_alter_table("export_download_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_download_requests_export_id"), ["export_id"], unique=False
        )
        batch_op.create_index(
            "ix_export_download_requests_status_expires_at",
            ["status", "expires_at"],
            unique=False,
        )

    op.create_table(
        "export_download_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=24), nullable=False),
        sa.Column(
            "name", sa.String(length=200), nullable=False, comment="the export file it copies"
        ),
        sa.Column("item", sa.String(length=40), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="bytes"),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("made_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["export_download_requests.id"],
            name=op.f("fk_export_download_copies_request_id_export_download_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_download_copies")),
        sa.UniqueConstraint(
            "request_id", "name", name=op.f("uq_export_download_copies_request_id_name")
        ),
    )
    with op.batch_alter_table("export_download_copies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_download_copies_sha256"), ["sha256"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("export_download_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_download_copies_sha256"))
    op.drop_table("export_download_copies")

    with op.batch_alter_table("export_download_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_export_download_requests_status_expires_at")
        batch_op.drop_index(batch_op.f("ix_export_download_requests_export_id"))
    op.drop_table("export_download_requests")
