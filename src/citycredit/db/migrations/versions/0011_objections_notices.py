"""rights: objections, repairs, case steps, receipts, the in-app inbox; records repair state

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "records",
        sa.Column(
            "repaired_at",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=True,
            comment="信用修复: publication and sharing stop (read-time rule)",
        ),
    )
    op.add_column(
        "records",
        sa.Column("repair_id", sa.String(length=24), nullable=True, comment="the approved repair"),
    )
    op.create_table(
        "objections",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column(
            "target_type",
            sa.String(length=20),
            nullable=False,
            comment="record | evaluation | membership",
        ),
        sa.Column("target_id", sa.String(length=60), nullable=False),
        sa.Column(
            "target_version",
            sa.String(length=60),
            nullable=True,
            comment="record version / evaluation model@as_of at filing",
        ),
        sa.Column(
            "department_id",
            sa.Integer(),
            nullable=True,
            comment="the source department that verifies; NULL: 信用办",
        ),
        sa.Column("ground", sa.String(length=30), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "channel", sa.String(length=20), nullable=False, comment="online | window | province"
        ),
        sa.Column("filed_by", sa.String(length=100), nullable=False),
        sa.Column("filed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("outcome_reason", sa.Text(), nullable=True),
        sa.Column("statement", sa.Text(), nullable=True, comment="本人声明, attached on request"),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("accept_due", sa.Date(), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("verify_due", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("escalated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_objections_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["filed_by_user_id"], ["users.id"], name=op.f("fk_objections_filed_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_objections_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    op.create_index(
        "ix_objections_status_department", "objections", ["status", "department_id"], unique=False
    )
    op.create_index(
        "ix_objections_subject_status", "objections", ["subject_id", "status"], unique=False
    )
    op.create_index(
        "ix_objections_target", "objections", ["target_type", "target_id"], unique=False
    )
    op.create_table(
        "case_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_type", sa.String(length=12), nullable=False, comment="objection | repair"),
        sa.Column("case_id", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_steps")),
    )
    op.create_index(
        "ix_case_steps_case", "case_steps", ["case_type", "case_id", "id"], unique=False
    )
    op.create_table(
        "repairs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column(
            "target_type", sa.String(length=20), nullable=False, comment="record | membership"
        ),
        sa.Column("target_id", sa.String(length=60), nullable=False),
        sa.Column(
            "department_id",
            sa.Integer(),
            nullable=True,
            comment="谁认定、谁修复: the deciding department",
        ),
        sa.Column(
            "channel", sa.String(length=20), nullable=False, comment="online | window | province"
        ),
        sa.Column(
            "external_ref",
            sa.String(length=80),
            nullable=True,
            comment="the provincial platform's application number, when forwarded",
        ),
        sa.Column("reasons", sa.Text(), nullable=False, comment="how the conduct was corrected"),
        sa.Column("commitment_text", sa.Text(), nullable=False, comment="信用修复承诺书"),
        sa.Column(
            "materials",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "eligibility",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment="eligibility as computed when filed",
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("commitment_id", sa.String(length=24), nullable=True),
        sa.Column("filed_by", sa.String(length=100), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("accept_due", sa.Date(), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("decide_due", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("sync_due", sa.Date(), nullable=True),
        sa.Column("synced_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_repairs_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.subject_id"], name=op.f("fk_repairs_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repairs")),
    )
    op.create_index(
        "ix_repairs_status_department", "repairs", ["status", "department_id"], unique=False
    )
    op.create_index("ix_repairs_subject_status", "repairs", ["subject_id", "status"], unique=False)
    op.create_index("ix_repairs_target", "repairs", ["target_type", "target_id"], unique=False)
    op.create_table(
        "repair_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repair_id", sa.String(length=24), nullable=False),
        sa.Column(
            "consumer_kind",
            sa.String(length=20),
            nullable=False,
            comment="department | subscription",
        ),
        sa.Column("consumer_id", sa.String(length=40), nullable=False),
        sa.Column("consumer_label", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False, comment="delivery | disclosure"),
        sa.Column(
            "last_seen_at",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=True,
            comment="when that consumer last received or read the record",
        ),
        sa.Column("notified_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["repair_id"], ["repairs.id"], name=op.f("fk_repair_receipts_repair_id_repairs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_receipts")),
    )
    op.create_index(
        op.f("ix_repair_receipts_repair_id"), "repair_receipts", ["repair_id"], unique=False
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "recipient_kind",
            sa.String(length=20),
            nullable=False,
            comment="subject | department | credit_office",
        ),
        sa.Column(
            "recipient_id",
            sa.String(length=40),
            nullable=False,
            comment="subject id / department id / -",
        ),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ref_type", sa.String(length=20), nullable=True),
        sa.Column("ref_id", sa.String(length=60), nullable=True),
        sa.Column("created_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("read_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(
        "ix_notices_recipient", "notices", ["recipient_kind", "recipient_id", "id"], unique=False
    )

    op.create_table(
        "authorisations",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column(
            "grantee_subject_id",
            sa.String(length=24),
            nullable=False,
            comment="the institution (a bank, a credit agency)",
        ),
        sa.Column(
            "items",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment="catalog item codes; [] = all",
        ),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False, comment="exclusive, Asia/Shanghai"),
        sa.Column("status", sa.String(length=12), nullable=False, comment="active | revoked"),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("granted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["granted_by_user_id"],
            ["users.id"],
            name=op.f("fk_authorisations_granted_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["grantee_subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_authorisations_grantee_subject_id_subjects"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_authorisations_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorisations")),
    )
    op.create_index(
        "ix_authorisations_grantee",
        "authorisations",
        ["grantee_subject_id", "subject_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_authorisations_subject", "authorisations", ["subject_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_authorisations_subject", table_name="authorisations")
    op.drop_index("ix_authorisations_grantee", table_name="authorisations")
    op.drop_table("authorisations")
    op.drop_index("ix_notices_recipient", table_name="notices")
    op.drop_table("notices")
    op.drop_index(op.f("ix_repair_receipts_repair_id"), table_name="repair_receipts")
    op.drop_table("repair_receipts")
    op.drop_index("ix_repairs_target", table_name="repairs")
    op.drop_index("ix_repairs_subject_status", table_name="repairs")
    op.drop_index("ix_repairs_status_department", table_name="repairs")
    op.drop_table("repairs")
    op.drop_index("ix_case_steps_case", table_name="case_steps")
    op.drop_table("case_steps")
    op.drop_index("ix_objections_target", table_name="objections")
    op.drop_index("ix_objections_subject_status", table_name="objections")
    op.drop_index("ix_objections_status_department", table_name="objections")
    op.drop_table("objections")
    op.drop_column("records", "repair_id")
    op.drop_column("records", "repaired_at")
