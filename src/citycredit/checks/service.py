"""信用核查: run a check, record what the department did, statistics for the credit office.

A check answers, for one subject and one matter of the 事项清单: the current grade of the
公共信用综合评价 (evaluation.views; none before the first evaluation), the active list
memberships, every applicable measure with its legal basis, 信易批 eligibility with the rule
that decided it, and pending objections or repairs (rights.pending). What it reads of the subject
comes from one statement (checks.standing); the check is stored with its answer, logged in the
disclosure log (purpose 信用核查：<事项>) and emitted with a ledger leaf, as plain INSERTs in
the same transaction.

Who may check which matter is the 事项清单's `checked_by` (lists/data/matters.yaml): staff only
for the matters their department may check, the credit office for any matter — for itself, or
for a department it names that may check the matter. A refused check is refused before the
subject is read: nothing is stored, logged or emitted (docs/checks.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from citycredit.accounts.db import AuditEventRow, DepartmentRow
from citycredit.accounts.model import Permission, Principal, Role, hidden_as, require
from citycredit.accounts.service import acting_department
from citycredit.bootstrap import Container
from citycredit.checks.db import CheckFeedbackRow, CreditCheckRow
from citycredit.checks.standing import subject_standing
from citycredit.commitments.service import PERSON_TYPES
from citycredit.db.base import Base
from citycredit.kernel import outbox
from citycredit.kernel.db import DisclosureRow
from citycredit.ledger.entries import workflow_entry
from citycredit.lists import (
    Facts,
    Grade,
    ListCatalog,
    Matter,
    Membership,
    credit_check,
    default_lists,
    measure_view,
)
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.shared.idgen import new_id
from citycredit.shared.ids import scrub_personal
from citycredit.shared.masking import display_person_name

__all__ = [
    "CREDIT_OFFICE",
    "GRADE_NOTE",
    "check_stats",
    "get_check",
    "record_feedback",
    "run_check",
]

GRADE_NOTE = "尚无公共信用综合评价结果"  # shown while the subject has no evaluation result
CREDIT_OFFICE = "市信用办"  # department label of checks made by the credit office itself


def _matter(lists: ListCatalog, code: str) -> Matter:
    code = (code or "").strip()
    if code not in lists.matters:
        known = "、".join(lists.matters)
        raise FieldError("matter", code, "unknown_matter", f"事项清单中没有该事项，可用：{known}")
    return lists.matters[code]


@dataclass(frozen=True)
class _Dept:
    id: int
    name: str


def _checking_department(
    s: Session, actor: Principal, department: str | None, matter: Matter
) -> _Dept | None:
    """Staff check for their own department; the credit office for the one it names.

    Without a name, the credit office's check counts for the matter's department when that
    department is registered, else for the credit office itself (None).
    """
    named = bool(department and department.strip())
    if (
        actor.role is Role.department_staff
        and not named
        and actor.department_id is not None
        and actor.department_name
    ):
        # The token's department, as authenticate() just read it: no second lookup per check.
        return _Dept(actor.department_id, actor.department_name)
    row: DepartmentRow | None
    if actor.role is Role.department_staff or named:
        row = acting_department(s, actor, department)
    else:
        row = s.scalar(select(DepartmentRow).where(DepartmentRow.name == matter.department))
    return _Dept(row.id, row.name) if row is not None else None


def _require_matter_authority(actor: Principal, dept: _Dept | None, matter: Matter) -> None:
    """The checking department must be one that may check the matter (matters.yaml checked_by).

    Staff check only the matters their department may check; the credit office checks any
    matter, for itself (no department) or for a department named that may check it.
    """
    if dept is None or matter.may_be_checked_by(dept.name):
        return
    who = (
        f"部门「{dept.name}」不能"
        if actor.role is Role.department_staff
        else f"信用办不能以部门「{dept.name}」的名义"
    )
    raise PermissionDenied(
        f"{who}核查事项「{matter.name}」（{matter.code}）："
        f"该事项只能由{'、'.join(matter.checkers)}核查（事项清单 checked_by）",
        code="matter_not_for_department",
    )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _reasons(m: Membership, person: tuple[str, str] | None) -> str | None:
    """ID and phone numbers scrubbed; a natural person's own name masked as in `subject`."""
    if not m.reasons:
        return None
    out = scrub_personal(m.reasons)
    if person is not None and person[0]:
        out = out.replace(person[0], person[1])
    return out


