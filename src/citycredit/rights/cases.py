"""What objections and repairs share: required texts, and one way to record a step of a case
(a `case_steps` row, an outbox event and its ledger leaf, in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Principal
from citycredit.bootstrap import Container
from citycredit.kernel import outbox
from citycredit.ledger.entries import workflow_entry
from citycredit.rights.db import CaseStepRow
from citycredit.rights.model import Limit, is_overdue
from citycredit.rights.notices import CREDIT_OFFICE, Notice, Notifier
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import FieldError


def required_text(field: str, value: str | None, label: str, *, min_len: int = 2) -> str:
    """The stripped text, or a FieldError naming the field when it is shorter than min_len."""
    value = (value or "").strip()
    if len(value) < min_len:
        raise FieldError(field, value, "required", f"必须填写{label}（{field}，至少 {min_len} 字）")
    return value


def record_case_step(
    c: Container,
    s: Session,
    *,
    case_type: str,  # objection | repair
    case_id: str,
    subject_id: str,
    action: str,
    from_status: str | None,
    to_status: str,
    actor: Principal | None,
    note: str | None,
    facts: Mapping[str, Any],
) -> None:
    """Time-stamp one step; `facts` (target, department …) go into the event and the leaf."""
    now = c.clock.now()
    label = actor.label if actor is not None else "system"
    s.add(
        CaseStepRow(
            case_type=case_type,
            case_id=case_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=label,
            note=note,
            at=now,
        )
    )
    moved = {"from": from_status, "to": to_status}
    outbox.emit(
        s,
        event_type=f"{case_type}.{action}",
        aggregate_type=case_type,
        aggregate_id=case_id,
        subject_id=subject_id,
        at=now,
        payload={
            **facts,
            **moved,
            "ledger": workflow_entry(
                c.settings.ledger_suite,
                entry_type=f"rights.{case_type}",
                ref=f"{case_id}/{action}/{now.isoformat()}",
                subject_id=subject_id,
                fields={**facts, **moved, "action": action, "actor": label, "note": note},
                at=now,
            ).as_payload(),
        },
    )


def case_steps(s: Session, case_type: str, case_id: str) -> list[dict[str, Any]]:
    """The steps of one case, oldest first, as answered to callers."""
    rows = s.scalars(
        select(CaseStepRow)
        .where(CaseStepRow.case_type == case_type, CaseStepRow.case_id == case_id)
        .order_by(CaseStepRow.id)
    )
    return [
        {
            "action": e.action,
            "from": e.from_status,
            "to": e.to_status,
            "actor": e.actor,
            "note": e.note,
            "at": e.at.isoformat(),
        }
        for e in rows
    ]


def clock_view(
    c: Container, code: str, lim: Limit, due: date, done: date | None, today: date
) -> dict[str, Any]:
    """One legal clock of a case as every surface shows it: due day, state, working days left,
    and whether the holiday arrangement of the due day's year is confirmed (节假日安排)."""
    # working days still to come after today, the due day included (0 on the due day itself)
    left = c.calendar.working_days_between(today + timedelta(days=1), due + timedelta(days=1))[0]
    return {
        "code": code,
        "label": lim.label,
        "due": due.isoformat(),
        "working_days": lim.working_days,
        "remaining_working_days": None if done else left,
        "state": "done" if done else ("overdue" if is_overdue(due, today) else "running"),
        "met": None if not done else done <= due,
        "basis": lim.basis,
        "uncertain": lim.uncertain,
        "calendar_confirmed": c.calendar.day(due).confirmed,
    }


def escalate_late(
    c: Container,
    *,
    case_type: str,  # objection | repair
    title: str,  # e.g. "异议逾期"
    open_cases: Callable[[Session], Iterable[Any]],
    late: Callable[[Any, date], str | None],
    step: Callable[[Session, Any, str], None],
    notifier: Notifier,
) -> dict[str, Any]:
    """Every case past one of its clocks is escalated once per clock: a step and a notice to
    the credit office (the shared body of the objections' and repairs' overdue sweeps). Each
    clock runs in one status (受理 while submitted, 核查/审核 while accepted, 同步 once
    decided), so "once per clock" is "once per status": a case escalated while submitted is
    escalated again if it is later late in its decision too."""
    now = c.clock.now()
    today = local_date(now)
    ids: list[str] = []
    with c.uow() as uow:
        s = uow.session
        for row in list(open_cases(s)):
            sentence = late(row, today)
            if sentence is None:
                continue
            escalated = s.scalar(
                select(CaseStepRow.id).where(
                    CaseStepRow.case_type == case_type,
                    CaseStepRow.case_id == row.id,
                    CaseStepRow.action == "escalate",
                    CaseStepRow.from_status == row.status,
                )
            )
            if escalated is not None:
                continue
            row.escalated_at = now
            step(s, row, sentence)
            notifier.send(
                s,
                Notice(
                    CREDIT_OFFICE,
                    "-",
                    f"{case_type}.overdue",
                    f"{title}：{row.id}",
                    sentence,
                    case_type,
                    row.id,
                ),
                at=now,
            )
            ids.append(row.id)
        uow.commit()
    return {"escalated": len(ids), "ids": ids}
