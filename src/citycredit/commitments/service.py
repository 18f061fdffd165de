"""信用承诺: record a commitment, register its outcome, list commitments, recent breaches.

A commitment is accepted by one department and is also a catalog record (item `commitment`,
CN_BH = the commitment id) stored through `ingest.service.store_platform_record`, so it appears
in the subject's archive, is versioned and enters the 信用数据链 like any department record. An
outcome corrects that record: 已履约, or 未履约 (adverse: dishonesty information that later
feeds the evaluation); a 虚假承诺 is 未履约 plus the flag and the note.

Publication of the commitment list (GET /commitments for the public), by kind:

- 主动公示型 (voluntary) and 行业自律型 (industry_self_discipline): public — they are made in
  order to be published;
- 审批替代型 (approval_substitute, 告知承诺): public — 国办发〔2019〕35号 has commitments made in
  approvals published and their fulfilment recorded in the credit record;
- 信用修复型 (repair): staff only — it belongs to a repair case and publishing it would
  advertise the dishonesty record being repaired. (Its catalog record follows the catalog item's
  own openness, which is `public` for every kind; the catalog owner may want a CN_LX rule.)

Matter: required for 审批替代型 (a 告知承诺 is made for one approval matter); optional for the
other kinds, which are not made inside an approval.

Transactions: `store_platform_record` commits on its own, so a step is two transactions. On
recording, the catalog record is stored first (its validation refuses bad values before
anything else exists) and the commitment row with its event second. On an outcome, the
commitment's transition is committed first (row lock: one outcome wins) and the record
correction second. Each transaction carries its own outbox event and ledger leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, Role, hidden_as, require
from citycredit.accounts.service import acting_department
from citycredit.bootstrap import Container
from citycredit.commitments.db import CommitmentRow
from citycredit.ingest.service import store_platform_record
from citycredit.kernel import outbox
from citycredit.ledger.entries import workflow_entry
from citycredit.lists import default_lists
from citycredit.shared.calendar import add_months, local_date
from citycredit.shared.errors import FieldError, InvalidTransition, NotFound
from citycredit.shared.idgen import new_id
from citycredit.shared.ids import scrub_personal
from citycredit.shared.masking import display_person_name
from citycredit.shared.person_names import mask_person_names, names_shown_anyway
from citycredit.subjects.db import SubjectRow

__all__ = [
    "ITEM",
    "PUBLIC_KINDS",
    "CommitmentKind",
    "CommitmentStatus",
    "Outcome",
    "breach_window",
    "create_commitment",
    "list_commitments",
    "recent_breaches",
    "record_outcome",
]

ITEM = "commitment"  # the catalog item (catalog/items/commitment.yaml)
MAX_TEXT = 1000  # CN_SY max_length
PERSON_TYPES = ("natural_person", "farm_household")


class CommitmentKind(StrEnum):
    """承诺类型 (glossary); values of CN_LX are the Chinese labels."""

    approval_substitute = "approval_substitute"  # 审批替代型
    voluntary = "voluntary"  # 主动型 / 主动公示型
    industry_self_discipline = "industry_self_discipline"  # 行业自律型
    repair = "repair"  # 信用修复型

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    CommitmentKind.approval_substitute: "审批替代型",
    CommitmentKind.voluntary: "主动公示型",
    CommitmentKind.industry_self_discipline: "行业自律型",
    CommitmentKind.repair: "信用修复型",
}
_KIND_ALIASES = {label: kind for kind, label in KIND_LABELS.items()} | {
    "主动型": CommitmentKind.voluntary
}
PUBLIC_KINDS = frozenset(
    {
        CommitmentKind.voluntary,
        CommitmentKind.industry_self_discipline,
        CommitmentKind.approval_substitute,
    }
)
MATTER_REQUIRED = frozenset({CommitmentKind.approval_substitute})


class CommitmentStatus(StrEnum):
    """履约状态 (CN_LYZT)."""

    in_progress = "in_progress"  # 履约中
    fulfilled = "fulfilled"  # 已履约
    breached = "breached"  # 未履约

    @property
    def label(self) -> str:
        return {"in_progress": "履约中", "fulfilled": "已履约", "breached": "未履约"}[self.value]


class Outcome(StrEnum):
    """The result of a fulfilment check."""

    fulfilled = "fulfilled"
    breached = "breached"
    false = "false"  # 虚假承诺: breached and flagged


_OUTCOME_STATUS = {
    Outcome.fulfilled: CommitmentStatus.fulfilled,
    Outcome.breached: CommitmentStatus.breached,
    Outcome.false: CommitmentStatus.breached,
}
# Outcomes are registered once, from 履约中; fulfilled and breached are final.
TRANSITIONS = {
    CommitmentStatus.in_progress: frozenset(CommitmentStatus) - {CommitmentStatus.in_progress},
    CommitmentStatus.fulfilled: frozenset[CommitmentStatus](),
    CommitmentStatus.breached: frozenset[CommitmentStatus](),
}


def parse_kind(raw: str) -> CommitmentKind:
    """A kind by code or Chinese name (主动型 = 主动公示型)."""
    value = (raw or "").strip()
    found = next((k for k in CommitmentKind if k.value == value), None) or _KIND_ALIASES.get(value)
    if found is None:
        allowed = "、".join(f"{k.value}（{k.label}）" for k in CommitmentKind)
        raise FieldError("kind", raw, "invalid_kind", f"承诺类型应为：{allowed}")
    return found


def parse_outcome(raw: str) -> Outcome:
    """fulfilled | breached | false."""
    found = next((o for o in Outcome if o.value == (raw or "").strip()), None)
    if found is None:
        raise FieldError(
            "result", raw, "invalid_result", "核查结果应为 fulfilled、breached 或 false（虚假承诺）"
        )
    return found


def _subject(s: Session, subject_id: str) -> SubjectRow:
    row = s.get(SubjectRow, subject_id)
    if row is None:
        raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
    return row


def _matter(kind: CommitmentKind, matter: str | None) -> str | None:
    code = (matter or "").strip() or None
    if code is None:
        if kind in MATTER_REQUIRED:
            raise FieldError(
                "matter", matter, "required", f"{kind.label}承诺须注明所涉事项（事项清单编码）"
            )
        return None
    if code not in default_lists().matters:
        known = "、".join(default_lists().matters)
        raise FieldError("matter", code, "unknown_matter", f"事项清单中没有该事项，可用：{known}")
    return code


def _record_values(
    row: CommitmentRow, subject: SubjectRow, dept_name: str, status: CommitmentStatus
) -> dict[str, str | None]:
    """The commitment as a catalog row (CN_*); the same CN_BH makes an outcome a correction."""
    kind = CommitmentKind(row.kind)
    values: dict[str, str | None] = {
        "CN_MC": subject.name,
        "CN_LX": kind.label,
        "CN_SY": row.text,
        "CN_BH": row.id,
        "CN_RQ": row.made_on.isoformat(),
        "CN_SLDW": dept_name,
        "CN_LYZT": status.label,
    }
    if subject.uscc and subject.subject_type not in PERSON_TYPES:
        values["CN_SHXYM"] = subject.uscc
    if row.checked_on is not None:
        values["CN_LYRQ"] = row.checked_on.isoformat()
    return values


def _ledger(c: Container, row: CommitmentRow, step: str, at: Any, **extra: Any) -> dict[str, Any]:
    fields = {
        "kind": row.kind,
        "matter": row.matter,
        "text": row.text,
        "made_on": row.made_on.isoformat(),
        "department_id": row.department_id,
        "status": row.status,
        "false_commitment": row.false_commitment,
        "checked_on": row.checked_on.isoformat() if row.checked_on else None,
        "note": row.outcome_note,
        "record_id": row.record_id,
        **extra,
    }
    entry = workflow_entry(
        c.settings.ledger_suite,
        entry_type=f"commitment.{step}",
        ref=f"{row.id}/{step}",
        subject_id=row.subject_id,
        fields=fields,
        at=at,
    )
    return entry.as_payload()


def create_commitment(
    c: Container,
    actor: Principal,
    *,
    subject_id: str,
    kind: str,
    text: str,
    made_on: date,
    matter: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    """Record a commitment made by a subject and accepted by the actor's department."""
    require(actor, Permission.submit_records)
    parsed = parse_kind(kind)
    matter_code = _matter(parsed, matter)
    body = (text or "").strip()
    if len(body) < 2:
        raise FieldError("text", text, "required", "须填写承诺内容（text）")
    if len(body) > MAX_TEXT:
        raise FieldError("text", body, "too_long", f"承诺内容不能超过 {MAX_TEXT} 字")
    now = c.clock.now()
    if made_on > local_date(now):
        raise FieldError("made_on", made_on.isoformat(), "future_date", "承诺日期不能晚于今天")
    with c.uow() as uow:
        s = uow.session
        dept = acting_department(s, actor, department)
        require(actor, Permission.submit_records, department_id=dept.id)
        subject = _subject(s, subject_id)
        row = CommitmentRow(
            id=new_id("cm"),
            subject_id=subject.subject_id,
            kind=parsed.value,
            matter=matter_code,
            text=body,
            made_on=made_on,
            department_id=dept.id,
            public=parsed in PUBLIC_KINDS,
            status=CommitmentStatus.in_progress.value,
            false_commitment=False,
            recorded_by=actor.label,
            created_at=now,
            updated_at=now,
        )
        values = _record_values(row, subject, dept.name, CommitmentStatus.in_progress)
        dept_id, dept_name = dept.id, dept.name
    # First transaction: the catalog record (validated like any department's row).
    _, record_id = store_platform_record(
        c, actor, department_id=dept_id, item_code=ITEM, subject_id=subject_id, values=values
    )
    row.record_id = record_id
    # Second transaction: the commitment and its event.
    with c.uow() as uow:
        s = uow.session
        s.add(row)
        outbox.emit(
            s,
            event_type="commitment.recorded",
            aggregate_type="commitment",
            aggregate_id=row.id,
            subject_id=row.subject_id,
            at=now,
            payload={
                "kind": row.kind,
                "matter": row.matter,
                "department_id": dept_id,
                "record_id": record_id,
                "public": row.public,
                "ledger": _ledger(c, row, "recorded", now),
            },
        )
        uow.commit()
        return _view(row, subject, dept_name)


