"""数据链核验: the page that verifies an offline proof bundle in the visitor's own browser.

The server only delivers the page and its static scripts; the verification
(static/ledger-verify.js) fetches nothing and trusts nothing from us. The log's current public
key is shown for convenience, with the advice to compare it with the one the credit office
publishes through its own channels — a pinned key is what makes the check independent of us.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from citycredit.bootstrap import Container
from citycredit.ledger import service as ledger
from citycredit.shared.errors import NotFound
from citycredit.web.deps import ContainerDep
from citycredit.web.templating import templates

router = APIRouter(include_in_schema=False)


def _field_labels(c: Container) -> dict[str, Any]:
    """Item and field names for display only (never used to decide a check)."""
    return {
        code: {"name": item.name, "fields": {f.code: f.label for f in item.fields}}
        for code, item in c.catalog.items.items()
    }


@router.get("/ledger/verify", response_class=HTMLResponse)
def verify_page(request: Request, c: ContainerDep) -> HTMLResponse:
    """The in-browser bundle verifier."""
    try:
        published: dict[str, Any] | None = ledger.checkpoint(c)
    except NotFound:
        published = None
    return templates().TemplateResponse(
        request,
        "ledger_verify.html",
        {
            "vkey": published["vkey"] if published else None,
            "labels": _field_labels(c),
        },
    )
