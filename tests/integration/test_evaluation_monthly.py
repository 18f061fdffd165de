"""The monthly whole-city evaluation job (both databases): from the configured day of the
month, once per month, with the configured engine, stored as an evaluation run; sliding windows
move without any new record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from citycredit.bootstrap import Container
from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationResultRow, EvaluationRunRow
from citycredit.kernel.jobs import run_due
from citycredit.shared.clock import FixedClock
from evaluation_support import COMPANY, ingest, penalty, subject_id
from support import department

pytestmark = pytest.mark.db


def _runs(c: Container) -> list[EvaluationRunRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(EvaluationRunRow).order_by(EvaluationRunRow.as_of)))


@pytest.mark.parametrize("engine", ["db", "duckdb"])
def test_monthly_batch_runs_once_a_month_from_its_day(
    container: Container, clock: FixedClock, tmp_path: Path, engine: str
) -> None:
    c = container
    c.settings = c.settings.model_copy(
        update={"evaluation_batch_day": 3, "evaluation_batch_engine": engine}
    )
    department(c)
    ingest(c, tmp_path, [penalty(COMPANY, "榆市监罚〔2026〕1号")])
    sid = subject_id(c, COMPANY)
    clock.current = datetime(2026, 12, 2, 2, tzinfo=UTC)  # 2 December: not yet
    (early,) = run_due(c, force=True, only="evaluation_monthly")
    assert early.status == "ok" and "waits for day 3" in early.detail["skipped"]
    assert _runs(c) == []
    clock.current = datetime(2026, 12, 3, 2, tzinfo=UTC)
    (first,) = run_due(c, force=True, only="evaluation_monthly")
    assert first.status == "ok", first.detail
    assert (first.detail["engine"], first.detail["as_of"]) == (engine, "2026-12-03")
    assert first.detail["evaluated"] == 1
    clock.advance(days=1)
    (again,) = run_due(c, force=True, only="evaluation_monthly")
    assert "this month's run exists" in again.detail["skipped"]
    # January: a new month, a new run; the 3-year and publication windows moved with as_of
    clock.current = datetime(2027, 1, 5, 2, tzinfo=UTC)
    (second,) = run_due(c, force=True, only="evaluation_monthly")
    assert second.detail["as_of"] == "2027-01-05"
    runs = _runs(c)
    assert [r.status for r in runs] == ["completed", "completed"]
    with c.uow() as uow:
        current = uow.session.get(EvaluationCurrentRow, sid)
        assert current is not None
        result = uow.session.get(EvaluationResultRow, current.result_id)
        assert result is not None and result.as_of.isoformat() == "2027-01-05"


def test_the_monthly_batch_can_be_turned_off(container: Container, clock: FixedClock) -> None:
    c = container
    c.settings = c.settings.model_copy(update={"evaluation_batch_day": 0})
    (r,) = run_due(c, force=True, only="evaluation_monthly")
    assert r.status == "ok" and r.detail["skipped"].startswith("disabled")
    assert _runs(c) == []
