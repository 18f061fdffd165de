"""Tables of 共享调度: subscriptions, their feeds, deliveries and the fan-out's own cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class SubscriptionRow(Base):
    """A department's subscription to catalog items and/or subjects."""

    __tablename__ = "sharing_subscriptions"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    items: Mapped[list[str]] = mapped_column(JsonType, comment="catalog item codes; [] = any")
    fields: Mapped[dict[str, list[str]]] = mapped_column(
        JsonType, comment="item code → field codes delivered; missing item = every allowed field"
    )
    by_subject: Mapped[bool] = mapped_column(comment="limited to sharing_subscription_subjects")
    channel: Mapped[str] = mapped_column(String(10), comment="pull | file")
    file_format: Mapped[str] = mapped_column(String(10), comment="jsonl | csv (file channel)")
    access: Mapped[str] = mapped_column(String(20), comment="public | authorised")
    personal: Mapped[str] = mapped_column(String(10), comment="none | masked | clear")
    purpose: Mapped[str | None] = mapped_column(Text, comment="共享用途, logged per delivery")
    legal_basis: Mapped[str | None] = mapped_column(Text, comment="共享依据 (law, agreement)")
    status: Mapped[str] = mapped_column(String(20), comment="active | suspended | cancelled")
    last_seq: Mapped[int] = mapped_column(default=0, comment="highest feed seq (dense from 1)")
    file_after: Mapped[int] = mapped_column(default=0, comment="file channel: seq written so far")
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_reason: Mapped[str | None] = mapped_column(Text)


class SubscriptionSubjectRow(Base):
    """One subject a subscription is limited to."""

    __tablename__ = "sharing_subscription_subjects"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("sharing_subscriptions.id"), primary_key=True
    )
    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.subject_id"), primary_key=True, index=True
    )


class FeedEntryRow(Base):
    """One change in one subscription's feed; seq is dense per subscription (the cursor)."""

    __tablename__ = "sharing_feed_entries"
    __table_args__ = (UniqueConstraint("subscription_id", "record_id", "version", "kind"),)

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("sharing_subscriptions.id"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    version: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(
        String(20),
        comment="original | correction | withdrawal | repair | publication_ended | repair_revoked",
    )
    item_code: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(24))
    public: Mapped[bool] = mapped_column(comment="False: a delivery goes to the disclosure log")
    payload: Mapped[dict[str, Any] | None] = mapped_column(
        JsonType, comment="the record as the department may see it; NULL for notices/redacted"
    )
    clear_personal: Mapped[list[str]] = mapped_column(
        JsonType, default=list, comment="personal codes filled in clear at delivery"
    )
    note: Mapped[str | None] = mapped_column(Text, comment="reason of a withdrawal or repair")
    source_event_id: Mapped[int | None] = mapped_column(comment="outbox id; NULL: initial load")
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), comment="when the change happened")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    redacted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    redacted_reason: Mapped[str | None] = mapped_column(String(20))


Index("ix_sharing_feed_entries_record", FeedEntryRow.record_id)


class DeliveryRow(Base):
    """Who received which version of which record, when, through which channel."""

    __tablename__ = "sharing_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("sharing_subscriptions.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    seq: Mapped[int] = mapped_column()
    record_id: Mapped[str] = mapped_column(String(24), index=True)
    version: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10), comment="pull | file")
    cursor: Mapped[str] = mapped_column(String(200), comment="pull: after=N; file: file name")
    delivered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_to: Mapped[str] = mapped_column(String(100), comment="token or process label")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


Index("ix_sharing_deliveries_subscription_seq", DeliveryRow.subscription_id, DeliveryRow.seq)


class RecordBlockRow(Base):
    """A record that must not be shared any more (信用修复 ends sharing, Order 36 art. 3)."""

    __tablename__ = "sharing_record_blocks"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column()
    blocked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class FanoutStateRow(Base):
    """The fan-out's own outbox cursor: a high-water id and the open gaps below it.

    Outbox ids are assigned at insert, not at commit, so an id below the high water may still
    commit later; each gap is kept (with the PostgreSQL transaction horizon that decides when
    it can no longer fill) and re-read until it fills or is final. See sharing/fanout.py.
    """

    __tablename__ = "sharing_fanout_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    high_water: Mapped[int] = mapped_column(default=0)
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


__all__ = [
    "DeliveryRow",
    "FanoutStateRow",
    "FeedEntryRow",
    "RecordBlockRow",
    "SubscriptionRow",
    "SubscriptionSubjectRow",
]
