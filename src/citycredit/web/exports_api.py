"""HTTP API v1 for outbound exports (双公示 to the provincial platform), for the credit office.

Files with natural persons' data are downloaded through a download request approved by a
second credit-office account, as a watermarked copy that expires (exports/downloads.py, G35).
The download-request routes come before ``/{export_id}``: routing tries routes in order."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from citycredit.exports import downloads
from citycredit.exports import service as exports
from citycredit.web.audit import audit_object
from citycredit.web.deps import AuthenticatedDep, ContainerDep
from citycredit.web.schemas import exports as out
from citycredit.web.schemas.common import binary, errors, file_response

router = APIRouter(prefix="/api/v1/exports")

MEDIA = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}
# The 200 of a download, as the schema declares it.
DOWNLOAD = file_response(
    "The file: a data file's CSV (UTF-8 with BOM) or JSON, or manifest.json.",
    {
        "text/csv; charset=utf-8": binary("The item's rows with the platform's columns."),
        "application/json": {
            "schema": {
                "type": "object",
                "description": 'The item\'s JSON file ({…header…, "data": [rows]}) or '
                "manifest.json (format, period, items, counts, files).",
            }
        },
        "application/octet-stream": binary("Any other file of the export."),
    },
)


class DualPublicityBody(BaseModel):
    since: str | None = None  # YYYY-MM-DD or ISO datetime (Beijing time); default: last export
    until: str | None = None  # default: now
    formats: list[str] = ["csv", "json"]


@router.get(
    "",
    response_model=out.ExportList,
    response_model_exclude_unset=True,  # a failed export has no counts
    responses=errors(401, 403, 422),
)
def get_exports(
    c: ContainerDep, actor: AuthenticatedDep, limit: int = Query(50, ge=1, le=500)
) -> dict[str, Any]:
    """Recent exports, newest first: period, status, counts, files with checksums."""
    return {"exports": exports.list_exports(c, actor, limit=limit)}


@router.post(
    "/dual-publicity",
    status_code=201,
    response_model=out.Export,
    response_model_exclude_unset=True,
    responses=errors(401, 403, 409, 422),
)
def post_dual_publicity(
    body: DualPublicityBody, request: Request, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Run a 双公示 export now (files go to the server's export directory)."""
    result = exports.export_dual_publicity(
        c,
        actor,
        since=exports.parse_instant("since", body.since) if body.since else None,
        until=exports.parse_instant("until", body.until, end_of_day=True) if body.until else None,
        formats=body.formats,
        trigger="api",
    )
    audit_object(request, str(result["id"]))  # the audit trail names the export made (G10)
    return result


class DownloadRequestBody(BaseModel):
    purpose: str = Field(max_length=downloads.PURPOSE_MAX)  # 下载用途 (required)
    files: list[str] | None = None  # default: every file of the export with personal data


class DecisionBody(BaseModel):
    reason: str | None = Field(default=None, max_length=downloads.REASON_MAX)  # refusals


@router.get(
    "/download-requests",
    response_model=out.DownloadRequestList,
    responses=errors(401, 403, 422),
)
def get_download_requests(
    c: ContainerDep,
    actor: AuthenticatedDep,
    status: str | None = None,
    export_id: str | None = Query(None, max_length=24),
    sha256: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Download requests, newest first; ``sha256`` finds the request a copy was made for."""
    found = downloads.list_downloads(
        c, actor, status=status, export_id=export_id, sha256=sha256, limit=limit
    )
    return {"download_requests": found}


@router.get(
    "/download-requests/{download_id}",
    response_model=out.DownloadRequest,
    responses=errors(401, 403, 404, 422),
)
def get_download_request(
    download_id: str, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """One download request: who asked, who decided, when it expires, its copies' SHA-256."""
    return downloads.get_download(c, actor, download_id)


@router.post(
    "/download-requests/{download_id}/approve",
    response_model=out.DownloadRequest,
    responses=errors(401, 403, 404, 409, 422),
)
def post_download_approve(
    download_id: str, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Approve another account's request: watermarked copies are written for the requester."""
    return downloads.decide_download(c, actor, download_id, approve=True)


@router.post(
    "/download-requests/{download_id}/refuse",
    response_model=out.DownloadRequest,
    responses=errors(401, 403, 404, 409, 422),
)
def post_download_refuse(
    download_id: str, body: DecisionBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Refuse another account's request (a reason is required)."""
    return downloads.decide_download(c, actor, download_id, approve=False, reason=body.reason)


@router.get(
    "/download-requests/{download_id}/files/{name}",
    response_model=None,
    response_class=FileResponse,
    responses={**DOWNLOAD, **errors(401, 403, 404, 409, 410, 422)},
)
def get_download_copy(
    download_id: str, name: str, c: ContainerDep, actor: AuthenticatedDep
) -> FileResponse | JSONResponse:
    """Download one watermarked copy (the requester only, until its expiry; then 410)."""
    try:
        path = downloads.download_copy(c, actor, download_id, name)
    except downloads.CopyExpired as exc:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=410)
    media = MEDIA.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, filename=path.name)


@router.post(
    "/{export_id}/download-requests",
    status_code=201,
    response_model=out.DownloadRequest,
    responses=errors(401, 403, 404, 409, 422),
)
def post_download_request(
    export_id: str, body: DownloadRequestBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Ask to download the export's files with natural persons' data (a second credit-office
    account approves)."""
    return downloads.request_download(c, actor, export_id, purpose=body.purpose, files=body.files)


@router.get(
    "/{export_id}",
    response_model=out.Export,
    response_model_exclude_unset=True,
    responses=errors(401, 403, 404, 422),
)
def get_export(export_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """One export."""
    return exports.get_export(c, actor, export_id)


@router.get(
    "/{export_id}/proof",
    response_model=out.ExportProof,
    responses=errors(401, 403, 404, 409, 422),
)
def get_export_proof(export_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """The export's ledger proof: its manifest, the ``export.completed`` leaf committing to the
    manifest's digest, the inclusion proof and the signed checkpoint — for the province to
    check the files offline (``citycredit export verify DIRECTORY --bundle FILE``). 409
    ``ledger_pending`` until the sequencer has taken the leaf in."""
    return exports.export_proof(c, actor, export_id)


@router.get(
    "/{export_id}/files/{name}",
    response_class=FileResponse,
    responses={**DOWNLOAD, **errors(401, 403, 404, 422)},
)
def get_export_file(
    export_id: str,
    name: str,
    c: ContainerDep,
    actor: AuthenticatedDep,
    purpose: str | None = None,
) -> FileResponse:
    """Download one file of an export. A file with natural persons' data answers 403
    ``export_approval_required``: ask through ``POST /{export_id}/download-requests``."""
    path = exports.export_file(c, actor, export_id, name, purpose=purpose)
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))
