"""Tables: list memberships (列入记录, local and external) and their time-stamped steps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class MembershipRow(Base):
    """A subject on a list: one row per listing, whatever its origin (see lists.model)."""

    __tablename__ = "memberships"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    list_type: Mapped[str] = mapped_column(String(40), comment="lists/data/list_types.yaml code")
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"))
    origin: Mapped[str] = mapped_column(String(10), comment="external | local")
    status: Mapped[str] = mapped_column(String(12), comment="lists.model.MembershipStatus")
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), comment="proposing department; external: the sender"
    )
    record_id: Mapped[str | None] = mapped_column(
        ForeignKey("records.id"), index=True, comment="external: the intake record it mirrors"
    )
    reasons: Mapped[str] = mapped_column(Text, default="")
    document_no: Mapped[str | None] = mapped_column(
        String(200), comment="local: the legal document the proposal rests on"
    )
    decision_no: Mapped[str | None] = mapped_column(String(200), comment="认定文书号 / 案号")
    proposed_on: Mapped[date | None] = mapped_column()
    noticed_on: Mapped[date | None] = mapped_column()
    objection_due: Mapped[date | None] = mapped_column(comment="last day of the objection window")
    notice: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, comment="告知: reasons, basis, rights, deadline"
    )
    objection_pending: Mapped[bool] = mapped_column(default=False)
    decided_on: Mapped[date | None] = mapped_column()
    published_on: Mapped[date | None] = mapped_column()
    expires_on: Mapped[date | None] = mapped_column(comment="first day off the list (exclusive)")
    ended_on: Mapped[date | None] = mapped_column()
    period_months: Mapped[int | None] = mapped_column()
    exit_code: Mapped[str | None] = mapped_column(String(30))
    exit_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_memberships_subject_status", MembershipRow.subject_id, MembershipRow.status)
Index("ix_memberships_list_status", MembershipRow.list_type, MembershipRow.status)
Index("ix_memberships_status_expires", MembershipRow.status, MembershipRow.expires_on)
# A public list's entries in the order it shows them (lists.paging; migration 0030).
Index(
    "ix_memberships_public_order",
    MembershipRow.list_type,
    MembershipRow.status,
    MembershipRow.published_on.desc(),
    MembershipRow.id,
)


class MembershipEventRow(Base):
    """One time-stamped step of a membership: from → to, when, by whom, why. Never updated."""

    __tablename__ = "membership_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[str] = mapped_column(ForeignKey("memberships.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(12), comment="None: created")
    to_status: Mapped[str] = mapped_column(String(12))
    action: Mapped[str] = mapped_column(String(30), comment="propose, notify, … , expire")
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    ledger_ref: Mapped[str] = mapped_column(String(120), comment="ref of its 信用数据链 leaf")


__all__ = ["MembershipEventRow", "MembershipRow"]