def _membership_view(
    lists: ListCatalog, m: Membership, person: tuple[str, str] | None = None
) -> dict[str, Any]:
    lt = lists.list_types.get(m.list_type)
    return {
        "list_type": m.list_type,
        "list_name": lt.name if lt is not None else m.list_type,
        "list_kind": lt.kind.value if lt is not None else None,
        "origin": m.origin.value,
        "status": m.status.value,
        "decision_no": m.decision_no,
        "decided_on": _iso(m.decided_on),
        "published_on": _iso(m.published_on),
        "expires_on": _iso(m.expires_on),
        "reasons": _reasons(m, person),
    }


def _disclosed_items(lists: ListCatalog) -> list[str]:
    """The catalog items a check discloses: every list type's item, commitments, the grade."""
    items = {lt.catalog_item.item for lt in lists.list_types.values()}
    return sorted(items | {"commitment", "evaluation"})


def run_check(
    c: Container,
    actor: Principal,
    *,
    subject_id: str,
    matter: str,
    department: str | None = None,
    channel: str = "api",
    audit_event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """信用核查 of one subject for one matter; stored, logged in the disclosure log, emitted.

    `audit_event`: the caller's operator-audit event (column values, accounts.audit), inserted
    in the check's transaction with the check id as its object (web.audit.IN_TRANSACTION).
    """
    require(actor, Permission.read_authorised)
    lists = default_lists()
    the_matter = _matter(lists, matter)
    now = c.clock.now()
    today = local_date(now)
    with c.uow() as uow:
        s = uow.session
        if s.get_bind().dialect.name == "postgresql":
            # Reads, then one statement that writes everything (outbox.commit_with_event): in
            # autocommit mode that statement is the transaction — no BEGIN and COMMIT round
            # trips around the check.
            s.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        dept = _checking_department(s, actor, department, the_matter)
        if dept is not None:
            require(actor, Permission.read_authorised, department_id=dept.id)
        # Before anything of the subject is read: a refused check discloses and stores nothing.
        _require_matter_authority(actor, dept, the_matter)
        # The subject, its memberships in force, recent breaches, grade and open objections /
        # repairs in one statement (checks.standing; the areas' own functions define them).
        standing = subject_standing(s, subject_id, today)
        if standing is None:
            raise FieldError("subject_id", subject_id, "subject_not_found", "没有这个主体")
        subject = standing.subject
        memberships = standing.memberships
        breaches = standing.breaches
        evaluation = standing.grade  # as evaluation.views.current_grade
        grade = Grade(evaluation["grade"]) if evaluation is not None else None
        pending = standing.pending  # as rights.pending.pending_cases (异议处理中 / 修复办理中)
        facts = Facts(
            today=today,
            grade=grade,
            memberships=memberships,
            breaches=breaches,
            pending_objections=len(pending["objections"]),
            pending_repairs=len(pending["repairs"]),
        )
        found = credit_check(the_matter, facts, lists.measures)
        active = {m.list_type for m in memberships}
        decision = found.decision
        check_id = new_id("chk")
        is_person = subject.subject_type in PERSON_TYPES
        shown_name = (
            display_person_name(subject.name, "surname_masked") if is_person else subject.name
        )
        person = (subject.name.strip(), shown_name) if is_person else None
        result: dict[str, Any] = {
            "check_id": check_id,
            "subject": {
                "subject_id": subject.subject_id,
                "name": shown_name,
                "subject_type": subject.subject_type,
            },
            "matter": {
                "code": the_matter.code,
                "name": the_matter.name,
                "department": the_matter.department,
            },
            "department": dept.name if dept is not None else CREDIT_OFFICE,
            "as_of": today.isoformat(),
            "checked_at": now.isoformat(),
            "lists_version": lists.version,
            "grade": grade.value if grade is not None else None,
            "grade_note": None if evaluation is not None else GRADE_NOTE,
            "evaluation": evaluation,
            "memberships": [_membership_view(lists, m, person) for m in memberships],
            "measures": [measure_view(m, active, grade) for m in found.measures],
            "fast_approval": {
                "eligible": decision.eligible,
                "rule": decision.rule_text,
                "basis": the_matter.fast_approval.basis,
                "reasons": list(decision.reasons),
                "modes": list(decision.modes),
            },
            "commitment_breaches": [d.isoformat() for d in breaches],
            "pending": pending,
        }
        measure_codes = [m["code"] for m in result["measures"]]
        entry = workflow_entry(
            c.settings.ledger_suite,
            entry_type="credit_check.made",
            ref=f"{check_id}/made",
            subject_id=subject_id,
            fields={
                "matter": the_matter.code,
                "department": result["department"],
                "eligible": decision.eligible,
                "measures": measure_codes,
                "memberships": sorted(active),
            },
            at=now,
        )
        # The stored check, its disclosure-log row, the caller's audit event and the outbox event
        # as plain rows in the same transaction (kernel.disclosure.record_disclosure and
        # kernel.outbox.emit write the same rows through the ORM unit of work, which cost more
        # than the statements), committed with them: on PostgreSQL one statement, in autocommit
        # mode its own transaction, in one round trip.
        rows: list[tuple[type[Base], dict[str, Any]]] = [
            (
                CreditCheckRow,
                {
                    "id": check_id,
                    "subject_id": subject_id,
                    "matter": the_matter.code,
                    "department_id": dept.id if dept is not None else None,
                    "month": today.strftime("%Y-%m"),
                    "eligible": decision.eligible,
                    "lists_version": lists.version,
                    "result": result,
                    "checked_by": actor.label,
                    "user_id": actor.user_id,
                    "checked_at": now,
                },
            ),
            (
                DisclosureRow,
                {
                    "at": now,
                    "actor_role": actor.role.value,
                    "actor_label": actor.label,
                    "user_id": actor.user_id,
                    "department_id": actor.department_id,
                    "subject_id": subject_id,
                    "items": _disclosed_items(lists),
                    "purpose": f"信用核查：{the_matter.name}",
                    "channel": channel,
                    "detail": {"check_id": check_id, "matter": the_matter.code},
                },
            ),
        ]
        if audit_event is not None:
            # the subject read (G10: a check of a natural person is a read of personal data)
            about = {"subject_id": subject_id, "subject_type": subject.subject_type}
            event = {**audit_event, "object_id": check_id}
            rows.append((AuditEventRow, {**event, "detail": {**event["detail"], **about}}))
        outbox.commit_with_event(
            s,
            rows,
            {
                "event_type": "credit_check.made",
                "aggregate_type": "credit_check",
                "aggregate_id": check_id,
                "subject_id": subject_id,
                "payload": {
                    "matter": the_matter.code,
                    "department_id": dept.id if dept is not None else None,
                    "eligible": decision.eligible,
                    "measures": measure_codes,
                    "ledger": entry.as_payload(),
                },
                "created_at": now,
            },
        )
        return result


def _load(s: Session, actor: Principal, check_id: str) -> CreditCheckRow:
    """The check for the checking department (or the credit office), security goal G8: a role
    that makes no checks is refused before the lookup; another department's check answers
    exactly like a missing one."""
    require(actor, Permission.read_authorised)
    missing = NotFound(f"核查记录 {check_id} 不存在", code="check_not_found")
    row = s.get(CreditCheckRow, check_id)
    if row is None:
        raise missing
    with hidden_as(missing):
        _require_checker(actor, row)
    return row


def _require_checker(actor: Principal, row: CreditCheckRow) -> None:
    """Only the checking department (or the credit office) acts on a check."""
    require(actor, Permission.read_authorised)
    if actor.role is Role.department_staff and actor.department_id != row.department_id:
        raise PermissionDenied("只有作出核查的部门可以操作该核查记录", code="other_department")


def get_check(c: Container, actor: Principal, check_id: str) -> dict[str, Any]:
    """A stored check with its feedback (checking department or credit office)."""
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, check_id)
        feedback = s.scalars(
            select(CheckFeedbackRow)
            .where(CheckFeedbackRow.check_id == check_id)
            .order_by(CheckFeedbackRow.id)
        )
        return {**row.result, "feedback": [_feedback_view(f) for f in feedback]}


