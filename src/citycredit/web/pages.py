"""Server-rendered pages in Simplified Chinese (public portal: search, archive, lists, quality)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from citycredit.ingest import quality
from citycredit.lists import service as lists
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
    memberships = lists.public_subject_lists(c, actor, subject_id)["lists"]
    return templates().TemplateResponse(
        request, "archive.html", {"a": data, "memberships": memberships}
    )


KIND_LABELS = {
    "serious_dishonesty": "严重失信主体名单",
    "red_list": "守信激励对象名单（红名单）",
    "other": "其他名单",
}
PAGE_SIZE = 50


@router.get("/lists", response_class=HTMLResponse)
def lists_page(request: Request, c: ContainerDep, actor: PrincipalDep) -> HTMLResponse:
    """信用名单: every list type with its authority, legal basis and period."""
    types = lists.public_list_types(c, actor)
    groups = [
        {"kind": kind, "label": label, "types": [t for t in types if t["kind"] == kind]}
        for kind, label in KIND_LABELS.items()
    ]
    return templates().TemplateResponse(
        request, "lists.html", {"groups": [g for g in groups if g["types"]]}
    )


@router.get("/lists/{list_type}", response_class=HTMLResponse)
def list_page(
    request: Request, list_type: str, c: ContainerDep, actor: PrincipalDep, page: int = 1
) -> HTMLResponse:
    """One public list: entries in force, masked as the list's rules say, PAGE_SIZE a page."""
    page = max(1, page)
    data = lists.public_list(
        c, actor, list_type, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    more = len(data["entries"]) > PAGE_SIZE
    data["entries"] = data["entries"][:PAGE_SIZE]
    return templates().TemplateResponse(
        request,
        "list.html",
        {"l": data, "page": page, "more": more, "first": (page - 1) * PAGE_SIZE + 1},
    )


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, c: ContainerDep, actor: PrincipalDep) -> HTMLResponse:
    """数据质量: published per department, like GLEIF's issuer data-quality reports."""
    report = quality.quality_report(c, actor)
    return templates().TemplateResponse(request, "quality.html", {"r": report})
