"""the public lists read in their own order: index (list_type, status, published_on DESC, id)

A public list page (lists.service.public_list) shows a list's published entries newest first
(published_on DESC, id). With only (list_type, status) indexed, every page joined all entries of
the list to their subjects and source records and sorted them to keep 50 or 100 (the soak's
latency tail, G28). This index holds them in the page's order: a page reads its own entries and
stops, and a keyset cursor (`after`) starts where the previous page ended (lists.paging).

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-27 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_memberships_public_order",
        "memberships",
        ["list_type", "status", sa.text("published_on DESC"), "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_memberships_public_order", table_name="memberships")
