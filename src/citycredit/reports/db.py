"""Tables: issued credit reports (信用报告), kept as issued."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class ReportRow(Base):
    """One issued report: its content as issued and the digest the ledger commits to."""

    __tablename__ = "reports"

    report_no: Mapped[str] = mapped_column(String(32), primary_key=True, comment="报告编号")
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), comment="public (公共信用信息报告)")
    content: Mapped[dict[str, Any]] = mapped_column(JsonType)
    content_hash: Mapped[str] = mapped_column(String(64), comment="hex, the ledger suite's hash")
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
