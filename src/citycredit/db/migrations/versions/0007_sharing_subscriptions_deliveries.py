"""sharing subscriptions deliveries

共享调度: departments' subscriptions, their feeds (dense seq per subscription), deliveries per
record and version, records blocked from sharing, and the fan-out's gap-aware outbox cursor.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 03:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _dt() -> citycredit.db.base.UtcDateTime:
    return citycredit.db.base.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sharing_subscriptions",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("items", _json(), nullable=False, comment="catalog item codes; [] = any"),
        sa.Column(
            "fields",
            _json(),
            nullable=False,
            comment="item code → field codes delivered; missing item = every allowed field",
        ),
        sa.Column(
            "by_subject",
            sa.Boolean(),
            nullable=False,
            comment="limited to sharing_subscription_subjects",
        ),
        sa.Column("channel", sa.String(length=10), nullable=False, comment="pull | file"),
        sa.Column(
            "file_format",
            sa.String(length=10),
            nullable=False,
            comment="jsonl | csv (file channel)",
        ),
        sa.Column("access", sa.String(length=20), nullable=False, comment="public | authorised"),
        sa.Column(
            "personal", sa.String(length=10), nullable=False, comment="none | masked | clear"
        ),
        sa.Column("purpose", sa.Text(), nullable=True, comment="共享用途, logged per delivery"),
        sa.Column("legal_basis", sa.Text(), nullable=True, comment="共享依据 (law, agreement)"),
        sa.Column(
            "status",
            sa.String(length=20),
            nullable=False,
            comment="active | suspended | cancelled",
        ),
        sa.Column(
            "last_seq", sa.Integer(), nullable=False, comment="highest feed seq (dense from 1)"
        ),
        sa.Column(
            "file_after",
            sa.Integer(),
            nullable=False,
            comment="file channel: seq written so far",
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_by_role", sa.String(length=40), nullable=False),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("updated_at", _dt(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_sharing_subscriptions_created_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_sharing_subscriptions_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_subscriptions")),
    )
    with op.batch_alter_table("sharing_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sharing_subscriptions_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "sharing_subscription_subjects",
        sa.Column("subscription_id", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_sharing_subscription_subjects_subject_id_subjects"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["sharing_subscriptions.id"],
            name=op.f("fk_sharing_subscription_subjects_subscription_id_sharing_subscriptions"),
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "subject_id", name=op.f("pk_sharing_subscription_subjects")
        ),
    )
    with op.batch_alter_table("sharing_subscription_subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sharing_subscription_subjects_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "sharing_feed_entries",
        sa.Column("subscription_id", sa.String(length=24), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(length=24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=20),
            nullable=False,
            comment="original | correction | withdrawal | repair | publication_ended | repair_revoked",
        ),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column(
            "public",
            sa.Boolean(),
            nullable=False,
            comment="False: a delivery goes to the disclosure log",
        ),
        sa.Column(
            "payload",
            _json(),
            nullable=True,
            comment="the record as the department may see it; NULL for notices/redacted",
        ),
        sa.Column(
            "clear_personal",
            _json(),
            nullable=False,
            comment="personal codes filled in clear at delivery",
        ),
        sa.Column("note", sa.Text(), nullable=True, comment="reason of a withdrawal or repair"),
        sa.Column(
            "source_event_id", sa.Integer(), nullable=True, comment="outbox id; NULL: initial load"
        ),
        sa.Column("changed_at", _dt(), nullable=False, comment="when the change happened"),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("redacted_at", _dt(), nullable=True),
        sa.Column("redacted_reason", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_sharing_feed_entries_record_id_records")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["sharing_subscriptions.id"],
            name=op.f("fk_sharing_feed_entries_subscription_id_sharing_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", "seq", name=op.f("pk_sharing_feed_entries")),
        sa.UniqueConstraint(
            "subscription_id",
            "record_id",
            "version",
            "kind",
            name=op.f("uq_sharing_feed_entries_subscription_id_record_id_version_kind"),
        ),
    )
    with op.batch_alter_table("sharing_feed_entries", schema=None) as batch_op:
        batch_op.create_index("ix_sharing_feed_entries_record", ["record_id"], unique=False)

    op.create_table(
        "sharing_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=24), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False, comment="pull | file"),
        sa.Column(
            "cursor",
            sa.String(length=200),
            nullable=False,
            comment="pull: after=N; file: file name",
        ),
        sa.Column("delivered_at", _dt(), nullable=False),
        sa.Column(
            "delivered_to",
            sa.String(length=100),
            nullable=False,
            comment="token or process label",
        ),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_sharing_deliveries_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["sharing_subscriptions.id"],
            name=op.f("fk_sharing_deliveries_subscription_id_sharing_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sharing_deliveries_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_deliveries")),
    )
    with op.batch_alter_table("sharing_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sharing_deliveries_record_id"), ["record_id"], unique=False
        )
        batch_op.create_index(
            "ix_sharing_deliveries_subscription_seq", ["subscription_id", "seq"], unique=False
        )

    op.create_table(
        "sharing_record_blocks",
        sa.Column("record_id", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("blocked_at", _dt(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_sharing_record_blocks_record_id_records")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_sharing_record_blocks")),
    )

    op.create_table(
        "sharing_fanout_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("high_water", sa.Integer(), nullable=False),
        sa.Column("gaps", _json(), nullable=False),
        sa.Column("updated_at", _dt(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_fanout_state")),
    )


def downgrade() -> None:
    op.drop_table("sharing_fanout_state")
    op.drop_table("sharing_record_blocks")
    with op.batch_alter_table("sharing_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_sharing_deliveries_subscription_seq")
        batch_op.drop_index(batch_op.f("ix_sharing_deliveries_record_id"))
    op.drop_table("sharing_deliveries")
    with op.batch_alter_table("sharing_feed_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_sharing_feed_entries_record")
    op.drop_table("sharing_feed_entries")
    with op.batch_alter_table("sharing_subscription_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_subscription_subjects_subject_id"))
    op.drop_table("sharing_subscription_subjects")
    with op.batch_alter_table("sharing_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_subscriptions_department_id"))
    op.drop_table("sharing_subscriptions")
