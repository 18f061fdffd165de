"""Kernel tables: outbox, consumer cursors, job runs, disclosure log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class OutboxEventRow(Base):
    """A state change, written in the same transaction as the change itself."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(60), index=True)
    aggregate_type: Mapped[str] = mapped_column(String(40))
    aggregate_id: Mapped[str] = mapped_column(String(120))
    subject_id: Mapped[str | None] = mapped_column(String(24), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_outbox_aggregate", OutboxEventRow.aggregate_type, OutboxEventRow.aggregate_id)


class OutboxCursorRow(Base):
    """How far each consumer (re-evaluation, notices, ledger …) has read the outbox: its high
    water and the gaps below it — ids not yet seen that may still commit (kernel.outbox)."""

    __tablename__ = "outbox_cursors"

    consumer: Mapped[str] = mapped_column(String(60), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(default=0)
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class JobRunRow(Base):
    """One run of a scheduled sweep."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


# Every scheduler tick asks, per job, for its newest successful run (kernel.jobs._last_ok): one
# index entry with this index, not every run of the job sorted (migration 0038).
Index("ix_job_runs_job_status_started", JobRunRow.job, JobRunRow.status, JobRunRow.started_at)


class DisclosureRow(Base):
    """查询登记: every read of non-public information — who, which subject and items, why, when."""

    __tablename__ = "disclosure_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor_role: Mapped[str] = mapped_column(String(40))
    actor_label: Mapped[str] = mapped_column(String(100))
    # No foreign keys on this log table (ADR 0011): the actor was authenticated in the same
    # transaction, and users and departments are never deleted.
    user_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)
    subject_id: Mapped[str] = mapped_column(String(24), index=True)
    items: Mapped[list[str]] = mapped_column(JsonType)
    purpose: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
