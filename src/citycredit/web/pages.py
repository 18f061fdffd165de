"""Server-rendered pages in Simplified Chinese (public portal: search, archive, lists, quality)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from citycredit.evaluation import views as evaluation_views
from citycredit.evaluation.service import models_for
from citycredit.ingest import quality
from citycredit.lists import service as lists
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.errors import FieldError
from citycredit.subjects import archive
from citycredit.web.deps import ContainerDep, PrincipalDep
from citycredit.web.params import Page
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
    latest = []
    if not q.strip():  # the front page: the newest 双公示 of the city
        latest = [
            archive.dual_publicity(c, actor, item, limit=HOME_LATEST)
            for item in archive.DUAL_PUBLICITY_ITEMS
        ]
    return templates().TemplateResponse(
        request, "home.html", {"q": q, "results": results, "error": error, "latest": latest}
    )


HOME_LATEST = 5


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
def subject_page(
    request: Request, subject_id: str, c: ContainerDep, actor: PrincipalDep
) -> HTMLResponse:
    """The public credit archive of one subject."""
    data = archive.public_archive(c, actor, subject_id)
    listed = lists.public_subject_lists(c, actor, subject_id)
    return templates().TemplateResponse(
        request,
        "archive.html",
        {"a": data, "memberships": listed["lists"], "measures": listed["measures"]},
    )


@router.get("/subjects/{subject_id}/evaluation", response_class=HTMLResponse)
def evaluation_page(
    request: Request, subject_id: str, c: ContainerDep, actor: PrincipalDep
) -> HTMLResponse:
    """公共信用综合评价 of one organisation: grade, reasons, caps, every indicator, history."""
    data = evaluation_views.current_evaluation(c, actor, subject_id, view="public")
    model = None
    current = data["current"]
    if current is not None:
        model = models_for(c).get(current["model_code"], current["model_version"])
    dimensions = []
    if model is not None and current is not None:
        # Grouped for display only; no dimension totals: on the public view non-public
        # indicators are summed into one line of their own, so the listed ones need not add up
        # to a dimension's (clamped) contribution.
        for dim in model.dimensions:
            rows = [i for i in current["indicators"] if i["dimension"] == dim.code]
            if rows:
                dimensions.append({"dimension": dim, "indicators": rows})
        others = [i for i in current["indicators"] if i["dimension"] is None]
        if others:
            dimensions.append({"dimension": None, "indicators": others})
    for h in data["history"]:
        h["trigger_label"] = trigger_label(h["trigger"])
    return templates().TemplateResponse(
        request, "evaluation.html", {"e": data, "model": model, "dimensions": dimensions}
    )


TRIGGER_LABELS = {
    "run": "定期评价",
    "manual": "人工重新评价",
    "subject.updated": "主体信息变化",
    "record.": "信用记录变化",
    "membership.": "名单变化",
    "commitment.": "信用承诺变化",
    "next_day": "前一日决定的信息生效",
    "objection.corrected": "异议成立后重新评价",
}


def trigger_label(trigger: str | None) -> str:
    """What started an evaluation, in words: a run, or the kinds of events (comma-joined)."""
    labels: list[str] = []
    for part in (trigger or "").split(","):
        part = part.strip()
        label = TRIGGER_LABELS.get(part) or next(
            (v for k, v in TRIGGER_LABELS.items() if k.endswith(".") and part.startswith(k)),
            part,
        )
        if label and label not in labels:
            labels.append(label)
    return "、".join(labels) or "—"


@router.get("/publicity/{item}", response_class=HTMLResponse)
def publicity_page(
    request: Request, item: str, c: ContainerDep, actor: PrincipalDep, page: Page = 1
) -> HTMLResponse:
    """双公示: the newest public 行政许可 (licence) or 行政处罚 (penalty) of the city."""
    page = max(1, page)
    data = archive.dual_publicity(
        c, actor, item, limit=PUBLICITY_PAGE, offset=(page - 1) * PUBLICITY_PAGE
    )
    return templates().TemplateResponse(
        request,
        "publicity.html",
        {"p": data, "page": page, "items": {i: c.catalog.items[i].name for i in ITEMS}},
    )


PUBLICITY_PAGE = 20
ITEMS = archive.DUAL_PUBLICITY_ITEMS


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
    request: Request, list_type: str, c: ContainerDep, actor: PrincipalDep, page: Page = 1
) -> HTMLResponse:
    """One public list: entries in force, masked as the list's rules say, PAGE_SIZE a page
    (numbered; a page reads its entries in the list's index order and stops). The page shows
    no total, so none is counted (the API's ``next_after`` cursor serves deep reading)."""
    page = max(1, page)
    data = lists.public_list(
        c, actor, list_type, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, with_total=False
    )
    return templates().TemplateResponse(
        request,
        "list.html",
        {"l": data, "page": page, "more": data["more"], "first": (page - 1) * PAGE_SIZE + 1},
    )


@router.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, c: ContainerDep, actor: PrincipalDep) -> HTMLResponse:
    """数据质量: published per department, like GLEIF's issuer data-quality reports — the
    newest stored snapshot (hourly), shown with its 统计时间 in Beijing time."""
    report = quality.quality_report(c, actor)
    computed = datetime.fromisoformat(report["computed_at"]).astimezone(SHANGHAI)
    return templates().TemplateResponse(
        request, "quality.html", {"r": report, "computed": computed.strftime("%Y-%m-%d %H:%M")}
    )
