"""名单: one membership model, two origins.

External memberships (courts, tax, SAMR …) arrive through intake (lists.consumer) already
published with their own dates. Local memberships run the workflow here:

    propose → notify (告知) → decide (after the objection window, no pending objection)
            → publish (never without prior notice) → expire (lists_expiry sweep) | exit early

Who may act: the proposing department (its staff) runs every step of its own proposals, and
the 市信用办 (credit office admin) may run any step; staff of another department may not. Only a
department named in the list type's `departments` may propose. Every step is a
`membership_events` row and an outbox event carrying a 信用数据链 leaf, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple, TypeVarTuple, cast

from sqlalchemy import ColumnElement, Select, bindparam, extract, func, not_, select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, hidden_as, require
from citycredit.accounts.service import acting_department
from citycredit.bootstrap import Container
from citycredit.catalog.model import Openness
from citycredit.ingest.db import RecordRow
from citycredit.ingest.withhold import WithholdReason
from citycredit.kernel import outbox
from citycredit.ledger.entries import workflow_entry
from citycredit.lists.db import MembershipEventRow, MembershipRow
from citycredit.lists.loader import default_lists
from citycredit.lists.matching import (
    ADULT_AGE,
    advance,
    applicable_measures,
    can_decide,
    exit_allowed,
    expires_on,
    measure_view,
    notice_deadline,
    public_entry,
)
from citycredit.lists.model import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    ExitCode,
    ListCatalog,
    ListKind,
    ListType,
    Membership,
    MembershipStatus,
    Origin,
)
from citycredit.lists.paging import Cursor, count_stamp, public_counts
from citycredit.rights.db import ObjectionRow
from citycredit.rights.model import OPEN as OPEN_OBJECTIONS
from citycredit.rights.model import TargetType
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import FieldError, InvalidTransition, NotFound, PermissionDenied
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow

S = MembershipStatus
PERSON_TYPES = ("natural_person", "farm_household")  # subjects.model.SubjectType values
RIGHTS = (
    "当事人可在告知期内向认定部门提出陈述、申辩或异议；认定部门应予核实并答复。"
    "列入后可依法申请行政复议、提起行政诉讼，符合条件的可申请信用修复。"
)


def lists_catalog() -> ListCatalog:
    """The list types, measures and matters in force (lists/data)."""
    return default_lists()


# ---------------------------------------------------------------------------------------------
# Reads for other areas


def to_model(row: MembershipRow) -> Membership:
    """The pure model of a stored membership."""
    return Membership(
        list_type=row.list_type,
        subject_id=row.subject_id,
        origin=Origin(row.origin),
        status=S(row.status),
        reasons=row.reasons or "",
        decision_no=row.decision_no,
        proposing_department=str(row.department_id) if row.department_id is not None else None,
        proposed_on=row.proposed_on,
        noticed_on=row.noticed_on,
        decided_on=row.decided_on,
        published_on=row.published_on,
        expires_on=row.expires_on,
        ended_on=row.ended_on,
        period_months=row.period_months,
        objection_pending=row.objection_pending,
        exit_code=ExitCode(row.exit_code) if row.exit_code else None,
        exit_reason=row.exit_reason,
    )


def active_memberships(session: Session, subject_id: str, today: date) -> list[Membership]:
    """A subject's memberships in force on ``today`` (decided or published, not yet expired)."""
    rows = session.scalars(
        select(MembershipRow)
        .where(
            MembershipRow.subject_id == subject_id,
            MembershipRow.status.in_([s.value for s in ACTIVE_STATUSES]),
        )
        .order_by(MembershipRow.created_at, MembershipRow.id)
    )
    out = [to_model(r) for r in rows]
    return [m for m in out if m.is_active(today)]


class SubjectHead(NamedTuple):
    """What a credit check shows of its subject."""

    subject_id: str
    subject_type: str
    name: str


# What to_model reads of a membership row (plus the id, NULL when the subject has none).
_MODEL_COLUMNS = (
    "id",
    "list_type",
    "subject_id",
    "origin",
    "status",
    "reasons",
    "decision_no",
    "department_id",
    "proposed_on",
    "noticed_on",
    "decided_on",
    "published_on",
    "expires_on",
    "ended_on",
    "period_months",
    "objection_pending",
    "exit_code",
    "exit_reason",
)
MODEL_COLUMNS = _MODEL_COLUMNS  # also read by checks.standing (the check's one-statement read)


@cache
def _subject_memberships_statement() -> Select[Any]:
    """Built once: a check runs it per request, and building it cost more than running it."""
    m = MembershipRow.__table__.c
    return (
        select(
            SubjectRow.subject_id.label("head_id"),
            SubjectRow.subject_type.label("head_type"),
            SubjectRow.name.label("head_name"),
            *(m[name] for name in _MODEL_COLUMNS),
        )
        .select_from(SubjectRow)
        .outerjoin(
            MembershipRow,
            (MembershipRow.subject_id == SubjectRow.subject_id)
            & MembershipRow.status.in_(sorted(s.value for s in ACTIVE_STATUSES)),
        )
        .where(SubjectRow.subject_id == bindparam("subject_id"))
        .order_by(MembershipRow.created_at, MembershipRow.id)
    )


