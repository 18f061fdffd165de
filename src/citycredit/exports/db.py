"""Tables: every outbound export (双公示 to the provincial platform) and what each one sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime
from citycredit.ingest.db import RecordVersionRow


class ExportRow(Base):
    """One outbound export (kind dual_publicity): period (since, until], counts, files with
    checksums, status, who and when; when its files were deleted after the retention."""

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
