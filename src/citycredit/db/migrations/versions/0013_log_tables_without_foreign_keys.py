"""log tables without foreign keys: credit_checks and disclosure_log (ADR 0011)

A foreign key makes every insert take a FOR KEY SHARE lock on the referenced row; concurrent
checks by one department all lock its departments row, and PostgreSQL turns concurrent share
locks on one row into MultiXacts — a check rate bounded by that, not by the work.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 10:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_checks", schema=None) as batch_op:
        batch_op.drop_constraint("fk_credit_checks_department_id_departments", type_="foreignkey")
        batch_op.drop_constraint("fk_credit_checks_subject_id_subjects", type_="foreignkey")
    with op.batch_alter_table("disclosure_log", schema=None) as batch_op:
        batch_op.drop_constraint("fk_disclosure_log_department_id_departments", type_="foreignkey")
        batch_op.drop_constraint("fk_disclosure_log_user_id_users", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("disclosure_log", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_disclosure_log_user_id_users", "users", ["user_id"], ["id"])
        batch_op.create_foreign_key(
            "fk_disclosure_log_department_id_departments", "departments", ["department_id"], ["id"]
        )
    with op.batch_alter_table("credit_checks", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_credit_checks_subject_id_subjects", "subjects", ["subject_id"], ["subject_id"]
        )
        batch_op.create_foreign_key(
            "fk_credit_checks_department_id_departments", "departments", ["department_id"], ["id"]
        )