def subject_with_memberships(
    session: Session, subject_id: str, today: date
) -> tuple[SubjectHead | None, list[Membership]]:
    """A subject and its memberships in force on ``today``, in one statement (credit checks).

    Same memberships, in the same order, as `active_memberships`; (None, []) if no such subject.
    Plain columns on the session's connection rather than ORM entities: this runs per check.
    """
    rows = (
        session.connection()
        .execute(_subject_memberships_statement(), {"subject_id": subject_id})
        .all()
    )
    if not rows:
        return None, []
    head = SubjectHead(rows[0].head_id, rows[0].head_type, rows[0].head_name)
    found = [to_model(cast(MembershipRow, r)) for r in rows if r.id is not None]
    return head, [x for x in found if x.is_active(today)]


def membership_view(row: MembershipRow, events: list[MembershipEventRow]) -> dict[str, Any]:
    """Staff view of one membership with its steps."""
    return {
        "id": row.id,
        "list_type": row.list_type,
        "subject_id": row.subject_id,
        "origin": row.origin,
        "status": row.status,
        "department_id": row.department_id,
        "record_id": row.record_id,
        "reasons": row.reasons,
        "document_no": row.document_no,
        "decision_no": row.decision_no,
        "proposed_on": _iso(row.proposed_on),
        "noticed_on": _iso(row.noticed_on),
        "objection_due": _iso(row.objection_due),
        "objection_pending": row.objection_pending,
        "notice": row.notice or {},
        "decided_on": _iso(row.decided_on),
        "published_on": _iso(row.published_on),
        "expires_on": _iso(row.expires_on),
        "ended_on": _iso(row.ended_on),
        "period_months": row.period_months,
        "exit_code": row.exit_code,
        "exit_reason": row.exit_reason,
        "events": [
            {
                "from": e.from_status,
                "to": e.to_status,
                "action": e.action,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "note": e.note,
                "ledger_ref": e.ledger_ref,
            }
            for e in events
        ],
    }


def get_membership(c: Container, actor: Principal, membership_id: str) -> dict[str, Any]:
    """A membership and its steps (its department, or the credit office)."""
    with c.uow() as uow:
        row = _load(uow.session, actor, membership_id)
        return membership_view(row, _events(uow.session, row.id))


# ---------------------------------------------------------------------------------------------
# Writing steps (shared by the local workflow, the intake consumer and the sweep)


def record_step(
    c: Container,
    s: Session,
    row: MembershipRow,
    *,
    action: str,
    from_status: str | None,
    actor: str,
    at: datetime,
    note: str = "",
) -> MembershipEventRow:
    """Time-stamp a step and emit its outbox event with a ledger leaf (same transaction)."""
    row.updated_at = at
    s.flush()
    n = len(_events(s, row.id)) + 1
    ref = f"{row.id}/{n}/{action}"
    event = MembershipEventRow(
        membership_id=row.id,
        from_status=from_status,
        to_status=row.status,
        action=action,
        at=at,
        actor=actor,
        note=note,
        ledger_ref=ref,
    )
    s.add(event)
    fields: dict[str, Any] = {
        "list_type": row.list_type,
        "origin": row.origin,
        "from": from_status,
        "to": row.status,
        "action": action,
        "actor": actor,
        "note": note or None,
        "reasons": row.reasons or None,
        "document_no": row.document_no,
        "decision_no": row.decision_no,
        "decided_on": _iso(row.decided_on),
        "published_on": _iso(row.published_on),
        "expires_on": _iso(row.expires_on),
        "exit_code": row.exit_code,
        "record_id": row.record_id,
    }
    entry = workflow_entry(
        c.settings.ledger_suite,
        entry_type="list.membership",
        ref=ref,
        subject_id=row.subject_id,
        fields=fields,
        at=at,
    )
    outbox.emit(
        s,
        event_type=f"membership.{action}",
        aggregate_type="membership",
        aggregate_id=row.id,
        subject_id=row.subject_id,
        at=at,
        payload={
            "list_type": row.list_type,
            "origin": row.origin,
            "from": from_status,
            "to": row.status,
            "ledger": entry.as_payload(),
        },
    )
    return event


def store_model(row: MembershipRow, m: Membership) -> None:
    """Copy the pure model's state back onto the row."""
    row.status = m.status.value
    row.reasons = m.reasons
    row.decision_no = m.decision_no
    row.proposed_on = m.proposed_on
    row.noticed_on = m.noticed_on
    row.decided_on = m.decided_on
    row.published_on = m.published_on
    row.expires_on = m.expires_on
    row.ended_on = m.ended_on
    row.period_months = m.period_months
    row.objection_pending = m.objection_pending
    row.exit_code = m.exit_code.value if m.exit_code else None
    row.exit_reason = m.exit_reason


def _transition(
    c: Container,
    s: Session,
    row: MembershipRow,
    target: MembershipStatus,
    *,
    action: str,
    actor: str,
    note: str = "",
    today: date | None = None,
    **changes: Any,
) -> None:
    """Apply one state-machine step (advance raises InvalidTransition) and record it."""
    now = c.clock.now()
    day = today or local_date(now)
    current = _model(row)
    moved = advance(current, target, day, **changes)
    before = row.status
    store_model(row, moved)
    record_step(c, s, row, action=action, from_status=before, actor=actor, at=now, note=note)


def _model(row: MembershipRow) -> Membership:
    """The model of a row that may still move (final rows refuse every step)."""
    if S(row.status) in FINAL_STATUSES:
        raise InvalidTransition(f"名单记录 {row.id} 已是终态（{row.status}），不能再变更")
    return to_model(row)


# ---------------------------------------------------------------------------------------------
# The local workflow


