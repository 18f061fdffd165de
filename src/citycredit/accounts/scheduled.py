"""Scheduled sweeps of accounts: the audit-trail retention purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.accounts.audit import purge_expired
from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job


def audit_purge(c: Container) -> dict[str, Any]:
    """Delete audit events past retention (never younger than 180 days); the purge is audited."""
    return purge_expired(c, SYSTEM)


JOBS = [
    Job(
        name="audit_purge",
        interval=timedelta(days=1),
        run=audit_purge,
        description="审计日志保留期清理（不少于180天，清理本身记入审计）",
    )
]
