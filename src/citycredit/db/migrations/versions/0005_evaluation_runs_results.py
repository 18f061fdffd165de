"""evaluation runs results

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:30:00

公共信用综合评价: batch runs, every stored result (the grade history, never updated) and the
current result per subject (evaluation/db.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("engine", sa.String(length=10), nullable=False, comment="db | duckdb | spark"),
        sa.Column(
            "as_of", sa.Date(), nullable=False, comment="评价基准日: facts known on this day"
        ),
        sa.Column(
            "status",
            sa.String(length=12),
            nullable=False,
            comment="running | completed | failed",
        ),
        sa.Column(
            "models",
            citycredit.db.base.JsonType,
            nullable=False,
            comment="model code, version and subject types used",
        ),
        sa.Column(
            "counts",
            citycredit.db.base.JsonType,
            nullable=False,
            comment="results per grade (A/B/C/D)",
        ),
        sa.Column("evaluated", sa.Integer(), nullable=False, comment="results stored"),
        sa.Column(
            "skipped",
            sa.Integer(),
            nullable=False,
            comment="results for subjects no longer in the registry (stale export)",
        ),
        sa.Column(
            "source",
            citycredit.db.base.JsonType,
            nullable=False,
            comment="duckdb/spark: the Parquet export read (dir, manifest)",
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_runs")),
    )
    op.create_index("ix_evaluation_runs_started_at", "evaluation_runs", ["started_at"])

    op.create_table(
        "evaluation_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column(
            "run_id",
            sa.String(length=24),
            nullable=True,
            comment="the batch run; NULL = triggered re-evaluation",
        ),
        sa.Column(
            "trigger",
            sa.String(length=60),
            nullable=False,
            comment="run, or the outbox event type(s) that triggered it, or manual",
        ),
        sa.Column("engine", sa.String(length=10), nullable=False, comment="db | duckdb | spark"),
        sa.Column("model_code", sa.String(length=40), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False, comment="评价基准日"),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column(
            "grade", sa.String(length=1), nullable=False, comment="A 优 / B 良 / C 中 / D 差"
        ),
        sa.Column(
            "result",
            citycredit.db.base.JsonType,
            nullable=False,
            comment="SubjectResult.to_json(): indicators, reasons, caps (PIPL art. 24)",
        ),
        sa.Column("evaluated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["evaluation_runs.id"],
            name=op.f("fk_evaluation_results_run_id_evaluation_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_evaluation_results_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_results")),
    )
    op.create_index("ix_evaluation_results_subject", "evaluation_results", ["subject_id", "id"])
    op.create_index("ix_evaluation_results_run", "evaluation_results", ["run_id"])

    op.create_table(
        "evaluation_current",
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("model_code", sa.String(length=40), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("updated_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["evaluation_results.id"],
            name=op.f("fk_evaluation_current_result_id_evaluation_results"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_evaluation_current_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_evaluation_current")),
    )
    op.create_index("ix_evaluation_current_grade", "evaluation_current", ["grade"])


def downgrade() -> None:
    op.drop_index("ix_evaluation_current_grade", table_name="evaluation_current")
    op.drop_table("evaluation_current")
    op.drop_index("ix_evaluation_results_run", table_name="evaluation_results")
    op.drop_index("ix_evaluation_results_subject", table_name="evaluation_results")
    op.drop_table("evaluation_results")
    op.drop_index("ix_evaluation_runs_started_at", table_name="evaluation_runs")
    op.drop_table("evaluation_runs")