def propose(
    c: Container,
    actor: Principal,
    *,
    list_type: str,
    subject_id: str,
    document_no: str,
    reasons: str,
    department: str | None = None,
) -> str:
    """拟列入: department staff (of a department the list names) with document number and reasons.

    The credit office may propose on behalf of a department (``department`` names it).
    Returns the membership id.
    """
    require(actor, Permission.submit_records)
    lt = _list_type_field(list_type)
    if lt.origin is Origin.external:
        raise InvalidTransition(f"{lt.name}由{lt.authority}认定，经归集接入，不能在本平台列入")
    document_no = (document_no or "").strip()
    reasons = (reasons or "").strip()
    if not document_no:
        raise FieldError("document_no", document_no, "required", "须注明列入所依据的法律文书号")
    if len(reasons) < 4:
        raise FieldError("reasons", reasons, "required", "须说明拟列入的事实和理由（reasons）")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        dept = acting_department(s, actor, department)
        if dept.name not in lt.departments:
            raise PermissionDenied(
                f"「{dept.name}」不是{lt.name}的认定部门（{'、'.join(lt.departments)}）",
                code="not_list_department",
            )
        if s.get(SubjectRow, subject_id) is None:
            raise FieldError("subject_id", subject_id, "subject_not_found", "没有这个主体")
        if lt.kind is ListKind.red_list:
            serious = serious_entries(s, subject_id, local_date(now))
            if serious:
                raise FieldError(
                    "subject_id",
                    subject_id,
                    "on_serious_list",
                    f"该主体在{_serious_text(serious)}中，不得列为{lt.name}"
                    "（国发〔2016〕33号：失信主体不得享受守信激励）",
                )
        row = MembershipRow(
            id=new_id("m"),
            list_type=lt.code,
            subject_id=subject_id,
            origin=Origin.local.value,
            status=S.proposed.value,
            department_id=dept.id,
            reasons=reasons,
            document_no=document_no,
            proposed_on=local_date(now),
            notice={},
            objection_pending=False,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        record_step(
            c, s, row, action="propose", from_status=None, actor=actor.label, at=now, note=reasons
        )
        uow.commit()
        return row.id


def notify(
    c: Container, actor: Principal, membership_id: str, *, basis: str | None = None
) -> dict[str, Any]:
    """告知: reasons, basis, rights and the end of the objection window (notice_deadline)."""
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, membership_id)
        lt = lists_catalog().list_type(row.list_type)
        today = local_date(c.clock.now())
        deadline = notice_deadline(today, lt, c.calendar)
        notice = {
            "reasons": row.reasons,
            "basis": basis or "；".join(str(b) for b in lt.legal_basis),
            "document_no": row.document_no,
            "rights": RIGHTS,
            "objection_working_days": lt.notice.objection_working_days if lt.notice else None,
            "objection_due": deadline.due.isoformat(),
            "deadline_confirmed": deadline.confirmed,
        }
        row.notice = notice
        row.objection_due = deadline.due
        _transition(c, s, row, S.noticed, action="notify", actor=actor.label, today=today)
        uow.commit()
        return membership_view(row, _events(s, row.id))


def register_objection(c: Container, actor: Principal, membership_id: str, note: str) -> None:
    """陈述申辩/异议 received during the notice window: the decision waits for an answer."""
    _objection(c, actor, membership_id, note, pending=True)


def answer_objection(c: Container, actor: Principal, membership_id: str, note: str) -> None:
    """The department answered the objection (not upheld): the decision may proceed."""
    _objection(c, actor, membership_id, note, pending=False)


def _objection(
    c: Container, actor: Principal, membership_id: str, note: str, pending: bool
) -> None:
    note = (note or "").strip()
    if not note:
        raise FieldError("note", note, "required", "须记录陈述申辩或答复的内容（note）")
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, membership_id)
        if row.status != S.noticed.value:
            raise InvalidTransition("陈述申辩和异议只在告知期（已告知）内登记和答复")
        if row.objection_pending == pending:
            state = "已有待答复的异议" if pending else "没有待答复的异议"
            raise InvalidTransition(f"名单记录 {row.id} {state}")
        row.objection_pending = pending
        action = "objection" if pending else "objection_answered"
        record_step(
            c,
            s,
            row,
            action=action,
            from_status=row.status,
            actor=actor.label,
            at=c.clock.now(),
            note=note,
        )
        uow.commit()


def decide(
    c: Container,
    actor: Principal,
    membership_id: str,
    *,
    decision_no: str,
    period_months: int | None = None,
) -> dict[str, Any]:
    """列入决定: only after the objection window and with no pending objection (can_decide)."""
    decision_no = (decision_no or "").strip()
    if not decision_no:
        raise FieldError("decision_no", decision_no, "required", "须注明列入决定书文号")
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, membership_id)
        lt = lists_catalog().list_type(row.list_type)
        today = local_date(c.clock.now())
        m = _model(row)
        if m.status is S.noticed:
            verdict = can_decide(m, lt, today, c.calendar, open_objections(s, row.id))
            if not verdict:
                raise InvalidTransition(verdict.reason)
        if lt.kind is ListKind.red_list:
            serious = serious_entries(s, row.subject_id, today)
            if serious:
                raise InvalidTransition(
                    f"该主体在{_serious_text(serious)}中，不得作出{lt.name}认定",
                    code="on_serious_list",
                )
        months = period_months if period_months is not None else _default_months(lt)
        ends = expires_on(today, lt, period_months)
        _transition(
            c,
            s,
            row,
            S.decided,
            action="decide",
            actor=actor.label,
            today=today,
            decision_no=decision_no,
            expires_on=ends,
            period_months=months,
        )
        if lt.kind is ListKind.serious_dishonesty:
            revoke_red_entries(c, s, row.subject_id, cause=row)
        uow.commit()
        return membership_view(row, _events(s, row.id))


