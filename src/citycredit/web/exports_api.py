"""HTTP API v1 for outbound exports (双公示 to the provincial platform), for the credit office."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from citycredit.exports import service as exports
from citycredit.web.deps import AuthenticatedDep, ContainerDep

router = APIRouter(prefix="/api/v1/exports")

MEDIA = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}


class DualPublicityBody(BaseModel):
    since: str | None = None  # YYYY-MM-DD or ISO datetime (Beijing time); default: last export
    until: str | None = None  # default: now
    formats: list[str] = ["csv", "json"]


@router.get("")
def get_exports(
    c: ContainerDep, actor: AuthenticatedDep, limit: int = Query(50, ge=1, le=500)
) -> list[dict[str, Any]]:
    """Recent exports, newest first: period, status, counts, files with checksums."""
    return exports.list_exports(c, actor, limit=limit)


@router.post("/dual-publicity", status_code=201)
def post_dual_publicity(
    body: DualPublicityBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Run a 双公示 export now (files go to the server's export directory)."""
    return exports.export_dual_publicity(
        c,
        actor,
        since=exports.parse_instant("since", body.since) if body.since else None,
        until=exports.parse_instant("until", body.until, end_of_day=True) if body.until else None,
        formats=body.formats,
        trigger="api",
    )


@router.get("/{export_id}")
def get_export(export_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """One export."""
    return exports.get_export(c, actor, export_id)


@router.get("/{export_id}/files/{name}")
def get_export_file(
    export_id: str,
    name: str,
    c: ContainerDep,
    actor: AuthenticatedDep,
    purpose: str | None = None,
) -> FileResponse:
    """Download one file of an export (data files carry ID numbers: the read is logged)."""
    path = exports.export_file(c, actor, export_id, name, purpose=purpose)
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))
