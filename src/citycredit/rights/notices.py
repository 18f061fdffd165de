"""Notices to subjects, departments and the credit office through a notifier interface.

The default notifier writes to the in-app inbox (站内通知) in the caller's transaction, so a
notice exists exactly when the change it announces exists. Other channels (SMS, 政务服务网
messages) implement the same protocol and read the inbox, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, update
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


INBOX_PAGE = 100  # notices per page


def _mine(recipient_kind: str, recipient_id: str) -> Any:
    return (NoticeRow.recipient_kind == recipient_kind) & (NoticeRow.recipient_id == recipient_id)


def inbox(
    session: Session,
    recipient_kind: str,
    recipient_id: str,
    *,
    limit: int = INBOX_PAGE,
    before: int | None = None,
    unread_only: bool = False,
) -> list[dict[str, Any]]:
    """The newest notices of one recipient (older than the notice `before`, unread only)."""
    query = select(NoticeRow).where(_mine(recipient_kind, recipient_id))
    if before is not None:
        query = query.where(NoticeRow.id < before)
    if unread_only:
        query = query.where(NoticeRow.read_at.is_(None))
    rows = session.scalars(query.order_by(NoticeRow.id.desc()).limit(limit))
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


def inbox_page(
    session: Session,
    recipient_kind: str,
    recipient_id: str,
    *,
    limit: int = INBOX_PAGE,
    before: int | None = None,
    unread_only: bool = False,
) -> dict[str, Any]:
    """One page of a recipient's inbox with its totals: `total` and `unread` over the whole
    inbox, `next_before` the value of `before` for the next (older) page, null on the last."""
    items = inbox(
        session,
        recipient_kind,
        recipient_id,
        limit=limit + 1,  # one more than shown: whether an older page exists
        before=before,
        unread_only=unread_only,
    )
    more, items = len(items) > limit, items[:limit]
    mine = _mine(recipient_kind, recipient_id)
    total = session.scalar(select(func.count()).select_from(NoticeRow).where(mine)) or 0
    unread = (
        session.scalar(
            select(func.count()).select_from(NoticeRow).where(mine, NoticeRow.read_at.is_(None))
        )
        or 0
    )
    return {
        "count": len(items),
        "total": total,
        "unread": unread,
        "next_before": items[-1]["id"] if more else None,
        "items": items,
    }


def mark_read(
    session: Session, recipient_kind: str, recipient_id: str, *, up_to: int, at: datetime
) -> int:
    """Mark the recipient's notices up to and including the notice `up_to` read (the newest one
    shown, typically); notices already read keep their time. Returns how many were marked."""
    result = session.execute(
        update(NoticeRow)
        .where(
            _mine(recipient_kind, recipient_id),
            NoticeRow.id <= up_to,
            NoticeRow.read_at.is_(None),
        )
        .values(read_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)
