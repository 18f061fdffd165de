"""security policy changes: the security administrator's run-time changes of the policy (G3)

`security_policy_changes` keeps each change of the lockout, session and password settings made
by the security administrator (accounts/policy_store.py): who, when, why, the old and new
effective values, and every override in force afterwards. The effective policy is the
environment's (`CITYCREDIT_SECURITY`) updated by the newest row's overrides. Ids are the
previous id + 1, so two concurrent changes cannot both commit. Append-only like the audit
trail: the database refuses UPDATE and DELETE (the trigger function of 0024 on PostgreSQL).

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-27 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

TABLE = "security_policy_changes"
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
PG_TRIGGER = f"""
    CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_seal_tables_append_only()
"""
SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused'); END
    """,
]


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "id",
            sa.Integer(),
            autoincrement=False,
            nullable=False,
            comment="previous + 1: concurrent changes conflict",
        ),
        sa.Column("at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=False),
        sa.Column("actor_label", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("changes", JSON, nullable=False, comment="field → {old, new} effective values"),
        sa.Column(
            "overrides",
            JSON,
            nullable=False,
            comment="every stored override in force after this change",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_security_policy_changes_actor_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_policy_changes")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TRIGGER)
    else:
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    op.drop_table(TABLE)
