"""Tables: every outbound export (双公示 to the provincial platform) and what each one sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime
from citycredit.ingest.db import RecordVersionRow


class ExportRow(Base):
    """One outbound export (kind dual_publicity): period (since, until], counts, files with
    checksums, status, who and when; when its files were deleted after the retention; the
    digest its ledger leaf commits to (`ledger verify` compares the row with the leaf)."""

    __tablename__ = "exports"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), comment="dual_publicity")
    mode: Mapped[str] = mapped_column(
        String(12), comment="full | incremental (since the last export) | explicit (--since)"
    )
    period_since: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="exclusive; NULL = from the beginning"
    )
    period_until: Mapped[datetime] = mapped_column(UtcDateTime(), comment="inclusive")
    status: Mapped[str] = mapped_column(String(12), comment="completed | failed")
    trigger: Mapped[str] = mapped_column(String(12), comment="job | cli | api")
    counts: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, comment="rows per item and operation"
    )
    files: Mapped[list[dict[str, Any]]] = mapped_column(
        JsonType, default=list, comment="name, item, format, rows, bytes, sha256"
    )
    directory: Mapped[str | None] = mapped_column(Text)
    catalog_version: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    files_purged_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="the files were deleted (retention); NULL = still on disk"
    )
    manifest_hash: Mapped[str | None] = mapped_column(
        String(64),
        comment=(
            "digest of the manifest as committed in its export.completed ledger leaf "
            "(ledger.bundle.manifest_digest); NULL = no leaf: not completed, or completed "
            "before exports were committed to the ledger"
        ),
    )


Index("ix_exports_kind_status_until", ExportRow.kind, ExportRow.status, ExportRow.period_until)


class ExportRecordRow(Base):
    """One record version sent by an export and how (新增/更新/删除): what the province holds."""

    __tablename__ = "export_records"
    __table_args__ = (UniqueConstraint("export_id", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    export_id: Mapped[str] = mapped_column(ForeignKey("exports.id"))
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column()
    operation: Mapped[str] = mapped_column(String(4), comment="新增 | 更新 | 删除")
    personal: Mapped[bool] = mapped_column(
        default=False, comment="the row carried non-public fields (ID numbers)"
    )


# The export selects record versions by time; without this index a daily export scans every
# version ever stored (defined here, beside its only user; the table belongs to ingest).
Index("ix_record_versions_created_at", RecordVersionRow.created_at)


class ExportDownloadRow(Base):
    """A request to download the files of an export that carry natural persons' data (G35).

    One credit-office account asks, with a purpose; another decides. An approval writes a
    watermarked copy of each file for the requester (``export_download_copies``), which expires
    ``export_download_expiry_hours`` after the approval and is then deleted by the
    ``export_downloads_expire`` job. A request nobody decides within
    ``export_download_request_lapse_hours`` is marked ``lapsed`` by the same job (``decided_at``
    the lapse time, no decider). The row stays: who asked, who decided, when, why.
    """

    __tablename__ = "export_download_requests"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    export_id: Mapped[str] = mapped_column(ForeignKey("exports.id"), index=True)
    files: Mapped[list[str]] = mapped_column(
        JsonType, default=list, comment="names of the export's files asked for"
    )
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        String(12),
        comment="pending | approved | refused | expired (copies deleted) | lapsed (undecided)",
    )
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_user_id: Mapped[int] = mapped_column()
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_by_user_id: Mapped[int | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text, comment="the refusal's reason")
    expires_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="approved: the copies are refused from then on and deleted"
    )
    directory: Mapped[str | None] = mapped_column(Text, comment="where the copies are")
    deleted_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="the copies were deleted (expiry); NULL = not yet"
    )


Index(
    "ix_export_download_requests_status_expires_at",
    ExportDownloadRow.status,
    ExportDownloadRow.expires_at,
)


class ExportDownloadCopyRow(Base):
    """One watermarked copy made for an approved request: its SHA-256 traces a leaked file back
    to the request (requester, approver, time)."""

    __tablename__ = "export_download_copies"
    __table_args__ = (UniqueConstraint("request_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("export_download_requests.id"))
    name: Mapped[str] = mapped_column(String(200), comment="the export file it copies")
    item: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(10))
    rows: Mapped[int] = mapped_column()
    size: Mapped[int] = mapped_column(BigInteger, comment="bytes")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    made_at: Mapped[datetime] = mapped_column(UtcDateTime())
