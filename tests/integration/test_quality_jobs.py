"""归集率 from the catalog's obligations, 档案覆盖率, and the sweeps (publication ends, overdue, deliveries)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.quality import quality_report
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import JobRunRow, OutboxEventRow
from citycredit.kernel.jobs import run_due
from citycredit.kernel.outbox import Event
from citycredit.shared.clock import FixedClock
from support import PENALTY_COLUMNS, SAMR, uscc, write_csv

pytestmark = pytest.mark.db

PEN = PENALTY_COLUMNS
AUTH = uscc("11", "610800", "MA0CAMR1")
RS = "榆林市人力资源和社会保障局"


def at(day: str) -> datetime:
    """10:00 Asia/Shanghai on a day."""
    y, m, d = (int(x) for x in day.split("-"))
    return datetime(y, m, d, 2, 0, tzinfo=UTC)


def pen_row(n: int, decided: str, **over: Any) -> list[Any]:
    row = {
        "CF_XDR_MC": f"榆阳区第{n}商贸有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": uscc("91", "610802", f"MA6Q{n:04d}"),
        "CF_WSH": f"榆市监罚〔2026〕{n}号",
        "CF_WFXW": "x",
        "CF_SY": "x",
        "CF_YJ": "x",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2万元",
        "CF_NR_FK": "2",
        "CF_JDRQ": decided,
        "CF_CFJG": "榆林市市场监督管理局",
        "CF_CFJGDM": AUTH,
        "CF_SJLY": SAMR,
        "CF_SJLYDM": AUTH,
    }
    row.update(over)
    return [row[h] for h in PEN]


def send(c: Container, tmp: Path, name: str, rows: list[list[Any]], dept: str = SAMR) -> None:
    path = write_csv(tmp / name, PEN, rows)
    ingest_submission(c, department_principal(c, dept), path=path, item_code="penalty")


def item_row(report: dict[str, Any], dept: str, item: str) -> dict[str, Any]:
    d = next(d for d in report["departments"] if d["department"] == dept)
    return next(i for i in d["items"] if i["item"] == item)


def test_collection_rate_counts_event_obligations_on_time(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    clock.current = at("2026-11-02")
    add_department(container, SYSTEM, name=SAMR, code=AUTH)
    clock.current = at("2026-11-05")
    send(
        container, tmp_path, "a.csv", [pen_row(1, "2026-11-03"), pen_row(2, "2020-05-01")]
    )  # on time; backfill
    clock.current = at("2026-11-20")
    send(
        container, tmp_path, "b.csv", [pen_row(3, "2026-11-03"), pen_row(4, "2026-11-18")]
    )  # late; on time
    report = quality_report(container, SYSTEM)
    cell = item_row(report, SAMR, "penalty")
    # 7 working days after 2026-11-03 is 2026-11-12: row 1 met, row 3 late; row 2 predates onboarding.
    assert (cell["obligations_due"], cell["obligations_met_on_time"]) == (3, 2)
    assert cell["collection_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert cell["records"] == 4 and cell["rejection_rate"] == 0
    with container.uow() as uow:
        due = dict(uow.session.execute(select(RecordRow.decision_date, RecordRow.due_date)).all())
    assert str(due[date(2026, 11, 3)]) == "2026-11-12"


def test_periodic_obligations_and_the_overdue_sweep(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    clock.current = at("2026-09-01")
    add_department(container, SYSTEM, name=RS, code=uscc("11", "610800", "MA0RXXB1"))
    header = ["QJ_MC", "QJ_LB", "QJ_SHXYM", "QJ_XZ", "QJ_SSQ", "QJ_JE", "QJ_RDRQ"]
    path = write_csv(
        tmp_path / "qj.csv",
        header,
        [
            [
                "榆阳区甲公司",
                "法人及非法人组织",
                uscc("91", "610802", "MA6QJ001"),
                "养老保险",
                "2026-08",
                "1200.50",
                "2026-09-05",
            ]
        ],
    )
    clock.current = at("2026-09-20")
    r = ingest_submission(
        container,
        department_principal(container, RS),
        path=path,
        item_code="social_insurance_arrears",
    )
    assert r.counts.new == 1
    clock.current = at("2026-11-25")
    cell = item_row(quality_report(container, SYSTEM), RS, "social_insurance_arrears")
    # September (due 10-10) met; October (due 11-10) missed; November not yet due.
    assert (cell["obligations_due"], cell["obligations_met_on_time"]) == (2, 1)
    # The department also owes monthly 信用承诺 files (catalog) and sent none: Sep and Oct.
    assert run_due(container, only="overdue_obligations")[0].detail == {"flagged": 3}
    assert run_due(container, force=True, only="overdue_obligations")[0].detail == {"flagged": 0}
    with container.uow() as uow:
        events = uow.session.scalars(
            select(OutboxEventRow).where(OutboxEventRow.event_type == "obligation.overdue")
        ).all()
    overdue = sorted((e.payload["item"], e.payload["period"]) for e in events)
    assert overdue == [
        ("commitment", "2026-09-01"),
        ("commitment", "2026-10-01"),
        ("social_insurance_arrears", "2026-10-01"),
    ]


def test_archive_coverage(container: Container, clock: FixedClock, tmp_path: Path) -> None:
    add_department(container, SYSTEM, name=SAMR, code=AUTH)
    reg = write_csv(
        tmp_path / "reg.csv",
        ["DJ_MC", "DJ_ZTLX", "DJ_SHXYM", "DJ_CLRQ"],
        [["甲有限公司", "企业", uscc("91", "610802", "MA6REG01"), "2010-01-01"]],
    )
    ingest_submission(
        container, department_principal(container, SAMR), path=reg, item_code="registration"
    )
    send(
        container, tmp_path, "p.csv", [pen_row(1, "2026-11-03")]
    )  # creates a second, unregistered subject
    report = quality_report(container, SYSTEM)
    assert (
        report["subjects"],
        report["with_current_registration"],
        report["archive_coverage"],
    ) == (2, 1, 0.5)


def test_publication_end_sweep(container: Container, clock: FixedClock, tmp_path: Path) -> None:
    add_department(container, SYSTEM, name=SAMR, code=AUTH)
    # 一般 (fine 2万元): published for 1 year from the decision.
    send(container, tmp_path, "p.csv", [pen_row(1, "2025-11-20"), pen_row(2, "2026-06-01")])
    clock.current = at("2026-11-25")
    first = run_due(container, only="publication_end")[0]
    assert first.status == "ok" and first.detail["ended"] == 1
    assert run_due(container, force=True, only="publication_end")[0].detail["ended"] == 0
    with container.uow() as uow:
        ended = uow.session.scalars(
            select(RecordRow.publication_end).where(RecordRow.publication_ended_at.is_not(None))
        ).all()
    # Decided 2025-11-20: published through 2026-11-20 (民法典 201/202), off from 11-21.
    assert [str(d) for d in ended] == ["2026-11-21"]


def test_deliveries_feed_consumers_in_order_and_survive_failure(
    container: Container, tmp_path: Path
) -> None:
    seen: list[int] = []

    def good(_s: Session, events: Sequence[Event]) -> None:
        seen.extend(e.id for e in events)

    def bad(_s: Session, _events: Sequence[Event]) -> None:
        raise RuntimeError("downstream unavailable")

    container.consumers.update({"good": good})
    add_department(container, SYSTEM, name=SAMR, code=AUTH)
    send(container, tmp_path, "p.csv", [pen_row(1, "2026-11-03")])
    (r,) = run_due(container, only="deliveries")
    with container.uow() as uow:
        total = uow.session.scalar(select(func.count()).select_from(OutboxEventRow))
    # the ledger's sequencer is a consumer too (registered by the composition root)
    # every registered consumer (ledger, lists, evaluation, sharing …) saw every event
    assert set(container.consumers) >= {"good", "ledger", "lists"}
    assert r.detail == {"delivered": dict.fromkeys(container.consumers, total)}
    assert seen == sorted(seen) and len(seen) == total
    again = run_due(container, force=True, only="deliveries")[0].detail
    assert again == {"delivered": dict.fromkeys(container.consumers, 0)}
    container.consumers["bad"] = bad
    send(container, tmp_path, "q.csv", [pen_row(2, "2026-11-04")])
    failed = run_due(container, force=True, only="deliveries")[0]
    assert failed.status == "failed" and "downstream unavailable" in failed.detail["error"]
    # the failing consumer did not hold back the others
    with container.uow() as uow:
        total = uow.session.scalar(select(func.count()).select_from(OutboxEventRow))
    assert len(seen) == total
    with container.uow() as uow:
        statuses = uow.session.scalars(select(JobRunRow.status).order_by(JobRunRow.id)).all()
    assert statuses == ["ok", "ok", "failed"]


def test_a_failed_submission_leaves_no_events(container: Container, tmp_path: Path) -> None:
    add_department(container, SYSTEM, name=SAMR, code=AUTH)
    with container.uow() as uow:
        before = uow.session.scalar(select(func.count()).select_from(OutboxEventRow))

    def explode(done: int) -> None:
        if done == 2:
            raise RuntimeError("disk full")

    container.fault_hook = explode
    with pytest.raises(RuntimeError, match="disk full"):
        send(container, tmp_path, "p.csv", [pen_row(1, "2026-11-03"), pen_row(2, "2026-11-03")])
    with container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxEventRow)) == before
        assert uow.session.scalar(select(func.count()).select_from(RecordRow)) == 0
