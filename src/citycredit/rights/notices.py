"""Notices to subjects, departments and the credit office through a notifier interface.

The default notifier writes to the in-app inbox (站内通知) in the caller's transaction, so a
notice exists exactly when the change it announces exists. Other channels (SMS, 政务服务网
messages) implement the same protocol and read the inbox, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.rights.db import NoticeRow

SUBJECT, DEPARTMENT, CREDIT_OFFICE = "subject", "department", "credit_office"


@dataclass(frozen=True)
class Notice:
    recipient_kind: str  # subject | department | credit_office
    recipient_id: str
    topic: str
    title: str
    body: str
    ref_type: str | None = None
    ref_id: str | None = None


class Notifier(Protocol):
    def send(self, session: Session, notice: Notice, *, at: datetime) -> None: ...


class InboxNotifier:
    """Writes each notice to the inbox table in the current transaction."""

    def send(self, session: Session, notice: Notice, *, at: datetime) -> None:
        session.add(
            NoticeRow(
                recipient_kind=notice.recipient_kind,
                recipient_id=notice.recipient_id,
                topic=notice.topic,
                title=notice.title,
                body=notice.body,
                ref_type=notice.ref_type,
                ref_id=notice.ref_id,
                created_at=at,
            )
        )


DEFAULT_NOTIFIER: Notifier = InboxNotifier()


def inbox(
    session: Session, recipient_kind: str, recipient_id: str, *, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest notices of one recipient."""
    rows = session.scalars(
        select(NoticeRow)
        .where(NoticeRow.recipient_kind == recipient_kind, NoticeRow.recipient_id == recipient_id)
        .order_by(NoticeRow.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r.id,
            "topic": r.topic,
            "title": r.title,
            "body": r.body,
            "ref": {"type": r.ref_type, "id": r.ref_id} if r.ref_type else None,
            "created_at": r.created_at.isoformat(),
            "read": r.read_at is not None,
        }
        for r in rows
    ]
