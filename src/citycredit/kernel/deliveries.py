"""The deliveries sweep: feed every registered outbox consumer the events after its cursor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job
from citycredit.kernel.outbox import deliver


def deliver_all(c: Container) -> dict[str, Any]:
    """One transaction per consumer, so one failing consumer does not hold back the others."""
    delivered: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for name, consumer in sorted(c.consumers.items()):
        try:
            delivered[name] = deliver(c.uow, name, consumer, at=c.clock.now())
        except Exception as exc:  # reported below; the other consumers still get their events
            failures[name] = f"{type(exc).__name__}: {exc}"
    if failures:
        raise RuntimeError(f"consumers failed: {failures}; delivered: {delivered}")
    return {"delivered": delivered}


JOBS = [
    Job(
        "deliveries",
        timedelta(seconds=30),
        deliver_all,
        "把事件箱（outbox）中的新事件按顺序投递给已登记的消费者（重新评价、通知、数据链）",
    ),
]
