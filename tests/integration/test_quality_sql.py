"""The data-quality report's sums, computed by the database (ingest/quality_sql.py), equal the
row-by-row computation the report used to make in Python — on both databases, on a synthetic
city through the real intake, with the edge cases a city has: a submission late in the UTC day
(the next Beijing day), personal values sealed, in a legacy plaintext dict, absent, an envelope
without its field list, a withdrawn record, records without a decision date or a due date."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from sqlalchemy import select, update

from citycredit.bootstrap import Container
from citycredit.ingest import quality_sql
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.shared.calendar import local_date
from citycredit.shared.personal import ENVELOPE, sealed_fields
from citycredit.synth.city import generate_city
from citycredit.synth.load import load_city

pytestmark = pytest.mark.db
TODAY = date(2026, 11, 25)


def _reference(c: Container) -> dict[str, dict[Any, Any]]:
    """What ingest/quality.py computed before, row by row."""
    sums: dict[Any, list[int]] = {}
    delays: dict[Any, list[int]] = {}
    filled: dict[Any, list[int]] = {}
    with c.uow() as uow:
        s = uow.session
        for dept, item, decision, first, due, on_time in s.execute(
            select(
                RecordRow.department_id,
                RecordRow.item_code,
                RecordRow.decision_date,
                RecordRow.first_submitted_at,
                RecordRow.due_date,
                RecordRow.on_time,
            )
        ):
            cell = sums.setdefault((dept, item), [0, 0, 0])
            cell[0] += 1
            if due is not None and (due < TODAY or on_time):
                cell[1] += 1
                cell[2] += int(bool(on_time))
            if decision is not None:
                delays.setdefault((dept, item), []).append((local_date(first) - decision).days)
        for dept, item, payload, personal in s.execute(
            select(
                RecordRow.department_id,
                RecordRow.item_code,
                RecordVersionRow.payload,
                RecordVersionRow.personal,
            )
            .join(
                RecordVersionRow,
                (RecordVersionRow.record_id == RecordRow.id)
                & (RecordVersionRow.version == RecordRow.current_version),
            )
            .where(RecordRow.status == "active")
        ):
            cell = filled.setdefault((dept, item), [0, 0])
            cell[0] += len(payload) + len(sealed_fields(personal))
            cell[1] += 1
    return {
        "sums": {k: tuple(v) for k, v in sums.items()},
        "delays": {k: Counter(v) for k, v in delays.items()},
        "medians": {k: median(v) for k, v in delays.items()},
        "filled": {k: tuple(v) for k, v in filled.items()},
    }


def _computed(c: Container) -> dict[str, dict[Any, Any]]:
    with c.uow() as uow:
        s = uow.session
        sums = quality_sql.record_sums(s, TODAY)
        return {
            "sums": {k: (v.records, v.due, v.met) for k, v in sums.items()},
            "delays": quality_sql.delay_histograms(s),
            "medians": quality_sql.delay_medians(s),
            "filled": quality_sql.filled_fields(s),
        }


def test_the_database_sums_equal_the_row_by_row_report(
    container: Container, tmp_path: Path
) -> None:
    generate_city(tmp_path / "city", subjects=300, seed=17)
    load_city(container, tmp_path / "city")
    with container.uow() as uow:
        s = uow.session
        ids = s.scalars(select(RecordRow.id).order_by(RecordRow.id).limit(8)).all()
        assert len(ids) == 8
        # 17:30 UTC is the next day in Beijing: the delay counts that day
        s.execute(
            update(RecordRow)
            .where(RecordRow.id == ids[0])
            .values(first_submitted_at=datetime(2026, 10, 31, 17, 30, tzinfo=UTC))
        )
        s.execute(
            update(RecordRow)
            .where(RecordRow.id.in_(ids[1:3]))
            .values(due_date=None, decision_date=None)
        )
        s.execute(update(RecordRow).where(RecordRow.id == ids[3]).values(status="withdrawn"))
        # event obligations: past due and met, past due and missed, met early, not yet due
        for rid, due, on_time in zip(
            ids[4:],
            (date(2026, 11, 1), date(2026, 11, 1), date(2026, 12, 31), date(2026, 12, 31)),
            (True, False, True, None),
            strict=True,
        ):
            s.execute(
                update(RecordRow).where(RecordRow.id == rid).values(due_date=due, on_time=on_time)
            )
        cur = {
            r.record_id: r
            for r in s.scalars(
                select(RecordVersionRow).join(
                    RecordRow,
                    (RecordVersionRow.record_id == RecordRow.id)
                    & (RecordVersionRow.version == RecordRow.current_version),
                )
            )
        }
        others = [rid for rid in cur if rid not in ids][:3]
        for rid, personal in zip(
            others,
            (
                {"CF_XDR_ZJHM": "610802199001011234", "ZZ_DH": "13800000000"},  # legacy plain
                None,
                {"enc": ENVELOPE, "fields": None},
            ),
            strict=True,
        ):
            s.execute(
                update(RecordVersionRow)
                .where(RecordVersionRow.id == cur[rid].id)
                .values(personal=personal)
            )
        uow.commit()
    expected, got = _reference(container), _computed(container)
    assert got == expected
    # the city is big enough that every part is exercised
    assert len(expected["sums"]) >= 5 and sum(n for n, _, _ in expected["sums"].values()) > 500
    assert sum(d for _, d, _ in expected["sums"].values()) >= 3
    assert sum(m for _, _, m in expected["sums"].values()) >= 2
    assert any(v != int(v) for v in expected["medians"].values()) or len(expected["medians"]) > 3
    with container.uow() as uow:
        sealed = uow.session.scalars(select(RecordVersionRow.personal)).all()
    assert any(p and p.get("enc") == ENVELOPE and p.get("fields") for p in sealed)


@pytest.mark.parametrize(
    "values",
    [[3], [1, 5], [2, 2, 9], [0, 4, 4, 10], [7, -1, 3, 3, 3, 12], [1, 2]],
)
def test_the_median_of_a_histogram_is_statistics_median(values: list[int]) -> None:
    got = quality_sql.median_of(Counter(values))
    assert got == median(values) and type(got) is type(median(values))
