"""Tables: objections (异议), credit repairs (信用修复) with their steps and receipts, and the
in-app inbox (站内通知)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class ObjectionRow(Base):
    """One objection against a record, a grade or a list entry, with its legal clocks."""

    __tablename__ = "objections"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"))
    target_type: Mapped[str] = mapped_column(String(20), comment="record | evaluation | membership")
    target_id: Mapped[str] = mapped_column(String(60))
    target_version: Mapped[str | None] = mapped_column(
        String(60), comment="record version / evaluation model@as_of at filing"
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), comment="the source department that verifies; NULL: 信用办"
    )
    ground: Mapped[str] = mapped_column(String(30))
    reasons: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    channel: Mapped[str] = mapped_column(String(20), comment="online | window | province")
    filed_by: Mapped[str] = mapped_column(String(100))
    filed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12))
    outcome: Mapped[str | None] = mapped_column(String(12))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    statement: Mapped[str | None] = mapped_column(Text, comment="本人声明, attached on request")
    filed_on: Mapped[date] = mapped_column()
    accept_due: Mapped[date] = mapped_column()
    accepted_on: Mapped[date | None] = mapped_column()
    verify_due: Mapped[date | None] = mapped_column()
    decided_on: Mapped[date | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    flagged_target: Mapped[bool] = mapped_column(
        default=False, comment="this objection set the list entry's objection_pending flag"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_objections_subject_status", ObjectionRow.subject_id, ObjectionRow.status)
Index("ix_objections_target", ObjectionRow.target_type, ObjectionRow.target_id)
Index("ix_objections_status_department", ObjectionRow.status, ObjectionRow.department_id)


class CaseStepRow(Base):
    """One step of a rights case (objection or repair): from → to, by whom, why, when.

    Never updated."""

    __tablename__ = "case_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_type: Mapped[str] = mapped_column(String(12), comment="objection | repair")
    case_id: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_case_steps_case", CaseStepRow.case_type, CaseStepRow.case_id, CaseStepRow.id)


class RepairRow(Base):
    """信用修复申请 for one record (or one list entry), with its legal clocks and decision."""

    __tablename__ = "repairs"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"))
    target_type: Mapped[str] = mapped_column(String(20), comment="record | membership")
    target_id: Mapped[str] = mapped_column(String(60))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), comment="谁认定、谁修复: the deciding department"
    )
    channel: Mapped[str] = mapped_column(String(20), comment="online | window | province")
    external_ref: Mapped[str | None] = mapped_column(
        String(80), comment="the provincial platform's application number, when forwarded"
    )
    reasons: Mapped[str] = mapped_column(Text, comment="how the conduct was corrected")
    commitment_text: Mapped[str] = mapped_column(Text, comment="信用修复承诺书")
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    eligibility: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, comment="eligibility as computed when filed"
    )
    status: Mapped[str] = mapped_column(String(12))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    commitment_id: Mapped[str | None] = mapped_column(String(24))
    filed_by: Mapped[str] = mapped_column(String(100))
    filed_on: Mapped[date] = mapped_column()
    accept_due: Mapped[date] = mapped_column()
    accepted_on: Mapped[date | None] = mapped_column()
    decide_due: Mapped[date | None] = mapped_column()
    decided_on: Mapped[date | None] = mapped_column()
    revoked_on: Mapped[date | None] = mapped_column(comment="revoked for false materials")
    sync_due: Mapped[date | None] = mapped_column()
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_repairs_subject_status", RepairRow.subject_id, RepairRow.status)
Index("ix_repairs_target", RepairRow.target_type, RepairRow.target_id)
Index("ix_repairs_status_department", RepairRow.status, RepairRow.department_id)


class RepairReceiptRow(Base):
    """A consumer told of a repair (a department that received or read the record): one row per
    consumer, acknowledged when the consumer confirms it stopped using the record."""

    __tablename__ = "repair_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    repair_id: Mapped[str] = mapped_column(ForeignKey("repairs.id"), index=True)
    consumer_kind: Mapped[str] = mapped_column(String(20), comment="department | subscription")
    consumer_id: Mapped[str] = mapped_column(String(40))
    consumer_label: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(20), comment="delivery | disclosure")
    last_seen_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="when that consumer last received or read the record"
    )
    notified_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class NoticeRow(Base):
    """站内通知: one message in one recipient's inbox (a subject, a department, the 信用办)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_kind: Mapped[str] = mapped_column(
        String(20), comment="subject | department | credit_office"
    )
    recipient_id: Mapped[str] = mapped_column(String(40), comment="subject id / department id / -")
    topic: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    ref_type: Mapped[str | None] = mapped_column(String(20))
    ref_id: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


Index("ix_notices_recipient", NoticeRow.recipient_kind, NoticeRow.recipient_id, NoticeRow.id)


class AuthorisationRow(Base):
    """查询授权: a subject lets an institution read its non-public information, for one
    purpose, until a date; revocation takes effect at once (checked at every read)."""

    __tablename__ = "authorisations"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"))
    grantee_subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id"), comment="the institution (a bank, a credit agency)"
    )
    items: Mapped[list[str]] = mapped_column(JsonType, comment="catalog item codes; [] = all")
    purpose: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column()
    valid_until: Mapped[date] = mapped_column(comment="exclusive, Asia/Shanghai")
    status: Mapped[str] = mapped_column(String(12), comment="active | revoked")
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_authorisations_subject", AuthorisationRow.subject_id, AuthorisationRow.status)
Index(
    "ix_authorisations_grantee",
    AuthorisationRow.grantee_subject_id,
    AuthorisationRow.subject_id,
    AuthorisationRow.status,
)


class VoluntaryRegistrationRow(Base):
    """自愿注册: a subject registered itself on the platform through a verified account, with the
    profile it chooses to show (organisations: public on the archive; persons: own view only)."""

    __tablename__ = "voluntary_registrations"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), comment="the registering account")
    binding_id: Mapped[str] = mapped_column(String(24), comment="the verified binding it made")
    idp: Mapped[str] = mapped_column(String(40), comment="identity provider that vouched")
    created_subject: Mapped[bool] = mapped_column(comment="the subject was new to the platform")
    profile: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    status: Mapped[str] = mapped_column(String(12), comment="active | withdrawn")
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SelfDisclosureRow(Base):
    """自主公示: one item of positive information a subject published about itself; the
    information itself is the catalog record `record_id` (item self_disclosure)."""

    __tablename__ = "self_disclosures"

    id: Mapped[str] = mapped_column(String(24), primary_key=True, comment="= ZZ_BH")
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"))
    record_id: Mapped[str] = mapped_column(String(24), comment="the catalog record")
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(
        String(12), comment="unverified | verified | withdrawn | rejected"
    )
    filed_by: Mapped[str] = mapped_column(String(100))
    filed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_self_disclosures_subject", SelfDisclosureRow.subject_id, SelfDisclosureRow.status)
Index("ix_self_disclosures_status", SelfDisclosureRow.status)
