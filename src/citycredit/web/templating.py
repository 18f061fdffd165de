"""The Jinja2 environment of the pages, built on first use (nothing at import)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi.templating import Jinja2Templates


@cache
def templates() -> Jinja2Templates:
    """The page templates (src/citycredit/web/templates)."""
    return Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
