"""自主公示: a subject publishes positive information about itself (honours, certifications,
public-interest work, contracts kept) through its credit account.

Each disclosure is a catalog record of the item ``self_disclosure`` (category 经营主体自愿提供的
信用信息), stored through `ingest.service.store_platform_record` with the credit office as the
receiving unit: it is validated like a department's row, versioned, written to the outbox and
the 信用数据链, shown on the public archive inside its validity, and shared like any record. The
record itself says 核实状态 未核实 until the credit office has checked the evidence:

    unverified ──verify──▶ verified
        │ │                  │
        │ └──reject──────────┼──▶ rejected   (found untrue: 虚假立信; the record is withdrawn)
        └──withdraw──────────┴──▶ withdrawn  (by the subject, at any time)

Verifying is a correction of the record (a new version with 核实状态 已核实); rejecting and
withdrawing withdraw the record (a tombstone version with the reason). The subject is told of
every decision in its inbox, the credit office of every new disclosure. No evaluation model
reads this item: self-declared information never moves a grade (a department's honour or
red-list record does). A disclosure found untrue is not turned into a dishonesty record here:
the catalog has no item for 信用警示, and information outside the catalog may not enter a credit
record (rules.md §4.1); the rejection and its reason stay in the record's history.

Transactions: like commitments (`commitments/service.py`), the record is stored first (its
validation refuses bad values before anything else exists), the disclosure row second.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Principal, Role, hidden_as, require_subject_access
from citycredit.bootstrap import Container
from citycredit.ingest.service import current_values, store_platform_record, withdraw_record
from citycredit.kernel import outbox
from citycredit.rights.cases import required_text
from citycredit.rights.db import SelfDisclosureRow
from citycredit.rights.notices import CREDIT_OFFICE, DEFAULT_NOTIFIER, SUBJECT, Notice
from citycredit.rights.objections import require_subject_side
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow

ITEM = "self_disclosure"
KINDS: dict[str, str] = {
    "honour": "荣誉表彰",
    "certification": "资质认证",
    "public_interest": "社会公益",
    "performance": "履约守信",
    "other": "其他守信信息",
}
UNVERIFIED, VERIFIED, WITHDRAWN, REJECTED = "unverified", "verified", "withdrawn", "rejected"
STATUS_LABELS = {
    UNVERIFIED: "未核实",
    VERIFIED: "已核实",
    WITHDRAWN: "已撤回",
    REJECTED: "经核实不实，已撤下",
}
_OPEN = (UNVERIFIED, VERIFIED)


def _bound_subject(actor: Principal) -> str:
    """The subject a bound account acts for when it names none (`rights.account.my_subject`)."""
    from citycredit.rights.account import my_subject  # account imports this module

    return my_subject(actor, None)


def _require_office(actor: Principal) -> None:
    if actor.role is not Role.credit_office_admin and not actor.console:
        raise PermissionDenied("只有信用办可以核实自主公示信息", code="forbidden")


def _receiving_unit(s: Session) -> DepartmentRow:
    dept = s.scalar(
        select(DepartmentRow)
        .where(DepartmentRow.kind == "credit_office")
        .order_by(DepartmentRow.id)
    )
    if dept is None:
        raise NotFound(
            "平台尚未登记信用办（kind=credit_office 的部门），不能接收自主公示",
            code="credit_office_missing",
        )
    return dept


def _parse_day(field: str, value: date | str | None, *, required: bool) -> date | None:
    if value is None or value == "":
        if required:
            raise FieldError(field, "", "required", f"必须填写 {field}（YYYY-MM-DD）")
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise FieldError(field, str(value), "invalid_date", "日期格式应为 YYYY-MM-DD") from exc


def view(row: SelfDisclosureRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "subject_id": row.subject_id,
        "record_id": row.record_id,
        "kind": row.kind,
        "kind_label": KINDS.get(row.kind, row.kind),
        "title": row.title,
        "status": row.status,
        "status_label": STATUS_LABELS[row.status],
        "filed_by": row.filed_by,
        "decided_by": row.decided_by,
        "decision_note": row.decision_note,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "created_at": row.created_at.isoformat(),
    }


def publish(
    c: Container,
    actor: Principal,
    *,
    subject_id: str | None,
    kind: str,
    title: str,
    obtained_on: date | str | None,
    issuer: str | None = None,
    valid_until: date | str | None = None,
    content: str | None = None,
    evidence: str | None = None,
) -> dict[str, Any]:
    """Publish one item of positive information: the subject's account (its only bound subject
    when ``subject_id`` is None) or the window naming the subject."""
    if subject_id is None:
        subject_id = _bound_subject(actor)
    require_subject_access(actor, subject_id, office=True)
    if kind not in KINDS:
        raise FieldError("kind", kind, "unknown_kind", f"可选：{'、'.join(KINDS)}")
    title = required_text("title", title, "公示事项")
    day = _parse_day("obtained_on", obtained_on, required=True)
    until = _parse_day("valid_until", valid_until, required=False)
    now = c.clock.now()
    if until is not None and day is not None and until < day:
        raise FieldError(
            "valid_until", until.isoformat(), "before_start", "有效期至不能早于取得日期"
        )
    if until is not None and until < local_date(now):
        raise FieldError("valid_until", until.isoformat(), "expired", "已过期的信息不能公示")
    with c.uow() as uow:
        s = uow.session
        subject = s.get(SubjectRow, subject_id)
        if subject is None:
            raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
        dept_id = _receiving_unit(s).id
        name, uscc = subject.name, subject.uscc
    disclosure_id = new_id("zz")
    values: dict[str, str | None] = {
        "ZZ_BH": disclosure_id,
        "ZZ_MC": name,
        "ZZ_SHXYM": uscc,
        "ZZ_LX": KINDS[kind],
        "ZZ_BT": title,
        "ZZ_FZJG": (issuer or "").strip() or None,
        "ZZ_RQ": day.isoformat() if day else None,
        "ZZ_YXQZ": until.isoformat() if until else None,
        "ZZ_NR": (content or "").strip() or None,
        "ZZ_ZMCL": (evidence or "").strip() or None,
        "ZZ_ZT": "未核实",
    }
    # First transaction: the catalog record (validated like any department's row).
    _, record_id = store_platform_record(
        c,
        actor,
        department_id=dept_id,
        item_code=ITEM,
        subject_id=subject_id,
        values=values,
        for_subject=True,
    )
    # Second transaction: the disclosure, its event and the credit office's notice.
    with c.uow() as uow:
        s = uow.session
        row = SelfDisclosureRow(
            id=disclosure_id,
            subject_id=subject_id,
            record_id=record_id,
            kind=kind,
            title=title[:200],
            status=UNVERIFIED,
            filed_by=actor.label,
            filed_by_user_id=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        _emit(s, row, "self_disclosure.published", now)
        DEFAULT_NOTIFIER.send(
            s,
            Notice(
                CREDIT_OFFICE,
                "credit_office",
                "self_disclosure",
                f"新的自主公示待核实：{title}",
                f"主体 {name} 自主公示「{title}」（{KINDS[kind]}），请核实证明材料。",
                "self_disclosure",
                row.id,
            ),
            at=now,
        )
        uow.commit()
        return view(row)


def _emit(s: Session, row: SelfDisclosureRow, event_type: str, at: Any) -> None:
    outbox.emit(
        s,
        event_type=event_type,
        aggregate_type="self_disclosure",
        aggregate_id=row.id,
        subject_id=row.subject_id,
        at=at,
        payload={"record_id": row.record_id, "kind": row.kind, "status": row.status},
    )


def _load(s: Session, disclosure_id: str) -> SelfDisclosureRow:
    row = s.get(SelfDisclosureRow, disclosure_id, with_for_update=True)
    if row is None:
        raise NotFound(f"自主公示 {disclosure_id} 不存在", code="disclosure_not_found")
    return row


def _transition(row: SelfDisclosureRow, action: str, allowed: tuple[str, ...]) -> None:
    if row.status not in allowed:
        raise InvalidTransition(
            f"自主公示 {row.id} 当前为「{STATUS_LABELS[row.status]}」，不能{action}",
            code="invalid_transition",
        )


def _decide(
    c: Container,
    actor: Principal,
    disclosure_id: str,
    *,
    to: str,
    note: str | None,
    allowed: tuple[str, ...],
    action: str,
    notice: tuple[str, str] | None,
) -> dict[str, Any]:
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, disclosure_id)
        _transition(row, action, allowed)
        row.status, row.updated_at = to, now
        row.decided_by, row.decision_note, row.decided_at = actor.label, note, now
        _emit(s, row, f"self_disclosure.{to}", now)
        if notice is not None:
            DEFAULT_NOTIFIER.send(
                s,
                Notice(
                    SUBJECT, row.subject_id, "self_disclosure", *notice, "self_disclosure", row.id
                ),
                at=now,
            )
        uow.commit()
        return view(row)


def _check_open(
    c: Container, disclosure_id: str, action: str, actor: Principal | None = None
) -> SelfDisclosureRow:
    """The open disclosure; with ``actor``, only the subject's (another subject's disclosure
    answers like a missing one, before its status is looked at: G8)."""
    with c.uow() as uow:
        missing = NotFound(f"自主公示 {disclosure_id} 不存在", code="disclosure_not_found")
        row = uow.session.get(SelfDisclosureRow, disclosure_id)
        if row is None:
            raise missing
        if actor is not None:
            with hidden_as(missing):
                require_subject_access(actor, row.subject_id, office=True)
        _transition(row, action, _OPEN)
        uow.session.expunge(row)
        return row


def withdraw(
    c: Container, actor: Principal, disclosure_id: str, reason: str | None = None
) -> dict[str, Any]:
    """The subject takes its disclosure down (at any time, no reason needed)."""
    require_subject_side(actor, "只能撤回本主体的自主公示")
    row = _check_open(c, disclosure_id, "撤回", actor)
    text = (reason or "").strip() or "主体撤回自主公示"
    withdraw_record(c, actor, row.record_id, text, for_subject=True)
    return _decide(
        c, actor, disclosure_id, to=WITHDRAWN, note=text, allowed=_OPEN, action="撤回", notice=None
    )


def verify(
    c: Container, actor: Principal, disclosure_id: str, note: str | None = None
) -> dict[str, Any]:
    """The credit office has checked the evidence: the record now says 已核实."""
    _require_office(actor)
    row = _check_open(c, disclosure_id, "核实")
    _transition(row, "核实", (UNVERIFIED,))
    with c.uow() as uow:
        current = current_values(uow.session, row.record_id)
        dept_id = _receiving_unit(uow.session).id
    if current is None:
        raise Conflict(f"自主公示 {disclosure_id} 的记录已撤销", code="record_withdrawn")
    values = {k: (None if v is None else str(v)) for k, v in current[2].items()}
    values["ZZ_ZT"] = "已核实"
    store_platform_record(
        c, actor, department_id=dept_id, item_code=ITEM, subject_id=row.subject_id, values=values
    )
    return _decide(
        c,
        actor,
        disclosure_id,
        to=VERIFIED,
        note=(note or "").strip() or None,
        allowed=(UNVERIFIED,),
        action="核实",
        notice=(f"自主公示已核实：{row.title}", f"您自主公示的「{row.title}」已经信用办核实。"),
    )


def reject(c: Container, actor: Principal, disclosure_id: str, reason: str) -> dict[str, Any]:
    """Found untrue (虚假立信): the record is withdrawn with the reason; the subject is told."""
    _require_office(actor)
    text = required_text("reason", reason, "不实的理由")
    row = _check_open(c, disclosure_id, "撤下")
    withdraw_record(c, actor, row.record_id, f"自主公示经核实不实：{text}")
    return _decide(
        c,
        actor,
        disclosure_id,
        to=REJECTED,
        note=text,
        allowed=_OPEN,
        action="撤下",
        notice=(
            f"自主公示经核实不实，已撤下：{row.title}",
            f"您自主公示的「{row.title}」经信用办核实与事实不符，已撤下。理由：{text}。"
            "如有异议，可提交证明材料申请复核。",
        ),
    )


def get_disclosure(c: Container, actor: Principal, disclosure_id: str) -> dict[str, Any]:
    """One disclosure: its subject's account or the credit office; another subject's answers
    like a missing one (G8)."""
    require_subject_side(actor, "只能查看本主体的自主公示")
    with c.uow() as uow:
        missing = NotFound(f"自主公示 {disclosure_id} 不存在", code="disclosure_not_found")
        row = uow.session.get(SelfDisclosureRow, disclosure_id)
        if row is None:
            raise missing
        if actor.role is not Role.credit_office_admin and not actor.console:
            with hidden_as(missing):
                require_subject_access(actor, row.subject_id)
        return view(row)


def list_disclosures(
    c: Container, actor: Principal, *, subject_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """The credit office's queue (any subject), or one subject's own disclosures."""
    if status is not None and status not in STATUS_LABELS:
        raise FieldError("status", status, "unknown_status", f"可选：{'、'.join(STATUS_LABELS)}")
    office = actor.role is Role.credit_office_admin or actor.console
    if not office:
        if subject_id is None:
            subject_id = _bound_subject(actor)
        require_subject_access(actor, subject_id)
    stmt = select(SelfDisclosureRow).order_by(SelfDisclosureRow.created_at, SelfDisclosureRow.id)
    if subject_id is not None:
        stmt = stmt.where(SelfDisclosureRow.subject_id == subject_id)
    if status is not None:
        stmt = stmt.where(SelfDisclosureRow.status == status)
    with c.uow() as uow:
        return [view(r) for r in uow.session.scalars(stmt.limit(1000))]
