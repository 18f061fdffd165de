"""Tables of 公共信用综合评价: evaluation runs, every stored result (history), the current pointer.

A result is never updated: a re-evaluation (triggered by an outbox event, or a batch run) adds a
row, so the grade history of a subject is the list of its rows. `evaluation_current` points at
the one result the platform acts on (checks, archive, API): the newest as_of, ties going to the
result stored last (docs/evaluation-surface.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class EvaluationRunRow(Base):
    """One batch evaluation (评价批次) of every subject with one engine on one as_of date."""

    __tablename__ = "evaluation_runs"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    engine: Mapped[str] = mapped_column(String(10), comment="db | duckdb | spark")
    as_of: Mapped[date] = mapped_column(comment="评价基准日: facts known on this day")
    status: Mapped[str] = mapped_column(String(12), comment="running | completed | failed")
    models: Mapped[list[dict[str, Any]]] = mapped_column(
        JsonType, default=list, comment="model code, version and subject types used"
    )
    counts: Mapped[dict[str, int]] = mapped_column(
        JsonType, default=dict, comment="results per grade (A/B/C/D)"
    )
    evaluated: Mapped[int] = mapped_column(default=0, comment="results stored")
    skipped: Mapped[int] = mapped_column(
        default=0, comment="results for subjects no longer in the registry (stale export)"
    )
    source: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, comment="duckdb/spark: the Parquet export read (dir, manifest)"
    )
    error: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


Index("ix_evaluation_runs_started_at", EvaluationRunRow.started_at)


class EvaluationResultRow(Base):
    """One evaluation result of one subject; never updated (the grade history)."""

    __tablename__ = "evaluation_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"))
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("evaluation_runs.id"), comment="the batch run; NULL = triggered re-evaluation"
    )
    trigger: Mapped[str] = mapped_column(
        String(60), comment="run, or the outbox event type(s) that triggered it, or manual"
    )
    engine: Mapped[str] = mapped_column(String(10), comment="db | duckdb | spark")
    model_code: Mapped[str] = mapped_column(String(40))
    model_version: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[date] = mapped_column(comment="评价基准日")
    score: Mapped[int] = mapped_column()
    grade: Mapped[str] = mapped_column(String(1), comment="A 优 / B 良 / C 中 / D 差")
    result: Mapped[dict[str, Any]] = mapped_column(
        JsonType, comment="SubjectResult.to_json(): indicators, reasons, caps (PIPL art. 24)"
    )
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_evaluation_results_subject", EvaluationResultRow.subject_id, EvaluationResultRow.id)
Index("ix_evaluation_results_run", EvaluationResultRow.run_id)


class EvaluationCurrentRow(Base):
    """The current result of each evaluated subject (what checks, archive and API read)."""

    __tablename__ = "evaluation_current"

    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"), primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("evaluation_results.id"))
    model_code: Mapped[str] = mapped_column(String(40))
    model_version: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[date] = mapped_column()
    score: Mapped[int] = mapped_column()
    grade: Mapped[str] = mapped_column(String(1))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_evaluation_current_grade", EvaluationCurrentRow.grade)

__all__ = ["EvaluationCurrentRow", "EvaluationResultRow", "EvaluationRunRow"]
