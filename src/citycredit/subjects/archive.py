"""信用档案 read models: subject search, the public archive and the authorised (logged) archive."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem, Openness
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.shared.calendar import local_date
from citycredit.shared.divisions import county_name
from citycredit.shared.errors import FieldError, NotFound
from citycredit.shared.ids import mask_id_number, mask_phone
from citycredit.shared.masking import display_person_name, scrub_value
from citycredit.shared.text import normalise_code, normalise_name
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType

PERSON_TYPES = (SubjectType.natural_person.value, SubjectType.farm_household.value)
PUBLIC_PERSON_NAME_RULE = "surname_masked"


def _subject_summary(row: SubjectRow, *, public: bool) -> dict[str, Any]:
    is_person = row.subject_type in PERSON_TYPES
    name = (
        display_person_name(row.name, PUBLIC_PERSON_NAME_RULE) if public and is_person else row.name
    )
    out: dict[str, Any] = {
        "subject_id": row.subject_id,
        "name": name,
        "subject_type": row.subject_type,
        "subject_type_label": SubjectType(row.subject_type).label,
        "uscc": None if is_person else row.uscc,
        "division_code": row.division_code,
        "division_name": county_name(row.division_code) if row.division_code else "榆林市外或未知",
        "registered_on": row.registered_on.isoformat() if row.registered_on else None,
        "status": row.status,
    }
    if not is_person:
        out["legal_rep"] = row.legal_rep
        out["industry"] = row.industry
    else:
        out["professions"] = list(row.professions or [])
    return out


def search_subjects(
    c: Container, actor: Principal, q: str, *, limit: int = 20
) -> list[dict[str, Any]]:
    """Find organisations by USCC or Chinese name; natural persons are not searchable publicly."""
    require(actor, Permission.read_public)
    q = (q or "").strip()
    if not q:
        raise FieldError("q", q, "required", "请输入名称或统一社会信用代码（q）")
    limit = max(1, min(limit, 100))
    code = normalise_code(q)
    with c.uow() as uow:
        stmt = select(SubjectRow)
        if len(code) == 18 and code.isalnum():
            stmt = stmt.where(SubjectRow.uscc == code)
        else:
            like = "%" + normalise_name(q).replace("%", r"\%").replace("_", r"\_") + "%"
            stmt = stmt.where(SubjectRow.name_norm.like(like, escape="\\"))
        if not actor.can(Permission.read_authorised):
            stmt = stmt.where(SubjectRow.subject_type.not_in(PERSON_TYPES))
        rows = uow.session.scalars(
            stmt.order_by(func.length(SubjectRow.name), SubjectRow.name).limit(limit)
        )
        return [_subject_summary(r, public=True) for r in rows]


def get_subject(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """The public summary of one subject."""
    require(actor, Permission.read_public)
    with c.uow() as uow:
        row = _subject(uow.session, subject_id)
        return _subject_summary(row, public=True)


def _subject(s: Session, subject_id: str) -> SubjectRow:
    row = s.get(SubjectRow, subject_id)
    if row is None:
        raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
    return row


def _is_public_now(record: RecordRow, today: date) -> bool:
    return (
        record.status == "active"
        and record.openness == Openness.public.value
        and record.published
        and (record.decision_date is None or record.decision_date <= today)
        and (record.publication_end is None or record.publication_end > today)
    )


def public_archive(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """The public view: 公开 items inside their publication period, grouped, newest first."""
    require(actor, Permission.read_public)
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        subject = _subject(s, subject_id)
        records = [r for r in _records(s, subject_id) if _is_public_now(r, today)]
        versions = _current_versions(s, records)
        groups = _group(c, records, versions, subject, public=True, today=today)
        return {
            "subject": _subject_summary(subject, public=True),
            "as_of": today.isoformat(),
            "view": "public",
            "groups": groups,
            "total": sum(g["count"] for g in groups),
        }


def authorised_archive(
    c: Container, actor: Principal, subject_id: str, *, purpose: str, channel: str = "api"
) -> dict[str, Any]:
    """The authorised view for government staff: more items, personal fields masked, logged."""
    require(actor, Permission.read_authorised)
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        subject = _subject(s, subject_id)
        records = [r for r in _records(s, subject_id) if r.status == "active"]
        versions = _current_versions(s, records)
        groups = _group(c, records, versions, subject, public=False, today=today)
        record_disclosure(
            s,
            actor=actor,
            subject_id=subject_id,
            items=[g["item"] for g in groups] or ["registration"],
            purpose=purpose,
            channel=channel,
            at=c.clock.now(),
            detail={"records": sum(g["count"] for g in groups)},
        )
        summary = _subject_summary(subject, public=False)
        summary["id_number_masked"] = subject.id_masked
        uow.commit()
        return {
            "subject": summary,
            "as_of": today.isoformat(),
            "view": "authorised",
            "purpose": purpose,
            "groups": groups,
            "total": sum(g["count"] for g in groups),
        }


def _records(s: Session, subject_id: str) -> list[RecordRow]:
    return list(s.scalars(select(RecordRow).where(RecordRow.subject_id == subject_id)))


def _current_versions(s: Session, records: list[RecordRow]) -> dict[str, RecordVersionRow]:
    if not records:
        return {}
    conds = [
        (RecordVersionRow.record_id == r.id) & (RecordVersionRow.version == r.current_version)
        for r in records
    ]
    out: dict[str, RecordVersionRow] = {}
    for i in range(0, len(conds), 200):
        for v in s.scalars(select(RecordVersionRow).where(or_(*conds[i : i + 200]))):
            out[v.record_id] = v
    return out


def _group(
    c: Container,
    records: list[RecordRow],
    versions: dict[str, RecordVersionRow],
    subject: SubjectRow,
    *,
    public: bool,
    today: date,
) -> list[dict[str, Any]]:
    by_item: dict[str, list[RecordRow]] = defaultdict(list)
    for r in records:
        by_item[r.item_code].append(r)
    depts: dict[int, str] = {}
    groups = []
    for code, item in c.catalog.items.items():
        rows = by_item.get(code)
        if not rows:
            continue
        rows.sort(key=lambda r: (r.decision_date or date.min, r.updated_at), reverse=True)
        entries = [
            _entry(item, r, versions[r.id], subject, public=public, today=today, depts=depts)
            for r in rows
            if r.id in versions
        ]
        groups.append(
            {
                "item": code,
                "item_name": item.name,
                "category": item.category,
                "count": len(entries),
                "records": entries,
            }
        )
    return groups


def _entry(
    item: CatalogItem,
    r: RecordRow,
    v: RecordVersionRow,
    subject: SubjectRow,
    *,
    public: bool,
    today: date,
    depts: dict[int, str],
) -> dict[str, Any]:
    is_person = subject.subject_type in PERSON_TYPES
    name_code = item.field_by_role("subject_name")
    fields = []
    for spec in item.fields:
        if spec.code in v.payload:
            value: Any = v.payload[spec.code]
            if public and not item.is_public_field(spec.code, v.payload):
                continue
            if is_person and name_code is not None and spec.code == name_code.code:
                rule = item.display_name_rule.value if public else "full"
                value = display_person_name(str(value), rule)
            field: dict[str, Any] = {"code": spec.code, "label": spec.label, "value": value}
            if spec.type.value == "decimal":
                field["unit"] = "元"  # amounts are stored in 元 whatever unit the source used
            fields.append(field)
        elif not public and spec.code in v.personal:
            raw = str(v.personal[spec.code])
            masked = mask_id_number(raw) if spec.type.value == "id_number" else mask_phone(raw)
            fields.append({"code": spec.code, "label": spec.label, "value": masked, "masked": True})
    entry: dict[str, Any] = {
        "record_id": r.id,
        "version": r.current_version,
        "decision_date": r.decision_date.isoformat() if r.decision_date else None,
        "fields": scrub_value(fields) if public else fields,
        "adverse": item.is_adverse(v.payload),
    }
    if entry["adverse"]:
        entry["legal_basis"] = [str(b) for b in item.legal_basis]
        entry["severity"] = r.severity
        entry["severity_label"] = {"minor": "轻微", "general": "一般", "serious": "严重"}.get(
            r.severity or ""
        )
        entry["severity_inferred"] = r.severity_inferred
        entry["severity_note"] = "推定" if r.severity_inferred else "报送单位认定"
        entry["publication_end"] = r.publication_end.isoformat() if r.publication_end else None
        entry["repair_from"] = r.repair_from.isoformat() if r.repair_from else None
    if not public:
        entry["openness"] = r.openness
        entry["published"] = r.published
        entry["unpublished_reason"] = r.unpublished_reason
        entry["publication_ended"] = bool(r.publication_end and r.publication_end <= today)
        entry["department_id"] = r.department_id
    return entry


def count_departments(s: Session) -> int:
    """Number of registered departments (used by the health page)."""
    return int(s.scalar(select(func.count()).select_from(DepartmentRow)) or 0)
