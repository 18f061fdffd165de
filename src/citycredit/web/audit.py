"""The operator audit trail over HTTP: the recording middleware and the audit administrator's view.

Every state-changing request (POST, PUT, PATCH, DELETE) is recorded twice: "started" before the
handler runs — if that write fails the request is refused with 503 and nothing changes (fail
closed, 等保 CES1-15) — and its outcome after, with the actor, the route, the status and the
source address. Refused reads (401/403) are recorded too. The /api/v1/auth/ routes record their
own events (login, second factor, logout, failures) inside their transactions, so they are not
recorded again here; the IN_TRANSACTION routes (credit checks) hand their success event to the
service, which inserts it with the change, and only their failures are recorded here. Request and
response bodies are never recorded (passwords, personal data).

Successful reads of personal and other non-public data (查询登记) are recorded by the service
that reads, in the read's own transaction (`kernel.disclosure` → `accounts.audit.add_read_event`,
action ``data.read``): no second transaction on a read path. The middleware gives each request
its id (returned in the ``X-Request-ID`` header) and puts the request's id, method, path and
source address in `accounts.audit.CURRENT_REQUEST` for those services (G10).

The middleware also keeps the process's security policy current (G3): at most every
`policy_store.REFRESH_SECONDS` it applies a change the security administrator made in another
process (`policy_store.refresh`). The policy is recorded in the trail when it changes — by the
server's start for the environment's (or by the first request, if the start could not), by
`policy_store.change_policy` for the administrator's.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citycredit.accounts import audit, policy_store
from citycredit.accounts.audit import RequestInfo
from citycredit.accounts.auth import SAFE_METHODS, SESSION_COOKIE
from citycredit.accounts.model import Principal
from citycredit.bootstrap import Container
from citycredit.db.storage import is_storage_full
from citycredit.web.deps import AuthenticatedDep, ContainerDep, request_info
from citycredit.web.errors import storage_full
from citycredit.web.params import IsoDateTime, OptionalRowId

log = logging.getLogger(__name__)
SELF_AUDITED_PREFIX = "/api/v1/auth/"
# Routes whose handler hands its success event to the service, which inserts it in the same
# transaction as the change (`transactional_event`): fail closed by construction — the event and
# the change commit together or not at all — at one INSERT instead of two transactions of their
# own. The middleware records only their failures (and a success the handler did not record).
# Kept to hot paths: 信用核查 is called once per approval in the service halls.
IN_TRANSACTION = frozenset({("POST", "/api/v1/checks")})
REQUEST_ID_HEADER = "X-Request-ID"

router = APIRouter(prefix="/api/v1")


@router.get("/audit")
def get_audit(
    request: Request,
    c: ContainerDep,
    actor: AuthenticatedDep,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    action: str | None = None,
    result: str | None = None,
    actor_user_id: OptionalRowId = None,
    before_id: OptionalRowId = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """操作审计 (audit administrator only), newest first; reading it is audited as well."""
    return audit.list_events(
        c,
        actor,
        since=since,
        until=until,
        action=action,
        result=result,
        actor_user_id=actor_user_id,
        before_id=before_id,
        limit=limit,
        request=request_info(request),
    )


def _claimed_credential(request: Request) -> str | None:
    """What the request presents (not yet verified, no secret): token prefix or session id."""
    auth = request.headers.get("authorization")
    if auth:
        value = auth.partition(" ")[2] or auth
        return f"bearer:{value.strip()[:10]}"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return f"session:{cookie.split('.', 1)[0][:24]}"
    return None


def _result(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    return "failure" if status < 500 else "error"


def _route_of(request: Request) -> tuple[str, str | None]:
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    params = request.scope.get("path_params") or {}
    object_id = next((str(v) for v in params.values()), None)
    return template, object_id


def audit_object(request: Request, object_id: str) -> None:
    """Name the object a request created or acted on in its outcome event, for a route whose
    path does not name it (``POST /api/v1/exports/dual-publicity`` → the export's id)."""
    request.state.audit_object_id = object_id


def _write_outcome(
    c: Container, request: Request, info: RequestInfo, status: int, *, failed: bool = False
) -> None:
    template, object_id = _route_of(request)
    object_id = getattr(request.state, "audit_object_id", None) or object_id
    actor: Principal | None = getattr(request.state, "principal", None)
    hidden = getattr(request.state, "hidden_denial", None)
    detail: dict[str, Any] = {} if actor else {"credential": _claimed_credential(request)}
    if hidden:
        detail["refused"] = hidden  # answered 404 like a missing object (G8)
    audit.write_event(
        c,
        action=f"http.{request.method} {template}",
        result="error" if failed else ("denied" if hidden else _result(status)),
        actor=actor,
        request=info,
        object_id=object_id,
        status_code=status,
        detail=detail,
    )


def transactional_event(request: Request, c: Container) -> dict[str, Any]:
    """The success event of an IN_TRANSACTION route, as column values for the service to insert
    with its change (its object id is the service's to fill in). Call it in the handler after
    authentication; mark the request with `recorded_in_transaction` once the change committed."""
    template, object_id = _route_of(request)
    actor: Principal | None = getattr(request.state, "principal", None)
    row = audit.stamped_row(
        c,
        action=f"http.{request.method} {template}",
        result="success",
        actor=actor,
        request=request_info(request),
        object_id=object_id,
        status_code=200,
    )
    return audit.event_values(row)


def recorded_in_transaction(request: Request) -> None:
    """The handler's change committed with its audit event: the middleware adds none."""
    request.state.audit_recorded = True


class AuditMiddleware:
    """Records state-changing requests (fail closed) and refused requests.

    Plain ASGI (not BaseHTTPMiddleware, which wraps every request and response in extra tasks
    and streams): the response goes to the client as the handler produces it; its status is
    taken from the ``http.response.start`` message, and the outcome is written after it — the
    "started" event before the handler is what makes the trail fail closed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        c: Container = request.app.state.container
        request_id = request.state.request_id = uuid.uuid4().hex
        info = request_info(request)
        id_header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        token = audit.CURRENT_REQUEST.set(info)
        try:
            await self._call(request, c, info, scope, receive, send_with_id)
        finally:
            audit.CURRENT_REQUEST.reset(token)

    async def _call(
        self,
        request: Request,
        c: Container,
        info: RequestInfo,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if not getattr(request.app.state, "security_policy_recorded", False):
            try:  # the start could not record it (or the app was not started): now
                await run_in_threadpool(audit.record_policy_if_changed, c)
                request.app.state.security_policy_recorded = True
            except Exception:
                log.exception("could not record the security policy in the audit trail")
        elif policy_store.refresh_due(c):  # G3: another process's change, within 5 s
            try:
                await run_in_threadpool(policy_store.refresh, c)
            except Exception:
                log.exception("could not read the stored changes of the security policy")
        unsafe = request.method not in SAFE_METHODS
        in_transaction = (request.method, request.url.path) in IN_TRANSACTION
        recorded_here = unsafe and not request.url.path.startswith(SELF_AUDITED_PREFIX)
        if recorded_here and not in_transaction:
            try:
                await run_in_threadpool(
                    audit.write_event,
                    c,
                    action=f"http.{request.method} {request.url.path}",
                    result="started",
                    request=info,
                    detail={"credential": _claimed_credential(request)},
                )
            except Exception as exc:
                if is_storage_full(exc):  # G25: no space for even the audit row
                    await storage_full(request, exc)(scope, receive, send)
                    return
                log.exception("audit trail unavailable: request refused")
                refused = JSONResponse(
                    {"error": "audit_unavailable", "message": "审计记录无法写入，操作未执行"},
                    status_code=503,
                )
                await refused(scope, receive, send)
                return
        started: dict[str, int] = {}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            if recorded_here:
                try:
                    await run_in_threadpool(_write_outcome, c, request, info, 500, failed=True)
                except Exception:
                    log.exception("could not record the failed request in the audit trail")
            raise
        status = started.get("status", 500)
        if in_transaction and status < 400 and getattr(request.state, "audit_recorded", False):
            return  # its event committed with the change
        denied = status in (401, 403) or bool(getattr(request.state, "hidden_denial", None))
        if recorded_here or (denied and not request.url.path.startswith(SELF_AUDITED_PREFIX)):
            try:
                await run_in_threadpool(_write_outcome, c, request, info, status)
            except Exception:  # the change is done; its "started" event is in the trail
                log.exception("could not record the outcome in the audit trail")


def install(app: FastAPI) -> None:
    """Register the audit middleware and the audit administrator's route."""
    app.add_middleware(AuditMiddleware)
    app.include_router(router)
