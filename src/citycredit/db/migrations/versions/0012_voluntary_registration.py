"""rights: voluntary registrations (自愿注册) and self-disclosures (自主公示)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "voluntary_registrations",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False, comment="the registering account"),
        sa.Column(
            "binding_id",
            sa.String(length=24),
            nullable=False,
            comment="the verified binding it made",
        ),
        sa.Column(
            "idp", sa.String(length=40), nullable=False, comment="identity provider that vouched"
        ),
        sa.Column(
            "created_subject",
            sa.Boolean(),
            nullable=False,
            comment="the subject was new to the platform",
        ),
        sa.Column("profile", _JSON, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False, comment="active | withdrawn"),
        sa.Column("registered_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_voluntary_registrations_subject_id_subjects"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_voluntary_registrations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voluntary_registrations")),
        sa.UniqueConstraint("subject_id", name=op.f("uq_voluntary_registrations_subject_id")),
    )
    op.create_table(
        "self_disclosures",
        sa.Column("id", sa.String(length=24), nullable=False, comment="= ZZ_BH"),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column("record_id", sa.String(length=24), nullable=False, comment="the catalog record"),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.String(length=12),
            nullable=False,
            comment="unverified | verified | withdrawn | rejected",
        ),
        sa.Column("filed_by", sa.String(length=100), nullable=False),
        sa.Column("filed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("decided_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["filed_by_user_id"],
            ["users.id"],
            name=op.f("fk_self_disclosures_filed_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_self_disclosures_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_disclosures")),
    )
    op.create_index(
        "ix_self_disclosures_subject", "self_disclosures", ["subject_id", "status"], unique=False
    )
    op.create_index("ix_self_disclosures_status", "self_disclosures", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_self_disclosures_status", table_name="self_disclosures")
    op.drop_index("ix_self_disclosures_subject", table_name="self_disclosures")
    op.drop_table("self_disclosures")
    op.drop_table("voluntary_registrations")
