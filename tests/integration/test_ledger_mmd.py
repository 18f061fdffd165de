"""Merge delay of the 信用数据链 (G21): the declared MMD, the server's sequencer loop, the watch."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordVersionRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.kernel.deliveries import deliver_all
from citycredit.kernel.jobs import run_due
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerAlarmRow, LedgerCheckpointRow, LedgerLeafRow
from citycredit.ledger.mmd import ALARM_KIND, merge_delay_status, sequence_pending, watch
from citycredit.ledger.verify import verify_log
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from citycredit.web import app as web_app
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS,
    SAMR,
    department,
    numbered_penalties,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db


def submit(c: Container, tmp: Path, n: int, start: int = 0) -> None:
    from citycredit.accounts.service import department_principal

    path = write_csv(
        tmp / f"p{start}.csv", PENALTY_COLUMNS, numbered_penalties(range(start, start + n), "MA6M")
    )
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")


def merge_alarms(c: Container) -> list[dict[str, Any]]:
    return [a for a in ledger.alarms(c, SYSTEM, open_only=False) if a["kind"] == ALARM_KIND]


def counts(c: Container) -> tuple[int, int, int]:
    """Leaves, distinct events among them, record versions."""
    with c.uow() as uow:
        s = uow.session
        leaves = s.scalar(select(func.count()).select_from(LedgerLeafRow)) or 0
        events = s.scalar(select(func.count(func.distinct(LedgerLeafRow.event_id)))) or 0
        versions = s.scalar(select(func.count()).select_from(RecordVersionRow)) or 0
    return leaves, events, versions


def test_alarm_once_per_incident_past_the_mmd(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    assert c.settings.ledger_mmd_seconds == 60  # the declared default
    department(c)
    submit(c, tmp_path, 3)
    status = merge_delay_status(c)
    assert status == {"mmd_s": 60, "oldest_pending_age_s": 0.0, "pending": 3}
    clock.advance(seconds=60)  # exactly the MMD: not older than it yet
    assert watch(c)["alarm"] is False and merge_alarms(c) == []
    assert merge_delay_status(c)["oldest_pending_age_s"] == 60.0
    clock.advance(seconds=1)
    [result] = run_due(c, force=True, only="ledger_merge_delay")  # registered as a job
    assert result.status == "ok" and result.detail["alarm"] is True
    [alarm] = merge_alarms(c)
    with c.uow() as uow:  # the alarm names the oldest event carrying a pending leaf
        oldest = uow.session.scalar(
            select(func.min(OutboxEventRow.id)).where(
                OutboxEventRow.event_type == "record.accepted"
            )
        )
    d = alarm["detail"]
    assert d["age_s"] == 61.0 and d["mmd_s"] == 60 and d["pending"] == 3
    assert d["event_id"] == oldest and f"事件 {oldest}" in d["message"]
    assert d["event_type"] == "record.accepted" and d["ref"].endswith("/1")
    # the same incident: no second alarm, however often the watch runs
    for _ in range(3):
        clock.advance(seconds=30)
        assert watch(c)["alarm"] is False
    assert len(merge_alarms(c)) == 1
    # the sequencer catches up: the incident closes; the alarm stays in the history
    assert sequence_pending(c) > 0
    assert merge_delay_status(c) == {"mmd_s": 60, "oldest_pending_age_s": None, "pending": 0}
    out = watch(c)
    assert out["resolved"] is True and out["alarm"] is False
    [alarm] = merge_alarms(c)
    assert "resolved_at" in alarm["detail"] and alarm["detail"]["event_id"] == d["event_id"]
    # a later delay past the MMD is a new incident: a new alarm naming its own event
    submit(c, tmp_path, 1, start=10)
    clock.advance(seconds=61)
    assert watch(c)["alarm"] is True
    new, old = merge_alarms(c)  # newest first
    assert new["detail"]["event_id"] > old["detail"]["event_id"]
    assert "resolved_at" not in new["detail"]


def test_no_alarm_while_entries_are_sequenced_in_time(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    department(c)
    for k in range(4):
        submit(c, tmp_path, 2, start=10 * k)
        clock.advance(seconds=50)
        sequence_pending(c)
        clock.advance(seconds=50)
        assert watch(c) == {
            "mmd_s": 60,
            "oldest_pending_age_s": None,
            "pending": 0,
            "alarm": False,
            "resolved": False,
        }
    assert merge_alarms(c) == []
    c.settings.ledger_mmd_seconds = 30  # a tighter declaration is watched as declared
    submit(c, tmp_path, 1, start=100)
    clock.advance(seconds=31)
    assert watch(c)["alarm"] is True


def test_sequence_pending_integrates_every_pending_leaf(
    container: Container, tmp_path: Path
) -> None:
    c = container
    department(c)
    submit(c, tmp_path, 5)
    assert counts(c)[0] == 0 and merge_delay_status(c)["pending"] == 5
    assert sequence_pending(c) > 0
    leaves, events, versions = counts(c)
    assert leaves == events == versions == 5
    assert ledger.checkpoint(c)["size"] == 5
    assert merge_delay_status(c)["pending"] == 0
    assert sequence_pending(c) == 0  # nothing left: no new checkpoint
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(LedgerCheckpointRow)) == 1


def test_concurrent_sequencing_never_double_sequences_or_fails(
    container: Container, tmp_path: Path
) -> None:
    """The server's loop and the `deliveries` sweep at once, from the very first delivery
    (no cursor row yet) on: one of them sequences each batch, neither fails."""
    c = container
    department(c)
    total = 0
    for round_ in range(3):
        submit(c, tmp_path, 120, start=1000 * round_)
        total += 120
        errors: list[str] = []
        barrier = threading.Barrier(3)

        def run(fn: Any, barrier: threading.Barrier, errors: list[str]) -> None:
            barrier.wait()
            try:
                fn(c)
            except Exception as exc:  # collected: the test fails naming it
                errors.append(f"{type(exc).__name__}: {exc}")

        threads = [
            threading.Thread(target=run, args=(fn, barrier, errors))
            for fn in (sequence_pending, sequence_pending, deliver_all)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        leaves, events, versions = counts(c)
        assert leaves == events == versions == total
    with c.uow() as uow:
        sizes = list(
            uow.session.scalars(select(LedgerCheckpointRow.size).order_by(LedgerCheckpointRow.size))
        )
    assert sizes[-1] == total and len(sizes) == len(set(sizes))
    assert verify_log(c).ok


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path,
        secret_key=SecretStr("test-secret-key-0123456789abcdef"),
        **kw,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("ledger_mmd_seconds", -1), ("ledger_mmd_seconds", 0), ("ledger_sequence_seconds", -5)],
)
def test_settings_refuse_bad_values_naming_the_field(
    tmp_path: Path, field: str, value: int
) -> None:
    with pytest.raises(ValidationError) as err:
        _settings(tmp_path, **{field: value})
    assert field in str(err.value)


def test_settings_defaults_and_the_sequencer_within_the_mmd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _settings(tmp_path)
    assert (s.ledger_mmd_seconds, s.ledger_sequence_seconds) == (60, 5)
    assert _settings(tmp_path, ledger_sequence_seconds=0).ledger_sequence_seconds == 0
    with pytest.raises(ValidationError) as err:
        _settings(tmp_path, ledger_mmd_seconds=30, ledger_sequence_seconds=30)
    assert "ledger_sequence_seconds=30" in str(err.value) and "ledger_mmd_seconds=30" in str(
        err.value
    )
    monkeypatch.setenv("CITYCREDIT_LEDGER_MMD_SECONDS", "-3")
    with pytest.raises(ValidationError) as err:
        _settings(tmp_path)
    assert "ledger_mmd_seconds" in str(err.value)


def _http_submit(client: TestClient, token: str, body: bytes) -> None:
    import io

    r = client.post(
        "/api/v1/submissions",
        headers={"Authorization": f"Bearer {token}"},
        data={"item": "penalty"},
        files={"file": ("p.csv", io.BytesIO(body), "text/csv")},
    )
    assert r.status_code == 200, r.text


def _csv(n: int) -> bytes:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(PENALTY_COLUMNS)
    w.writerows(numbered_penalties(range(n), "MA6M"))
    return buf.getvalue().encode("utf-8")


def _checkpoint_size(client: TestClient, wait_s: float) -> int:
    deadline = time.monotonic() + wait_s
    size = 0
    while time.monotonic() < deadline:
        r = client.get("/api/v1/ledger/checkpoint")
        size = r.json()["size"] if r.status_code == 200 else 0
        if size:
            return int(size)
        time.sleep(0.05)
    return size


def test_the_server_sequences_on_its_own_loop(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submission over HTTP becomes a checkpointed leaf with nobody calling deliver: the
    lifespan starts the loop (the job scheduler stays off); a failing round is logged and the
    loop carries on."""
    c = container
    assert c.settings.job_interval_seconds == 0  # no scheduler, so no deliveries sweep
    c.settings.ledger_sequence_seconds = 0.1
    token = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token
    calls = {"n": 0}
    real = web_app.sequence_pending

    def flaky(cc: Container) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real(cc)

    monkeypatch.setattr(web_app, "sequence_pending", flaky)
    with TestClient(create_app(c)) as client:
        _http_submit(client, token, _csv(4))
        assert _checkpoint_size(client, wait_s=20) == 4
    assert calls["n"] >= 2
    assert counts(c)[0] == 4


@pytest.mark.parametrize("how", ["interval_zero", "not_the_scheduler_process"])
def test_no_loop_when_off(container: Container, how: str) -> None:
    c = container
    c.settings.ledger_sequence_seconds = 0 if how == "interval_zero" else 0.1
    token = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token
    admin = add_user(c, SYSTEM, username="ops", display_name="运维", role=Role.credit_office_admin)
    assert admin.token
    with TestClient(create_app(c, scheduler=how == "interval_zero")) as client:
        _http_submit(client, token, _csv(2))
        assert _checkpoint_size(client, wait_s=1.0) == 0
    assert counts(c)[0] == 0
    with c.uow() as uow:  # nothing raised an alarm either
        assert uow.session.scalar(select(func.count()).select_from(LedgerAlarmRow)) == 0