def _feedback_view(f: CheckFeedbackRow) -> dict[str, Any]:
    return {
        "check_id": f.check_id,
        "measure_code": f.measure_code,
        "applied": f.applied,
        "reason": f.reason,
        "recorded_by": f.recorded_by,
        "recorded_at": f.recorded_at.isoformat(),
    }


def record_feedback(
    c: Container,
    actor: Principal,
    check_id: str,
    *,
    measure_code: str,
    applied: bool,
    reason: str = "",
) -> dict[str, Any]:
    """What the checking department did with one measure of the check (once per measure)."""
    reason = (reason or "").strip()
    if not applied and len(reason) < 2:
        raise FieldError("reason", reason, "required", "未采取措施时须说明理由（reason）")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, actor, check_id)
        listed = [m["code"] for m in row.result.get("measures", [])]
        if measure_code not in listed:
            shown = "、".join(listed) or "无"
            raise FieldError(
                "measure_code",
                measure_code,
                "not_in_check",
                f"该措施不在本次核查结果中（本次适用的措施：{shown}）",
            )
        exists = s.scalar(
            select(CheckFeedbackRow.id).where(
                CheckFeedbackRow.check_id == check_id,
                CheckFeedbackRow.measure_code == measure_code,
            )
        )
        if exists is not None:
            raise Conflict(f"措施 {measure_code} 已反馈过", code="feedback_exists")
        fb = CheckFeedbackRow(
            check_id=check_id,
            measure_code=measure_code,
            applied=applied,
            reason=reason,
            recorded_by=actor.label,
            user_id=actor.user_id,
            recorded_at=now,
        )
        s.add(fb)
        entry = workflow_entry(
            c.settings.ledger_suite,
            entry_type="credit_check.feedback",
            ref=f"{check_id}/feedback/{measure_code}",
            subject_id=row.subject_id,
            fields={"measure": measure_code, "applied": applied, "reason": reason},
            at=now,
        )
        outbox.emit(
            s,
            event_type="credit_check.feedback",
            aggregate_type="credit_check",
            aggregate_id=check_id,
            subject_id=row.subject_id,
            at=now,
            payload={
                "measure": measure_code,
                "applied": applied,
                "matter": row.matter,
                "department_id": row.department_id,
                "ledger": entry.as_payload(),
            },
        )
        uow.commit()
        return _feedback_view(fb)


