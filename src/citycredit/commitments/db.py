"""Tables: credit commitments (信用承诺) accepted by departments and their outcome."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, UtcDateTime


class CommitmentRow(Base):
    """A subject's commitment accepted by a department; its catalog record is `record_id`."""

    __tablename__ = "commitments"

    id: Mapped[str] = mapped_column(String(24), primary_key=True, comment="also CN_BH")
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"), index=True)
    kind: Mapped[str] = mapped_column(
        String(30), comment="approval_substitute | voluntary | industry_self_discipline | repair"
    )
    matter: Mapped[str | None] = mapped_column(String(60), comment="matter code (事项清单)")
    text: Mapped[str] = mapped_column(Text, comment="承诺内容 (CN_SY)")
    made_on: Mapped[date] = mapped_column(comment="做出承诺日期 (CN_RQ)")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    public: Mapped[bool] = mapped_column(comment="listed to the public (by kind)")
    status: Mapped[str] = mapped_column(
        String(20), comment="in_progress | fulfilled | breached (履约中/已履约/未履约)"
    )
    false_commitment: Mapped[bool] = mapped_column(default=False, comment="虚假承诺")
    checked_on: Mapped[date | None] = mapped_column(comment="履约核查日期 (CN_LYRQ)")
    outcome_note: Mapped[str | None] = mapped_column(Text)
    record_id: Mapped[str | None] = mapped_column(ForeignKey("records.id"))
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_commitments_subject_status", CommitmentRow.subject_id, CommitmentRow.status)

__all__ = ["CommitmentRow"]
