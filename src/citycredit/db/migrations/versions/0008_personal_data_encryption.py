"""personal data encryption: blind index of ID and phone numbers

The envelopes themselves live in the existing JSON columns (record_versions.personal,
rejects.raw, unresolved.values); rows written before this revision stay readable and are sealed
by `citycredit crypto rotate` (a migration cannot read the keyring). docs/adr/0008.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personal_index",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False, comment="id_number | phone"),
        sa.Column(
            "digest",
            sa.String(length=64),
            nullable=False,
            comment="HMAC of the normalised value under the blind-index key",
        ),
        sa.Column("index_kid", sa.String(length=40), nullable=False, comment="blind-index key id"),
        sa.Column("record_id", sa.String(length=24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False, comment="catalog field code"),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_personal_index_record_id_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_index")),
    )
    with op.batch_alter_table("personal_index", schema=None) as batch_op:
        batch_op.create_index("ix_personal_index_kind_digest", ["kind", "digest"], unique=False)
        batch_op.create_index(
            "ix_personal_index_record_version", ["record_id", "version"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("personal_index", schema=None) as batch_op:
        batch_op.drop_index("ix_personal_index_record_version")
        batch_op.drop_index("ix_personal_index_kind_digest")
    op.drop_table("personal_index")
