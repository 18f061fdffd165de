"""Server-rendered pages in Simplified Chinese (public portal: search and archive)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from citycredit.ingest import quality
from citycredit.shared.errors import FieldError
from citycredit.subjects import archive
from citycredit.web.deps import ContainerDep, PrincipalDep
from citycredit.web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, c: ContainerDep, actor: PrincipalDep, q: str = "") -> HTMLResponse:
    """Portal home: search by name or USCC."""
    results = []
    error = None
    if q.strip():
        try:
            results = archive.search_subjects(c, actor, q)
        except FieldError as e:
            error = e.message
    return templates().TemplateResponse(
        request, "home.html", {"q": q, "results": results, "error": error}
    )


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
def subject_page(
    request: Request, subject_id: str, c: ContainerDep, actor: PrincipalDep
) -> HTMLResponse:
    """The public credit archive of one subject."""
    data = archive.public_archive(c, actor, subject_id)
    return templates().TemplateResponse(request, "archive.html", {"a": data})


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, c: ContainerDep, actor: PrincipalDep) -> HTMLResponse:
    """数据质量: published per department, like GLEIF's issuer data-quality reports."""
    report = quality.quality_report(c, actor)
    return templates().TemplateResponse(request, "quality.html", {"r": report})
