"""ledger cosignatures: witnesses' cosignatures of the log's checkpoints (G22)

`ledger_cosignatures`: one row per (witness, checkpoint size), the cosignature line a witness
(c2sp.org/tlog-witness) returned for that checkpoint, checked against the witness's configured
key before it is stored. See ledger/witness_client.py and docs/ledger.md.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-27 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column(
            "witness",
            sa.String(length=100),
            nullable=False,
            comment="settings.ledger_witnesses name",
        ),
        sa.Column(
            "cosignature", sa.Text(), nullable=False, comment="the signed-note line, no newline"
        ),
        sa.Column("received_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_cosignatures")),
        sa.UniqueConstraint(
            "witness",
            "checkpoint_size",
            name=op.f("uq_ledger_cosignatures_witness_checkpoint_size"),
        ),
    )
    with op.batch_alter_table("ledger_cosignatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_cosignatures_checkpoint_size"), ["checkpoint_size"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_cosignatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_cosignatures_checkpoint_size"))
    op.drop_table("ledger_cosignatures")
