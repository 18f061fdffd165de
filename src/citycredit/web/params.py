"""Bounds and formats of the API's parameters, declared where FastAPI validates them.

An integer the route does not bound reaches the database as it came: beyond the 64-bit range
of an id or an OFFSET, the driver raises (SQLite: OverflowError; PostgreSQL: out of range) and
the caller got a 500 (security.md G9, found by the schemathesis run in tests/fuzz). Declared
here, they are refused with 422 naming the parameter and its value (web.errors), and the OpenAPI
schema states them.

Dates and times are ISO 8601 strings (the schema's ``format: date`` / ``date-time``). Pydantic
alone also takes a number as a Unix timestamp — ``{"made_on": 0}`` became 1970-01-01 and
``?until=0.5`` a moment in 1970 — so `IsoDate` and `IsoDateTime` accept the string form only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator

# The largest integer both databases store: SQLite INTEGER and PostgreSQL bigint (signed 64 bits).
BIGINT_MAX = 2**63 - 1
# Pages of the portal's lists (50 entries each): far beyond any list, far inside BIGINT_MAX.
MAX_PAGE = 1_000_000

RowId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="整数编号（1 至 2^63−1）")]
Offset = Annotated[int, Query(ge=0, le=BIGINT_MAX, description="跳过的条数")]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE, description="页码（从 1 开始）")]
OptionalRowId = Annotated[int | None, Query(ge=1, le=BIGINT_MAX)]


def limit_of(maximum: int) -> object:
    """``limit`` of a listing: 1 … maximum (the cap the service applies)."""
    return Query(ge=1, le=maximum, description=f"最多返回条数（1–{maximum}）")


# A file's SHA-256 digest in hex, as evidence and repair materials name their files.
SHA256_HEX = r"^[0-9a-fA-F]{64}$"


def _iso_date(value: object) -> object:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("须为 ISO 8601 日期，如 2026-11-25")


def _iso_datetime(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("须为 ISO 8601 日期时间，如 2026-11-25T10:00:00+08:00")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]
