"""信用档案 read models: subject search, the public archive and the authorised (logged) archive."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Date, Select, and_, bindparam, func, null, or_, select
from sqlalchemy.orm import Session, defer

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem, Openness
from citycredit.evaluation.views import archive_grade, grade_is_public
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.withhold import unpublished_label
from citycredit.kernel.disclosure import record_disclosure
from citycredit.lists.service import ended_early_records
from citycredit.privacy.access import Purpose, open_personal
from citycredit.privacy.records import mask_personal, version_aad
from citycredit.shared.calendar import last_day, local_date
from citycredit.shared.divisions import county_name
from citycredit.shared.errors import FieldError, NotFound
from citycredit.shared.ids import id_mask_style, mask_id_number, restyle_stored_id_mask
from citycredit.shared.masking import (
    display_person_name,
    hidden_on_person_record,
    mask_name_in_text,
    scrub_value,
)
from citycredit.shared.person_names import (
    mask_person_names,
    masks_free_text,
    names_shown_anyway,
)
from citycredit.shared.text import normalise_code, normalise_name
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType

_FILE_UNIT = re.compile(r"[（(]万?元[）)]$")
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
    order = (func.length(SubjectRow.name), SubjectRow.name)
    with c.uow() as uow:
        postgresql = uow.session.get_bind().dialect.name == "postgresql"
        if len(code) == 18 and code.isalnum():
            match = [SubjectRow.uscc == code]
        else:
            norm = normalise_name(q)
            like = "%" + norm.replace("%", r"\%").replace("_", r"\_") + "%"
            match = [SubjectRow.name_norm.like(like, escape="\\")]
            if postgresql and len(norm) < 3:
                # no trigram in one or two characters: the names holding these characters
                # (ix_subjects_name_chars, subjects/db.py), of which the LIKE keeps the rest
                chars = func.string_to_array(SubjectRow.name_norm, null())
                match.append(chars.op("@>")(func.string_to_array(norm, null())))
        if not actor.can(Permission.read_authorised):
            match.append(SubjectRow.subject_type.not_in(PERSON_TYPES))
        # The first `limit` ids in the result's order, then their rows: on PostgreSQL the ids
        # can come from ix_subjects_name_order alone (an index-only walk that stops after
        # `limit` matches) or from the trigram / character index for rare words.
        first = select(SubjectRow.subject_id).where(*match).order_by(*order).limit(limit)
        in_first = SubjectRow.subject_id.in_(first.correlate(None).scalar_subquery())
        rows = uow.session.scalars(select(SubjectRow).where(in_first).order_by(*order))
        return [_subject_summary(r, public=True) for r in rows]


def get_subject(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """The public summary of one subject."""
    require(actor, Permission.read_public)
    with c.uow() as uow:
        row = _subject(uow.session, subject_id)
        summary = _subject_summary(row, public=True)
        uow.finish_read()
        return summary


def _subject(s: Session, subject_id: str) -> SubjectRow:
    row = s.get(SubjectRow, subject_id)
    if row is None:
        raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
    return row


def is_public_now(record: RecordRow, today: date) -> bool:
    """The record is on the public view today: active, 公开, published (not 轻微, not a minor's),
    not dated in the future, inside its publication period, not repaired. The one rule of every
    public read (archive, 双公示, ledger bundles)."""
    return (
        record.status == "active"
        and record.openness == Openness.public.value
        and record.published
        and record.repaired_at is None  # 信用修复: publication stops (Order No. 36 art. 3)
        and (record.decision_date is None or record.decision_date <= today)
        and (record.publication_end is None or record.publication_end > today)
    )


def is_shared_now(record: RecordRow) -> bool:
    """Departments' authorised view shares a record while it is active and not repaired: the end
    of its publication period does not stop sharing, a repair does (停止共享和使用, Order No. 36
    art. 3). rights.repairs reads the same rule (a record still shared may still be repaired)."""
    return record.status == "active" and record.repaired_at is None


def public_archive(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """The public view: 公开 items inside their publication period, grouped, newest first."""
    require(actor, Permission.read_public)
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        subject, records, versions = _public_records(s, subject_id, today)
        # a record whose list entry ended early (e.g. 守信激励对象资格 revoked) is not shown as
        # a current listing or qualification (lists.service.ended_early_records)
        ended = ended_early_records(s, [r.id for r in records])
        records = [r for r in records if r.id not in ended]
        groups = _group(c, records, versions, subject, public=True, today=today)
        _mark_objections(s, subject_id, groups, mask_names=_masks_names(c, subject))
        view = {
            "subject": _subject_summary(subject, public=True),
            "as_of": today.isoformat(),
            "view": "public",
            "evaluation": archive_grade(s, subject, public=True),  # organisations only
            # organisations only
            "voluntary_registration": _registration(s, subject, _masks_names(c, subject)),
            "groups": groups,
            "total": sum(g["count"] for g in groups),
        }
        uow.finish_read()
        return view


DUAL_PUBLICITY_ITEMS = ("licence", "penalty")  # 双公示: 行政许可 and 行政处罚
DUAL_PUBLICITY_MAX_OFFSET = 2000  # pages beyond this are for the export, not the portal


def dual_publicity(
    c: Container, actor: Principal, item_code: str, *, limit: int = 20, offset: int = 0
) -> dict[str, Any]:
    """双公示 in the portal: the newest public 行政许可 or 行政处罚 records of the whole city,
    each as its subject's public archive shows it (the same fields, names and masking).

    Natural persons' records are listed with the masked name and no link to their archive
    (people are not searchable publicly). ``has_more``: another page follows.
    """
    require(actor, Permission.read_public)
    if item_code not in DUAL_PUBLICITY_ITEMS:
        raise FieldError(
            "item",
            item_code,
            "invalid_item",
            "item 只能是 licence（行政许可）或 penalty（行政处罚）",
        )
    limit = max(1, min(limit, 100))
    if not 0 <= offset <= DUAL_PUBLICITY_MAX_OFFSET:
        raise FieldError(
            "offset",
            str(offset),
            "out_of_range",
            f"只能翻看最新的 {DUAL_PUBLICITY_MAX_OFFSET} 条；更早的信息请按主体查询",
        )
    item = c.catalog.items[item_code]
    number = item.field_by_role("decision_no")
    today = local_date(c.clock.now())
    stmt = (
        select(RecordRow, RecordVersionRow, SubjectRow)
        .join(SubjectRow, SubjectRow.subject_id == RecordRow.subject_id)
        .join(
            RecordVersionRow,
            and_(
                RecordVersionRow.record_id == RecordRow.id,
                RecordVersionRow.version == RecordRow.current_version,
            ),
        )
        .where(
            RecordRow.item_code == item_code,
            RecordRow.status == "active",
            RecordRow.openness == Openness.public.value,
            RecordRow.published,
            RecordRow.decision_date.is_not(None),
            RecordRow.decision_date <= today,
            or_(RecordRow.publication_end.is_(None), RecordRow.publication_end > today),
            RecordRow.repaired_at.is_(None),
        )
        .order_by(RecordRow.decision_date.desc(), RecordRow.id.desc())
        .limit(limit + 1)
        .offset(offset)
        .options(defer(RecordVersionRow.personal))  # sealed; never on the public view
    )
    with c.uow() as uow:
        rows = uow.session.execute(stmt).all()
        depts: dict[int, str] = {}
        entries = []
        by_subject: dict[str, list[dict[str, Any]]] = {}
        for record, version, subject in rows[:limit]:
            if not is_public_now(record, today):
                continue
            summary = _subject_summary(subject, public=True)
            is_person = subject.subject_type in PERSON_TYPES
            shown = public_entry(
                item,
                record,
                version,
                subject,
                public=True,
                today=today,
                depts=depts,
                personal={},
                mask_names=c.settings.mask_names_in_public_text,
            )
            by_subject.setdefault(subject.subject_id, []).append(shown)
            entries.append(
                {
                    "subject": {
                        "subject_id": None if is_person else subject.subject_id,
                        "name": summary["name"],
                        "uscc": summary["uscc"],
                        "subject_type_label": summary["subject_type_label"],
                    },
                    "decision_no": next(
                        (
                            f["value"]
                            for f in shown["fields"]
                            if number is not None and f["code"] == number.code
                        ),
                        None,
                    ),
                    "record": shown,
                }
            )
        # "异议处理中" (or a recorded dispute) exactly as the subject's archive marks it.
        subjects = {subject.subject_id: subject for _, _, subject in rows[:limit]}
        for subject_id, shown_records in by_subject.items():
            _mark_objections(
                uow.session,
                subject_id,
                [{"records": shown_records}],
                mask_names=_masks_names(c, subjects[subject_id]),
            )
        uow.finish_read()
    return {
        "item": item_code,
        "item_name": item.name,
        "as_of": today.isoformat(),
        "offset": offset,
        "entries": entries,
        "has_more": len(rows) > limit,
    }


def authorised_archive(
    c: Container, actor: Principal, subject_id: str, *, purpose: str, channel: str = "api"
) -> dict[str, Any]:
    """The authorised view for government staff: more items, personal fields masked, logged."""
    require(actor, Permission.read_authorised)
    return _authorised_view(c, actor, subject_id, purpose=purpose, channel=channel)


EVALUATION_SCOPE = "evaluation"  # disclosure-log item of a grade (rights.authorisations)
NOT_AUTHORISED_GRADE_NOTE = "本次授权未包括公共信用综合评价结果（evaluation）"


def consented_archive(
    c: Container,
    actor: Principal,
    subject_id: str,
    *,
    purpose: str,
    items: frozenset[str] | None,
    evaluation: bool,
    authorisation_id: str,
) -> dict[str, Any]:
    """An institution's read under the subject's own authorisation (rights.authorisations
    checks it first). Shown: the records of the authorised ``items`` (None: every item) as the
    authorised view shows them, without personal fields; every other record the public view
    shows today, as the public sees it; the grade when ``evaluation`` (the grant covers it) or
    when it is public anyway (organisations). Each record entry, and the grade, says whether it
    is what the public sees (`public`).

    The disclosure log names exactly what went beyond the public view: the items with a record
    shown otherwise than the public sees it, ``evaluation`` for a grade the public may not see,
    ``registration`` for identity data the public view does not show (a person's name in full,
    a masked ID number); the read itself is logged even when that list is empty."""
    today = local_date(c.clock.now())
    mask_style = id_mask_style(c.settings.id_mask_keep_first, c.settings.id_mask_keep_last)
    with c.uow() as uow, mask_style:
        s = uow.session
        subject, public_records, public_versions = _public_records(s, subject_id, today)
        covered = [
            r
            for r in _records(s, subject_id)
            if is_shared_now(r) and (items is None or r.item_code in items)
        ]
        covered_ids = {r.id for r in covered}
        versions = current_versions(s, covered)
        groups = _group(c, covered, versions, subject, public=False, today=today, personal={})
        # What the public sees of the covered records (to tell the reader, and the log, which
        # of them show nothing more than that).
        public_view = {
            e["record_id"]: e["fields"]
            for g in _group(
                c,
                [r for r in public_records if r.id in covered_ids],
                public_versions,
                subject,
                public=True,
                today=today,
            )
            for e in g["records"]
        }
        disclosed: set[str] = set()
        for g in groups:
            for entry in g["records"]:
                entry["public"] = public_view.get(entry["record_id"]) == entry["fields"]
                if not entry["public"]:
                    disclosed.add(g["item"])
            g["authorised"] = True
        public_groups = _group(
            c,
            [r for r in public_records if r.id not in covered_ids],
            public_versions,
            subject,
            public=True,
            today=today,
        )
        for g in public_groups:
            for entry in g["records"]:
                entry["public"] = True
            g["authorised"] = False
        _mark_objections(s, subject_id, groups)
        _mark_objections(s, subject_id, public_groups, mask_names=_masks_names(c, subject))
        order = {code: i for i, code in enumerate(c.catalog.items)}
        groups = sorted([*groups, *public_groups], key=lambda g: order[g["item"]])

        grade_public = grade_is_public(subject.subject_type)
        grade = archive_grade(s, subject, public=not evaluation)
        if grade["shown"]:
            grade["public"] = grade_public
            if not grade_public:
                disclosed.add(EVALUATION_SCOPE)
        elif not evaluation and not grade_public:
            grade["note"] = f"{grade['note']}；{NOT_AUTHORISED_GRADE_NOTE}"

        summary = _subject_summary(subject, public=False)
        summary["id_number_masked"] = shown_id_number(c, subject, ())
        if summary["id_number_masked"] or summary != {
            **_subject_summary(subject, public=True),
            "id_number_masked": None,
        }:
            disclosed.add("registration")
        shown_beyond = sum(
            1 for g in groups for e in g["records"] if g["authorised"] and not e["public"]
        )
        record_disclosure(
            s,
            actor=actor,
            subject_id=subject_id,
            items=sorted(disclosed),
            purpose=purpose,
            channel="institution",
            at=c.clock.now(),
            detail={"records": shown_beyond, "authorisation": authorisation_id},
        )
        uow.commit()
        return {
            "subject": summary,
            "as_of": today.isoformat(),
            "view": "authorised",
            "purpose": purpose,
            "evaluation": grade,
            "groups": groups,
            "total": sum(g["count"] for g in groups),
            "disclosed": sorted(disclosed),
        }


def _authorised_view(
    c: Container,
    actor: Principal,
    subject_id: str,
    *,
    purpose: str,
    channel: str,
    own: bool = False,
) -> dict[str, Any]:
    """Staff's authorised view (logged) or the subject's own (``own``: not a disclosure)."""
    today = local_date(c.clock.now())
    mask_style = id_mask_style(c.settings.id_mask_keep_first, c.settings.id_mask_keep_last)
    with c.uow() as uow, mask_style:  # ID masks shown below follow the configured style (G30)
        s = uow.session
        subject = _subject(s, subject_id)
        # Repaired records are neither published nor shared (停止共享和使用); the subject itself
        # still sees them, marked repaired.
        records = [
            r for r in _records(s, subject_id) if is_shared_now(r) or (own and r.status == "active")
        ]
        versions = current_versions(s, records)
        if own:  # the subject's own values, shown masked (本人查询: not a disclosure)
            personal = {
                rid: c.personal_codec.open(v.personal, aad=version_aad(v.record_id, v.version))
                for rid, v in versions.items()
            }
        else:
            personal = {
                rid: open_personal(
                    c,
                    actor,
                    v.personal,
                    aad=version_aad(v.record_id, v.version),
                    purpose=Purpose.authorised_view,  # masked below; this read is logged below
                )
                for rid, v in versions.items()
            }
        groups = _group(c, records, versions, subject, public=False, today=today, personal=personal)
        _mark_objections(s, subject_id, groups)
        detail: dict[str, Any] = {"records": sum(g["count"] for g in groups)}
        grade = archive_grade(s, subject, public=False)
        if not own:
            # a grade the public may not see (a person's, a 个体工商户's) is a disclosure too
            private_grade = grade["shown"] and not grade_is_public(subject.subject_type)
            shown_items = [g["item"] for g in groups]
            shown_items += [EVALUATION_SCOPE] if private_grade else []
            record_disclosure(
                s,
                actor=actor,
                subject_id=subject_id,
                items=shown_items or ["registration"],
                purpose=purpose,
                channel=channel,
                at=c.clock.now(),
                detail=detail,
                fields=sorted({code for values in personal.values() for code in values}),
            )
        summary = _subject_summary(subject, public=False)
        summary["id_number_masked"] = shown_id_number(c, subject, personal.values())
        uow.commit()
        return {
            "subject": summary,
            "as_of": today.isoformat(),
            "view": "own" if own else "authorised",
            "purpose": purpose,
            "evaluation": grade,
            "groups": groups,
            "total": sum(g["count"] for g in groups),
        }


def shown_id_number(
    c: Container, subject: SubjectRow, opened: Iterable[Mapping[str, Any]]
) -> str | None:
    """A natural person's ID number as the own and the authorised view show it (4 + 4, or the
    configured `id_mask_keep_first` / `id_mask_keep_last`).

    `subjects.id_masked` keeps the first 4 characters only (docs/adr/0014): next to the birth
    date and the county, any of the last 4 in the database would give the number back. They come
    here from the subject's own record values the view has already opened (sealed at rest) —
    the value whose keyed digest is the subject's, so another person's number in the same record
    (a legal representative) is never taken. Without one (an institution's view, which opens no
    personal value; no active record left) the stored form is shown, never with more leading
    characters than the style keeps.
    """
    if subject.id_digest:
        for values in opened:
            for value in values.values():
                number = normalise_code(value) if isinstance(value, str) else ""
                if (
                    len(number) == 18
                    and c.digester.digest("id-number", number) == subject.id_digest
                ):
                    return mask_id_number(number)
    return restyle_stored_id_mask(subject.id_masked)


def _registration(
    s: Session, subject: SubjectRow, keep_names: tuple[str, ...] | None
) -> dict[str, Any] | None:
    """自愿注册 profile (self-declared, marked as such) of an organisation, if registered;
    other persons' names in its free text masked unless ``keep_names`` is None (G30)."""
    from citycredit.rights.registration import public_profile

    return public_profile(s, subject, keep_names=keep_names)