def publish(c: Container, actor: Principal, membership_id: str) -> dict[str, Any]:
    """公示: never without prior notice and a written decision (can_publish, via advance)."""
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, membership_id)
        _transition(c, s, row, S.published, action="publish", actor=actor.label)
        merge_external_copies(c, s, row)
        uow.commit()
        return membership_view(row, _events(s, row.id))


def withdraw(c: Container, actor: Principal, membership_id: str, reason: str) -> None:
    """撤回 a local proposal or decision before publication."""
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise FieldError("reason", reason, "required", "撤回须说明理由（reason）")
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, membership_id)
        _transition(
            c,
            s,
            row,
            S.withdrawn,
            action="withdraw",
            actor=actor.label,
            note=reason,
            exit_reason=reason,
        )
        uow.commit()


# ---------------------------------------------------------------------------------------------
# Early exits (hooks other areas call) and expiry


def exit_early(
    c: Container,
    actor: Principal,
    membership_id: str,
    exit_code: ExitCode,
    reason: str,
    *,
    on: date | None = None,
) -> dict[str, Any]:
    """Move a published membership off its list by ``exit_code`` if exit_allowed says so.

    ``on``: the day the exit took effect (e.g. the date of the revoking judgment), not after
    today nor before the listing started; default today.
    """
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, membership_id)
        lt = lists_catalog().list_type(row.list_type)
        today = local_date(c.clock.now())
        if on is not None:
            start = row.decided_on or row.published_on
            if on > today:
                raise FieldError("on", on.isoformat(), "future", "移出日期不能晚于今天")
            if start is not None and on < start:
                raise FieldError(
                    "on", on.isoformat(), "before_listing", f"移出日期不能早于列入日期 {start}"
                )
            today = on
        verdict = exit_allowed(lt, exit_code, _model(row), today)
        if not verdict:
            raise InvalidTransition(verdict.reason, code="exit_refused")
        _transition(
            c,
            s,
            row,
            S.exited,
            action=f"exit_{exit_code.value}",
            actor=actor.label,
            note=reason,
            today=today,
            exit_code=exit_code,
            exit_reason=reason,
        )
        uow.commit()
        return membership_view(row, _events(s, row.id))


def exit_on_repair(
    c: Container, actor: Principal, membership_id: str, repair_ref: str
) -> dict[str, Any]:
    """信用修复 completed: off the list once the list's minimum period has passed."""
    return exit_early(c, actor, membership_id, ExitCode.repair, f"信用修复：{repair_ref}")


def exit_on_objection_upheld(
    c: Container, actor: Principal, membership_id: str, objection_ref: str
) -> dict[str, Any]:
    """异议成立: the listing was wrong."""
    reason = f"异议成立：{objection_ref}"
    return exit_early(c, actor, membership_id, ExitCode.objection_upheld, reason)


def exit_on_court_release(
    c: Container, actor: Principal, membership_id: str, document_no: str
) -> dict[str, Any]:
    """人民法院决定移出 (撤销、删除)."""
    reason = f"人民法院决定移出：{document_no}"
    return exit_early(c, actor, membership_id, ExitCode.court_release, reason)


def exit_documented(
    c: Container,
    actor: Principal,
    membership_id: str,
    exit_code: ExitCode,
    *,
    ref: str,
    reason: str,
    on: date | None = None,
) -> dict[str, Any]:
    """列入决定被撤销 / 义务履行完毕, recorded by the deciding department (or the credit
    office) with the document (``ref``), the reason and the day it took effect."""
    ref, reason = (ref or "").strip(), (reason or "").strip()
    if not ref:
        raise FieldError("ref", ref, "required", "须注明撤销决定或履行证明的文书号（ref）")
    if len(reason) < 2:
        raise FieldError("reason", reason, "required", "须说明移出理由（reason）")
    label = {
        ExitCode.decision_revoked: "列入决定被撤销",
        ExitCode.performance_completed: "义务履行完毕",
    }.get(exit_code, exit_code.value)
    return exit_early(c, actor, membership_id, exit_code, f"{label}：{ref}；{reason}", on=on)


def expire_due(c: Container) -> dict[str, Any]:
    """期满移出: every published membership whose expiry day has come (Asia/Shanghai)."""
    now = c.clock.now()
    today = local_date(now)
    expired = 0
    with c.uow() as uow:
        s = uow.session
        rows = list(
            s.scalars(
                select(MembershipRow)
                .where(
                    MembershipRow.status == S.published.value,
                    MembershipRow.expires_on.is_not(None),
                    MembershipRow.expires_on <= today,
                )
                .order_by(MembershipRow.expires_on, MembershipRow.id)
            )
        )
        for row in rows:
            if row.origin == Origin.external.value and row.record_id is not None:
                # The source's current dates decide (an expiry set on a default period before
                # external lists followed their source only is dropped here).
                from citycredit.lists.consumer import sync_record

                sync_record(c, s, row.record_id)
                if row.status != S.published.value:
                    expired += 1
                    continue
            if end_at_source_removal(c, s, row, actor="system:lists_expiry"):
                expired += 1
                continue
            if row.origin == Origin.external.value:
                continue  # listed until the source removes it
            lt = lists_catalog().list_type(row.list_type)
            if not exit_allowed(lt, ExitCode.period_end, to_model(row), today):
                continue  # list without a period_end exit: stays until another exit
            assert row.expires_on is not None
            _transition(
                c,
                s,
                row,
                S.expired,
                action="expire",
                actor="system:lists_expiry",
                note=f"列入期限届满（{_iso(row.expires_on)}）",
                today=row.expires_on,  # the day it left the list, whenever the sweep ran
                exit_code=ExitCode.period_end,
            )
            expired += 1
        uow.commit()
    return {"expired": expired, "as_of": today.isoformat()}


