"""repairs.revoked_on and objections.flagged_target

A repair revoked for false materials kept only one date: the revocation overwrote `decided_on`
(the approval), so the approval date was lost and the fraud bar ran from a date that meant two
things. `repairs.revoked_on` now holds the revocation; `decided_on` keeps the approval.

An objection on a list entry set the lists area's `objection_pending` flag and cleared it when
answered, even where the department had set it for the party's own 陈述申辩 before. An objection
now records whether it set the flag (`objections.flagged_target`) and clears only its own. Open
objections on entries still flagged are taken to have set it (what older versions assumed).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repairs") as batch_op:
        batch_op.add_column(
            sa.Column("revoked_on", sa.Date(), nullable=True, comment="revoked for false materials")
        )
    with op.batch_alter_table("objections") as batch_op:
        batch_op.add_column(
            sa.Column(
                "flagged_target",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="this objection set the list entry's objection_pending flag",
            )
        )
    objections = sa.table(
        "objections",
        sa.column("target_type", sa.String),
        sa.column("target_id", sa.String),
        sa.column("status", sa.String),
        sa.column("flagged_target", sa.Boolean),
    )
    memberships = sa.table(
        "memberships", sa.column("id", sa.String), sa.column("objection_pending", sa.Boolean)
    )
    flagged = sa.select(memberships.c.id).where(memberships.c.objection_pending.is_(True))
    op.get_bind().execute(
        objections.update()
        .where(
            objections.c.target_type == "membership",
            objections.c.status.in_(["submitted", "accepted"]),
            objections.c.target_id.in_(flagged),
        )
        .values(flagged_target=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("objections") as batch_op:
        batch_op.drop_column("flagged_target")
    with op.batch_alter_table("repairs") as batch_op:
        batch_op.drop_column("revoked_on")
