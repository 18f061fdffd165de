"""数据质量 over HTTP and the CLI, served from its stored snapshot: `GET /api/v1/quality` and the
portal's /quality read the newest one (never a scan of the archive) and show its 统计时间;
`POST /api/v1/quality/refresh` (the credit office only) and `citycredit quality` compute and
store a fresh one. The service side is tests/integration/test_quality_snapshots.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any, NoReturn

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest import quality
from citycredit.ingest.db import QualityReportRow
from citycredit.ingest.service import ingest_submission
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.clock import FixedClock
from support import (
    PENALTY_COLUMNS,
    SAMR,
    bearer,
    cli_env,
    department,
    id_number,
    office_and_a_persons_penalty,
    penalty_row,
    uscc,
    write_csv,
)
from support import run_cli as run

pytestmark = pytest.mark.db
REFRESH = "/api/v1/quality/refresh"


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    yield from office_and_a_persons_penalty(
        container,
        name="赵某",
        id_no=id_number("610802", "19790101"),
        case_no="榆市监罚〔2026〕61号",
    )


def snapshots(c: Container) -> list[QualityReportRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(QualityReportRow).order_by(QualityReportRow.id)))


def no_scan(*_args: Any) -> NoReturn:
    raise AssertionError("the archive was scanned")


def test_refresh_is_for_the_credit_office_only(
    world: dict[str, Any], container: Container, clock: FixedClock
) -> None:
    client = world["client"]
    assert client.post(REFRESH).status_code == 401  # anonymous
    refused = client.post(REFRESH, headers=bearer(world["dept"]))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert snapshots(container) == []
    clock.advance(minutes=7)
    r = client.post(REFRESH, headers=bearer(world["office"]))
    assert r.status_code == 200, r.text
    (row,) = snapshots(container)
    assert (row.trigger, row.computed_by) == ("api", "信用办（office）")
    assert r.json() == {**row.report, "computed_at": "2026-11-25T10:07:00+08:00"}
    assert r.json()["departments"][0]["department"] == SAMR


def test_the_api_and_the_page_serve_the_snapshot_without_a_scan(
    world: dict[str, Any], container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = world["client"]
    stored = client.post(REFRESH, headers=bearer(world["office"])).json()
    monkeypatch.setattr(quality, "compute_quality_report", no_scan)
    for headers in ({}, bearer(world["dept"]), bearer(world["office"])):
        r = client.get("/api/v1/quality", headers=headers)
        assert r.status_code == 200 and r.json() == stored
    page = client.get("/quality")
    assert page.status_code == 200
    assert "统计时间 2026-11-25 10:00（北京时间）" in page.text and "每小时更新" in page.text
    assert SAMR in page.text
    assert len(snapshots(container)) == 1


def test_the_first_request_stores_one_and_the_next_reads_it(
    world: dict[str, Any], container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = world["client"]
    assert client.get("/quality").status_code == 200  # a fresh install: nothing stored yet
    (row,) = snapshots(container)
    assert row.trigger == "read"
    monkeypatch.setattr(quality, "compute_quality_report", no_scan)
    r = client.get("/api/v1/quality")
    assert r.status_code == 200
    assert r.json() == {**row.report, "computed_at": "2026-11-25T10:00:00+08:00"}
    assert len(snapshots(container)) == 1


def test_a_new_record_shows_after_a_refresh(
    world: dict[str, Any], container: Container, clock: FixedClock
) -> None:
    client, office = world["client"], bearer(world["office"])
    before = client.post(REFRESH, headers=office).json()
    row = penalty_row(
        PENALTY_COLUMNS,
        CF_XDR_MC="榆林晚到商贸有限公司",
        CF_XDR_SHXYM=uscc("91", "610802", "MA6QL001"),
        CF_WSH="榆市监罚〔2026〕62号",
    )
    path = write_csv(container.settings.data_dir / "late.csv", PENALTY_COLUMNS, [row])
    ingest_submission(
        container, department_principal(container, SAMR), path=path, item_code="penalty"
    )
    clock.advance(minutes=10)
    assert client.get("/api/v1/quality").json() == before  # stale until the next snapshot
    after = client.post(REFRESH, headers=office).json()
    assert after["subjects"] == before["subjects"] + 1
    assert after["computed_at"] == "2026-11-25T10:10:00+08:00"
    assert client.get("/api/v1/quality").json() == after


def test_an_older_snapshot_is_served_as_stored(world: dict[str, Any], container: Container) -> None:
    """The body is not validated per request: a report stored by an older release (a key since
    renamed, one since added missing) is still served, not turned into a 500."""
    legacy = {"as_of": "2026-11-01", "collection_rate": 0.5, "departments": [], "coverage": 0.9}
    with container.uow() as uow:
        uow.session.add(
            QualityReportRow(
                computed_at=container.clock.now(),
                as_of=date(2026, 11, 1),
                took_ms=1,
                trigger="job",
                computed_by="system",
                report=legacy,
            )
        )
        uow.commit()
    r = world["client"].get("/api/v1/quality")
    assert r.status_code == 200
    assert r.json() == {**legacy, "computed_at": "2026-11-25T10:00:00+08:00"}


def test_the_cli_computes_and_stores_a_fresh_report(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    department(container)
    cli_env(container, monkeypatch)
    cli = CliRunner()
    printed = json.loads(run(cli, "quality", "--json"))
    (row,) = snapshots(container)
    assert (row.trigger, row.computed_by) == ("cli", "system")
    # the command builds its own container, on the real clock
    computed_at = row.computed_at.astimezone(SHANGHAI).isoformat(timespec="seconds")
    assert printed == {**row.report, "computed_at": computed_at}
    assert printed["departments"] == [] and printed["subjects"] == 0
    assert "统计时间" in run(cli, "quality")
    assert [r.trigger for r in snapshots(container)] == ["cli", "cli"]
