"""查询登记: the one function every read of non-public information goes through.

Each entry also adds a `data.read` event to the operator audit trail in the same transaction
(`accounts.audit.add_read_event`, G10): the trail then holds every successful read of personal
data with its request id and source address, the personal fields opened (names, never values)
and the object read, at the cost of one more row in the read's own commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.audit import add_read_event
from citycredit.accounts.model import Principal
from citycredit.kernel.db import DisclosureRow
from citycredit.shared.errors import FieldError

# How a reader reached the information, in the words of the subject's 查询记录.
CHANNEL_LABELS = {
    "api": "接口查询",
    "page": "网页查询",
    "institution": "授权机构查询",
    "self": "本人查询",
    "check": "信用核查",
    "download": "文件下载",
    "export": "数据导出",
    "province": "报送省平台",
    "sharing_pull": "共享接口",
    "sharing_file": "共享文件",
}


def channel_label(channel: str) -> str:
    """A disclosure channel in Chinese (the code itself for one not listed)."""
    return CHANNEL_LABELS.get(channel, channel)


def record_disclosure(
    session: Session,
    *,
    actor: Principal,
    subject_id: str,
    items: Sequence[str],
    purpose: str,
    channel: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    fields: Sequence[str] = (),
    object_id: str | None = None,
) -> None:
    """Log who read which items of which subject, why and when (same transaction as the read),
    and add its `data.read` audit event: `fields` names the personal fields opened (also taken
    from the detail's ``clear_fields`` / ``fields``), `object_id` is what was read (default: the
    subject)."""
    purpose = (purpose or "").strip()
    if len(purpose) < 2:
        raise FieldError(
            "purpose", purpose, "required", "查询非公开信息必须说明查询目的（purpose）"
        )
    session.add(
        DisclosureRow(
            at=at,
            actor_role=actor.role.value,
            actor_label=actor.label,
            user_id=actor.user_id,
            department_id=actor.department_id,
            subject_id=subject_id,
            items=sorted(set(items)),
            purpose=purpose,
            channel=channel,
            detail=detail or {},
        )
    )
    detail = detail or {}
    opened = {*fields, *detail.get("clear_fields", ()), *detail.get("fields", ())}
    add_read_event(
        session,
        actor=actor,
        at=at,
        object_id=object_id or subject_id or None,
        subject_id=subject_id,
        items=items,
        fields=opened,
        purpose=purpose,
        channel=channel,
        detail=detail,
    )


def disclosures_for(session: Session, subject_id: str) -> list[DisclosureRow]:
    """Every logged read of one subject, newest first (for "who looked at my file")."""
    return list(
        session.scalars(
            select(DisclosureRow)
            .where(DisclosureRow.subject_id == subject_id)
            .order_by(DisclosureRow.at.desc(), DisclosureRow.id.desc())
        )
    )
