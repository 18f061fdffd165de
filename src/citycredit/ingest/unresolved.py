"""待认领: the clerk's queue of valid rows whose subject could not be identified."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.ingest.db import RejectRow, UnresolvedRow
from citycredit.ingest.intake import Intake
from citycredit.kernel import outbox
from citycredit.privacy.access import Purpose, open_personal
from citycredit.privacy.records import unresolved_aad
from citycredit.shared.errors import FieldError, NotFound
from citycredit.subjects.db import SubjectRow


def list_unresolved(
    c: Container, actor: Principal, *, status: str = "open"
) -> list[dict[str, Any]]:
    """待认领: rows whose subject could not be identified."""
    require(actor, Permission.resolve_unresolved)
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(UnresolvedRow).where(UnresolvedRow.status == status).order_by(UnresolvedRow.id)
        )
        return [
            {
                "id": r.id,
                "submission_id": r.submission_id,
                "item": r.item_code,
                "row": r.row_number,
                "name": r.name,
                "division_code": r.division_code,
                "candidates": r.candidates,
                "status": r.status,
                "subject_id": r.subject_id,
                "record_id": r.record_id,
            }
            for r in rows
        ]


def count_unresolved(s: Session, department_id: int | None = None) -> int:
    """Open rows in the queue (optionally for one department)."""
    q = select(func.count()).select_from(UnresolvedRow).where(UnresolvedRow.status == "open")
    if department_id is not None:
        q = q.where(UnresolvedRow.department_id == department_id)
    return int(s.scalar(q) or 0)


def attach_unresolved(c: Container, actor: Principal, unresolved_id: int, subject_id: str) -> str:
    """A clerk attaches a queued row to a subject; the row is stored as a record through intake."""
    require(actor, Permission.resolve_unresolved)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        u = s.get(UnresolvedRow, unresolved_id)
        if u is None or u.status != "open":
            raise NotFound(
                f"待认领记录 {unresolved_id} 不存在或已处理", code="unresolved_not_found"
            )
        subject = s.get(SubjectRow, subject_id)
        if subject is None:
            raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
        dept = s.get(DepartmentRow, u.department_id)
        assert dept is not None
        item = c.catalog.item(u.item_code)
        intake = Intake(c, s, item, dept, u.submission_id, actor, now)
        values = open_personal(
            c,
            actor,
            u.values,
            aad=unresolved_aad(u.submission_id, u.row_number),
            purpose=Purpose.clerk_queue,
        )
        # A FieldError here means the catalog changed since: the row goes back to the department.
        outcome, record_id = intake.store_row(u.row_number, subject, values)
        u.status, u.subject_id, u.record_id = "attached", subject_id, record_id
        u.resolved_by, u.resolved_at = actor.label, now
        reject = s.get(RejectRow, u.reject_id)
        if reject is not None:
            reject.status = "resolved"
        outbox.emit(
            s,
            event_type="unresolved.attached",
            aggregate_type="unresolved",
            aggregate_id=str(u.id),
            subject_id=subject_id,
            at=now,
            payload={"record_id": record_id, "outcome": outcome},
        )
        uow.commit()
        return record_id


def dismiss_unresolved(c: Container, actor: Principal, unresolved_id: int, reason: str) -> None:
    """A clerk returns a queued row to its department (it stays quarantined, with the reason)."""
    require(actor, Permission.resolve_unresolved)
    if len((reason or "").strip()) < 2:
        raise FieldError("reason", reason, "required", "退回必须说明理由（reason）")
    now = c.clock.now()
    with c.uow() as uow:
        u = uow.session.get(UnresolvedRow, unresolved_id)
        if u is None or u.status != "open":
            raise NotFound(
                f"待认领记录 {unresolved_id} 不存在或已处理", code="unresolved_not_found"
            )
        u.status, u.resolved_by, u.resolved_at = "dismissed", actor.label, now
        outbox.emit(
            uow.session,
            event_type="unresolved.dismissed",
            aggregate_type="unresolved",
            aggregate_id=str(u.id),
            at=now,
            payload={"reason": reason},
        )
        uow.commit()
