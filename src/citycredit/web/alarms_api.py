"""System alarms over HTTP (G25; db/alarms.py), and the end of a storage-full incident.

    GET  /api/v1/admin/alarms            unacknowledged alarms, newest first (``?all=true``:
                                         every alarm) — system administrator, credit office
    POST /api/v1/admin/alarms/{id}/ack   acknowledge one (system administrator; audited)

`install` also adds a small middleware: while a storage-full incident is open in this process,
a state-changing request that succeeds (status below 400) on an operation the incident refused
(same method and path) ends it — the space was freed (`db.storage.operation_succeeded`); the
alarm's row gets its ``resolved_at``. Without an open incident the middleware only passes the
request on.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citycredit.accounts.auth import SAFE_METHODS
from citycredit.db import alarms, storage
from citycredit.web.deps import AuthenticatedDep, ContainerDep, request_info
from citycredit.web.errors import storage_where
from citycredit.web.params import RowId
from citycredit.web.schemas import admin as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1/admin")


@router.get("/alarms", response_model=out.SystemAlarmList, responses=errors(401, 403, 422))
def get_alarms(
    response: Response, c: ContainerDep, actor: AuthenticatedDep, all: bool = False
) -> dict[str, Any]:
    """系统告警: open (unacknowledged) alarms, or all with ``?all=true``."""
    rows = alarms.list_alarms(c, actor, open_only=not all)
    response.headers["Cache-Control"] = "no-store"
    return {"alarms": rows}


@router.post(
    "/alarms/{alarm_id}/ack",
    response_model=out.SystemAlarm,
    responses=errors(401, 403, 404, 422),
)
def post_ack(
    alarm_id: RowId, request: Request, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Acknowledge a system alarm (it stays in the history)."""
    return alarms.acknowledge(c, actor, alarm_id, request=request_info(request))


class StorageRecoveryMiddleware:
    """Ends an open storage-full incident when a refused operation succeeds again."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not storage.has_open_incident()
            or scope["method"] in SAFE_METHODS
        ):
            await self.app(scope, receive, send)
            return
        status: dict[str, int] = {}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code", 500) < 400:
            container = getattr(scope["app"].state, "container", None)
            await run_in_threadpool(
                storage.operation_succeeded,
                storage_where(scope["method"], Request(scope).url.path),
                engine=getattr(container, "engine", None),
            )


def install(app: FastAPI) -> None:
    """The alarms' routes and the middleware that ends a storage-full incident."""
    app.add_middleware(StorageRecoveryMiddleware)
    app.include_router(router)