# ---------------------------------------------------------------------------------------------
# Public lists (rules.md §13.4)


def _basis_view(lt: ListType) -> dict[str, Any]:
    period = lt.period
    return {
        "legal_basis": [str(b) for b in lt.legal_basis],
        "period": (
            None
            if period is None
            else {
                "default_months": period.default_months,
                "max_months": period.max_months,
                "min_months": period.min_months,
                "basis": period.basis,
            }
        ),
    }


def public_list_types(c: Container, actor: Principal) -> list[dict[str, Any]]:
    """Every list type with its legal basis, authority and period."""
    require(actor, Permission.read_public)
    return [
        {
            "code": lt.code,
            "name": lt.name,
            "kind": lt.kind.value,
            "origin": lt.origin.value,
            "authority": lt.authority,
            "display_name_rule": lt.display_name_rule.value,
            **_basis_view(lt),
        }
        for lt in lists_catalog().list_types.values()
    ]


def _public_rows(
    lt: ListType,
    rows: list[tuple[MembershipRow, SubjectRow]],
    today: date,
    *,
    mask_names: bool = True,
) -> list[dict[str, Any]]:
    basis = _basis_view(lt)
    out = []
    for row, subject in rows:
        is_person = subject.subject_type in PERSON_TYPES
        entry = public_entry(
            to_model(row),
            lt,
            subject_name=subject.name,
            is_person=is_person,
            today=today,
            birth_date=subject.birth_date if is_person else None,
            mask_names=mask_names,
        )
        if entry is None:
            continue
        out.append(
            {
                **entry,
                "subject_id": None if is_person else subject.subject_id,
                "uscc": None if is_person else subject.uscc,
                "origin": row.origin,
                # external: the public record it mirrors (a report counts the two once)
                "record_id": row.record_id,
                # kept in step by the rights area's objections (rights/objections.py)
                "objection_mark": "异议处理中" if row.objection_pending else None,
                **basis,
            }
        )
    return out


def _day_number(day: Any) -> ColumnElement[Any]:
    """A date column as the integer yyyymmdd (SQLite and PostgreSQL alike)."""
    return extract("year", day) * 10000 + extract("month", day) * 100 + extract("day", day)


def public_view_filter() -> ColumnElement[bool]:
    """Memberships that may appear on a public surface (rules.md §13.4; security G31).

    For statements joining MembershipRow, SubjectRow (its subject) and RecordRow (outer, on
    MembershipRow.record_id). Kept out: memberships mirroring a source record that is not on
    the public view (published false — a minor's, 涉及个人隐私, … — or not 公开, or no longer
    active), and those of a natural person under 18 on the decision date (a second guard that
    also covers memberships stored before intake flagged minors). Such memberships stay in
    force for authorised credit checks; `public_entry` repeats the age rule.
    """
    decided = func.coalesce(MembershipRow.decided_on, MembershipRow.published_on)
    minor = (
        SubjectRow.subject_type.in_(PERSON_TYPES)
        & SubjectRow.birth_date.is_not(None)
        & (_day_number(SubjectRow.birth_date) + ADULT_AGE * 10000 > _day_number(decided))
    )
    source_public = MembershipRow.record_id.is_(None) | (
        RecordRow.published
        & (RecordRow.openness == Openness.public.value)
        & (RecordRow.status == "active")
    )
    return source_public & not_(minor)


UNPUBLISHED_REASONS = {  # records.unpublished_reason → why its membership is not public
    "minor": "当事人为未成年人，来源记录不予公示",
    "severity": "来源记录按失信程度不予公示",
    # 不予公示 by decision (ingest/withhold.py): its reasons and labels, one list
    **{r.value: f"{r.label}，来源记录不予公示" for r in WithholdReason},
}


def ended_early_records(s: Session, record_ids: Sequence[str]) -> dict[str, str]:
    """The records among ``record_ids`` whose list entry ended early (exited: 撤销资格, 法院删除,
    履行完毕, 异议成立 …), each with the reason shown for it.

    Such a record is the source of a listing that is over before its term: the public views
    (archive page and API, new reports) do not present it as a current listing or
    qualification — the exited membership is off the public lists, and the report's
    verification page shows it as 已提前移出名单 (reports.changes). Only the latest
    membership of each record counts (a correction may have listed it again); an entry ended
    at its term (expired) ends with its record's own publication period.
    """
    ids = list(dict.fromkeys(record_ids))
    latest: dict[str, MembershipRow] = {}
    for i in range(0, len(ids), 500):
        for row in s.scalars(
            select(MembershipRow).where(MembershipRow.record_id.in_(ids[i : i + 500]))
        ):
            rid = str(row.record_id)
            now = latest.get(rid)
            if now is None or (row.created_at, row.id) > (now.created_at, now.id):
                latest[rid] = row
    return {
        rid: row.exit_reason or "已提前移出名单"
        for rid, row in latest.items()
        if row.status == S.exited.value
    }


