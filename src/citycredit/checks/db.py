"""Tables: credit checks (信用核查) and what the checking department did with each measure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class CreditCheckRow(Base):
    """One 信用核查 of a subject for a matter, with the result exactly as it was answered."""

    __tablename__ = "credit_checks"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    # No foreign keys on this log table (ADR 0011): the subject was read and the department
    # authenticated in the check's own transaction, and neither is ever deleted.
    subject_id: Mapped[str] = mapped_column(String(24), index=True)
    matter: Mapped[str] = mapped_column(String(60), comment="matter code of the 事项清单")
    department_id: Mapped[int | None] = mapped_column(
        Integer, comment="the checking department; NULL = 市信用办"
    )
    month: Mapped[str] = mapped_column(String(7), comment="YYYY-MM of checked_at, Asia/Shanghai")
    eligible: Mapped[bool] = mapped_column(comment="信易批 outcome")
    lists_version: Mapped[str] = mapped_column(String(20))
    result: Mapped[dict[str, Any]] = mapped_column(JsonType, comment="the answer as returned")
    checked_by: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column()
    # Not indexed: nothing reads checks by time (statistics use `month`; migration 0015).
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_credit_checks_department_month", CreditCheckRow.department_id, CreditCheckRow.month)
Index("ix_credit_checks_matter", CreditCheckRow.matter)


class CheckFeedbackRow(Base):
    """Whether the checking department applied one measure of a check, and why (one per measure)."""

    __tablename__ = "credit_check_feedback"
    __table_args__ = (UniqueConstraint("check_id", "measure_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("credit_checks.id"), index=True)
    measure_code: Mapped[str] = mapped_column(String(60))
    applied: Mapped[bool] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_credit_check_feedback_measure", CheckFeedbackRow.measure_code)

__all__ = ["CheckFeedbackRow", "CreditCheckRow"]