def _mark_objections(
    s: Session,
    subject_id: str,
    groups: list[dict[str, Any]],
    *,
    mask_names: tuple[str, ...] | None = None,
) -> None:
    """ "异议处理中" (and a recorded dispute or the subject's statement) on each disputed record.

    ``mask_names``: on a public view, the names shown publicly anyway (`_masks_names`); other
    persons' names in the statement are masked (G30). None: the authorised views, in clear."""
    from citycredit.rights.objections import marks_for

    marks = marks_for(s, subject_id)
    if not marks:
        return
    for group in groups:
        for entry in group["records"]:
            mark = marks.get(("record", entry["record_id"]))
            if mark:
                if mask_names is not None and mark.get("statement"):
                    statement = mask_person_names(mark["statement"], keep=mask_names)
                    mark = {**mark, "statement": statement}
                entry["objection_mark"] = mark


def _masks_names(c: Container, subject: SubjectRow) -> tuple[str, ...] | None:
    """Names a public view keeps in clear inside the subject's free text, or None when the
    setting `mask_names_in_public_text` is off (nothing is masked)."""
    if not c.settings.mask_names_in_public_text:
        return None
    return public_names(subject)


def public_names(subject: SubjectRow, *names: Any) -> tuple[str, ...]:
    """Names a public view shows anyway, kept in clear inside free text: an organisation's or
    个体工商户's own name and its 法定代表人/经营者 (the register's and ``names``, the record's)."""
    return names_shown_anyway(
        subject.subject_type in PERSON_TYPES, subject.name, subject.legal_rep, *names
    )