def source_hidden_reason(s: Session, record_id: str | None) -> str | None:
    """Why the source record of an external membership is not public, or None if it is (the
    record's own publication flags; `public_view_filter` applies them to public reads)."""
    if record_id is None:
        return None
    record = s.get(RecordRow, record_id)
    if record is None:
        return None
    if not record.published:
        return UNPUBLISHED_REASONS.get(record.unpublished_reason or "", "来源记录不予公示")
    if record.openness != Openness.public.value:
        return "来源记录不予公开"
    return None


_Ts = TypeVarTuple("_Ts")


def _public_only(stmt: Select[*_Ts]) -> Select[*_Ts]:
    """``stmt`` (over MembershipRow) kept to published memberships that `public_view_filter`
    lets through, joined with their subjects and source records."""
    return (
        stmt.join(SubjectRow, SubjectRow.subject_id == MembershipRow.subject_id)
        .outerjoin(RecordRow, RecordRow.id == MembershipRow.record_id)
        .where(MembershipRow.status == S.published.value, public_view_filter())
    )


# Newest first, ties by id: the order of ix_memberships_public_order (lists.paging).
PUBLIC_ORDER = (MembershipRow.published_on.desc(), MembershipRow.id)


def _after(cursor: Cursor, dialect: str) -> ColumnElement[bool]:
    """The entries after ``cursor`` in PUBLIC_ORDER. Where the entries without a publication
    day come (none are expected: publishing sets it) is the database's: PostgreSQL sorts NULL
    above every day (first in DESC), SQLite below (last)."""
    day, ident = cursor.published_on, cursor.id
    null_first = dialect != "sqlite"
    no_day = MembershipRow.published_on.is_(None)
    if day is None:
        tail = no_day & (MembershipRow.id > ident)
        return tail | MembershipRow.published_on.is_not(None) if null_first else tail
    # `<= day` first: the index range starts at the cursor's day
    later = (MembershipRow.published_on <= day) & (
        (MembershipRow.published_on < day) | (MembershipRow.id > ident)
    )
    return later if null_first else later | no_day


def public_list(
    c: Container,
    actor: Principal,
    list_type: str,
    *,
    limit: int = 100,
    offset: int = 0,
    after: str | None = None,
    with_total: bool = True,
) -> dict[str, Any]:
    """A public list: published, unexpired, not exited entries, masked (public_entry); never a
    minor's or one whose source record is not public (public_view_filter).

    Newest first (published_on DESC, id). A page is ``limit`` entries after ``offset`` of them
    or after the cursor ``after`` (the ``next_after`` of the previous page; keyset paging, see
    lists.paging); ``more`` says whether another page follows. ``total`` (and ``count``) is
    every entry the list shows, not only this page's: a count kept while the list is unchanged
    (lists.paging.PublicCounts); ``with_total=False`` (the portal's page, which shows no total)
    skips it and answers None.
    """
    require(actor, Permission.read_public)
    lt = lists_catalog().list_type(list_type)
    now = c.clock.now()
    today = local_date(now)
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    cursor = Cursor.parse(after) if after is not None else None
    if cursor is not None and offset:
        raise FieldError("offset", str(offset), "offset_with_after", "after 与 offset 不能同时使用")
    in_force = (
        MembershipRow.list_type == lt.code,
        (MembershipRow.expires_on.is_(None)) | (MembershipRow.expires_on > today),
    )
    with c.uow() as uow:
        s = uow.session
        dialect = s.get_bind().dialect.name
        # read before the page and the count: a change after it moves it (lists.paging)
        stamp = count_stamp(s) if with_total else None
        page = _public_only(select(MembershipRow, SubjectRow)).where(*in_force)
        if cursor is not None:
            page = page.where(_after(cursor, dialect))
        found = s.execute(page.order_by(*PUBLIC_ORDER).limit(limit + 1).offset(offset))
        rows = [(m, sub) for m, sub in found]
        more = len(rows) > limit
        rows = rows[:limit]
        entries = _public_rows(lt, rows, today, mask_names=c.settings.mask_names_in_public_text)
        total: int | None = None
        if stamp is not None:
            counts = public_counts(c.engine)
            total = counts.get(lt.code, today, stamp, now)
            if total is None:
                total = int(
                    s.scalar(
                        _public_only(select(func.count()).select_from(MembershipRow)).where(
                            *in_force
                        )
                    )
                    or 0
                )
                counts.put(lt.code, today, stamp, now, total)
    last = rows[-1][0] if rows else None
    return {
        "list_type": lt.code,
        "name": lt.name,
        "authority": lt.authority,
        **_basis_view(lt),
        "as_of": today.isoformat(),
        "count": total,  # every entry of the list, not only this page
        "total": total,
        "limit": limit,
        "offset": offset,
        "after": cursor.encode() if cursor is not None else None,
        "more": more,
        "next_after": (
            Cursor(last.published_on, last.id).encode() if more and last is not None else None
        ),
        "entries": entries,
    }


