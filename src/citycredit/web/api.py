"""HTTP API v1: parse → call one service function → render. No business rules here."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import BaseModel

from citycredit.ingest import quality, unresolved
from citycredit.ingest import service as ingest
from citycredit.shared.errors import FieldError
from citycredit.subjects import archive
from citycredit.web.deps import AuthenticatedDep, ContainerDep, PrincipalDep
from citycredit.web.params import Offset, RowId, limit_of
from citycredit.web.schemas import archive as archive_out
from citycredit.web.schemas import intake as out
from citycredit.web.schemas import quality as quality_out
from citycredit.web.schemas.common import binary, errors, file_response

router = APIRouter(prefix="/api/v1")


def _documented(model: type[BaseModel], description: str, *codes: int) -> dict[int | str, Any]:
    """A hot public read's answer, documented but not validated per request (the portal's
    latency targets; tests/e2e/test_openapi_contract_archive.py validates real answers)."""
    return {200: {"model": model, "description": description}, **errors(*codes)}


@router.get(
    "/subjects",
    response_model=None,
    responses=_documented(archive_out.SubjectSearch, "Matching subjects.", 422),
)
def search_subjects(
    c: ContainerDep,
    actor: PrincipalDep,
    q: str = "",
    limit: Annotated[int, limit_of(100)] = 20,
) -> dict[str, Any]:
    """Find subjects by name (Chinese, partial) or USCC."""
    return {"q": q, "results": archive.search_subjects(c, actor, q, limit=limit)}


@router.get(
    "/subjects/{subject_id}",
    response_model=None,
    responses=_documented(archive_out.SubjectSummary, "The subject.", 404, 422),
)
def get_subject(subject_id: str, c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """Public summary of a subject."""
    return archive.get_subject(c, actor, subject_id)


@router.get(
    "/publicity/{item}",
    response_model=None,
    responses=_documented(archive_out.PublicityPage, "A page of 双公示 entries.", 422),
)
def get_publicity(
    item: str,
    c: ContainerDep,
    actor: PrincipalDep,
    limit: Annotated[int, limit_of(100)] = 20,
    offset: int = 0,  # 0 … DUAL_PUBLICITY_MAX_OFFSET, checked by the service (Chinese message)
) -> dict[str, Any]:
    """双公示: the newest public licences (licence) or penalties (penalty) of the city, each
    as its subject's public archive shows it; natural persons masked and not linked."""
    return archive.dual_publicity(c, actor, item, limit=limit, offset=offset)


@router.get(
    "/subjects/{subject_id}/archive",
    response_model=None,
    responses=_documented(archive_out.Archive, "The archive view.", 403, 404, 422),
)
def get_archive(
    subject_id: str,
    c: ContainerDep,
    actor: PrincipalDep,
    view: Annotated[str, Query(pattern="^(public|authorised)$")] = "public",
    purpose: str | None = None,
) -> dict[str, Any]:
    """信用档案: the public view, or the authorised view with a stated purpose (logged)."""
    if view == "authorised":
        return archive.authorised_archive(c, actor, subject_id, purpose=purpose or "")
    return archive.public_archive(c, actor, subject_id)


