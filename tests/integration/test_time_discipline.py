"""G39: audit and log times are UTC with offset and never go back per source; a clock that
jumps does not reorder the trail or the ledger.

The clock is injected (the container's FixedClock, stepped back and forward here) rather than
faked for the whole process: services never read the time themselves (shared/clock.py). The
log formatter's clock reading is injected the same way (`logformat.LogClock`).
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from citycredit.accounts import audit
from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_user
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.verify import verify_log
from citycredit.shared.clock import FixedClock
from citycredit.web import logformat
from support import (
    PENALTY_COLUMNS_WITH_ID,
    department,
    id_number,
    numbered_penalties,
    penalty_row,
    write_csv,
)

HERE = Path(__file__).resolve().parent
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 ")
HOUR_MS = 3_600_000
STEP = audit.STEP_BACK_KEY


def _trail(c: Container, after: int = 0) -> list[AuditEventRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow).where(AuditEventRow.id > after).order_by(AuditEventRow.id)
            )
        )


def _assert_ordered(rows: list[AuditEventRow]) -> None:
    ids = [r.id for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    ats = [r.at for r in rows]
    assert ats == sorted(ats), ats  # never earlier than the event written before it
    assert all(r.at.utcoffset() == timedelta(0) for r in rows)  # aware, UTC


# -- the audit trail -------------------------------------------------------------------------


@pytest.mark.db
def test_a_clock_step_back_keeps_the_trail_in_order_and_is_recorded(
    container: Container, clock: FixedClock
) -> None:
    c = container
    t0 = clock.now()
    audit.write_event(c, action="test.one", result="success")  # the middleware's path
    clock.advance(minutes=1)
    audit.write_event(c, action="test.two", result="success")
    clock.advance(hours=-1)  # the wall clock steps back an hour (now t0 - 59 min)
    audit.write_event(c, action="test.three", result="success")
    clock.advance(minutes=30)  # still behind: t0 - 29 min
    with c.uow() as uow:  # a service's path: the event in its own change's transaction
        audit.add_event(
            uow.session, at=c.clock.now(), action="test.four", result="success", actor=SYSTEM
        )
        uow.commit()
    clock.advance(hours=2)  # a jump forward: t0 + 91 min
    audit.write_event(c, action="test.five", result="success")
    rows = _trail(c)
    assert [r.action for r in rows] == [
        f"test.{n}" for n in ("one", "two", "three", "four", "five")
    ]
    _assert_ordered(rows)
    got = [(r.at - t0, r.detail.get(STEP)) for r in rows]
    assert got == [
        (timedelta(0), None),
        (timedelta(minutes=1), None),
        (timedelta(minutes=1), HOUR_MS),  # kept at the last time, the step recorded
        (timedelta(minutes=1), HOUR_MS // 2),  # how far behind the clock still is
        (timedelta(minutes=91), None),  # a jump forward: the new time, nothing to mark
    ]
    # what the audit administrator reads: ISO 8601 with the offset
    views = [audit._view(r) for r in rows]
    assert all(v["at"].endswith("+00:00") for v in views)


def test_overlapping_writers_are_kept_in_order_without_a_step_mark() -> None:
    """An event whose writer read the clock before another writer's event was stamped (two
    requests overlapping) keeps that event's time, unmarked: the clock did not step."""
    source = create_engine("sqlite://")
    clock = FixedClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    read_early = clock.now()
    clock.advance(milliseconds=40)
    assert audit.stamp(source, clock.now(), clock) == (clock.now(), None)
    assert audit.stamp(source, read_early, clock) == (clock.now(), None)  # order kept, no mark
    last = clock.now()
    clock.advance(seconds=-10)
    assert audit.stamp(source, clock.now(), clock) == (last, 10_000)  # a real step back
    clock.advance(seconds=11)
    assert audit.stamp(source, clock.now(), clock) == (clock.now(), None)  # caught up
    # each database (engine) of the process is a source of its own
    other = create_engine("sqlite://")
    assert audit.stamp(other, read_early, clock) == (read_early, None)


@pytest.mark.db
def test_every_http_write_path_keeps_its_order_through_a_step_back(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """The middleware's events (before and after the handler) and a read of personal data
    recorded in the read's own transaction, while the clock is an hour behind."""
    # imported here: the server test's worker imports this module for its factory, and the
    # test client's import warns on stderr (not a log line)
    from fastapi.testclient import TestClient

    from citycredit.web.app import create_app

    c = container
    dept = department(c)
    person = id_number("610802", "19800304", "123")
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID, CF_XDR_MC="王小明", CF_XDR_LB="自然人", CF_XDR_ZJHM=person
    )
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, [row])
    assert ingest_submission(c, dept, path=path, item_code="penalty").counts.new == 1
    token = add_user(
        c, SYSTEM, username="clerk", display_name="经办", role=Role.credit_office_admin
    ).token
    with c.uow() as uow:
        record_id = uow.session.scalars(select(RecordRow.id)).one()
    cl = TestClient(create_app(c, scheduler=False))
    headers = {"Authorization": f"Bearer {token}"}
    assert cl.get("/api/v1/audit", headers=headers).status_code == 403  # a denial, at t0
    high = max(r.id for r in _trail(c)) - 1
    before = clock.now()
    clock.advance(hours=-1)
    r = cl.post(
        f"/api/v1/records/{record_id}/personal", json={"purpose": "案件核查"}, headers=headers
    )
    assert r.status_code == 200, r.text
    rows = _trail(c, high)
    assert [(e.action, e.result) for e in rows] == [
        ("http.GET /api/v1/audit", "denied"),
        (f"http.POST /api/v1/records/{record_id}/personal", "started"),
        ("data.read", "success"),
        ("http.POST /api/v1/records/{record_id}/personal", "success"),
    ]
    _assert_ordered(rows)
    assert [e.at for e in rows] == [before] * 4
    assert [e.detail.get(STEP) for e in rows] == [None, HOUR_MS, HOUR_MS, HOUR_MS]
    assert rows[2].detail["fields"] == ["CF_XDR_ZJHM"] and person not in json.dumps(rows[2].detail)


