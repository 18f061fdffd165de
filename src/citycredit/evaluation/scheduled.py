"""The monthly whole-city evaluation (按月全量评价).

Triggered re-evaluation (the outbox consumer) follows every change of a subject's records, but
some indicators move with time alone: windows ``[as_of − N, as_of)`` slide, years since
registration grow. So once a month every subject is evaluated again with the batch engine
(``evaluation_batch_engine``, DuckDB by default, over a fresh de-identified Parquet export) as an
evaluation run, from ``evaluation_batch_day`` of the month on; the job is checked daily and runs
once per month (a failed run is retried the next day). ``evaluation_batch_day = 0`` turns it off
(for deployments that run ``citycredit evaluate`` from their own scheduler).

The job runs in the scheduler of the server like the other sweeps; on a city of millions of
subjects it takes minutes, during which the other sweeps wait. Deployments that mind run it with
``citycredit jobs run-due --only evaluation_monthly`` from cron instead.

``evaluation_next_day`` (checked hourly, works once per Shanghai day): a fact counts from the
day after its date, so the re-evaluation that a listing or record decided today triggers cannot
count it yet. Each day the job evaluates again, as of today, every subject whose current result
predates such a fact (``service.due_subjects``): bad news moves the grade the day after its
decision, as exits and repairs move it on their own day (docs/evaluation-surface.md).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.evaluation.db import EvaluationRunRow
from citycredit.evaluation.runs import run_evaluation
from citycredit.evaluation.service import reevaluate_due
from citycredit.kernel.db import JobRunRow
from citycredit.kernel.jobs import BATCH, Job
from citycredit.shared.calendar import local_date

NEXT_DAY_JOB = "evaluation_next_day"


def monthly_batch(c: Container) -> dict[str, Any]:
    """Evaluate every subject once a month (a stored evaluation run)."""
    day = c.settings.evaluation_batch_day
    today = local_date(c.clock.now())
    if day == 0:
        return {"skipped": "disabled (evaluation_batch_day = 0)"}
    if today.day < day:
        return {"skipped": f"waits for day {day} of the month"}
    month_start = today.replace(day=1)
    with c.uow() as uow:
        done = uow.session.scalar(
            select(EvaluationRunRow.id)
            .where(
                EvaluationRunRow.status == "completed",
                EvaluationRunRow.as_of >= month_start,
                EvaluationRunRow.as_of <= today,
            )
            .limit(1)
        )
    if done is not None:
        return {"skipped": f"this month's run exists ({done})"}
    run = run_evaluation(c, SYSTEM, engine=c.settings.evaluation_batch_engine, as_of=today)
    return {
        "run_id": run["run_id"],
        "engine": run["engine"],
        "as_of": run["as_of"],
        "evaluated": run["evaluated"],
        "counts": run["counts"],
    }


def _last_day(c: Container) -> date | None:
    """The Shanghai day the next-day job last covered (its last successful run's as_of)."""
    with c.uow() as uow:
        details = uow.session.scalars(
            select(JobRunRow.detail)
            .where(JobRunRow.job == NEXT_DAY_JOB, JobRunRow.status == "ok")
            .order_by(JobRunRow.started_at.desc(), JobRunRow.id.desc())
            .limit(1)
        ).all()
    for detail in details:
        value = detail.get("as_of") if isinstance(detail, dict) else None
        try:
            return date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None
    return None


def next_day(c: Container) -> dict[str, Any]:
    """Evaluate again, as of today, the subjects with facts dated on their current as_of or
    later (decided on the day of their last evaluation): once per Shanghai day."""
    today = local_date(c.clock.now())
    last = _last_day(c)
    if last == today:
        return {"as_of": today.isoformat(), "skipped": "already done today"}
    # One day of overlap: results stored on the last day after the job ran (a late batch).
    since = last - timedelta(days=1) if last is not None and last < today else None
    return reevaluate_due(c, since=since)


JOBS = [
    Job(
        NEXT_DAY_JOB,
        timedelta(hours=1),
        next_day,
        "每日对上次评价后新作出的决定（当日作出、次日起计入）所涉主体重新进行公共信用综合评价，"
        "使列入名单、行政处罚等次日即反映到等级",
        lane=BATCH,
    ),
    Job(
        "evaluation_monthly",
        timedelta(days=1),
        monthly_batch,
        "每月对全市主体重新进行公共信用综合评价（批量引擎，保存为评价批次），使滑动时间窗口等指标保持最新",
        lane=BATCH,
    ),
]
