"""accounts bindings sessions: authentication state of users, web sessions, subject bindings and
the append-only operator audit trail

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The audit trail is append-only: no UPDATE at all, and DELETE only of rows older than the
# legal floor of 180 days (the retention purge). Enforced by the database, not only the code.
PG_TRIGGERS = [
    """
    CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'audit_events is append-only: UPDATE refused';
        END IF;
        IF OLD.at >= now() - interval '180 days' THEN
            RAISE EXCEPTION 'audit_events: rows younger than 180 days cannot be deleted';
        END IF;
        RETURN OLD;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
]
SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_events_no_young_delete BEFORE DELETE ON audit_events
    WHEN OLD.at >= datetime('now', '-180 days')
    BEGIN
        SELECT RAISE(ABORT, 'audit_events: rows younger than 180 days cannot be deleted');
    END
    """,
]


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "totp_secret", sa.String(length=200), nullable=True, comment="sealed TOTP secret"
            )
        )
        batch_op.add_column(
            sa.Column(
                "totp_last_step",
                sa.Integer(),
                nullable=True,
                comment="last accepted TOTP time step",
            )
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "failed_since",
                citycredit.db.base.UtcDateTime(timezone=True),
                nullable=True,
                comment="start of the current failure window",
            )
        )
        batch_op.add_column(
            sa.Column("locked_until", citycredit.db.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "password_changed_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "must_change_password",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="initial or reset password",
            )
        )
        batch_op.add_column(
            sa.Column("last_login_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True)
        )

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.String(length=20),
            nullable=False,
            comment="second_factor | password_change | active",
        ),
        sa.Column("created_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "expires_at",
            citycredit.db.base.UtcDateTime(timezone=True),
            nullable=False,
            comment="absolute end",
        ),
        sa.Column("ended_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "end_reason",
            sa.String(length=20),
            nullable=True,
            comment="logout | idle | absolute | replaced | disabled",
        ),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "subject_bindings",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column(
            "role",
            sa.String(length=40),
            nullable=False,
            comment="the account's role for the subject",
        ),
        sa.Column("method", sa.String(length=10), nullable=False, comment="letter | idp"),
        sa.Column(
            "status",
            sa.String(length=12),
            nullable=False,
            comment="pending | approved | rejected | revoked",
        ),
        sa.Column(
            "evidence_sha256",
            sa.String(length=64),
            nullable=True,
            comment="SHA-256 of the uploaded letter (file kept under data_dir)",
        ),
        sa.Column("evidence_name", sa.String(length=200), nullable=True),
        sa.Column("evidence_type", sa.String(length=40), nullable=True),
        sa.Column("idp", sa.String(length=40), nullable=True, comment="identity provider name"),
        sa.Column(
            "assurance",
            sa.Integer(),
            nullable=True,
            comment="identity provider assurance level",
        ),
        sa.Column("requested_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True, comment="reason of a decision"),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_subject_bindings_subject_id_subjects"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_subject_bindings_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_bindings")),
    )
    with op.batch_alter_table("subject_bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_bindings_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_subject_bindings_subject_id"), ["subject_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subject_bindings_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "ix_subject_bindings_user_status", ["user_id", "status"], unique=False
        )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column(
            "result",
            sa.String(length=12),
            nullable=False,
            comment="started | success | failure | denied | error",
        ),
        sa.Column("actor_role", sa.String(length=40), nullable=False),
        sa.Column("actor_label", sa.String(length=100), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column(
            "credential",
            sa.String(length=40),
            nullable=True,
            comment="session:<id> | token:<id> | console",
        ),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("object_id", sa.String(length=100), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor_at", ["actor_user_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_request_id"), ["request_id"], unique=False
        )

    dialect = op.get_bind().dialect.name
    for ddl in PG_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(ddl)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_young_delete")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_request_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index("ix_audit_events_actor_at")
    op.drop_table("audit_events")
    with op.batch_alter_table("subject_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_subject_bindings_user_status")
        batch_op.drop_index(batch_op.f("ix_subject_bindings_user_id"))
        batch_op.drop_index(batch_op.f("ix_subject_bindings_subject_id"))
        batch_op.drop_index(batch_op.f("ix_subject_bindings_status"))
    op.drop_table("subject_bindings")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))
    op.drop_table("web_sessions")
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in (
            "last_login_at",
            "must_change_password",
            "password_changed_at",
            "locked_until",
            "failed_since",
            "failed_logins",
            "totp_last_step",
            "totp_secret",
        ):
            batch_op.drop_column(column)