def own_archive(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """信用账户: a subject's full archive as the subject sees it (non-public items, personal
    fields masked, repaired records marked). The caller checks the binding."""
    return _authorised_view(c, actor, subject_id, purpose="本人查询", channel="self", own=True)


def _records(s: Session, subject_id: str) -> list[RecordRow]:
    return list(s.scalars(select(RecordRow).where(RecordRow.subject_id == subject_id)))


def current_versions(s: Session, records: list[RecordRow]) -> dict[str, RecordVersionRow]:
    # record_id IN (…) is one scan of the (record_id, version) index; an OR of (id, version)
    # pairs costs the planner more than the lookup. Older versions are dropped here.
    if not records:
        return {}
    current = {r.id: r.current_version for r in records}
    ids = list(current)
    out: dict[str, RecordVersionRow] = {}
    for i in range(0, len(ids), 500):
        for v in s.scalars(
            select(RecordVersionRow).where(RecordVersionRow.record_id.in_(ids[i : i + 500]))
        ):
            if v.version == current[v.record_id]:
                out[v.record_id] = v
    return out


@cache
def _public_records_statement() -> Select[SubjectRow, RecordRow, RecordVersionRow]:
    """Built once (per process): building and keying it cost as much as running it."""
    today = bindparam("today", type_=Date())
    public = and_(
        RecordRow.subject_id == SubjectRow.subject_id,
        RecordRow.status == "active",
        RecordRow.openness == Openness.public.value,
        RecordRow.published,
        or_(RecordRow.decision_date.is_(None), RecordRow.decision_date <= today),
        or_(RecordRow.publication_end.is_(None), RecordRow.publication_end > today),
    )
    current = and_(
        RecordVersionRow.record_id == RecordRow.id,
        RecordVersionRow.version == RecordRow.current_version,
    )
    return (
        select(SubjectRow, RecordRow, RecordVersionRow)
        .outerjoin(RecordRow, public)
        .outerjoin(RecordVersionRow, current)
        .where(SubjectRow.subject_id == bindparam("subject_id"))
        .options(defer(RecordVersionRow.personal))  # sealed; never on the public view
    )


def _public_records(
    s: Session, subject_id: str, today: date
) -> tuple[SubjectRow, list[RecordRow], dict[str, RecordVersionRow]]:
    """The subject, its records public today and their current versions, in one statement.

    The SQL only narrows by the stable public conditions (index ix_records_subject_public);
    `is_public_now` stays the rule that decides.
    """
    params = {"subject_id": subject_id, "today": today}
    rows = s.execute(_public_records_statement(), params).all()
    if not rows:
        raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
    records: list[RecordRow] = []
    versions: dict[str, RecordVersionRow] = {}
    for _subject_row, record, version in rows:
        if record is None or not is_public_now(record, today):
            continue
        records.append(record)
        if version is not None:
            versions[record.id] = version
    return rows[0][0], records, versions


def _group(
    c: Container,
    records: list[RecordRow],
    versions: dict[str, RecordVersionRow],
    subject: SubjectRow,
    *,
    public: bool,
    today: date,
    personal: dict[str, dict[str, Any]] | None = None,
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
            public_entry(
                item,
                r,
                versions[r.id],
                subject,
                public=public,
                today=today,
                depts=depts,
                personal=(personal or {}).get(r.id, {}),
                mask_names=c.settings.mask_names_in_public_text,
            )
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


def public_entry(
    item: CatalogItem,
    r: RecordRow,
    v: RecordVersionRow,
    subject: SubjectRow,
    *,
    public: bool,
    today: date,
    depts: dict[int, str],
    personal: dict[str, Any],
    mask_names: bool = True,
) -> dict[str, Any]:
    """One record as a view shows it. On a public view (``public``) a natural person's own
    name is shown by the item's display rule, and with ``mask_names``
    (`settings.mask_names_in_public_text`) every other person's name inside free text is
    masked like a name field (`shared.person_names`; G30) — except names the record shows
    publicly anyway (`public_names`)."""
    is_person = subject.subject_type in PERSON_TYPES
    name_code = item.field_by_role("subject_name")
    person_name = (
        display_person_name(subject.name, item.display_name_rule.value) if is_person else ""
    )
    keep: tuple[str, ...] = ()
    if public and mask_names:
        rep = item.field_by_role("legal_rep")
        keep = public_names(subject, v.payload.get(rep.code) if rep is not None else None)
        if is_person and person_name == subject.name.strip():
            keep = (person_name,)  # the item shows the person's name in full (its rule)
    fields = []
    for spec in item.fields:
        if spec.code in v.payload:
            value: Any = v.payload[spec.code]
            if public and not item.is_public_field(spec.code, v.payload):
                continue
            if public and is_person and hidden_on_person_record(spec.role):
                continue  # a person's address, phone, a third party's name (G30)
            if is_person and name_code is not None and spec.code == name_code.code:
                rule = item.display_name_rule.value if public else "full"
                value = display_person_name(str(value), rule)
            # ID, phone and bank account numbers inside free text (违法事实 …) are never shown in
            # clear here, public or authorised: the structured personal fields are masked on both
            # views, and clear values are opened only by role and purpose (privacy.service,
            # disclosure log). A person's public record loses street-level address detail too.
            # Codes and labels are the catalog's own text.
            value = scrub_value(value, addresses=public and is_person)
            if public and is_person and spec.code != getattr(name_code, "code", None):
                value = mask_name_in_text(value, subject.name, person_name)
            if public and mask_names and masks_free_text(spec.type.value, spec.role):
                value = mask_person_names(value, keep=keep)  # third parties' names (G30)
            field: dict[str, Any] = {"code": spec.code, "label": spec.label, "value": value}
            if spec.role == "declared_publication_end":
                field["label"] = f"{spec.label}（报送单位填报，仅供参考）"
            if spec.type.value == "decimal":
                field["unit"] = "元"  # amounts are stored in 元 whatever unit the source used
                # the national label names the file's unit (万元); the value shown is in 元
                field["label"] = _FILE_UNIT.sub("", spec.label)
            fields.append(field)
        elif not public and spec.code in personal:
            masked = mask_personal(spec, personal[spec.code])
            fields.append({"code": spec.code, "label": spec.label, "value": masked, "masked": True})
    entry: dict[str, Any] = {
        "record_id": r.id,
        "version": r.current_version,
        "decision_date": r.decision_date.isoformat() if r.decision_date else None,
        "fields": fields,
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
        # 公示截止 as people read it: the last day published (publication_end is exclusive).
        entry["publication_last_day"] = (
            last_day(r.publication_end).isoformat() if r.publication_end else None
        )
        entry["repair_from"] = r.repair_from.isoformat() if r.repair_from else None
    if not public:
        entry["openness"] = r.openness
        entry["published"] = r.published
        entry["repaired"] = r.repaired_at is not None
        entry["unpublished_reason"] = r.unpublished_reason
        entry["unpublished_label"] = unpublished_label(r.unpublished_reason)  # 不予公示：…
        entry["publication_ended"] = bool(r.publication_end and r.publication_end <= today)
        entry["department_id"] = r.department_id
    return entry


def count_departments(s: Session) -> int:
    """Number of registered departments (used by the health page)."""
    return int(s.scalar(select(func.count()).select_from(DepartmentRow)) or 0)
