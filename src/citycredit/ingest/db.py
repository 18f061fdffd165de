"""Tables: submissions (receipts), records and their versions, quarantine, unresolved queue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class SubmissionRow(Base):
    """报送批次 and its receipt: received = new + corrected + duplicate + rejected."""

    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    catalog_version: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    encoding_reason: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    received: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    corrected: Mapped[int] = mapped_column(default=0)
    duplicate: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    unresolved: Mapped[int] = mapped_column(default=0, comment="subset of rejected: 主体无法匹配")
    notes: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    submitted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RecordRow(Base):
    """信用记录: the stable identity of one item of credit information and its current state."""

    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    record_key: Mapped[str] = mapped_column(
        String(64), unique=True, comment="sha256 of item+subject+key fields"
    )
    key_text: Mapped[str] = mapped_column(String(400), comment="readable key: item|subject|fields")
    item_code: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    current_version: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), comment="active | withdrawn")
    decision_date: Mapped[date | None] = mapped_column()
    severity: Mapped[str | None] = mapped_column(
        String(10), comment="轻微/一般/严重 (NDRC Order 36)"
    )
    severity_inferred: Mapped[bool] = mapped_column(default=False, comment="推定 by the classifier")
    severity_rule: Mapped[str | None] = mapped_column(String(80))
    published: Mapped[bool] = mapped_column(default=True)
    unpublished_reason: Mapped[str | None] = mapped_column(String(40))
    publication_end: Mapped[date | None] = mapped_column(comment="exclusive, Asia/Shanghai")
    repair_from: Mapped[date | None] = mapped_column()
    repaired_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="信用修复: publication and sharing stop (read-time rule)"
    )
    repair_id: Mapped[str | None] = mapped_column(String(24), comment="the approved repair")
    publication_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    openness: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date | None] = mapped_column(comment="last on-time day of the obligation")
    on_time: Mapped[bool | None] = mapped_column()
    first_submitted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_records_subject_item", RecordRow.subject_id, RecordRow.item_code)
Index("ix_records_item_department", RecordRow.item_code, RecordRow.department_id)
Index("ix_records_publication_end", RecordRow.publication_end)
# Partial indexes holding only records on the public view (active, 公开, published).
_PUBLIC_VIEW = (
    (RecordRow.status == "active") & (RecordRow.openness == "public") & RecordRow.published
)
# A subject's records on the public view (subjects.archive._public_records); migration 0010.
Index(
    "ix_records_subject_public",
    RecordRow.subject_id,
    postgresql_where=_PUBLIC_VIEW,
    sqlite_where=_PUBLIC_VIEW,
)
# The newest public records of one item (subjects.archive.dual_publicity); migration 0017.
Index(
    "ix_records_item_public_date",
    RecordRow.item_code,
    RecordRow.decision_date,
    RecordRow.id,
    postgresql_where=_PUBLIC_VIEW,
    sqlite_where=_PUBLIC_VIEW,
)


class RecordVersionRow(Base):
    """One version of a record: original, correction or withdrawal (tombstone). Never updated."""

    __tablename__ = "record_versions"
    __table_args__ = (UniqueConstraint("record_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    version: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20), comment="original | correction | withdrawal")
    submission_id: Mapped[str | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    row_number: Mapped[int | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(
        JsonType, comment="normalised non-personal fields"
    )
    personal: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, comment="personal fields (ID numbers, phones); never public"
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RejectRow(Base):
    """A quarantined row with one reason per failing field. Nothing is dropped."""

    __tablename__ = "rejects"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    row_number: Mapped[int] = mapped_column()
    raw: Mapped[dict[str, Any]] = mapped_column(JsonType)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20), default="open", comment="open | resolved")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UnresolvedRow(Base):
    """A valid row whose subject could not be identified: the clerk's queue (待认领)."""

    __tablename__ = "unresolved"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    reject_id: Mapped[int] = mapped_column(ForeignKey("rejects.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    item_code: Mapped[str] = mapped_column(String(40))
    row_number: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(200))
    division_code: Mapped[str | None] = mapped_column(String(6))
    values: Mapped[dict[str, Any]] = mapped_column(JsonType, comment="parsed row, JSON-safe")
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    subject_id: Mapped[str | None] = mapped_column(ForeignKey("subjects.subject_id"))
    record_id: Mapped[str | None] = mapped_column(ForeignKey("records.id"))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AccuracyCheckRow(Base):
    """One published-accuracy check (G40): a seeded sample of a department's records published
    now, re-checked against the department's snapshot of one catalog item (ingest/accuracy.py)."""

    __tablename__ = "accuracy_checks"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), comment="completed | failed")
    trigger: Mapped[str] = mapped_column(String(20), comment="cli | job | api")
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    format: Mapped[str | None] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    population: Mapped[int] = mapped_column(default=0, comment="records published now")
    sample_size: Mapped[int] = mapped_column(default=0)
    sample_rule: Mapped[str] = mapped_column(String(20), comment="argument | formula")
    seed: Mapped[int | None] = mapped_column()
    sampled: Mapped[int] = mapped_column(default=0)
    matched: Mapped[int] = mapped_column(default=0)
    mismatched: Mapped[int] = mapped_column(default=0)
    missing: Mapped[int] = mapped_column(default=0, comment="missing_at_source")
    unparseable: Mapped[int] = mapped_column(default=0, comment="unparseable_at_source")
    error_rate: Mapped[float | None] = mapped_column(comment="(mismatch + missing) / sampled")
    ci_low: Mapped[float | None] = mapped_column(comment="Wilson 95 %")
    ci_high: Mapped[float | None] = mapped_column(comment="Wilson 95 %")
    snapshot_rows: Mapped[int] = mapped_column(default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, comment="compared fields, notes, error; no personal values"
    )
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AccuracyCheckItemRow(Base):
    """One sampled record of an accuracy check; a discrepancy is open work for a clerk."""

    __tablename__ = "accuracy_check_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("accuracy_checks.id"), index=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    record_version: Mapped[int] = mapped_column()
    outcome: Mapped[str] = mapped_column(
        String(30), comment="match | mismatch | missing_at_source | unparseable_at_source"
    )
    fields: Mapped[list[Any]] = mapped_column(
        JsonType, default=list, comment="differing fields; values only for non-personal ones"
    )
    reasons: Mapped[list[Any]] = mapped_column(JsonType, default=list, comment="field and code")
    source_row: Mapped[int | None] = mapped_column(comment="row number in the snapshot")
    status: Mapped[str] = mapped_column(String(20), index=True, comment="ok | open | closed")
    closed_by: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(Text)