def _counts(
    s: Session, column: InstrumentedAttribute[Any], *, join_check: bool
) -> dict[Any, dict[str, int]]:
    """applied / not_applied feedback per value of a column (of checks or feedback)."""
    stmt = select(column, CheckFeedbackRow.applied, func.count()).select_from(CheckFeedbackRow)
    if join_check:
        stmt = stmt.join(CreditCheckRow, CreditCheckRow.id == CheckFeedbackRow.check_id)
    out: dict[Any, dict[str, int]] = defaultdict(lambda: {"applied": 0, "not_applied": 0})
    for key, applied, n in s.execute(stmt.group_by(column, CheckFeedbackRow.applied)):
        out[key]["applied" if applied else "not_applied"] += n
    return out


def _checks_by(s: Session, column: InstrumentedAttribute[Any]) -> dict[Any, int]:
    stmt = select(column, func.count()).select_from(CreditCheckRow).group_by(column)
    counts: dict[Any, int] = {}
    for key, n in s.execute(stmt):
        counts[key] = n
    return counts


def check_stats(c: Container, actor: Principal) -> dict[str, Any]:
    """Checks and feedback (applied vs not) by department, measure, matter and month."""
    require(actor, Permission.read_all_submissions)  # credit office: every department's data
    lists = default_lists()
    measure_names = {m.code: m.name for m in lists.measures}
    with c.uow() as uow:
        s = uow.session
        depts = {d.id: d.name for d in s.scalars(select(DepartmentRow))}

        def dept_name(key: int | None) -> str:
            return CREDIT_OFFICE if key is None else depts.get(key, str(key))

        def table(
            column: InstrumentedAttribute[Any], label: str, name: Any = None
        ) -> list[dict[str, Any]]:
            checks = _checks_by(s, column)
            feedback = _counts(s, column, join_check=True)
            keys = sorted(set(checks) | set(feedback), key=lambda k: (k is None, str(k)))
            rows = []
            for key in keys:
                row: dict[str, Any] = {label: key}
                if name is not None:
                    row[f"{label}_name"] = name(key)
                empty = {"applied": 0, "not_applied": 0}
                rows.append(row | {"checks": checks.get(key, 0)} | feedback.get(key, empty))
            return rows

        by_department = table(CreditCheckRow.department_id, "department_id", dept_name)
        for r in by_department:
            r["department"] = r.pop("department_id_name")
        by_measure = [
            {"measure": key, "measure_name": measure_names.get(key, key), **counts}
            for key, counts in sorted(
                _counts(s, CheckFeedbackRow.measure_code, join_check=False).items()
            )
        ]
        total_checks = s.scalar(select(func.count()).select_from(CreditCheckRow)) or 0
        applied = (
            s.scalar(
                select(func.count()).select_from(CheckFeedbackRow).where(CheckFeedbackRow.applied)
            )
            or 0
        )
        total_feedback = s.scalar(select(func.count()).select_from(CheckFeedbackRow)) or 0
        return {
            "checks": total_checks,
            "feedback": total_feedback,
            "applied": applied,
            "not_applied": total_feedback - applied,
            "by_department": by_department,
            "by_measure": by_measure,
            "by_matter": table(
                CreditCheckRow.matter,
                "matter",
                lambda k: lists.matters[k].name if k in lists.matters else k,
            ),
            "by_month": table(CreditCheckRow.month, "month"),
            "month_basis": "核查时间所在月份（Asia/Shanghai）",
        }
