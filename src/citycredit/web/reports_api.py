"""HTTP API v1 and pages for 信用报告: issue, read, bundle (reports/service.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citycredit.reports import service as reports
from citycredit.web.deps import ContainerDep, PrincipalDep
from citycredit.web.templating import templates

router = APIRouter(prefix="/api/v1")
pages = APIRouter(include_in_schema=False)


@router.post("/subjects/{subject_id}/reports", status_code=201)
def post_report(subject_id: str, c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """Issue a numbered public credit report of an organisation (公共信用信息报告)."""
    return reports.issue_report(c, actor, subject_id)


@router.get("/reports/{report_no}")
def get_report(report_no: str, c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """An issued report as issued, whether it still matches its digest, its ledger leaf."""
    return reports.get_report(c, actor, report_no)


@router.get("/reports/{report_no}/bundle")
def get_report_bundle(report_no: str, c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """The report with its ledger proof, for `citycredit ledger verify-bundle` (offline)."""
    return reports.report_bundle(c, actor, report_no)


@pages.post("/subjects/{subject_id}/report")
def issue_page(subject_id: str, c: ContainerDep, actor: PrincipalDep) -> RedirectResponse:
    """The archive page's 生成信用报告 button: issue, then show the report."""
    issued = reports.issue_report(c, actor, subject_id)
    return RedirectResponse(f"/reports/{issued['report_no']}", status_code=303)


@pages.get("/reports", response_class=HTMLResponse)
def find_page(request: Request, c: ContainerDep, actor: PrincipalDep, no: str = "") -> Any:
    """报告核验: a report number typed in leads to the report and its verification."""
    if no.strip():
        return RedirectResponse(f"/reports/{reports.normalise_no(no)}", status_code=303)
    return templates().TemplateResponse(request, "report_find.html", {})


@pages.get("/reports/{report_no}", response_class=HTMLResponse)
def report_page(
    request: Request, report_no: str, c: ContainerDep, actor: PrincipalDep
) -> HTMLResponse:
    """The report as issued, printable, with what verifies it."""
    data = reports.get_report(c, actor, report_no)
    return templates().TemplateResponse(request, "report.html", {"r": data, "c": data["content"]})


@pages.get("/reports/{report_no}/pdf")
def report_pdf(request: Request, report_no: str, c: ContainerDep, actor: PrincipalDep) -> Response:
    """The report as an A4 PDF with a QR code to its verification page (WeasyPrint)."""
    data = reports.printable_report(c, actor, report_no)
    base = c.settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
    url = f"{base}/reports/{data['report_no']}"
    pdf = cached_pdf(c.settings.data_dir, data, verify_url=url, suite=c.settings.ledger_suite)
    name = f"{data['report_no']}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def cached_pdf(data_dir: Path, report: dict[str, Any], *, verify_url: str, suite: str) -> bytes:
    """The report's PDF, rendered once per (report, printed address) and kept in
    data_dir/reports: an issued report never changes, and a render costs ~0.3 s of CPU."""
    key = hashlib.sha256(f"{report['content_hash']}|{verify_url}|{suite}".encode()).hexdigest()
    path = data_dir / "reports" / f"{report['report_no']}-{key[:16]}.pdf"
    if path.exists():
        return path.read_bytes()
    pdf = render_pdf(report, verify_url=verify_url, suite=suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)  # atomic: a concurrent reader sees the whole file or none
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
        .render(r=report, c=report["content"], qr=qr, verify_url=verify_url, suite=suite)
    )


def report_document(report: dict[str, Any], *, verify_url: str, suite: str) -> Any:
    """The laid-out WeasyPrint document of a report (pages, metadata) before it is written."""
    from weasyprint import HTML

    return HTML(string=report_html(report, verify_url=verify_url, suite=suite)).render()
