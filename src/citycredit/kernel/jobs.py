"""Jobs: named sweeps with an interval; `citycredit jobs run-due` and the server run due ones.

Every job is in a lane. The server runs each lane in a loop of its own, so the archive-wide
batches (the hourly 数据质量 snapshot, the evaluation batches, the 双公示 export: minutes to tens
of minutes at city scale) never hold up the sweeps that must stay prompt (deliveries to the
ledger and to departments every 30 s, the merge-delay alarm, expiries), and the ledger's full
verification (hours at city scale) holds up neither.
Within a lane, due jobs run one after another. Across processes, a job runs once at a time
(kernel.joblock): a run that finds its job already running elsewhere does not start (`busy`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from citycredit.bootstrap import Container
from citycredit.kernel.db import JobRunRow
from citycredit.kernel.joblock import job_lock

log = logging.getLogger(__name__)

SWEEP = "sweep"  # prompt work bounded by what is pending: deliveries, alarms, expiries
BATCH = "batch"  # work in proportion to the archive: snapshots, evaluation batches, exports
# The ledger's full verification re-reads every leaf and row: ~107 s per million leaves
# (docs/benchmarks.md), hours at city scale; in a lane of its own it never holds up the batches.
VERIFY = "verify"
LANES = (SWEEP, BATCH, VERIFY)
OK, FAILED = "ok", "failed"
BUSY = "busy"  # the job is running in another process (or thread): this run did not start


@dataclass(frozen=True)
class Job:
    """A sweep: run(container) returns a JSON-safe detail dict for the job log."""

    name: str
    interval: timedelta
    run: Callable[[Container], dict[str, Any]]
    description: str
    lane: str = SWEEP


@dataclass(frozen=True)
class JobResult:
    """The outcome of one run."""

    name: str
    status: str  # ok | failed | busy (not run: running elsewhere; not recorded in job_runs)
    detail: dict[str, Any]


def registered_jobs() -> list[Job]:
    """Every sweep of the platform. Areas add theirs here (imported lazily: no import cycles)."""
    from citycredit.accounts.scheduled import JOBS as ACCOUNTS_JOBS
    from citycredit.evaluation.scheduled import JOBS as EVALUATION_JOBS
    from citycredit.exports.scheduled import JOBS as EXPORT_JOBS
    from citycredit.ingest.feedback import JOBS as FEEDBACK_JOBS
    from citycredit.ingest.scheduled import JOBS as INGEST_JOBS
    from citycredit.kernel.deliveries import JOBS as DELIVERY_JOBS
    from citycredit.ledger.mmd import JOBS as MMD_JOBS
    from citycredit.ledger.verify import JOBS as LEDGER_JOBS
    from citycredit.ledger.witness_client import JOBS as WITNESS_JOBS
    from citycredit.lists.scheduled import JOBS as LISTS_JOBS
    from citycredit.rights.scheduled import JOBS as RIGHTS_JOBS
    from citycredit.sharing.scheduled import JOBS as SHARING_JOBS

    return [
        *KERNEL_JOBS,
        *ACCOUNTS_JOBS,
        *INGEST_JOBS,
        *FEEDBACK_JOBS,
        *DELIVERY_JOBS,
        *LEDGER_JOBS,
        *MMD_JOBS,
        *WITNESS_JOBS,
        *LISTS_JOBS,
        *RIGHTS_JOBS,
        *SHARING_JOBS,
        *EXPORT_JOBS,
        *EVALUATION_JOBS,
    ]


def _last_ok(s: Session, name: str) -> datetime | None:
    """When the job's newest successful run started (one index entry: migration 0038)."""
    return s.scalar(
        select(JobRunRow.started_at)
        .where(JobRunRow.job == name, JobRunRow.status == OK)
        .order_by(JobRunRow.started_at.desc())
        .limit(1)
    )


def _due(job: Job, last: datetime | None, now: datetime) -> bool:
    return last is None or last + job.interval <= now


def due_jobs(c: Container, jobs: list[Job] | None = None) -> list[Job]:
    """Jobs never run, or whose last successful run is at least one interval ago."""
    now = c.clock.now()
    with c.uow() as uow:
        todo = jobs if jobs is not None else registered_jobs()
        lasts = [(j, _last_ok(uow.session, j.name)) for j in todo]
    return [j for j, last in lasts if _due(j, last, now)]


def _newest(s: Session, name: str, status: str) -> Any:
    """The job's newest run with this status (one index entry), or None."""
    return s.execute(
        select(JobRunRow.started_at, JobRunRow.finished_at, JobRunRow.status, JobRunRow.detail)
        .where(JobRunRow.job == name, JobRunRow.status == status)
        .order_by(JobRunRow.started_at.desc())
        .limit(1)
    ).first()


