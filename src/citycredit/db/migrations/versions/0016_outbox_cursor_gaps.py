"""outbox_cursors.gaps: consumers read the outbox through a gap-aware cursor

Event-writing transactions no longer take one advisory lock to make outbox ids commit in id
order (a long submission held every credit check until it committed); a consumer's cursor keeps
the ids below its high water that it has not seen yet, with the transaction horizons that tell
when they can no longer fill (kernel.outbox).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 20:40:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("outbox_cursors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gaps", _json(), nullable=False, server_default="[]"))
    with op.batch_alter_table("outbox_cursors", schema=None) as batch_op:
        batch_op.alter_column("gaps", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outbox_cursors", schema=None) as batch_op:
        batch_op.drop_column("gaps")