def record_outcome(
    c: Container,
    actor: Principal,
    commitment_id: str,
    *,
    result: str,
    checked_on: date,
    note: str | None = None,
) -> dict[str, Any]:
    """The accepting department's fulfilment check: fulfilled, breached or false (虚假承诺).

    Another department's commitment answers like a missing one (G8)."""
    require(actor, Permission.submit_records)
    outcome = parse_outcome(result)
    note = (note or "").strip() or None
    if outcome is Outcome.false and note is None:
        raise FieldError("note", note, "required", "认定虚假承诺须说明事实（note）")
    now = c.clock.now()
    if checked_on > local_date(now):
        raise FieldError(
            "checked_on", checked_on.isoformat(), "future_date", "核查日期不能晚于今天"
        )
    target = _OUTCOME_STATUS[outcome]
    with c.uow() as uow:
        s = uow.session
        missing = NotFound(f"信用承诺 {commitment_id} 不存在", code="commitment_not_found")
        row = s.get(CommitmentRow, commitment_id, with_for_update=True)
        if row is None:
            raise missing
        with hidden_as(missing):  # another department's commitment looks missing (G8)
            require(actor, Permission.submit_records, department_id=row.department_id)
        current = CommitmentStatus(row.status)
        if target not in TRANSITIONS[current]:
            raise InvalidTransition(
                f"承诺已核查（{current.label}），不能再登记为{target.label}", code="already_checked"
            )
        if checked_on < row.made_on:
            raise FieldError(
                "checked_on",
                checked_on.isoformat(),
                "before_commitment",
                "核查日期不能早于承诺日期",
            )
        row.status = target.value
        row.false_commitment = outcome is Outcome.false
        row.checked_on = checked_on
        row.outcome_note = note
        row.updated_at = now
        outbox.emit(
            s,
            event_type=f"commitment.{outcome.value}",
            aggregate_type="commitment",
            aggregate_id=row.id,
            subject_id=row.subject_id,
            at=now,
            payload={
                "result": outcome.value,
                "status": row.status,
                "false_commitment": row.false_commitment,
                "checked_on": checked_on.isoformat(),
                "department_id": row.department_id,
                "record_id": row.record_id,
                "adverse": target is CommitmentStatus.breached,
                "ledger": _ledger(c, row, outcome.value, now),
            },
        )
        subject = _subject(s, row.subject_id)
        dept = s.get(DepartmentRow, row.department_id)
        dept_name = dept.name if dept is not None else ""
        values = _record_values(row, subject, dept_name, target)
        uow.commit()
    # The catalog record is corrected (same CN_BH → new version): 已履约 or 未履约 (adverse).
    store_platform_record(
        c,
        actor,
        department_id=row.department_id,
        item_code=ITEM,
        subject_id=row.subject_id,
        values=values,
    )
    return _view(row, subject, dept_name)


