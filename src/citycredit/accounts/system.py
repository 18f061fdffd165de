"""The system administrator's job: see the effective configuration, run a job now."""

from __future__ import annotations

from typing import Any

from citycredit.accounts.audit import add_event
from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.shared.errors import Conflict, FieldError

# Settings never shown, whatever their type (keys, passwords, URLs with credentials).
_HIDDEN = ("secret", "skey", "key", "password", "database_url")


def settings_view(c: Container, actor: Principal) -> dict[str, Any]:
    """Effective settings without secrets, and every registered job with its last run."""
    require(actor, Permission.configure_system)
    from citycredit.kernel.jobs import job_states, registered_jobs, state_json

    jobs = registered_jobs()
    states = job_states(c, jobs)
    data = c.settings.model_dump(mode="json")
    shown = {k: v for k, v in data.items() if not any(h in k for h in _HIDDEN) or k == "security"}
    shown["database"] = "sqlite" if c.settings.is_sqlite else "postgresql"
    return {
        "settings": shown,
        "jobs": [
            {
                "name": j.name,
                "interval_seconds": int(j.interval.total_seconds()),
                "lane": j.lane,
                "description": j.description,
                **state_json(states[j.name]),
            }
            for j in jobs
        ],
    }


def run_job_now(c: Container, actor: Principal, name: str) -> dict[str, Any]:
    """Run one registered job at once (its run is recorded in job_runs and the audit trail).
    A job already running (the scheduler's run, another server's) is not started twice: 409."""
    require(actor, Permission.configure_system)
    from citycredit.kernel.jobs import BUSY, registered_jobs, run_job

    jobs = {j.name: j for j in registered_jobs()}
    job = jobs.get(name)
    if job is None:
        raise FieldError("job", name, "unknown_job", f"可用任务：{'、'.join(sorted(jobs))}")
    result = run_job(c, job)
    if result.status == BUSY:
        raise Conflict(f"任务 {name} 正在运行中，请待其结束后再试", code="job_busy")
    with c.uow() as uow:
        add_event(
            uow.session,
            at=c.clock.now(),
            action="system.job_run",
            result="success" if result.status == "ok" else "failure",
            actor=actor,
            object_id=name,
            detail={"status": result.status},
        )
        uow.commit()
    return {"job": result.name, "status": result.status, "detail": result.detail}
