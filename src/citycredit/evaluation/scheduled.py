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
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.evaluation.db import EvaluationRunRow
from citycredit.evaluation.runs import run_evaluation
from citycredit.kernel.jobs import Job
from citycredit.shared.calendar import local_date


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


JOBS = [
    Job(
        "evaluation_monthly",
        timedelta(days=1),
        monthly_batch,
        "每月对全市主体重新进行公共信用综合评价（批量引擎，保存为评价批次），使滑动时间窗口等指标保持最新",
    ),
]
