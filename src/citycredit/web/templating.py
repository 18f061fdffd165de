"""The Jinja2 environment of the pages, built on first use (nothing at import)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from citycredit.accounts.auth import CSRF_COOKIE
from citycredit.lists.display import NO_END, listed_until
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.errors import CityCreditError

# The field a portal form carries a session's anti-CSRF token in (web.deps.get_form_principal).
CSRF_FORM_FIELD = "csrf_token"


def csrf_input(request: Request) -> Markup:
    """A POST form's hidden anti-CSRF field for a logged-in visitor (the cc_csrf cookie's value,
    which only pages of this site can read); nothing for the public."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token:
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FORM_FIELD, escape(token)
    )


@cache
def _packaged_models() -> Any:
    from citycredit.evaluation.model import load_models

    return load_models()


def model_label(code: object, version: object) -> str:
    """An evaluation model as people read it: its Chinese name and version
    (企业公共信用综合评价模型（2026.1 版）); the code for a model the package does not hold."""
    try:
        name = _packaged_models().get(str(code), str(version)).name
    except CityCreditError:
        return f"{code} {version}"
    return f"{name}（{version} 版）"


def beijing(value: object) -> str:
    """A stored instant (ISO 8601 with an offset) as Beijing time, to the second, as every
    page shows times; an empty value stays empty."""
    if not value:
        return ""
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)  # the platform stores UTC
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@cache
def templates() -> Jinja2Templates:
    """The page templates (src/citycredit/web/templates)."""
    env = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    env.env.globals["csrf_input"] = csrf_input
    env.env.globals["model_label"] = model_label
    env.env.globals["listed_until"] = listed_until  # 公示截止 of a list entry (lists.display)
    env.env.globals["no_end"] = NO_END  # 公示截止 of an adverse record with no end date
    env.env.filters["beijing"] = beijing
    return env
