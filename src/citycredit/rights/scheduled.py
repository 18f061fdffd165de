"""Rights sweeps: open objections and repairs past a legal clock are escalated (never silently
late)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job
from citycredit.rights import objections, repairs


def escalate_late_cases(c: Container) -> dict[str, Any]:
    """逾期督办: each late open objection or repair is escalated once to the credit office."""
    return {
        "objections": objections.escalate_overdue(c),
        "repairs": repairs.escalate_overdue(c),
    }


JOBS = [
    Job(
        "rights_overdue",
        timedelta(hours=1),
        escalate_late_cases,
        "超过受理、核查或审核期限的异议和修复申请逐件督办，通知信用办",
    ),
]