def public_subject_lists(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """A subject's public memberships in force today (masked like the public lists)."""
    require(actor, Permission.read_public)
    today = local_date(c.clock.now())
    catalog = lists_catalog()
    with c.uow() as uow:
        s = uow.session
        subject = s.get(SubjectRow, subject_id)
        if subject is None:
            raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
        rows = s.scalars(
            _public_only(select(MembershipRow))
            .where(MembershipRow.subject_id == subject_id)
            .order_by(MembershipRow.published_on, MembershipRow.id)
        )
        entries = []
        shown: list[Membership] = []
        for row in rows:
            if row.list_type not in catalog.list_types:
                continue
            lt = catalog.list_type(row.list_type)
            public = _public_rows(
                lt, [(row, subject)], today, mask_names=c.settings.mask_names_in_public_text
            )
            entries.extend(public)
            if public:
                shown.append(to_model(row))
    return {
        "subject_id": subject_id,
        "as_of": today.isoformat(),
        "lists": entries,
        "measures": measures_in_force(catalog, shown, today),
    }


def measures_in_force(
    catalog: ListCatalog, memberships: Sequence[Membership], today: date
) -> list[dict[str, Any]]:
    """The joint measures the memberships in force trigger, whatever the matter (the overview):
    those tied to approval matters and those tied to none (限制高消费, market references …), which
    no credit check of a matter would show."""
    active = {m.list_type for m in memberships if m.is_active(today)}
    found = applicable_measures(catalog.measures, None, memberships, None, today)
    return [measure_view(m, active) for m in found]


# ---------------------------------------------------------------------------------------------
# Rules across memberships: serious lists end red ones, one entry per decision, source removals

SYSTEM_ACTOR = "system:lists"
SOURCE_REMOVAL = "来源机关移出"  # exit_reason prefix of memberships the source removed
# Year brackets are typed every which way (〔2026〕, （2026）, [2026], (2026)): one form.
_DOC_NO_TABLE = str.maketrans("（〔【[）〕】]", "(((())))")


def same_document(a: str | None, b: str | None) -> bool:
    """Two document numbers name the same document (spaces and full-width brackets aside)."""
    if not a or not b:
        return False
    return "".join(a.split()).translate(_DOC_NO_TABLE) == "".join(b.split()).translate(
        _DOC_NO_TABLE
    )


def _kind_codes(kind: ListKind) -> list[str]:
    return [c for c, lt in lists_catalog().list_types.items() if lt.kind is kind]


def _active_rows(
    s: Session, subject_id: str, list_types: list[str], today: date
) -> list[MembershipRow]:
    rows = s.scalars(
        select(MembershipRow)
        .where(
            MembershipRow.subject_id == subject_id,
            MembershipRow.list_type.in_(list_types),
            MembershipRow.status.in_(sorted(x.value for x in ACTIVE_STATUSES)),
        )
        .order_by(MembershipRow.created_at, MembershipRow.id)
    )
    return [r for r in rows if to_model(r).is_active(today)]


def serious_entries(s: Session, subject_id: str, today: date) -> list[MembershipRow]:
    """The subject's serious-list (严重失信) memberships in force on ``today``."""
    return _active_rows(s, subject_id, _kind_codes(ListKind.serious_dishonesty), today)


def _serious_text(rows: list[MembershipRow]) -> str:
    catalog = lists_catalog()
    parts = []
    for r in rows:
        lt = catalog.list_types.get(r.list_type)
        name = lt.name if lt is not None else r.list_type
        parts.append(f"{name}（{r.decision_no}）" if r.decision_no else name)
    return "、".join(parts)


def revoke_red_entries(c: Container, s: Session, subject_id: str, *, cause: MembershipRow) -> int:
    """A serious-list entry became active: the subject's red-list entries in force end by the
    red list's own `decision_revoked` exit (published: exited; decided, not yet published:
    withdrawn). Lists without that exit are left alone (incentives stay suppressed in checks)."""
    today = local_date(c.clock.now())
    s.flush()
    catalog = lists_catalog()
    cause_lt = catalog.list_types.get(cause.list_type)
    cause_name = cause_lt.name if cause_lt is not None else cause.list_type
    reason = f"被列入{cause_name}（{cause.decision_no or cause.id}），依规撤销守信激励对象资格"
    ended = 0
    for row in _active_rows(s, subject_id, _kind_codes(ListKind.red_list), today):
        lt = catalog.list_type(row.list_type)
        if lt.exit_rule(ExitCode.decision_revoked) is None:
            continue
        target = S.exited if row.status == S.published.value else S.withdrawn
        _transition(
            c,
            s,
            row,
            target,
            action="exit_decision_revoked" if target is S.exited else "withdraw",
            actor=SYSTEM_ACTOR,
            note=reason,
            today=today,
            exit_code=ExitCode.decision_revoked,
            exit_reason=reason,
        )
        ended += 1
    return ended


def enforce_serious_over_red(c: Container, s: Session, subject_id: str) -> int:
    """If the subject is on a serious list today, its red-list entries end (revoke_red_entries)."""
    serious = serious_entries(s, subject_id, local_date(c.clock.now()))
    return revoke_red_entries(c, s, subject_id, cause=serious[0]) if serious else 0


def local_twin(
    s: Session, list_type: str, subject_id: str, decision_no: str | None
) -> MembershipRow | None:
    """The local membership decided by the same document (a decision this platform made and
    the external feed sends back), unless it was withdrawn before publication."""
    if not decision_no:
        return None
    rows = s.scalars(
        select(MembershipRow)
        .where(
            MembershipRow.list_type == list_type,
            MembershipRow.subject_id == subject_id,
            MembershipRow.origin == Origin.local.value,
            MembershipRow.status != S.withdrawn.value,
            MembershipRow.decision_no.is_not(None),
        )
        .order_by(MembershipRow.created_at, MembershipRow.id)
    )
    return next((r for r in rows if same_document(r.decision_no, decision_no)), None)


def retire_external_copy(
    c: Container, s: Session, row: MembershipRow, local: MembershipRow
) -> None:
    """An external membership mirrors a local decision: it is withdrawn in favour of the local
    entry, which alone carries the listing (and its exits)."""
    if S(row.status) in FINAL_STATUSES:
        return
    before = row.status
    row.status = S.withdrawn.value
    row.ended_on = local_date(c.clock.now())
    row.exit_reason = (
        f"与本地列入记录 {local.id} 为同一认定文书（{local.decision_no}），以本地记录为准"
    )
    record_step(
        c,
        s,
        row,
        action="merge_local",
        from_status=before,
        actor=SYSTEM_ACTOR,
        at=c.clock.now(),
        note=row.exit_reason,
    )


def merge_external_copies(c: Container, s: Session, local: MembershipRow) -> None:
    """A local decision was published: external copies of the same document step aside."""
    rows = s.scalars(
        select(MembershipRow).where(
            MembershipRow.list_type == local.list_type,
            MembershipRow.subject_id == local.subject_id,
            MembershipRow.origin == Origin.external.value,
            MembershipRow.status == S.published.value,
        )
    )
    for row in list(rows):
        if same_document(row.decision_no, local.decision_no):
            retire_external_copy(c, s, row, local)


def source_removal_exit(lt: ListType) -> ExitCode | None:
    """How a removal date sent by the source is recorded for this list (list_types.yaml
    `source_removal_exit`, else period_end when the list has it)."""
    if lt.source_removal_exit is not None:
        return lt.source_removal_exit
    return ExitCode.period_end if lt.exit_rule(ExitCode.period_end) is not None else None


def end_at_source_removal(c: Container, s: Session, row: MembershipRow, *, actor: str) -> bool:
    """An external membership whose source removal date (expires_on) has come ends on that
    date by the list's source-removal exit (e.g. court_release for SX_YCRQ). False when the row
    is not such a membership."""
    today = local_date(c.clock.now())
    if (
        row.origin != Origin.external.value
        or row.status != S.published.value
        or row.expires_on is None
        or row.expires_on > today
    ):
        return False
    lt = lists_catalog().list_types.get(row.list_type)
    code = source_removal_exit(lt) if lt is not None else None
    if code is None:
        return False
    day = max(row.expires_on, row.decided_on or row.expires_on)
    note = f"{SOURCE_REMOVAL}（移出日期 {day.isoformat()}）"
    if code is ExitCode.period_end:
        _transition(
            c, s, row, S.expired, action="expire", actor=actor, note=note, today=day,
            exit_code=code, exit_reason=note,
        )  # fmt: skip
    else:
        _transition(
            c, s, row, S.exited, action=f"exit_{code.value}", actor=actor, note=note, today=day,
            exit_code=code, exit_reason=note,
        )  # fmt: skip
    return True


def open_objections(s: Session, membership_id: str) -> list[str]:
    """Ids of the formal objections (rights area) still open against this membership."""
    return list(
        s.scalars(
            select(ObjectionRow.id).where(
                ObjectionRow.target_type == TargetType.membership.value,
                ObjectionRow.target_id == membership_id,
                ObjectionRow.status.in_(sorted(x.value for x in OPEN_OBJECTIONS)),
            )
        )
    )


# ---------------------------------------------------------------------------------------------
# Helpers


def _list_type_field(code: str) -> ListType:
    """A list type named in a request body: unknown codes are a FieldError naming them."""
    catalog = lists_catalog()
    code = (code or "").strip()
    if code not in catalog.list_types:
        known = "、".join(catalog.list_types)
        raise FieldError("list_type", code, "unknown_list_type", f"没有该名单类型，可用：{known}")
    return catalog.list_types[code]


def _require_owner(actor: Principal, row: MembershipRow) -> None:
    """The proposing (or sending) department's staff, or the credit office."""
    require(actor, Permission.submit_records, department_id=row.department_id or -1)


def _load(s: Session, actor: Principal, membership_id: str) -> MembershipRow:
    """The membership for its department or the credit office (security goal G8): a role that
    never acts on list entries is refused before the lookup; another department's entry
    answers exactly like a missing one."""
    require(actor, Permission.submit_records)
    missing = NotFound(f"名单记录 {membership_id} 不存在", code="membership_not_found")
    row = s.get(MembershipRow, membership_id)
    if row is None:
        raise missing
    with hidden_as(missing):
        _require_owner(actor, row)
    return row


def _events(s: Session, membership_id: str) -> list[MembershipEventRow]:
    return list(
        s.scalars(
            select(MembershipEventRow)
            .where(MembershipEventRow.membership_id == membership_id)
            .order_by(MembershipEventRow.id)
        )
    )


def _default_months(lt: ListType) -> int | None:
    return lt.period.default_months if lt.period else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


__all__ = [
    "active_memberships",
    "answer_objection",
    "decide",
    "exit_documented",
    "exit_early",
    "exit_on_court_release",
    "exit_on_objection_upheld",
    "exit_on_repair",
    "expire_due",
    "get_membership",
    "lists_catalog",
    "measures_in_force",
    "notify",
    "propose",
    "public_list",
    "public_list_types",
    "public_subject_lists",
    "publish",
    "record_step",
    "register_objection",
    "store_model",
    "subject_with_memberships",
    "to_model",
    "withdraw",
]
