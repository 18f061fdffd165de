"""Intake sweeps: publication ends, periodic obligations that are overdue, the quality report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.quality import overdue_periods, refresh_quality_report
from citycredit.kernel import outbox
from citycredit.kernel.db import OutboxEventRow
from citycredit.kernel.jobs import BATCH, Job
from citycredit.shared.calendar import local_date


def end_publications(c: Container) -> dict[str, Any]:
    """公示期满: mark records whose publication end has come and emit an event for each."""
    now = c.clock.now()
    today = local_date(now)
    ended = 0
    with c.uow() as uow:
        s = uow.session
        rows = s.scalars(
            select(RecordRow).where(
                RecordRow.publication_end.is_not(None),
                RecordRow.publication_end <= today,
                RecordRow.publication_ended_at.is_(None),
            )
        )
        for r in rows:
            r.publication_ended_at = now
            outbox.emit(
                s,
                event_type="record.publication_ended",
                aggregate_type="record",
                aggregate_id=r.id,
                subject_id=r.subject_id,
                at=now,
                payload={
                    "item": r.item_code,
                    "publication_end": r.publication_end.isoformat() if r.publication_end else None,
                },
            )
            ended += 1
        uow.commit()
    return {"ended": ended, "as_of": today.isoformat()}


def flag_overdue_obligations(c: Container) -> dict[str, Any]:
    """逾期未报送: one event per department, item and period whose due date has passed unmet."""
    now = c.clock.now()
    flagged = 0
    with c.uow() as uow:
        s = uow.session
        for o in overdue_periods(c, s):
            agg = f"{o['department_id']}:{o['item']}:{o['period']}"
            exists = s.scalar(
                select(OutboxEventRow.id).where(
                    OutboxEventRow.event_type == "obligation.overdue",
                    OutboxEventRow.aggregate_id == agg,
                )
            )
            if exists:
                continue
            outbox.emit(
                s,
                event_type="obligation.overdue",
                aggregate_type="obligation",
                aggregate_id=agg,
                at=now,
                payload=o,
            )
            flagged += 1
        uow.commit()
    return {"flagged": flagged}


def check_accuracy_snapshots(c: Container) -> dict[str, Any]:
    """G40: check the snapshots departments dropped into data_dir/accuracy (ingest/accuracy.py)."""
    from citycredit.ingest.accuracy import check_dropped_snapshots

    return check_dropped_snapshots(c)


def store_quality_report(c: Container) -> dict[str, Any]:
    """数据质量: compute the public report and store it; the portal and API serve the newest."""
    report = refresh_quality_report(c, SYSTEM, "job")
    return {"computed_at": report["computed_at"], "as_of": report["as_of"]}


JOBS = [
    Job(
        "publication_end",
        timedelta(hours=1),
        end_publications,
        "公示期满的记录停止公示，并发出事件",
    ),
    Job(
        "overdue_obligations",
        timedelta(hours=6),
        flag_overdue_obligations,
        "按目录的报送义务，标记逾期未报送的部门和信息项",
    ),
    Job(
        "accuracy_check",
        timedelta(hours=1),
        check_accuracy_snapshots,
        "已公示信息准确性核对：抽样核对部门放入 accuracy 目录的源系统快照，报告差错率",
        lane=BATCH,
    ),
    Job(
        "quality_report",
        timedelta(hours=1),
        store_quality_report,
        "数据质量报告：统计各部门归集率、及时率、完整率和档案覆盖率，存为快照供门户和接口展示",
        lane=BATCH,
    ),
]