class RecordWithholdingRow(Base):
    """不予公示 / 恢复公示 (ingest/withhold.py): one step of a record's withholding from public
    view — the statutory reason, the 依据 stated by the source department or the credit office,
    who and when. The record's `published` / `unpublished_reason` carry the current state; each
    step has a ledger leaf (`record.withheld` / `record.released`, the basis only as SHA-256)."""

    __tablename__ = "record_withholdings"

    id: Mapped[int] = mapped_column(primary_key=True, comment="in order: the newest step wins")
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    action: Mapped[str] = mapped_column(String(10), comment="withhold | release")
    reason: Mapped[str | None] = mapped_column(
        String(20), comment="privacy | state_secret | trade_secret | security; NULL: release"
    )
    basis: Mapped[str] = mapped_column(Text, comment="依据/说明 (the ledger commits its SHA-256)")
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), comment="the acting department; NULL: the credit office"
    )
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class QualityReportRow(Base):
    """A stored 数据质量 report (ingest/quality.py): the full scan is made hourly by the job, on
    demand by the credit office or the CLI; the public reads serve the newest row, never a scan."""

    __tablename__ = "quality_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), index=True, comment="统计时间: when the scan began; the newest is served"
    )
    as_of: Mapped[date] = mapped_column(
        comment="the report's day (Asia/Shanghai): obligations due before it are counted"
    )
    took_ms: Mapped[int] = mapped_column(comment="how long the full scan took")
    trigger: Mapped[str] = mapped_column(
        String(20), comment="job | cli | api | read (first read, no report stored yet)"
    )
    computed_by: Mapped[str] = mapped_column(String(100), comment="the actor's label")
    # json, not jsonb: kept exactly as computed (key order included), never queried inside
    report: Mapped[dict[str, Any]] = mapped_column(
        JSON(), comment="the report as computed (ingest.quality.compute_quality_report)"
    )
