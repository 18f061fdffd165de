"""Jobs: named sweeps with an interval; `citycredit jobs run-due` and the server run due ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from citycredit.bootstrap import Container
from citycredit.kernel.db import JobRunRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A sweep: run(container) returns a JSON-safe detail dict for the job log."""

    name: str
    interval: timedelta
    run: Callable[[Container], dict[str, Any]]
    description: str


@dataclass(frozen=True)
class JobResult:
    """The outcome of one run."""

    name: str
    status: str  # ok | failed
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


def _last_ok(c: Container, name: str) -> JobRunRow | None:
    with c.uow() as uow:
        return uow.session.scalar(
            select(JobRunRow)
            .where(JobRunRow.job == name, JobRunRow.status == "ok")
            .order_by(JobRunRow.started_at.desc())
            .limit(1)
        )


def due_jobs(c: Container, jobs: list[Job] | None = None) -> list[Job]:
    """Jobs never run, or whose last successful run is at least one interval ago."""
    now = c.clock.now()
    out = []
    for job in jobs if jobs is not None else registered_jobs():
        last = _last_ok(c, job.name)
        if last is None or last.started_at + job.interval <= now:
            out.append(job)
    return out


def run_job(c: Container, job: Job) -> JobResult:
    """Run one job and record the run; a failure is recorded, logged and reported, never hidden."""
    started = c.clock.now()
    try:
        detail = job.run(c)
        status = "ok"
    except Exception as exc:  # a sweep must not stop the others; the failure is kept in job_runs
        log.exception("job %s failed", job.name)
        detail, status = {"error": f"{type(exc).__name__}: {exc}"}, "failed"
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


def run_due(c: Container, *, force: bool = False, only: str | None = None) -> list[JobResult]:
    """Run the due jobs (all with force=True; one by name with only=)."""
    jobs = registered_jobs()
    if only is not None:
        jobs = [j for j in jobs if j.name == only]
        if not jobs:
            raise KeyError(f"没有名为 {only} 的任务")
    todo = jobs if force else due_jobs(c, jobs)
    return [run_job(c, j) for j in todo]
