"""Clear personal values for a person who may see them, and exact lookup by ID or phone number.

Both go through the role check of `privacy.access` and write the disclosure log (查询登记) in
the same transaction as the read: who, which subject and items, why, which fields.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from citycredit.accounts.model import Permission, Principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.privacy.access import Purpose, check_purpose, open_personal
from citycredit.privacy.db import PersonalIndexRow
from citycredit.privacy.records import version_aad
from citycredit.shared.errors import Conflict, FieldError, NotFound

INDEX_KINDS = ("id_number", "phone")
MAX_MATCHES = 500


def _require_purpose(purpose: str) -> None:
    """A stated purpose comes before any value is opened (the log repeats this check)."""
    if len((purpose or "").strip()) < 2:
        raise FieldError("purpose", purpose, "required", "查看个人信息必须说明查询目的（purpose）")


def reveal_personal(
    c: Container,
    actor: Principal,
    record_id: str,
    *,
    purpose: str,
    version: int | None = None,
    channel: str = "api",
) -> dict[str, Any]:
    """明文查看: the clear personal fields of a record version (current by default), logged.

    Department staff see their own department's records; the credit office sees all.
    """
    check_purpose(actor, Purpose.disclose)  # before anything about the record is said
    _require_purpose(purpose)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        record = s.get(RecordRow, record_id)
        if record is None:
            raise NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        check_purpose(actor, Purpose.disclose, department_id=record.department_id)
        number = version if version is not None else record.current_version
        v = s.scalar(
            select(RecordVersionRow).where(
                RecordVersionRow.record_id == record_id, RecordVersionRow.version == number
            )
        )
        if v is None:
            raise NotFound(f"记录 {record_id} 没有第 {number} 版", code="version_not_found")
        if v.kind == "withdrawal":
            raise Conflict(
                f"记录 {record_id} 第 {number} 版是撤销记录，没有个人信息；请指定更早的版本",
                code="withdrawn_version",
            )
        clear = open_personal(
            c,
            actor,
            v.personal,
            aad=version_aad(record_id, number),
            purpose=Purpose.disclose,
            department_id=record.department_id,
        )
        record_disclosure(
            s,
            actor=actor,
            subject_id=record.subject_id,
            items=[record.item_code],
            purpose=purpose,
            channel=channel,
            at=now,
            detail={
                "record_id": record_id,
                "version": number,
                "clear_fields": sorted(clear),
                "use": Purpose.disclose.value,
            },
        )
        uow.commit()
        item = c.catalog.item(record.item_code)
        labels = {spec.code: spec.label for spec in item.fields}
        return {
            "record_id": record_id,
            "version": number,
            "item": record.item_code,
            "subject_id": record.subject_id,
            "fields": [
                {"code": code, "label": labels.get(code, code), "value": clear[code]}
                for code in sorted(clear)
            ],
        }


def find_by_personal(
    c: Container,
    actor: Principal,
    *,
    kind: str,
    value: str,
    purpose: str,
    channel: str = "api",
) -> list[dict[str, Any]]:
    """Records whose ID number or phone equals `value` (blind index; the value is never stored).

    Department staff find only their own department's records. Every subject found is logged.
    """
    if kind not in INDEX_KINDS:
        raise FieldError(
            "kind",
            kind,
            "invalid",
            f"只能按证件号码（id_number）或电话（phone）查找，不能按 {kind}",
        )
    if not (value or "").strip():
        raise FieldError("value", value, "required", "请提供要查找的号码（value）")
    check_purpose(actor, Purpose.disclose)
    _require_purpose(purpose)
    digest = c.personal_codec.blind_index(kind, value)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        q = (
            select(
                PersonalIndexRow.record_id,
                PersonalIndexRow.version,
                PersonalIndexRow.field,
                RecordRow.item_code,
                RecordRow.subject_id,
                RecordRow.department_id,
                RecordRow.status,
            )
            .join(RecordRow, RecordRow.id == PersonalIndexRow.record_id)
            .where(PersonalIndexRow.kind == kind, PersonalIndexRow.digest == digest)
            .order_by(PersonalIndexRow.record_id, PersonalIndexRow.version)
            .limit(MAX_MATCHES)
        )
        if not actor.can(Permission.read_all_submissions):
            q = q.where(RecordRow.department_id == actor.department_id)
        found = [
            {
                "record_id": r.record_id,
                "version": r.version,
                "field": r.field,
                "item": r.item_code,
                "subject_id": r.subject_id,
                "department_id": r.department_id,
                "status": r.status,
            }
            for r in s.execute(q)
        ]
        by_subject: dict[str, set[str]] = {}
        for f in found:
            by_subject.setdefault(f["subject_id"], set()).add(f["item"])
        if not by_subject:
            # A lookup that found nothing is still a query about a person: log it too.
            by_subject = {"": set()}
        for subject_id, items in sorted(by_subject.items()):
            record_disclosure(
                s,
                actor=actor,
                subject_id=subject_id,
                items=sorted(items) or ["personal_lookup"],
                purpose=purpose,
                channel=channel,
                at=now,
                detail={"use": "personal_lookup", "kind": kind, "matches": len(found)},
            )
        uow.commit()
        return found