@router.post("/submissions", response_model=out.Receipt, responses=errors(401, 403, 404, 422))
def post_submission(
    c: ContainerDep,
    actor: AuthenticatedDep,
    file: Annotated[UploadFile, File(description="CSV / XLSX / JSON")],
    item: Annotated[str, Form()],
    department: Annotated[str | None, Form()] = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Submit a file of one catalog item; ?dry_run=true validates without storing."""
    limit = c.settings.max_upload_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="cc-upload-") as tmp:
        name = Path(file.filename or "upload").name
        path = Path(tmp) / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1024 * 1024)
        if path.stat().st_size > limit:
            raise FieldError(
                "file", name, "too_large", f"文件超过上传上限 {c.settings.max_upload_mb} MB"
            )
        receipt = ingest.ingest_submission(
            c,
            actor,
            path=path,
            item_code=item,
            department=department,
            filename=name,
            dry_run=dry_run,
        )
    return receipt.as_dict()


@router.get(
    "/submissions",
    response_model=out.SubmissionList,
    responses=errors(401, 403, 422),
)
def get_submissions(
    c: ContainerDep,
    actor: AuthenticatedDep,
    item: Annotated[str | None, Query(description="只列出该信息项的报送批次")] = None,
    limit: Annotated[int, limit_of(ingest.SUBMISSIONS_PAGE)] = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    """报送记录: the caller's department's submissions, newest first, each as its 回执 (the
    credit office: every department's)."""
    return ingest.list_submissions(c, actor, item=item, limit=limit, offset=offset)


@router.get(
    "/submissions/{submission_id}",
    response_model=out.Receipt,
    responses=errors(401, 403, 404, 422),
)
def get_submission(submission_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """回执 of a submission."""
    return ingest.get_receipt(c, actor, submission_id).as_dict()


@router.get(
    "/submissions/{submission_id}/rejects",
    response_model=out.RejectList,
    response_model_exclude_unset=True,  # `personal_hidden` only when values were hidden
    responses=errors(401, 403, 404, 422),
)
def get_rejects(submission_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Quarantined rows with one reason per failing field."""
    rows = ingest.list_rejects(c, actor, submission_id)
    return {"submission_id": submission_id, "count": len(rows), "rejects": rows}


@router.get(
    "/submissions/{submission_id}/rejects.csv",
    response_class=Response,
    responses={
        **file_response(
            "The quarantined rows as CSV (UTF-8 with BOM): the file's columns, 行号, 问题说明.",
            {"text/csv; charset=utf-8": binary("The rows to fix and send again.")},
        ),
        **errors(401, 403, 404, 422),
    },
)
def get_rejects_csv(submission_id: str, c: ContainerDep, actor: AuthenticatedDep) -> Response:
    """问题数据下载: the rejected rows in the file's own columns, with the reasons, to correct
    in a spreadsheet and submit again."""
    name, data = ingest.rejects_csv(c, actor, submission_id)
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


class WithdrawBody(BaseModel):
    reason: str


@router.post(
    "/records/{record_id}/withdraw",
    response_model=out.Withdrawal,
    responses=errors(401, 403, 404, 409, 422),
)
def post_withdraw(
    record_id: str, body: WithdrawBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """撤销 a record (tombstone version with a reason)."""
    version = ingest.withdraw_record(c, actor, record_id, body.reason)
    return {"record_id": record_id, "version": version, "status": "withdrawn"}


@router.get(
    "/records/{record_id}/history",
    response_model=out.RecordHistory,
    responses=errors(401, 403, 404, 422),
)
def get_history(record_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Every version of a record."""
    return {"record_id": record_id, "versions": ingest.record_history(c, actor, record_id)}


@router.get("/unresolved", response_model=out.UnresolvedList, responses=errors(401, 403, 422))
def get_unresolved(
    c: ContainerDep, actor: AuthenticatedDep, status: str = "open"
) -> dict[str, Any]:
    """The clerk's queue of rows whose subject could not be identified."""
    rows = unresolved.list_unresolved(c, actor, status=status)
    return {"count": len(rows), "unresolved": rows}


class AttachBody(BaseModel):
    subject_id: str


@router.post(
    "/unresolved/{unresolved_id}/attach",
    response_model=out.Attached,
    responses=errors(401, 403, 404, 422),
)
def post_attach(
    unresolved_id: RowId, body: AttachBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Attach a queued row to a subject (stores it as a record)."""
    return {"record_id": unresolved.attach_unresolved(c, actor, unresolved_id, body.subject_id)}


class DismissBody(BaseModel):
    reason: str


@router.post(
    "/unresolved/{unresolved_id}/dismiss",
    response_model=out.Dismissed,
    responses=errors(401, 403, 404, 422),
)
def post_dismiss(
    unresolved_id: RowId, body: DismissBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Return a queued row to its department."""
    unresolved.dismiss_unresolved(c, actor, unresolved_id, body.reason)
    return {"id": unresolved_id, "status": "dismissed"}


@router.get(
    "/quality",
    response_model=None,  # a stored snapshot: one of an older release is served, never a 500
    responses=_documented(quality_out.QualityReport, "The newest stored report."),
)
def get_quality(c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """数据质量: 归集率, timeliness, completeness, rejections, unresolved, 档案覆盖率 — the newest
    snapshot (computed hourly) with its 统计时间 ``computed_at``; never computed per read."""
    return quality.quality_report(c, actor)


@router.post(
    "/quality/refresh",
    response_model=None,
    responses=_documented(quality_out.QualityReport, "The report computed now.", 401, 403),
)
def post_quality_refresh(c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Credit office: compute the 数据质量 report now (a full scan) and store it as the newest."""
    return quality.refresh_quality_report(c, actor, "api")


@router.get("/catalog", response_model=out.CatalogOut)
def get_catalog(c: ContainerDep) -> dict[str, Any]:
    """The catalog: items, openness and fields (public information)."""
    cat = c.catalog
    return {
        "version": cat.version,
        "edition": cat.edition,
        "items": [
            {
                "code": i.code,
                "name": i.name,
                "category": i.category,
                "version": i.version,
                "openness": i.openness.value,
                "adverse": i.adverse,
                "legal_basis": [str(b) for b in i.legal_basis],
                "fields": [
                    {
                        "code": f.code,
                        "label": f.label,
                        "type": f.type.value,
                        "required": f.required,
                        "unit": f.unit,
                    }
                    for f in i.fields
                ],
            }
            for i in cat.items.values()
        ],
    }