def job_states(c: Container, jobs: list[Job] | None = None) -> dict[str, dict[str, Any]]:
    """Per job, what an administrator asks first: its last run (when, how it ended, the error
    if it failed), its last success, and when it is next due (None: due now). Two index entries
    per job (its newest `ok` and newest `failed` run), whatever the log's size."""
    now = c.clock.now()
    out: dict[str, dict[str, Any]] = {}
    with c.uow() as uow:
        s = uow.session
        for job in jobs if jobs is not None else registered_jobs():
            newest = [r for r in (_newest(s, job.name, OK), _newest(s, job.name, FAILED)) if r]
            ok = next((r.started_at for r in newest if r.status == OK), None)
            last = max(newest, key=lambda r: r.started_at, default=None)
            out[job.name] = {
                "last_run": None
                if last is None
                else {
                    "started_at": last.started_at,
                    "finished_at": last.finished_at,
                    "status": last.status,
                    "error": (last.detail or {}).get("error") if last.status == FAILED else None,
                },
                "last_ok_at": ok,
                "next_due_at": None if ok is None or _due(job, ok, now) else ok + job.interval,
            }
    return out


def state_json(value: Any) -> Any:
    """A job state (`job_states`) as JSON: its instants as ISO 8601 strings (UTC, with the
    offset), nested ones too."""
    if isinstance(value, dict):
        return {k: state_json(v) for k, v in value.items()}
    return value.isoformat() if isinstance(value, datetime) else value


def _is_due(c: Container, job: Job) -> bool:
    with c.uow() as uow:
        last = _last_ok(uow.session, job.name)
    return _due(job, last, c.clock.now())


def run_job(c: Container, job: Job) -> JobResult:
    """Run one job and record the run; a failure is recorded, logged and reported, never hidden.
    Under the job's lock: if another process is running it, nothing runs (`busy`)."""
    with job_lock(c.engine, job.name) as taken:
        return _run_locked(c, job) if taken else _busy(job)


def _run_if_due(c: Container, job: Job) -> JobResult | None:
    """run_job for a job found due: once its lock is held the due time is read again, and a
    job that another process has just run is left alone (None)."""
    with job_lock(c.engine, job.name) as taken:
        if not taken:
            return _busy(job)
        return _run_locked(c, job) if _is_due(c, job) else None


def _busy(job: Job) -> JobResult:
    log.info("job %s is running elsewhere: not started", job.name)
    return JobResult(job.name, BUSY, {"reason": "该任务正在其他进程中运行"})


def _run_locked(c: Container, job: Job) -> JobResult:
    started = c.clock.now()
    try:
        detail = job.run(c)
        status = OK
    except Exception as exc:  # a sweep must not stop the others; the failure is kept in job_runs
        log.exception("job %s failed", job.name)
        detail, status = {"error": f"{type(exc).__name__}: {exc}"}, FAILED
    with c.uow() as uow:
        uow.session.add(
            JobRunRow(
                job=job.name,
                started_at=started,
                finished_at=c.clock.now(),
                status=status,
                detail=detail,
            )
        )
        uow.commit()
    return JobResult(job.name, status, detail)


def run_due(
    c: Container, *, force: bool = False, only: str | None = None, lane: str | None = None
) -> list[JobResult]:
    """Run the due jobs (all with force=True; one by name with only=; one lane with lane=)."""
    jobs = registered_jobs()
    if lane is not None:
        if lane not in LANES:
            raise KeyError(f"没有名为 {lane} 的任务通道（{'、'.join(LANES)}）")
        jobs = [j for j in jobs if j.lane == lane]
    if only is not None:
        jobs = [j for j in jobs if j.name == only]
        if not jobs:
            raise KeyError(f"没有名为 {only} 的任务")
    if force:
        return [run_job(c, j) for j in jobs]
    results = (_run_if_due(c, j) for j in due_jobs(c, jobs))
    return [r for r in results if r is not None]


PURGE_BATCH = 10_000


def purge_job_runs(c: Container) -> dict[str, Any]:
    """Delete the job log's runs older than `job_run_retention_days`, in batches of committed
    deletes; each job's newest successful run stays, whatever its age (its due time)."""
    cutoff = c.clock.now() - timedelta(days=c.settings.job_run_retention_days)
    with c.uow() as uow:
        keep = list(
            uow.session.scalars(
                select(func.max(JobRunRow.id)).where(JobRunRow.status == OK).group_by(JobRunRow.job)
            )
        )
    deleted, after = 0, 0
    while True:
        with c.uow() as uow:
            ids = uow.session.scalars(
                select(JobRunRow.id)
                .where(JobRunRow.id > after, JobRunRow.started_at < cutoff)
                .order_by(JobRunRow.id)
                .limit(PURGE_BATCH)
            ).all()
            if not ids:
                break
            result = uow.session.execute(
                delete(JobRunRow).where(
                    JobRunRow.id >= ids[0],
                    JobRunRow.id <= ids[-1],
                    JobRunRow.started_at < cutoff,
                    JobRunRow.id.not_in(keep),
                )
            )
            uow.commit()
            deleted += int(getattr(result, "rowcount", 0) or 0)
            after = ids[-1]
    return {"deleted": deleted, "before": cutoff.isoformat()}


KERNEL_JOBS = [
    Job(
        "job_runs_purge",
        timedelta(days=1),
        purge_job_runs,
        "任务运行记录保留期清理（job_run_retention_days，默认90天；每个任务最近一次成功运行的记录始终保留）",
    ),
]
