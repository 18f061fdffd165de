"""The data-quality report's per-record sums, computed by the database.

The report (ingest/quality.py) used to fetch every record and every current version's payload
and add them up in Python: on 1,000,000 records that took 54 s and 3.8 GB of memory (session
17, docs/benchmarks.md), so the city's archive could not be reported at all. Here each sum is
one grouped statement per (department, item) — the same numbers, on SQLite and PostgreSQL —
and the report reads a few hundred rows. `tests/integration/test_quality_sql.py` compares every
figure with a row-by-row computation on both databases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.orm import Session

from citycredit.db.base import local_day
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.shared.personal import ENVELOPE

Cell = tuple[int, str]  # (department id, item code)


@dataclass(frozen=True)
class RecordSums:
    """One (department, item)'s records and event obligations."""

    records: int
    due: int  # obligations due: a due date passed, or met early
    met: int  # of those, met on time


def record_sums(s: Session, today: date) -> dict[Cell, RecordSums]:
    """Records per (department, item); an event obligation is due once its due date has passed
    (or it was met before), and met when the record came on time (`RecordRow.on_time`)."""
    r = RecordRow
    on_time = r.on_time.is_(True)
    due = and_(r.due_date.is_not(None), or_(r.due_date < today, on_time))
    rows = s.execute(
        select(
            r.department_id,
            r.item_code,
            func.count(),
            func.sum(case((due, 1), else_=0)),
            func.sum(case((and_(due, on_time), 1), else_=0)),
        ).group_by(r.department_id, r.item_code)
    )
    return {(d, i): RecordSums(int(n), int(dn or 0), int(mn or 0)) for d, i, n, dn, mn in rows}


def delay_medians(s: Session) -> dict[Cell, float | int]:
    """Median days from decision to first submission per (department, item)."""
    return {cell: median_of(h) for cell, h in delay_histograms(s).items()}


def delay_histograms(s: Session) -> dict[Cell, Counter[int]]:
    """{days: records} from decision to first submission (the submission's Beijing day), per
    (department, item), of the records with a decision date: one row per distinct delay."""
    r = RecordRow
    dialect = s.get_bind().dialect.name
    submitted = local_day(dialect, r.first_submitted_at)
    if dialect == "postgresql":
        delay: Any = submitted - r.decision_date
    else:
        delay = cast(func.julianday(submitted) - func.julianday(r.decision_date), Integer)
    rows = s.execute(
        select(r.department_id, r.item_code, delay, func.count())
        .where(r.decision_date.is_not(None))
        .group_by(r.department_id, r.item_code, delay)
    )
    histograms: dict[Cell, Counter[int]] = {}
    for d, i, days, n in rows:
        histograms.setdefault((d, i), Counter())[int(days)] += int(n)
    return histograms


def median_of(histogram: Counter[int]) -> float | int:
    """`statistics.median` of the values a {value: count} histogram holds."""
    n = sum(histogram.values())
    if n == 0:
        raise ValueError("no values")
    lo, hi = (n - 1) // 2, n // 2  # the middle positions (equal when n is odd)
    seen, low_value = 0, None
    for value in sorted(histogram):
        seen += histogram[value]
        if low_value is None and seen > lo:
            low_value = value
        if seen > hi:
            return value if lo == hi else (low_value + value) / 2  # type: ignore[operator]
    raise AssertionError("unreachable")


def _is_object(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"jsonb_typeof({column}) = 'object'"
    return f"json_type({column}) = 'object'"


def _key_count(dialect: str, column: str) -> str:
    """The number of keys of a JSON object column (0 for NULL or anything else)."""
    keys = "jsonb_object_keys" if dialect == "postgresql" else "json_each"
    return (
        f"CASE WHEN {_is_object(dialect, column)} "
        f"THEN (SELECT count(*) FROM {keys}({column})) ELSE 0 END"
    )


def _sealed_count(dialect: str, column: str) -> str:
    """`len(shared.personal.sealed_fields(value))` in SQL: an envelope's ``fields`` list, else
    the keys of a legacy plaintext dict (0 for NULL)."""
    envelope = "'" + ENVELOPE.replace("'", "''") + "'"  # a constant of this module's own
    if dialect == "postgresql":
        is_envelope = f"{column} ->> 'enc' = {envelope}"
        is_list = f"jsonb_typeof({column} -> 'fields') = 'array'"
        length = f"jsonb_array_length({column} -> 'fields')"
    else:
        is_envelope = f"json_extract({column}, '$.enc') = {envelope}"
        is_list = f"json_type({column}, '$.fields') = 'array'"
        length = f"json_array_length({column}, '$.fields')"
    return (
        f"CASE WHEN {_is_object(dialect, column)} AND {is_envelope} "
        f"THEN (CASE WHEN {is_list} THEN {length} ELSE 0 END) "
        f"ELSE {_key_count(dialect, column)} END"
    )


def filled_fields(s: Session) -> dict[Cell, tuple[int, int]]:
    """(filled fields, active records) per (department, item): the fields a current version
    holds in clear plus the personal fields sealed beside them — counted without opening them."""
    dialect = s.get_bind().dialect.name
    filled: Any = literal_column(
        f"({_key_count(dialect, 'record_versions.payload')} + "
        f"{_sealed_count(dialect, 'record_versions.personal')})"
    )
    r, v = RecordRow, RecordVersionRow
    rows = s.execute(
        select(r.department_id, r.item_code, func.sum(filled), func.count())
        .join(v, (v.record_id == r.id) & (v.version == r.current_version))
        .where(r.status == "active")
        .group_by(r.department_id, r.item_code)
    )
    return {(d, i): (int(f or 0), int(n)) for d, i, f, n in rows}


def reason_codes(reasons: Iterable[dict[str, Any]] | None) -> set[str]:
    """The distinct quarantine reason codes of one reject."""
    return {r["code"] for r in reasons or ()}
