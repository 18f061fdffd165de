"""HTTP API v1 and pages for 信用报告: issue, read, bundle (reports/service.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

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
        return RedirectResponse(f"/reports/{no.strip().upper()}", status_code=303)
    return templates().TemplateResponse(request, "report_find.html", {})


@pages.get("/reports/{report_no}", response_class=HTMLResponse)
def report_page(
    request: Request, report_no: str, c: ContainerDep, actor: PrincipalDep
) -> HTMLResponse:
    """The report as issued, printable, with what verifies it."""
    data = reports.get_report(c, actor, report_no)
    return templates().TemplateResponse(request, "report.html", {"r": data, "c": data["content"]})
