"""The Jinja2 environment of the pages, built on first use (nothing at import)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi.templating import Jinja2Templates

from citycredit.lists.display import listed_until


@cache
def templates() -> Jinja2Templates:
    """The page templates (src/citycredit/web/templates)."""
    t = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    t.env.globals["listed_until"] = listed_until  # 公示截止 of a list entry (lists.display)
    return t
