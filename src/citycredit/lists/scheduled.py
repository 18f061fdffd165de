"""Lists sweeps: memberships leave their list on the exact expiry day (Asia/Shanghai)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job
from citycredit.lists.service import expire_due


def expire_memberships(c: Container) -> dict[str, Any]:
    """期满移出: published memberships whose expires_on ≤ today become expired."""
    return expire_due(c)


JOBS = [
    Job(
        "lists_expiry",
        timedelta(hours=1),
        expire_memberships,
        "名单列入期限届满的记录于当日移出，并发出事件（入数据链）",
    ),
]
