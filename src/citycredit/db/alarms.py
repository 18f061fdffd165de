"""G25: system alarms — incidents of the platform's operation that an operator must see and
acknowledge later, not only in a log line. Today one kind: ``storage_full`` (a write refused
for lack of space; `db/storage.py` raises it and stores it, one row per incident).

A row is raised when the incident starts (``raised_at``), carries what failed (``detail``:
where, error class, first line of the error, failure count, incident start and last failure),
gets ``resolved_at`` when the incident ended (the refused operation worked again, or the quiet
period passed without a failure), and ``acknowledged_at``/``acknowledged_by`` when an operator
acknowledged it. Rows are never deleted (the history stays).

Who sees them: the system administrator (系统管理员, ``configure_system``) runs the platform and
frees the space, so lists and acknowledges them; the credit office (``run_jobs``, which reads the
ledger's alarms and answers the departments whose submissions were refused) lists them too. The
acknowledgement is recorded in the audit trail (``system.alarm_ack``) in its transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, String, Table, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.accounts.model import Permission, Principal, require
from citycredit.db.base import Base, JsonType, UtcDateTime
from citycredit.shared.errors import NotFound, PermissionDenied

STORAGE_FULL = "storage_full"
KINDS = (STORAGE_FULL,)


class SystemAlarmRow(Base):
    """One incident of the platform's operation (G25), until acknowledged and after."""

    __tablename__ = "system_alarms"

    id: Mapped[int] = mapped_column(primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(40), comment="storage_full")
    detail: Mapped[dict[str, Any]] = mapped_column(
        JsonType, comment="where, error, first_line, failures, incident_start, last_failure"
    )
    resolved_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="the incident ended (the operation worked again, or quiet)"
    )
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))


def _table() -> Table:
    table = SystemAlarmRow.__table__
    assert isinstance(table, Table)
    return table


def write_incident(
    engine: Engine,
    alarm_id: int | None,
    *,
    detail: dict[str, Any],
    raised_at: datetime,
    resolved_at: datetime | None,
    kind: str = STORAGE_FULL,
) -> int:
    """Insert the incident's row (alarm_id None) or update it; its id. In a transaction of its
    own, on a connection of its own (the caller's transaction may be the one that failed)."""
    table = _table()
    with engine.begin() as conn:
        if alarm_id is None:
            new_id = conn.execute(
                insert(table)
                .values(kind=kind, raised_at=raised_at, detail=detail, resolved_at=resolved_at)
                .returning(table.c.id)
            ).scalar_one()
            return int(new_id)
        conn.execute(
            update(table)
            .where(table.c.id == alarm_id)
            .values(detail=detail, resolved_at=resolved_at)
        )
        return alarm_id


def resolve_stored(engine: Engine, where: str, *, at: datetime) -> list[int]:
    """End the stored storage-full incidents, not yet ended, that refused `where`; their ids."""
    table = _table()
    with engine.begin() as conn:
        open_rows = conn.execute(
            select(table.c.id, table.c.detail).where(
                table.c.kind == STORAGE_FULL, table.c.resolved_at.is_(None)
            )
        ).all()
        ids = [
            row.id
            for row in open_rows
            if where == row.detail.get("where") or where in (row.detail.get("operations") or {})
        ]
        for alarm_id, detail in ((r.id, r.detail) for r in open_rows if r.id in ids):
            conn.execute(
                update(table)
                .where(table.c.id == alarm_id)
                .values(resolved_at=at, detail={**detail, "ended_by": "operation_succeeded"})
            )
    return ids


def _may_read(actor: Principal) -> None:
    if actor.can(Permission.configure_system) or actor.can(Permission.run_jobs):
        return
    raise PermissionDenied(
        f"角色「{actor.role.label}」无权查看系统告警（系统管理员、信用办）", code="forbidden"
    )


def view(row: SystemAlarmRow) -> dict[str, Any]:
    """An alarm as the API and the CLI show it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "raised_at": row.raised_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledged_by": row.acknowledged_by,
        "detail": row.detail,
    }


def list_alarms(c: Any, actor: Principal, *, open_only: bool = True) -> list[dict[str, Any]]:
    """System alarms, newest first: the unacknowledged ones, or all (``open_only=False``)."""
    _may_read(actor)
    with c.uow() as uow:
        stmt = select(SystemAlarmRow).order_by(SystemAlarmRow.id.desc())
        if open_only:
            stmt = stmt.where(SystemAlarmRow.acknowledged_at.is_(None))
        rows = [view(r) for r in uow.session.scalars(stmt)]
        uow.finish_read()
        return rows


def acknowledge(c: Any, actor: Principal, alarm_id: int, *, request: Any = None) -> dict[str, Any]:
    """The system administrator acknowledges an alarm (it stays in the history); audited."""
    from citycredit.accounts.audit import add_event

    require(actor, Permission.configure_system)
    with c.uow() as uow:
        row = uow.session.get(SystemAlarmRow, alarm_id)
        if row is None:
            raise NotFound(f"系统告警 {alarm_id} 不存在", code="alarm_not_found")
        already = row.acknowledged_at is not None
        if not already:
            row.acknowledged_at, row.acknowledged_by = c.clock.now(), actor.label
        add_event(
            uow.session,
            at=c.clock.now(),
            action="system.alarm_ack",
            result="success",
            actor=actor,
            request=request,
            object_id=str(alarm_id),
            detail={"kind": row.kind, "already_acknowledged": already},
        )
        uow.session.flush()
        shown = view(row)
        uow.commit()
    return shown