def list_commitments(
    c: Container, actor: Principal, *, subject_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Public: a subject's commitments of public kinds. Staff: their department's, every kind.

    The credit office sees every commitment. Names of natural persons are masked and ID or
    phone numbers in free text are scrubbed for every caller.
    """
    require(actor, Permission.read_public)
    limit = max(1, min(limit, 1000))
    stmt = select(CommitmentRow, SubjectRow, DepartmentRow).join(
        SubjectRow, SubjectRow.subject_id == CommitmentRow.subject_id
    )
    stmt = stmt.join(DepartmentRow, DepartmentRow.id == CommitmentRow.department_id)
    if subject_id:
        stmt = stmt.where(CommitmentRow.subject_id == subject_id)
    if actor.role is Role.department_staff:
        stmt = stmt.where(CommitmentRow.department_id == actor.department_id)
    elif actor.role is not Role.credit_office_admin:
        if not subject_id:
            raise FieldError("subject_id", subject_id, "required", "请指定主体（subject_id）")
        stmt = stmt.where(CommitmentRow.public.is_(True))
    stmt = stmt.order_by(CommitmentRow.made_on.desc(), CommitmentRow.created_at.desc())
    with c.uow() as uow:
        rows = uow.session.execute(stmt.limit(limit)).all()
        # staff of the accepting department and the credit office read the text in clear
        public = c.settings.mask_names_in_public_text and actor.role not in (
            Role.department_staff,
            Role.credit_office_admin,
        )
        return [_view(r, subj, dept.name, public=public) for r, subj, dept in rows]


def _longest_exclusion() -> int:
    months = [
        m.fast_approval.breach_exclusion_months or 0 for m in default_lists().matters.values()
    ]
    return max(months, default=0)


def recent_breaches(session: Session, subject_id: str, today: date) -> list[date]:
    """Days a commitment of the subject was found breached (or false), oldest first.

    Limited to the longest `breach_exclusion_months` of any matter; each matter's rule then
    applies its own window (lists.matching.eligibility).
    """
    window = breach_window(today)
    if window is None:
        return []
    since, until = window
    stmt = select(CommitmentRow.checked_on).where(
        CommitmentRow.subject_id == subject_id,
        CommitmentRow.status == CommitmentStatus.breached.value,
        CommitmentRow.checked_on.is_not(None),
        CommitmentRow.checked_on <= until,
        CommitmentRow.checked_on >= since,
    )
    return sorted(d for d in session.scalars(stmt) if d is not None)


def breach_window(today: date) -> tuple[date, date] | None:
    """(first, last day) in which a breach counts for `recent_breaches`; None: no matter
    excludes breaches. Also read by the credit check's one-statement standing read
    (checks.standing), so both use the same window."""
    months = _longest_exclusion()
    if not months:
        return None
    return add_months(today, -months), today


@dataclass(frozen=True)
class _Names:
    subject: str
    matter: str | None
    person: str | None  # a natural person's full name, masked wherever free text repeats it


def _names(row: CommitmentRow, subject: SubjectRow) -> _Names:
    is_person = subject.subject_type in PERSON_TYPES
    name = display_person_name(subject.name, "surname_masked") if is_person else subject.name
    matter = default_lists().matters.get(row.matter) if row.matter else None
    person = subject.name.strip() if is_person and subject.name.strip() else None
    return _Names(name, matter.name if matter is not None else None, person)


def _scrub(text: str, names: _Names, *, keep: tuple[str, ...] | None = None) -> str:
    """ID, phone and bank account numbers out; a person's own name masked as in `subject_name`
    and street-level address detail hidden (G30). With ``keep`` (public callers, setting
    `mask_names_in_public_text`): every other person's name masked too (刘芳芳 → 刘**), except
    the names in ``keep`` (an organisation's own name and 法定代表人, public anyway)."""
    out = scrub_personal(text, addresses=names.person is not None)
    out = out.replace(names.person, names.subject) if names.person else out
    return mask_person_names(out, keep=keep) if keep is not None else out


def _view(
    row: CommitmentRow, subject: SubjectRow, dept_name: str, *, public: bool = False
) -> dict[str, Any]:
    """A commitment as answered to every caller (masked name, scrubbed text); to the public
    (``public``) other persons' names in its text masked too."""
    names = _names(row, subject)
    keep = (
        names_shown_anyway(subject.subject_type in PERSON_TYPES, subject.name, subject.legal_rep)
        if public
        else None
    )
    kind, status = CommitmentKind(row.kind), CommitmentStatus(row.status)
    status_label = status.label + ("（虚假承诺）" if row.false_commitment else "")
    return {
        "commitment_id": row.id,
        "subject_id": row.subject_id,
        "subject_name": names.subject,
        "kind": kind.value,
        "kind_label": kind.label,
        "matter": row.matter,
        "matter_name": names.matter,
        "text": _scrub(row.text, names, keep=keep),
        "made_on": row.made_on.isoformat(),
        "department": dept_name,
        "public": row.public,
        "status": status.value,
        "status_label": status_label,
        "adverse": status is CommitmentStatus.breached,
        "false_commitment": row.false_commitment,
        "checked_on": row.checked_on.isoformat() if row.checked_on else None,
        "note": _scrub(row.outcome_note, names, keep=keep) if row.outcome_note else None,
        "record_id": row.record_id,
    }
