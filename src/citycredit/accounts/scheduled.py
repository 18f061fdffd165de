"""Scheduled sweeps of accounts: the audit-trail retention purge and sealing (G11)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.accounts.audit import purge_expired
from citycredit.accounts.audit_seal import seal_audit
from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job


def audit_purge(c: Container) -> dict[str, Any]:
    """Delete audit events past retention (never younger than 180 days); the purge is audited."""
    return purge_expired(c, SYSTEM)


def audit_seal(c: Container) -> dict[str, Any]:
    """Seal the committed, unsealed audit events into hash-chained seals with ledger leaves."""
    return seal_audit(c, SYSTEM)


JOBS = [
    Job(
        name="audit_purge",
        interval=timedelta(days=1),
        run=audit_purge,
        description="审计日志保留期清理（不少于180天，清理本身记入审计）",
    ),
    Job(
        name="audit_seal",
        interval=timedelta(minutes=2),
        run=audit_seal,
        description="审计日志封存：新提交的审计记录逐条计算摘要、链式封存并写入信用数据链",
    ),
]
