"""exports.files_purged_at

The 双公示 export files hold natural persons' ID numbers in clear. They are now deleted once
`export_file_retention_days` have passed since the export completed (the daily
`export_files_purge` job); the export row stays, with its counts and checksums, and records
when its files were deleted, so a download asked for afterwards says so instead of "not found".
Existing exports start unpurged: the first run of the job deletes what is already past the
retention.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exports") as batch_op:
        batch_op.add_column(
            sa.Column(
                "files_purged_at",
                citycredit.db.base.UtcDateTime(timezone=True),
                nullable=True,
                comment="the files were deleted (retention); NULL = still on disk",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("exports") as batch_op:
        batch_op.drop_column("files_purged_at")
