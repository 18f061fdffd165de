"""HTTP API v1 and pages for 信用报告: issue, read, bundle (reports/service.py)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citycredit.reports import service as reports
from citycredit.reports.layout import report_layout
from citycredit.web.deps import ContainerDep, FormPrincipalDep, PrincipalDep
from citycredit.web.errors import error_page
from citycredit.web.schemas import reports as out
from citycredit.web.schemas.common import errors
from citycredit.web.templating import templates

router = APIRouter(prefix="/api/v1")
pages = APIRouter(include_in_schema=False)


# Reports issued before format 2 lack its keys: exclude_unset keeps them absent, as stored.
@router.post(
    "/subjects/{subject_id}/reports",
    status_code=201,
    response_model=out.IssuedReport,
    response_model_exclude_unset=True,
    responses=errors(403, 404, 422),
)
def post_report(subject_id: str, c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """Issue a numbered public credit report of an organisation (公共信用信息报告)."""
    return reports.issue_report(c, actor, subject_id)


@router.get(
    "/reports/{report_no}",
    response_model=out.Report,
    response_model_exclude_unset=True,
    responses=errors(404, 422),
)
def get_report(report_no: str, c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """An issued report as the page shows it (entries no longer public by their status only),
    whether it still matches its digest, its ledger leaf."""
    return reports.get_report(c, actor, report_no)


@router.get(
    "/reports/{report_no}/bundle",
    response_model=out.ReportBundle,
    response_model_exclude_unset=True,
    responses=errors(403, 404, 409, 422),
)
def get_report_bundle(
    report_no: str, c: ContainerDep, actor: PrincipalDep, purpose: str | None = None
) -> dict[str, Any]:
    """The report with its ledger proof, for `citycredit ledger verify-bundle` (offline).

    Once an entry of the report is no longer public (信用修复, 撤销 …) the bundle — which
    must carry the whole report to verify — goes only to the subject's bound account, and to
    staff with a `purpose` (logged) while every such entry is still shared (not withdrawn, not
    repaired); anyone else gets 401/403 ``report_not_public``."""
    return reports.report_bundle(c, actor, report_no, purpose=purpose)


@pages.post("/subjects/{subject_id}/report")
def issue_page(subject_id: str, c: ContainerDep, actor: FormPrincipalDep) -> RedirectResponse:
    """The archive page's 生成信用报告 button: issue, then show the report."""
    issued = reports.issue_report(c, actor, subject_id)
    return RedirectResponse(f"/reports/{issued['report_no']}", status_code=303)


@pages.get("/reports", response_class=HTMLResponse)
def find_page(request: Request, c: ContainerDep, actor: PrincipalDep, no: str = "") -> Any:
    """报告核验: a report number typed in leads to the report and its verification."""
    if no.strip():
        return RedirectResponse(f"/reports/{reports.normalise_no(no)}", status_code=303)
    return templates().TemplateResponse(request, "report_find.html", {})


def _context(report: dict[str, Any]) -> dict[str, Any]:
    """What the report templates are rendered with: the report (get_report's answer), its
    content, its 信用中国 layout and the entries changed since issue by where they appear."""
    changes = report.get("changes") or []
    return {
        "r": report,
        "c": report["content"],
        "layout": report_layout(report["content"]),
        "record_marks": {ch["record_id"]: ch for ch in changes if ch["kind"] == "record"},
        "list_marks": {ch["list_index"]: ch for ch in changes if ch["kind"] == "list"},
        "tags": reports.shown_tags(report["content"], changes),
    }


@pages.get("/reports/{report_no}", response_class=HTMLResponse)
def report_page(
    request: Request, report_no: str, c: ContainerDep, actor: PrincipalDep
) -> HTMLResponse:
    """The report as issued, printable, with what verifies it and what changed since (the
    entries no longer public shown by their mark only, report_body.html)."""
    data = reports.issued_report(c, actor, report_no)
    return templates().TemplateResponse(request, "report.html", _context(data))


MISSING_BASE_URL = (
    "未配置平台的公开访问地址（CITYCREDIT_PUBLIC_BASE_URL，设置项 public_base_url）："
    "生产环境不能出具带核验二维码的 PDF。请联系平台管理员配置后再试。"
)


@pages.get("/reports/{report_no}/pdf", response_model=None)
def report_pdf(request: Request, report_no: str, c: ContainerDep, actor: PrincipalDep) -> Response:
    """The report as an A4 PDF with a QR code to its verification page (WeasyPrint).

    The printed address is the configured ``public_base_url``, never the request's Host header
    (which anyone can forge: a PDF the platform renders must not point elsewhere). Without it,
    production refuses (503); development and tests print the request's address but keep no
    file, so a Host header costs no disk and never reaches another caller's PDF.
    """
    data = reports.printable_report(c, actor, report_no)
    suite = c.settings.ledger_suite
    base = c.settings.public_base_url.strip().rstrip("/")
    if base:
        url = f"{base}/reports/{data['report_no']}"
        pdf = cached_pdf(c.settings.data_dir, data, verify_url=url, suite=suite)
    elif c.settings.environment == "production":
        return error_page(request, 503, MISSING_BASE_URL)
    else:
        url = f"{str(request.base_url).rstrip('/')}/reports/{data['report_no']}"
        pdf = render_pdf(data, verify_url=url, suite=suite)
    name = f"{data['report_no']}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _state(report: dict[str, Any]) -> str:
    """What a PDF shows beyond the issued content: the changes since issue and the expiry."""
    state = {"changes": report.get("changes") or [], "expired": bool(report.get("expired"))}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def cached_pdf(data_dir: Path, report: dict[str, Any], *, verify_url: str, suite: str) -> bytes:
    """The report's PDF, rendered once and kept in data_dir/reports: one file per report, keyed
    on its content digest, the suite, the configured address and what changed since issue (a
    render costs ~0.3 s of CPU). ``verify_url`` must come from settings, never a request: the
    key does not multiply by anything a caller sends. A newer state replaces the older file."""
    key = hashlib.sha256(
        f"{report['content_hash']}|{suite}|{verify_url}|{_state(report)}".encode()
    ).hexdigest()
    folder = data_dir / "reports"
    path = folder / f"{report['report_no']}-{key[:16]}.pdf"
    if path.exists():
        return path.read_bytes()
    pdf = render_pdf(report, verify_url=verify_url, suite=suite)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none
    for old in folder.glob(f"{report['report_no']}-*.pdf"):
        if old != path:
            old.unlink(missing_ok=True)  # the report's PDF of an earlier state
    return pdf


def render_pdf(report: dict[str, Any], *, verify_url: str, suite: str) -> bytes:
    """The PDF of an issued report (get_report's answer): the page's body, A4, with a QR code."""
    pdf: bytes = report_document(report, verify_url=verify_url, suite=suite).write_pdf()
    return pdf


def report_html(report: dict[str, Any], *, verify_url: str, suite: str) -> str:
    """The HTML the PDF is laid out from (the report body of the page, a QR code, a footer)."""
    import segno

    qr = segno.make(verify_url, error="m").svg_inline(scale=2)
    return (
        templates()
        .get_template("report_pdf.html")
        .render(**_context(report), qr=qr, verify_url=verify_url, suite=suite)
    )


def report_document(report: dict[str, Any], *, verify_url: str, suite: str) -> Any:
    """The laid-out WeasyPrint document of a report (pages, metadata) before it is written."""
    from weasyprint import HTML

    return HTML(string=report_html(report, verify_url=verify_url, suite=suite)).render()