# -- the ledger ----------------------------------------------------------------------------------


@pytest.mark.db
def test_the_ledger_order_is_the_order_of_writing_not_of_the_clock(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    dept = department(c)

    def send(name: str, numbers: range) -> str:
        data = numbered_penalties(numbers, "MA6T", PENALTY_COLUMNS_WITH_ID)
        path = write_csv(tmp_path / f"{name}.csv", PENALTY_COLUMNS_WITH_ID, data)
        return ingest_submission(c, dept, path=path, item_code="penalty").submission_id

    a = send("a", range(0, 3))
    clock.advance(days=-1)  # the clock steps back a day between two submissions
    b = send("b", range(3, 5))
    ledger.integrate_now(c)  # the sequencer runs while the clock is behind
    first = ledger.checkpoint(c)
    clock.advance(days=3)  # and jumps forward
    cc = send("c", range(5, 6))
    ledger.integrate_now(c)
    second = ledger.checkpoint(c)
    with c.uow() as uow:
        s = uow.session
        leaves = list(s.scalars(select(LedgerLeafRow).order_by(LedgerLeafRow.idx)))
        submitted = dict(
            s.execute(select(RecordVersionRow.record_id, RecordVersionRow.submission_id)).all()
        )
        created = dict(s.execute(select(OutboxEventRow.id, OutboxEventRow.created_at)).all())
    assert [leaf.idx for leaf in leaves] == list(range(6))
    # leaves are in the order the changes were written (outbox ids), whatever their times say
    event_ids = [leaf.event_id for leaf in leaves]
    assert event_ids == sorted(event_ids)
    assert [submitted[leaf.ref.split("/")[0]] for leaf in leaves] == [a] * 3 + [b] * 2 + [cc]
    times = [created[e] for e in event_ids]
    assert times[3] < times[2]  # b's events carry the earlier wall time, and come after a's
    assert (first["size"], second["size"]) == (5, 6)
    report = verify_log(c)
    assert report.ok, report


# -- log lines -----------------------------------------------------------------------------------


def _record(created: float, msg: str = "hello") -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "citycredit.test", "levelname": "INFO", "msg": msg})
    record.created = created
    return record


def test_log_lines_carry_utc_with_offset_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        formatter = logformat.UtcFormatter()
        formatter.log_clock = logformat.LogClock()
        at = datetime(2026, 11, 27, 1, 2, 3, 456000, tzinfo=UTC)
        line = formatter.format(_record(at.timestamp()))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert line == "2026-11-27T01:02:03.456+00:00 INFO citycredit.test: hello"


def test_log_times_never_go_back_and_a_step_back_is_marked() -> None:
    now = [1_800_000_000.0]
    formatter = logformat.UtcFormatter()
    formatter.log_clock = logformat.LogClock(now=lambda: now[0])
    t = now[0]
    lines = [formatter.format(_record(t))]
    # a record made just before the last one was written (threads interleave): kept, unmarked
    lines.append(formatter.format(_record(t - 0.002)))
    now[0] = t - 3600  # the clock steps back an hour
    lines.append(formatter.format(_record(now[0])))
    now[0] = t + 5  # and forward past it
    lines.append(formatter.format(_record(now[0])))
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps) and all(ISO_UTC.match(line) for line in lines)
    assert stamps[:3] == [logformat.utc_iso(t)] * 3 and stamps[3] == logformat.utc_iso(t + 5)
    assert [line.endswith(f"[{STEP}={HOUR_MS}]") for line in lines] == [False, False, True, False]


def logging_app() -> Any:
    """A tiny ASGI app for the server test: every request logs a WARNING on a platform logger."""
    log = logging.getLogger("citycredit.test_time")

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        log.warning("served %s", scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return asgi


def test_every_server_log_line_starts_with_a_utc_time() -> None:
    """`citycredit serve`'s processes: the parent's lines, uvicorn's, the access log and the
    platform's own loggers (which had no handler, and so no time, before)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "citycredit.web.serve", "--factory"]
    cmd += ["test_time_discipline:logging_app", "--port", str(port), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), *sys.path])}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/probe")
                assert conn.getresponse().status == 200
                conn.close()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(0.5)  # the access line is written after the response
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    lines = [line for line in io.StringIO(out.decode()).read().splitlines() if line.strip()]
    assert any("worker 0 started" in line for line in lines), lines  # the parent
    assert any("Started server process" in line for line in lines), lines  # uvicorn
    assert any('"GET /probe HTTP/1.1" 200' in line for line in lines), lines  # access log
    assert any("citycredit.test_time: served /probe" in line for line in lines), lines
    assert all(ISO_UTC.match(line) for line in lines), [
        line for line in lines if not ISO_UTC.match(line)
    ]
