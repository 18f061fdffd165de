"""数据质量 as a stored snapshot (ingest/quality.py, migration 0035): the public read serves the
newest stored report and never scans the archive; the hourly job, the credit office and the CLI
compute and store one; snapshots past ``KEEP_DAYS`` are pruned. The HTTP side (API, page,
refresh permissions) is tests/e2e/test_quality_snapshots_http.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import event, select

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal
from citycredit.bootstrap import Container
from citycredit.db.migrate import drift
from citycredit.ingest import quality
from citycredit.ingest.db import QualityReportRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.jobs import run_due
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import PermissionDenied
from support import PENALTY_COLUMNS, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db


def send(c: Container, tmp: Path, actor: Principal, n: int) -> None:
    """One penalty (a new subject) from the market regulator."""
    row = penalty_row(
        CF_XDR_MC=f"榆林第{n}商贸有限公司",
        CF_XDR_SHXYM=uscc("91", "610802", f"MA6QR{n:03d}"),
        CF_WSH=f"榆市监罚〔2026〕{n}号",
    )
    path = write_csv(tmp / f"p{n}.csv", PENALTY_COLUMNS, [row])
    assert ingest_submission(c, actor, path=path, item_code="penalty").counts.new == 1


def snapshots(c: Container) -> list[QualityReportRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(QualityReportRow).order_by(QualityReportRow.id)))


def no_scan(*_args: Any) -> NoReturn:
    raise AssertionError("the archive was scanned")


@contextmanager
def statements_on(c: Container, table: str) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs that name ``table``."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if table in sql:
            seen.append(sql)

    event.listen(c.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(c.engine, "before_cursor_execute", record)


@pytest.fixture
def samr(container: Container, tmp_path: Path) -> Principal:
    actor = department(container)
    send(container, tmp_path, actor, 1)
    return actor


def test_a_stored_snapshot_is_served_without_scanning_the_archive(
    container: Container, samr: Principal, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    stored = quality.refresh_quality_report(c, SYSTEM, "cli")
    assert stored["computed_at"] == "2026-11-25T10:00:00+08:00"  # the clock, in Beijing time
    clock.advance(minutes=20)
    monkeypatch.setattr(quality, "compute_quality_report", no_scan)
    with statements_on(c, "record_versions") as scans, statements_on(c, "records") as reads:
        served = quality.quality_report(c, ANONYMOUS)
    assert scans == [] and reads == []
    assert served == stored
    (row,) = snapshots(c)
    assert served == {**row.report, "computed_at": "2026-11-25T10:00:00+08:00"}
    assert (row.trigger, row.computed_by, row.as_of) == ("cli", "system", date(2026, 11, 25))
    assert row.computed_at == datetime(2026, 11, 25, 2, 0, tzinfo=UTC) and row.took_ms >= 0


def test_the_first_read_of_a_fresh_install_computes_and_stores_one(
    container: Container, samr: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    assert snapshots(c) == []
    first = quality.quality_report(c, ANONYMOUS)
    (row,) = snapshots(c)
    assert (row.trigger, row.computed_by) == ("read", "system")
    assert first == {**quality.compute_quality_report(c), "computed_at": first["computed_at"]}
    monkeypatch.setattr(quality, "compute_quality_report", no_scan)
    assert quality.quality_report(c, samr) == first
    assert len(snapshots(c)) == 1


def test_the_newest_snapshot_is_served(container: Container, clock: FixedClock) -> None:
    c = container
    quality.refresh_quality_report(c, SYSTEM, "cli")
    clock.advance(hours=1)
    newer = quality.refresh_quality_report(c, SYSTEM, "job")
    assert newer["computed_at"] == "2026-11-25T11:00:00+08:00"
    assert quality.quality_report(c, ANONYMOUS) == newer


def test_a_record_sent_after_the_snapshot_shows_only_after_a_refresh(
    container: Container, samr: Principal, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    before = quality.refresh_quality_report(c, SYSTEM, "job")
    clock.advance(minutes=5)
    send(c, tmp_path, samr, 2)
    stale = quality.quality_report(c, ANONYMOUS)
    assert stale == before and stale["subjects"] == 1  # the documented staleness
    assert stale["departments"][0]["items"][0]["records"] == 1
    fresh = quality.refresh_quality_report(c, SYSTEM, "cli")
    assert fresh["subjects"] == 2 and fresh["departments"][0]["items"][0]["records"] == 2
    assert fresh["computed_at"] == "2026-11-25T10:05:00+08:00"
    assert quality.quality_report(c, ANONYMOUS) == fresh


def test_the_hourly_job_stores_the_report_and_prunes_old_snapshots(
    container: Container, samr: Principal, clock: FixedClock
) -> None:
    c = container
    now = clock.current
    for age in (quality.KEEP_DAYS + 1, quality.KEEP_DAYS - 1):
        clock.current = now - timedelta(days=age)
        quality.refresh_quality_report(c, SYSTEM, "cli")
    clock.current = now
    (job,) = run_due(c, only="quality_report")
    assert job.status == "ok"
    assert job.detail == {"computed_at": "2026-11-25T10:00:00+08:00", "as_of": "2026-11-25"}
    kept = snapshots(c)
    assert [r.computed_at for r in kept] == [now - timedelta(days=quality.KEEP_DAYS - 1), now]
    assert kept[-1].trigger == "job"
    assert kept[-1].report == quality.compute_quality_report(c)  # the report at that moment
    assert run_due(c, only="quality_report") == []  # hourly: not due again yet
    clock.advance(hours=1)
    assert [j.status for j in run_due(c, only="quality_report")] == ["ok"]
    assert len(snapshots(c)) == 3


def test_only_the_credit_office_refreshes(container: Container, samr: Principal) -> None:
    c = container
    for actor in (ANONYMOUS, samr):
        with pytest.raises(PermissionDenied):
            quality.refresh_quality_report(c, actor, "api")
    assert snapshots(c) == []


def test_models_and_migration_0035_agree(container: Container) -> None:
    """`citycredit db check` for the snapshot table (PostgreSQL compares column comments)."""
    assert [d for d in drift(container.engine) if "quality_reports" in repr(d)] == []
