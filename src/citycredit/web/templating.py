"""The Jinja2 environment of the pages, built on first use (nothing at import)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from citycredit.accounts.auth import CSRF_COOKIE

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
def templates() -> Jinja2Templates:
    """The page templates (src/citycredit/web/templates)."""
    env = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    env.env.globals["csrf_input"] = csrf_input
    return env
