"""操作审计: the append-only operator audit trail (等保 CES1-12..15; docs/accounts-security.md).

Every login, second factor, logout and failure is recorded by the authentication service in the
same transaction as its effect; every state-changing HTTP call is recorded by the web middleware
(web/audit.py) before the handler runs ("started", fail closed) and after ("success", "denied",
"failure", "error") — or, for the few routes that take part (credit checks), by the handler in the
same transaction as the change, with only failures recorded after; account, binding and purge
actions record themselves. The application never updates or deletes a row; the database refuses
UPDATE and any DELETE of rows younger than 180 days (migration 0009), so only `purge_expired`
removes anything, and it records that it did — and exactly which ids it deleted (audit_purges;
on PostgreSQL through the owner's `citycredit_audit_purge` function, so the application's role
needs no DELETE). Events are sealed into the 信用数据链 afterwards (accounts.audit_seal), so a
change made behind the application's back is reported by `citycredit audit verify` (G11).

Successful reads of non-public and personal data (查询登记, `kernel.disclosure`) add a `data.read`
event to the read's own transaction (`add_read_event`), with the request the HTTP middleware
put in `CURRENT_REQUEST` (G10).

Time discipline (G39): an event's `at` is UTC (`db.base.UtcDateTime`) and never earlier than
the last event this process stamped for the same database (`stamp`). When the clock steps back,
events keep the last time stamped until the clock has caught up, each saying how far the clock
was behind (``detail["clock_step_back_ms"]``); an event whose writer read the clock before an
overlapping writer's event was stamped keeps that event's time, unmarked. Ids are drawn at
insert: the trail's order is the order of writing, whatever the clock says.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, select, text
from sqlalchemy.orm import Session

from citycredit.accounts.audit_seal import id_ranges
from citycredit.accounts.db import AuditEventRow, AuditPurgeRow
from citycredit.accounts.model import SYSTEM, Permission, Principal, require
from citycredit.accounts.policy import SecurityPolicy
from citycredit.bootstrap import Container
from citycredit.db.base import UtcDateTime
from citycredit.db.durability import forget_deleted_pages
from citycredit.shared.clock import Clock, SystemClock
from citycredit.shared.errors import FieldError

RESULTS = ("started", "success", "failure", "denied", "error")
_MAX_LIMIT = 1000


@dataclass(frozen=True)
class RequestInfo:
    """Where an audited action came from."""

    request_id: str | None = None
    method: str | None = None
    path: str | None = None
    source_ip: str | None = None


# The request being served (set by the HTTP middleware, web/audit.py): services that record
# their own events (reads of personal data) take the request id and source address from here.
CURRENT_REQUEST: ContextVar[RequestInfo | None] = ContextVar("audit_request", default=None)


class _Stamps:
    """The last `at` stamped for one source (this process's engine on one database), and the
    clock read to tell a step of the clock from writers that overlap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: datetime | None = None
        self.clock: Clock = SystemClock()


_SOURCES: weakref.WeakKeyDictionary[Engine, _Stamps] = weakref.WeakKeyDictionary()
_SOURCES_LOCK = threading.Lock()
STEP_BACK_KEY = "clock_step_back_ms"


def _stamps(source: Engine) -> _Stamps:
    with _SOURCES_LOCK:
        stamps = _SOURCES.get(source)
        if stamps is None:
            stamps = _SOURCES[source] = _Stamps()
        return stamps


def watch_clock(c: Container) -> None:
    """Tell a step of the clock by the container's clock for its database (`stamp`)."""
    stamps = _stamps(c.engine)
    with stamps.lock:
        stamps.clock = c.clock


def stamp(source: Engine, at: datetime, clock: Clock | None = None) -> tuple[datetime, int | None]:
    """The time to record for an event read at `at`, and how far the clock is behind (ms) when
    it stepped back (G39).

    `at` never goes before the last time stamped for `source`. An earlier `at` is either a writer
    that read the clock before another one's event (overlapping transactions: kept in order, not
    marked) or a clock that stepped back: the clock read now, under the lock, is then behind the
    last time stamped, which overlapping writers can never make it. `clock` is the container's
    (remembered for the source; the system clock until one is given — the same in production).
    """
    stamps = _stamps(source)
    with stamps.lock:
        if clock is not None:
            stamps.clock = clock
        last = stamps.last
        if last is None or at >= last:
            stamps.last = at
            return at, None
        behind = last - stamps.clock.now()
        if behind <= timedelta(0):
            return last, None
        return last, max(1, round(behind / timedelta(milliseconds=1)))


def _stamped(source: Any, kwargs: dict[str, Any], clock: Clock | None = None) -> dict[str, Any]:
    """`event_row` keyword arguments with `at` made monotonic for the source (an engine, or a
    connection's)."""
    engine = getattr(source, "engine", source)
    if not isinstance(engine, Engine):
        return kwargs
    at, step = stamp(engine, kwargs["at"], clock)
    if at == kwargs["at"] and step is None:
        return kwargs
    detail = {**(kwargs.get("detail") or {})}
    if step is not None:
        detail[STEP_BACK_KEY] = step
    return {**kwargs, "at": at, "detail": detail}


def credential_of(actor: Principal | None) -> str | None:
    """How the actor authenticated, without any secret: session id, token id or console."""
    if actor is None:
        return None
    if actor.session_id:
        return f"session:{actor.session_id}"
    if actor.token_id is not None:
        return f"token:{actor.token_id}"
    if actor.console:
        return "console"
    return None


def event_row(
    *,
    at: datetime,
    action: str,
    result: str,
    actor: Principal | None = None,
    actor_label: str | None = None,
    actor_user_id: int | None = None,
    actor_role: str | None = None,
    request: RequestInfo | None = None,
    object_id: str | None = None,
    status_code: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEventRow:
    """One audit event (not yet stored)."""
    if result not in RESULTS:
        raise ValueError(f"unknown audit result {result!r}")
    req = request or RequestInfo()
    return AuditEventRow(
        at=at,
        request_id=req.request_id,
        action=action[:120],
        result=result,
        actor_role=actor_role or (actor.role.value if actor else "public"),
        actor_label=(actor_label or (actor.label if actor else "anonymous"))[:100],
        actor_user_id=actor_user_id if actor_user_id is not None else (actor and actor.user_id),
        department_id=actor.department_id if actor else None,
        credential=credential_of(actor),
        method=req.method,
        path=(req.path or None) and req.path[:300],
        object_id=object_id[:100] if object_id else None,
        status_code=status_code,
        source_ip=req.source_ip,
        detail=detail or {},
    )


def add_event(session: Session, **kwargs: Any) -> AuditEventRow:
    """Add one audit event to the caller's transaction (it commits with the audited change);
    keyword arguments as `event_row`."""
    row = event_row(**_stamped(session.get_bind(), kwargs))
    session.add(row)
    return row


def stamped_row(c: Container, **kwargs: Any) -> AuditEventRow:
    """One event (keyword arguments as `event_row`) stamped now, monotonic for this process and
    database, for a caller that inserts it itself (`event_values`)."""
    return event_row(**_stamped(c.engine, {"at": c.clock.now(), **kwargs}, c.clock))


def add_read_event(
    session: Session,
    *,
    actor: Principal,
    at: datetime,
    object_id: str | None,
    subject_id: str,
    items: Iterable[str],
    fields: Iterable[str],
    purpose: str,
    channel: str,
    detail: Mapping[str, Any] | None = None,
) -> AuditEventRow:
    """`data.read`: a successful read of non-public or personal data, in the read's transaction.

    `fields` names the personal fields opened — never their values; the request id and source
    address come from the request being served (`CURRENT_REQUEST`), if any."""
    return add_event(
        session,
        at=at,
        action="data.read",
        result="success",
        actor=actor,
        request=CURRENT_REQUEST.get(),
        object_id=object_id,
        detail={
            **(detail or {}),
            "subject_id": subject_id,
            "items": sorted(set(items)),
            "fields": sorted(set(fields)),
            "purpose": purpose,
            "channel": channel,
        },
    )


_COLUMNS = tuple(col.key for col in AuditEventRow.__table__.columns if col.key != "id")


def event_values(row: AuditEventRow) -> dict[str, Any]:
    """An event's column values, for a plain INSERT (no ORM unit of work)."""
    return {k: getattr(row, k) for k in _COLUMNS}


def write_event(c: Container, **kwargs: Any) -> None:
    """Record one event in its own transaction (raises if the audit store is unavailable).

    One plain INSERT on a pooled connection, without an ORM unit of work: the HTTP middleware
    calls this twice for most state-changing requests."""
    row = stamped_row(c, **kwargs)
    with c.engine.begin() as conn:
        conn.execute(insert(AuditEventRow), event_values(row))


def _view(r: AuditEventRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": r.at.isoformat(),
        "request_id": r.request_id,
        "action": r.action,
        "result": r.result,
        "actor_role": r.actor_role,
        "actor_label": r.actor_label,
        "actor_user_id": r.actor_user_id,
        "department_id": r.department_id,
        "credential": r.credential,
        "method": r.method,
        "path": r.path,
        "object_id": r.object_id,
        "status_code": r.status_code,
        "source_ip": r.source_ip,
        "detail": r.detail,
    }


def list_events(
    c: Container,
    actor: Principal,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    result: str | None = None,
    actor_user_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """审计查询 (audit administrator only), newest first; the query itself is audited."""
    require(actor, Permission.read_audit)
    if result is not None and result not in RESULTS:
        raise FieldError("result", result, "invalid", f"result 只能是 {'、'.join(RESULTS)}")
    if limit < 1 or limit > _MAX_LIMIT:
        raise FieldError("limit", str(limit), "out_of_range", f"limit 取 1–{_MAX_LIMIT}")
    stmt = select(AuditEventRow)
    if since is not None:
        stmt = stmt.where(AuditEventRow.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEventRow.at < until)
    if action:
        stmt = stmt.where(AuditEventRow.action.startswith(action, autoescape=True))
    if result:
        stmt = stmt.where(AuditEventRow.result == result)
    if actor_user_id is not None:
        stmt = stmt.where(AuditEventRow.actor_user_id == actor_user_id)
    if before_id is not None:
        stmt = stmt.where(AuditEventRow.id < before_id)
    stmt = stmt.order_by(AuditEventRow.id.desc()).limit(limit)
    with c.uow() as uow:
        rows = list(uow.session.scalars(stmt))
        filters = {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "action": action,
            "result": result,
            "actor_user_id": actor_user_id,
            "before_id": before_id,
            "limit": limit,
        }
        add_event(
            uow.session,
            at=c.clock.now(),
            action="audit.read",
            result="success",
            actor=actor,
            request=request,
            detail={"filters": {k: v for k, v in filters.items() if v is not None}},
        )
        uow.commit()
    return {
        "count": len(rows),
        "next_before_id": rows[-1].id if len(rows) == limit else None,
        "events": [_view(r) for r in rows],
    }


_PG_PURGE = text("SELECT citycredit_audit_purge(:cutoff, :days, :at)").bindparams(
    bindparam("cutoff", type_=UtcDateTime()), bindparam("at", type_=UtcDateTime())
)


def _purge(s: Session, cutoff: datetime, days: int, at: datetime) -> AuditPurgeRow:
    """Delete events older than the cutoff and record exactly which ids went (audit_purges).

    On PostgreSQL through the owner's SECURITY DEFINER function (migration 0024): the
    application's role has no DELETE on audit_events (`citycredit db grant-app-role`)."""
    if s.get_bind().dialect.name == "postgresql":
        purge_id = s.scalar(_PG_PURGE, {"cutoff": cutoff, "days": days, "at": at})
        row = s.get(AuditPurgeRow, purge_id)
        assert row is not None
        return row
    gone = s.scalars(
        delete(AuditEventRow).where(AuditEventRow.at < cutoff).returning(AuditEventRow.id)
    )
    ids = list(gone)
    row = AuditPurgeRow(
        at=at, cutoff=cutoff, retention_days=days, deleted=len(ids), ranges=id_ranges(ids)
    )
    s.add(row)
    s.flush()
    return row


def purge_expired(c: Container, actor: Principal = SYSTEM) -> dict[str, Any]:
    """Delete audit events older than the retention (never younger than 180 days); the ids
    deleted are recorded (`audit verify` accepts exactly those) and the purge is audited."""
    require(actor, Permission.configure_system)
    policy = c.settings.security
    days = policy.effective_audit_retention_days
    now = c.clock.now()
    cutoff = now - timedelta(days=days)
    with c.uow() as uow:
        s = uow.session
        oldest = s.scalar(select(func.min(AuditEventRow.at)))
        purge = _purge(s, cutoff, days, now)
        detail = {
            "retention_days": days,
            "configured_days": policy.audit_retention_days,
            "cutoff": purge.cutoff.isoformat(),
            "deleted": purge.deleted,
            "purge_id": purge.id,
            "ranges": len(purge.ranges),
            "oldest_before": oldest.isoformat() if oldest else None,
        }
        add_event(
            s, at=c.clock.now(), action="audit.purge", result="success", actor=actor, detail=detail
        )
        uow.commit()
    forget_deleted_pages(c.engine)  # G36: the purged rows' page images leave the WAL too
    return detail


def policy_fingerprint(policy: SecurityPolicy) -> str:
    """A short digest of the security policy (changes are recorded in the trail)."""
    raw = json.dumps(policy.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def record_policy_if_changed(c: Container) -> bool:
    """Record the effective security policy when it differs from the last one recorded (G3).

    Called once when the server starts (web/app.py lifespan), after the stored overrides are
    loaded (accounts.policy_store): a change of the environment's policy (``CITYCREDIT_SECURITY``,
    the operator's deployment) is recorded here, before any request is served, as one
    ``config.security_policy`` event with the old and new values and fingerprints. It names no
    person — the actor is ``system``: no one's action in the application made the change. The
    security administrator's changes at run time are recorded when they are made, naming the
    administrator (`policy_store.change_policy`), so they are not recorded again here.
    """
    from citycredit.accounts import policy_store

    watch_clock(c)  # the server's start: the audit trail's clock is the container's
    with c.uow() as uow:
        s = uow.session
        policy_store.lock_changes(s)  # workers starting together record a change once
        policy = policy_store.refresh(c, force=True)
        environment = policy_store.environment_policy(c)
        fp, env_fp = policy_fingerprint(policy), policy_fingerprint(environment)
        last = s.scalar(
            select(AuditEventRow)
            .where(AuditEventRow.action == "config.security_policy")
            .order_by(AuditEventRow.id.desc())
            .limit(1)
        )
        if last is not None:
            # events before run-time changes existed had no "environment": it was the policy
            last_env = last.detail.get("environment", last.detail.get("fingerprint"))
            if last.detail.get("fingerprint") == fp and last_env == env_fp:
                return False
        now_values = policy.model_dump(mode="json")
        before = last.detail.get("policy") if last is not None else None
        changes = (
            {
                k: {"old": before.get(k), "new": v}
                for k, v in now_values.items()
                if before.get(k) != v
            }
            if isinstance(before, dict)
            else {}
        )
        add_event(
            s,
            at=c.clock.now(),
            action="config.security_policy",
            result="success",
            actor=SYSTEM,
            detail={
                "source": "environment",
                "fingerprint": fp,
                "previous": last.detail.get("fingerprint") if last else None,
                "environment": env_fp,
                "changes": changes,
                "overrides": policy_store.stored_overrides(c),
                "policy": now_values,
            },
        )
        uow.commit()
        return True
