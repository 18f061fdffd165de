"""Clear personal values for a person who may see them, and exact lookup by ID or phone number.

Both go through the role check of `privacy.access` and write the disclosure log (查询登记) in
the same transaction as the read: who, which subject and items, why, which fields — and with it
a `data.read` event in the audit trail (kernel.disclosure), naming the record (or the subject
found) and the fields, with the request id and source address. A lookup's
entries carry the blind-index digest of the number searched for (never the number): "who looked
for this person" is answered by computing the digest of the number and finding it in the log,
including lookups that found nothing or nothing the caller's department may see.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from citycredit.accounts.model import Permission, Principal, hidden_as, require
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.kernel.db import DisclosureRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.privacy.access import Purpose, check_purpose, open_personal
from citycredit.privacy.db import PersonalIndexRow
from citycredit.privacy.keycheck import latest_index_kid
from citycredit.privacy.records import version_aad
from citycredit.shared.errors import Conflict, FieldError, NotFound
from citycredit.shared.personal import PersonalDataError

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

    Department staff see their own department's records; the credit office sees all. Another
    department's record answers like a missing one (G8).
    """
    check_purpose(actor, Purpose.disclose)  # before anything about the record is said
    _require_purpose(purpose)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        missing = NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        record = s.get(RecordRow, record_id)
        if record is None:
            raise missing
        with hidden_as(missing):
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
            object_id=record_id,
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

    Department staff find only their own department's records. Every subject found is logged,
    and so is a lookup that found nothing; each entry carries the value's blind-index digest.
    Raises PersonalDataError (``personal_index_key_mismatch``) rather than answer "nothing" when
    the index was written under another blind-index key than this process's ring has.
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
    codec = c.personal_codec
    digest = codec.blind_index(kind, value)
    index_kid = codec.keyring.index_kid
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
        if not found:
            # "Nothing" is an answer only if the index is under this ring's key (one read).
            latest = latest_index_kid(s.connection())
            if latest is not None and latest != index_kid:
                raise PersonalDataError(
                    f"盲索引由盲索引密钥 {latest} 生成，本进程的密钥环是 {index_kid}：按号码查找"
                    "无法得出结果。请检查 CITYCREDIT_PERSONAL_KEYS（citycredit crypto status）",
                    code="personal_index_key_mismatch",
                )
        by_subject: dict[str, set[str]] = {}
        matched: dict[str, set[str]] = {}
        for f in found:
            by_subject.setdefault(f["subject_id"], set()).add(f["item"])
            matched.setdefault(f["subject_id"], set()).add(f["field"])
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
                fields=sorted(matched.get(subject_id, ())),  # the fields the number matched in
                detail={
                    "use": "personal_lookup",
                    "kind": kind,
                    "matches": len(found),
                    # the searched number as the blind index holds it: never the number itself
                    "digest": digest,
                    "index_kid": index_kid,
                },
            )
        uow.commit()
        return found


def lookups_of(c: Container, actor: Principal, *, kind: str, value: str) -> list[dict[str, Any]]:
    """查询登记 of the lookups for one ID or phone number, newest first: who searched for it,
    when, why and what they found — including lookups that found nothing (audit administrator).

    The log holds the number's blind-index digest, so this computes it and searches the log
    (a scan of the disclosure log: an audit question, not a request path).
    """
    require(actor, Permission.read_audit)
    if kind not in INDEX_KINDS:
        raise FieldError("kind", kind, "invalid", "只能按证件号码（id_number）或电话（phone）查找")
    digest = c.personal_codec.blind_index(kind, value)
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(DisclosureRow)
            .where(DisclosureRow.detail["digest"].as_string() == digest)
            .order_by(DisclosureRow.at.desc(), DisclosureRow.id.desc())
        )
        return [
            {
                "at": r.at.isoformat(),
                "actor": r.actor_label,
                "actor_role": r.actor_role,
                "department_id": r.department_id,
                "subject_id": r.subject_id,
                "purpose": r.purpose,
                "channel": r.channel,
                "matches": (r.detail or {}).get("matches"),
            }
            for r in rows
            if (r.detail or {}).get("use") == "personal_lookup"
            and (r.detail or {}).get("kind") == kind
        ]
