"""数据质量 per department, published like GLEIF's data-quality reports.

归集率 (collection rate) = obligations met on time ÷ obligations due, from the catalog's
obligations: an event obligation is one record (due N working days after its decision); a
periodic obligation is one period (due on a day of the following period).
档案覆盖率 (archive coverage) = subjects whose basic registration record is current ÷ subjects.

The report is public, and computing it scans every record, every current version's payload and
every reject of the archive: minutes of database and CPU time at the city's scale, which an
anonymous visitor could otherwise ask for again and again. So it is a stored snapshot, like the
periodic reports GLEIF and the city platforms publish with their as-of time: the hourly job
`quality_report` (ingest/scheduled.py), the credit office (`POST /api/v1/quality/refresh`) and
`citycredit quality` compute and store one (`refresh_quality_report`); the public reads serve the
newest (`quality_report`: one indexed row). Snapshots older than ``KEEP_DAYS`` are pruned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import SYSTEM, Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.catalog.model import Obligation
from citycredit.ingest import quality_sql
from citycredit.ingest.db import (
    QualityReportRow,
    RecordRow,
    RejectRow,
    SubmissionRow,
    UnresolvedRow,
)
from citycredit.shared.calendar import SHANGHAI, add_months, local_date
from citycredit.subjects.db import SubjectRow

log = logging.getLogger(__name__)

PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
# Stored snapshots are kept this long (a constant: hourly snapshots, ~2,200 rows of history).
KEEP_DAYS = 90
TRIGGERS = ("job", "cli", "api")
# One full scan at a time per process: the job, a refresh and the first read of a fresh install
# wait for each other instead of scanning the archive side by side.
_COMPUTING = threading.Lock()

# Quarantine reason codes as a department data officer reads them.
REASON_LABELS = {
    "required": "必填项缺失",
    "checksum": "校验码错误",
    "invalid_date": "日期无效",
    "future_date": "日期晚于当日",
    "not_in_enum": "取值不在代码表内",
    "subject_unresolved": "主体无法匹配",
    "type_mismatch": "类别与代码不符",
    "placeholder": "占位代码",
    "length": "长度错误",
    "charset": "含非法字符",
    "format": "格式错误",
    "too_long": "超过长度上限",
    "invalid_decimal": "金额无效",
    "negative_amount": "金额为负",
    "invalid_integer": "整数无效",
    "invalid_year_month": "年月无效",
    "birth_date": "出生日期无效",
    "invalid_masked": "脱敏号码无效",
    "date_order": "日期先后颠倒",
    # OPERATION=删除 rows (ingest/service.py)
    "record_not_found": "要撤销的记录不存在",
    "not_withdrawable": "无权撤销该记录",
    "invalid_operation": "操作类型无效",
}


def _period_start(d: date, months: int) -> date:
    month0 = (d.month - 1) // months * months
    return date(d.year, month0 + 1, 1)


def periods_due(start: date, today: date, o: Obligation) -> list[tuple[date, date, date]]:
    """(period start, period end exclusive, due date) of every period whose due date has passed."""
    months = PERIOD_MONTHS.get(o.frequency)
    if not months or not o.due_day:
        return []
    out: list[tuple[date, date, date]] = []
    ps = _period_start(start, months)
    while True:
        pe = add_months(ps, months)
        due = pe + timedelta(days=o.due_day - 1)
        if due >= today:
            return out
        out.append((ps, pe, due))
        ps = pe


def _periodic(c: Container, s: Session, today: date) -> list[dict[str, Any]]:
    """One row per (department, periodic item, period) with whether it was met on time."""
    depts = {d.name: d for d in s.scalars(select(DepartmentRow))}
    subs: dict[tuple[int, str], list[date]] = defaultdict(list)
    for dept_id, item_code, created in s.execute(
        select(
            SubmissionRow.department_id, SubmissionRow.item_code, SubmissionRow.created_at
        ).where(SubmissionRow.status == "completed")
    ):
        subs[(dept_id, item_code)].append(local_date(created))
    rows = []
    for item in c.catalog.items.values():
        for o in item.obligations:
            dept = depts.get(o.department)
            if dept is None or o.frequency == "event":
                continue
            start = max(local_date(dept.created_at), c.catalog.effective)
            dates = subs.get((dept.id, item.code), [])
            for ps, _pe, due in periods_due(start, today, o):
                met = any(ps <= d <= due for d in dates)
                rows.append(
                    {
                        "department_id": dept.id,
                        "department": dept.name,
                        "item": item.code,
                        "period": ps.isoformat(),
                        "due": due.isoformat(),
                        "met": met,
                    }
                )
    return rows


def overdue_periods(c: Container, s: Session) -> list[dict[str, Any]]:
    """Periodic obligations whose due date passed without a submission."""
    today = local_date(c.clock.now())
    return [r for r in _periodic(c, s, today) if not r["met"]]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def quality_report(c: Container, actor: Principal) -> dict[str, Any]:
    """The newest stored report and its 统计时间 (``computed_at``): what the public reads.

    Only a fresh install, before the job's first run, has none: then this read computes and
    stores it (once: concurrent first reads wait for it and serve the stored one)."""
    require(actor, Permission.read_quality)
    served = _newest(c)
    if served is None:
        with _COMPUTING:
            served = _newest(c) or _store(c, SYSTEM.label, "read")
    return served


def refresh_quality_report(c: Container, actor: Principal, trigger: str) -> dict[str, Any]:
    """Compute the report now, store it, prune old snapshots; the credit office, CLI and job."""
    require(actor, Permission.run_jobs)
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    with _COMPUTING:
        return _store(c, actor.label, trigger)


def _newest(c: Container) -> dict[str, Any] | None:
    with c.uow() as uow:
        row = uow.session.scalar(
            select(QualityReportRow)
            .order_by(QualityReportRow.computed_at.desc(), QualityReportRow.id.desc())
            .limit(1)
        )
        uow.finish_read()
        return _served(row) if row is not None else None


def _served(row: QualityReportRow) -> dict[str, Any]:
    """The stored report as computed, with when (Beijing time, ISO 8601 with its offset)."""
    computed_at = row.computed_at.astimezone(SHANGHAI).isoformat(timespec="seconds")
    return {**row.report, "computed_at": computed_at}


def _store(c: Container, by: str, trigger: str) -> dict[str, Any]:
    started = c.clock.now()
    t0 = time.perf_counter()
    report = compute_quality_report(c)
    took_ms = round((time.perf_counter() - t0) * 1000)
    with c.uow() as uow:
        s = uow.session
        row = QualityReportRow(
            computed_at=started,
            as_of=date.fromisoformat(report["as_of"]),
            took_ms=took_ms,
            trigger=trigger,
            computed_by=by,
            report=report,
        )
        s.add(row)
        s.flush()
        pruned = _prune(s, started, keep=row.id)
        uow.commit()
    log.info("quality report stored: trigger=%s took_ms=%d pruned=%d", trigger, took_ms, pruned)
    return _served(row)


def _prune(s: Session, now: datetime, *, keep: int) -> int:
    cutoff = now - timedelta(days=KEEP_DAYS)
    result = s.execute(
        delete(QualityReportRow).where(
            QualityReportRow.computed_at < cutoff, QualityReportRow.id != keep
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def compute_quality_report(c: Container) -> dict[str, Any]:
    """Per department and item: 归集率, timeliness, completeness, rejections; 档案覆盖率.

    The full scan of the archive: callers store it (`refresh_quality_report`), never per read."""
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        depts = {d.id: d for d in s.scalars(select(DepartmentRow))}
        cells: dict[tuple[int, str], dict[str, Any]] = defaultdict(
            lambda: {
                "due": 0,
                "met": 0,
                "median": None,
                "filled": 0,
                "slots": 0,
                "received": 0,
                "rejected": 0,
                "reasons": Counter(),
                "unresolved": 0,
                "records": 0,
            }
        )
        # Event obligations: each record with a due date is one obligation. Summed by the
        # database (ingest/quality_sql.py): the report reads one row per department and item.
        for key, sums in quality_sql.record_sums(s, today).items():
            cell = cells[key]
            cell["records"] += sums.records
            cell["due"] += sums.due
            cell["met"] += sums.met
        for key, days in quality_sql.delay_medians(s).items():
            cells[key]["median"] = days
        for r in _periodic(c, s, today):
            cell = cells[(r["department_id"], r["item"])]
            cell["due"] += 1
            cell["met"] += int(r["met"])
        # Completeness: filled catalog fields of current versions (sealed ones counted unopened).
        for (dept_id, item), (filled, active) in quality_sql.filled_fields(s).items():
            cell = cells[(dept_id, item)]
            cell["filled"] += filled
            cell["slots"] += active * len(c.catalog.item(item).fields)
        for dept_id, item, received in s.execute(
            select(
                SubmissionRow.department_id,
                SubmissionRow.item_code,
                func.sum(SubmissionRow.received),
            )
            .where(SubmissionRow.status == "completed")
            .group_by(SubmissionRow.department_id, SubmissionRow.item_code)
        ):
            cells[(dept_id, item)]["received"] += int(received or 0)
        rejects = (
            select(SubmissionRow.department_id, SubmissionRow.item_code, RejectRow.reasons)
            .join(RejectRow, RejectRow.submission_id == SubmissionRow.id)
            .execution_options(yield_per=10_000)  # streamed: a city quarantines millions
        )
        for dept_id, item, reasons in s.execute(rejects):
            cell = cells[(dept_id, item)]
            cell["rejected"] += 1
            cell["reasons"].update(quality_sql.reason_codes(reasons))
        for dept_id, item, n in s.execute(
            select(UnresolvedRow.department_id, UnresolvedRow.item_code, func.count())
            .where(UnresolvedRow.status == "open")
            .group_by(UnresolvedRow.department_id, UnresolvedRow.item_code)
        ):
            cells[(dept_id, item)]["unresolved"] += int(n)
        coverage = archive_coverage(s)
    names = {code: it.name for code, it in c.catalog.items.items()}
    return _render(names, cells, depts, coverage, today)


def archive_coverage(s: Session) -> dict[str, Any]:
    """档案覆盖率: subjects with an active basic-registration record ÷ all subjects."""
    total = int(s.scalar(select(func.count()).select_from(SubjectRow)) or 0)
    covered = int(
        s.scalar(
            select(func.count(func.distinct(RecordRow.subject_id))).where(
                RecordRow.item_code == "registration", RecordRow.status == "active"
            )
        )
        or 0
    )
    return {
        "subjects": total,
        "with_current_registration": covered,
        "archive_coverage": _ratio(covered, total),
    }


def _render(
    item_names: dict[str, str],
    cells: dict[tuple[int, str], dict[str, Any]],
    depts: dict[int, DepartmentRow],
    coverage: dict[str, Any],
    today: date,
) -> dict[str, Any]:
    by_dept: dict[int, list[dict[str, Any]]] = defaultdict(list)
    tot_due = tot_met = 0
    for (dept_id, item), cell in sorted(cells.items()):
        tot_due += cell["due"]
        tot_met += cell["met"]
        by_dept[dept_id].append(
            {
                "item": item,
                "item_name": item_names.get(item, item),
                "records": cell["records"],
                "obligations_due": cell["due"],
                "obligations_met_on_time": cell["met"],
                "collection_rate": _ratio(cell["met"], cell["due"]),
                "median_days_decision_to_submission": cell["median"],
                "completeness": _ratio(cell["filled"], cell["slots"]),
                "received": cell["received"],
                "rejected": cell["rejected"],
                "rejection_rate": _ratio(cell["rejected"], cell["received"]),
                "rejections_by_reason": dict(sorted(cell["reasons"].items())),
                "rejections_by_reason_label": {
                    REASON_LABELS.get(k, k): v for k, v in sorted(cell["reasons"].items())
                },
                "unresolved": cell["unresolved"],
            }
        )
    departments = []
    for dept_id, items in by_dept.items():
        dept = depts.get(dept_id)
        due = sum(i["obligations_due"] for i in items)
        met = sum(i["obligations_met_on_time"] for i in items)
        received = sum(i["received"] for i in items)
        rejected = sum(i["rejected"] for i in items)
        departments.append(
            {
                "department_id": dept_id,
                "department": dept.name if dept else str(dept_id),
                "collection_rate": _ratio(met, due),
                "rejection_rate": _ratio(rejected, received),
                "unresolved": sum(i["unresolved"] for i in items),
                "items": items,
            }
        )
    departments.sort(key=lambda d: d["department"])
    return {
        "as_of": today.isoformat(),
        "collection_rate": _ratio(tot_met, tot_due),
        **coverage,
        "departments": departments,
    }
