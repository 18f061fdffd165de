"""accuracy checks: published records re-checked against the source department's snapshot (G40)

`accuracy_checks` (one row per check: department, item, the snapshot's name and SHA-256, the
population published at the time, sample size, rule and seed, the outcome counts, the error
rate and its Wilson 95 % interval; a snapshot that could not be read is a `failed` row) and
`accuracy_check_items` (one row per sampled record: its outcome, the differing field codes —
values only for non-personal fields — or the source row's reason codes; a discrepancy is
`open` work for the credit office's clerk until closed with a note). See ingest/accuracy.py
and docs/accuracy.md.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "accuracy_checks",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False, comment="completed | failed"),
        sa.Column("trigger", sa.String(length=20), nullable=False, comment="cli | job | api"),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("format", sa.String(length=10), nullable=True),
        sa.Column("encoding", sa.String(length=20), nullable=True),
        sa.Column("population", sa.Integer(), nullable=False, comment="records published now"),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column(
            "sample_rule", sa.String(length=20), nullable=False, comment="argument | formula"
        ),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("sampled", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("mismatched", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False, comment="missing_at_source"),
        sa.Column("unparseable", sa.Integer(), nullable=False, comment="unparseable_at_source"),
        sa.Column(
            "error_rate", sa.Double(), nullable=True, comment="(mismatch + missing) / sampled"
        ),
        sa.Column("ci_low", sa.Double(), nullable=True, comment="Wilson 95 %"),
        sa.Column("ci_high", sa.Double(), nullable=True, comment="Wilson 95 %"),
        sa.Column("snapshot_rows", sa.Integer(), nullable=False),
        sa.Column(
            "summary",
            _json(),
            nullable=False,
            comment="compared fields, notes, error; no personal values",
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_accuracy_checks_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accuracy_checks")),
    )
    with op.batch_alter_table("accuracy_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_accuracy_checks_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_accuracy_checks_sha256"), ["sha256"], unique=False)

    op.create_table(
        "accuracy_check_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.String(length=24), nullable=False),
        sa.Column("record_id", sa.String(length=24), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.String(length=30),
            nullable=False,
            comment="match | mismatch | missing_at_source | unparseable_at_source",
        ),
        sa.Column(
            "fields",
            _json(),
            nullable=False,
            comment="differing fields; values only for non-personal ones",
        ),
        sa.Column("reasons", _json(), nullable=False, comment="field and code"),
        sa.Column("source_row", sa.Integer(), nullable=True, comment="row number in the snapshot"),
        sa.Column("status", sa.String(length=20), nullable=False, comment="ok | open | closed"),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["accuracy_checks.id"],
            name=op.f("fk_accuracy_check_items_check_id_accuracy_checks"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_accuracy_check_items_record_id_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accuracy_check_items")),
    )
    with op.batch_alter_table("accuracy_check_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_accuracy_check_items_check_id"), ["check_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_accuracy_check_items_record_id"), ["record_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_accuracy_check_items_status"), ["status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("accuracy_check_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accuracy_check_items_status"))
        batch_op.drop_index(batch_op.f("ix_accuracy_check_items_record_id"))
        batch_op.drop_index(batch_op.f("ix_accuracy_check_items_check_id"))
    op.drop_table("accuracy_check_items")
    with op.batch_alter_table("accuracy_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accuracy_checks_sha256"))
        batch_op.drop_index(batch_op.f("ix_accuracy_checks_department_id"))
    op.drop_table("accuracy_checks")
