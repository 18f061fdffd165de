"""The scheduler's lanes and the jobs' locks (kernel.jobs, kernel.joblock).

- archive-wide batches run in a lane of their own, so a long one never holds up the prompt
  sweeps (deliveries, the merge-delay alarm) — checked on the running server;
- a job runs once at a time across processes: a second run finds it `busy` (409 for the
  administrator's "run now"), a run found due is re-read under the lock, and a killed holder
  leaves no lock behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.system import run_job_now, settings_view
from citycredit.bootstrap import Container, build_container
from citycredit.db.migrate import drift
from citycredit.kernel import jobs as jobs_module
from citycredit.kernel.db import JobRunRow
from citycredit.kernel.joblock import job_lock
from citycredit.kernel.jobs import (
    BATCH,
    BUSY,
    LANES,
    SWEEP,
    VERIFY,
    Job,
    registered_jobs,
    run_due,
)
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import Conflict
from citycredit.web.app import create_app
from support import settings_for

pytestmark = pytest.mark.db

# Jobs whose work grows with the archive (minutes at city scale), and sweeps that must stay prompt.
ARCHIVE_WIDE = {
    "quality_report",
    "evaluation_next_day",
    "evaluation_monthly",
    "dual_publicity_export",
}
PROMPT = {"deliveries", "ledger_merge_delay", "ledger_witness", "sharing_fanout", "audit_seal"}


def _runs(c: Container, name: str) -> int:
    with c.uow() as uow:
        return (
            uow.session.scalar(
                select(func.count()).select_from(JobRunRow).where(JobRunRow.job == name)
            )
            or 0
        )


def _fake(name: str, lane: str, run: Any) -> Job:
    return Job(name, timedelta(0), run, f"测试任务 {name}", lane=lane)  # always due


def test_every_job_has_a_lane_and_the_archive_wide_ones_are_batches() -> None:
    jobs = {j.name: j.lane for j in registered_jobs()}
    assert set(jobs.values()) <= set(LANES)
    assert {n for n in ARCHIVE_WIDE if jobs[n] == BATCH} == ARCHIVE_WIDE
    assert {n for n in PROMPT if jobs[n] == SWEEP} == PROMPT
    assert jobs["ledger_verify"] == VERIFY  # hours at city scale: a lane of its own


def test_run_due_by_lane_runs_only_that_lane(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    fakes = [
        _fake("t_sweep", SWEEP, lambda c: ran.append("t_sweep") or {}),
        _fake("t_batch", BATCH, lambda c: ran.append("t_batch") or {}),
    ]
    monkeypatch.setattr(jobs_module, "registered_jobs", lambda: fakes)
    assert [r.name for r in run_due(container, lane=SWEEP)] == ["t_sweep"]
    assert [r.name for r in run_due(container, lane=BATCH)] == ["t_batch"]
    assert [r.name for r in run_due(container)] == ["t_sweep", "t_batch"]
    assert ran == ["t_sweep", "t_batch", "t_sweep", "t_batch"]
    with pytest.raises(KeyError):
        run_due(container, lane="nightly")


def test_a_long_batch_does_not_hold_up_the_sweeps_of_the_running_server(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    batch_started = threading.Event()
    swept: list[float] = []

    def long_batch(_c: Container) -> dict[str, Any]:
        batch_started.set()
        assert release.wait(30), "the test did not release the batch"
        return {}

    def sweep(_c: Container) -> dict[str, Any]:
        swept.append(time.monotonic())
        return {}

    fakes = [_fake("t_long_batch", BATCH, long_batch), _fake("t_sweep", SWEEP, sweep)]
    monkeypatch.setattr(jobs_module, "registered_jobs", lambda: fakes)
    settings = settings_for(db_url, tmp_path).model_copy(update={"job_interval_seconds": 1})
    c = build_container(settings, clock=FixedClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC)))
    try:
        with TestClient(create_app(c)):
            assert batch_started.wait(20), "the batch lane never started"
            deadline = time.monotonic() + 20
            while len(swept) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            blocked = not release.is_set()
            release.set()
        # three sweeps ran while the batch was still running (one loop would have run none)
        assert blocked and len(swept) >= 3, swept
    finally:
        release.set()
        c.dispose()


def test_a_job_runs_once_at_a_time(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    fakes = [_fake("t_export", BATCH, lambda c: ran.append("run") or {"n": 1})]
    monkeypatch.setattr(jobs_module, "registered_jobs", lambda: fakes)
    with job_lock(container.engine, "t_export") as held:  # another process's run, in effect
        assert held
        with job_lock(container.engine, "t_export") as again:
            assert not again
        with job_lock(container.engine, "t_other") as other:
            assert other  # one lock per job
        (busy,) = run_due(container, only="t_export")
        assert busy.status == BUSY and busy.detail["reason"] == "该任务正在其他进程中运行"
        (forced,) = run_due(container, force=True, only="t_export")
        assert forced.status == BUSY
        with pytest.raises(Conflict) as refused:
            run_job_now(container, SYSTEM, "t_export")
        assert refused.value.code == "job_busy"
    assert ran == [] and _runs(container, "t_export") == 0  # a busy run is not a run
    (done,) = run_due(container, only="t_export")
    assert (done.status, ran, _runs(container, "t_export")) == ("ok", ["run"], 1)


def test_a_job_found_due_is_read_again_under_its_lock(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two schedulers find the daily job due; the first runs it; the second, once it holds the
    lock, sees the first one's run and leaves the job alone."""
    ran: list[str] = []
    daily = Job("t_daily", timedelta(days=1), lambda c: ran.append("run") or {}, "测试", lane=BATCH)
    monkeypatch.setattr(jobs_module, "registered_jobs", lambda: [daily])
    stale = jobs_module.due_jobs(container)  # the second scheduler's view, taken first
    assert stale == [daily]
    assert [r.status for r in run_due(container)] == ["ok"]
    monkeypatch.setattr(jobs_module, "due_jobs", lambda c, jobs=None: stale)
    assert run_due(container) == []
    assert ran == ["run"] and _runs(container, "t_daily") == 1


HOLDER = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import create_engine
    from citycredit.kernel.joblock import job_lock
    engine = create_engine(sys.argv[1])
    with job_lock(engine, "t_killed") as held:
        print("held" if held else "not held", flush=True)
        time.sleep(120)
    """
)


def test_a_killed_run_leaves_no_lock_behind(container: Container) -> None:
    url = container.engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with job_lock(container.engine, "t_killed") as taken:
            assert not taken
        os.kill(holder.pid, signal.SIGKILL)  # kill -9: no unlock, no clean-up
        holder.wait(10)
        deadline, taken = time.monotonic() + 10, False
        while not taken and time.monotonic() < deadline:
            with job_lock(container.engine, "t_killed") as taken:
                pass
            time.sleep(0.05)
        assert taken
    finally:
        holder.kill()
        holder.wait(10)


def test_the_job_log_is_pruned_but_keeps_each_jobs_newest_success(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    now = c.clock.now()
    runs = [  # (job, days ago, status): kept?
        ("t_a", 200, "ok", False),
        ("t_a", 100, "ok", False),
        ("t_a", 95, "failed", False),
        ("t_a", 1, "ok", True),  # its newest success, young anyway
        ("t_b", 400, "ok", True),  # old, but t_b's newest success: its due time
        ("t_b", 10, "failed", True),  # inside the retention
        ("t_c", 120, "failed", False),  # never succeeded: nothing to keep
        ("t_d", 89, "ok", True),
    ]
    with c.uow() as uow:
        for job, days, status, _ in runs:
            at = now - timedelta(days=days)
            uow.session.add(
                JobRunRow(job=job, started_at=at, finished_at=at, status=status, detail={})
            )
        uow.commit()
    monkeypatch.setattr(jobs_module, "PURGE_BATCH", 2)  # several committed batches
    (result,) = run_due(c, only="job_runs_purge")
    assert result.status == "ok" and result.detail["deleted"] == 4, result.detail
    with c.uow() as uow:
        left = uow.session.execute(
            select(JobRunRow.job, JobRunRow.started_at, JobRunRow.status).where(
                JobRunRow.job.like("t\\_%", escape="\\")
            )
        ).all()
    expected = {(j, now - timedelta(days=d), s) for j, d, s, kept in runs if kept}
    assert {(j, at, s) for j, at, s in left} == expected
    assert {j.name: j.lane for j in registered_jobs()}["job_runs_purge"] == SWEEP
    assert _runs(c, "job_runs_purge") == 1  # its own run is logged, and young


def test_models_and_migration_0038_agree_and_the_due_check_uses_the_index(
    container: Container,
) -> None:
    assert [d for d in drift(container.engine) if "job_runs" in repr(d)] == []
    indexes = {i["name"] for i in inspect(container.engine).get_indexes("job_runs")}
    assert "ix_job_runs_job_status_started" in indexes and "ix_job_runs_job" not in indexes
    query = (
        "SELECT started_at FROM job_runs WHERE job = 'deliveries' AND status = 'ok' "
        "ORDER BY started_at DESC LIMIT 1"
    )
    with container.engine.connect() as conn:
        if container.engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(conn.execute(text(f"EXPLAIN {query}")).scalars())
            assert "Sort" not in plan, plan  # read in the index's order: no sort of all runs
        else:
            plan = "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
            assert "TEMP B-TREE" not in plan, plan
    assert "ix_job_runs_job_status_started" in plan, plan


def test_the_administrators_view_shows_each_jobs_last_run(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container

    def broken(_c: Container) -> dict[str, Any]:
        raise RuntimeError("源系统无响应")

    fakes = [
        Job("t_daily", timedelta(days=1), lambda _c: {}, "测试", lane=BATCH),
        Job("t_broken", timedelta(hours=1), broken, "测试"),
        Job("t_never", timedelta(hours=1), lambda _c: {}, "测试"),
    ]
    monkeypatch.setattr(jobs_module, "registered_jobs", lambda: fakes)
    run_due(c, force=True, only="t_daily")
    run_due(c, force=True, only="t_broken")
    jobs = {j["name"]: j for j in settings_view(c, SYSTEM)["jobs"]}
    now = c.clock.now().isoformat()
    assert jobs["t_daily"]["last_run"] == {
        "started_at": now,
        "finished_at": now,
        "status": "ok",
        "error": None,
    }
    assert jobs["t_daily"]["last_ok_at"] == now
    assert jobs["t_daily"]["next_due_at"] == (c.clock.now() + timedelta(days=1)).isoformat()
    assert jobs["t_daily"]["lane"] == BATCH
    broke = jobs["t_broken"]
    assert broke["last_run"]["status"] == "failed"
    assert broke["last_run"]["error"] == "RuntimeError: 源系统无响应"
    assert broke["last_ok_at"] is None and broke["next_due_at"] is None  # due: retried
    assert jobs["t_never"]["last_run"] is None and jobs["t_never"]["next_due_at"] is None
