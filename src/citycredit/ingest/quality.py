"""数据质量 per department, published like GLEIF's data-quality reports.

归集率 (collection rate) = obligations met on time ÷ obligations due, from the catalog's
obligations: an event obligation is one record (due N working days after its decision); a
periodic obligation is one period (due on a day of the following period).
档案覆盖率 (archive coverage) = subjects whose basic registration record is current ÷ subjects.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.catalog.model import Obligation
from citycredit.ingest.db import (
    RecordRow,
    RecordVersionRow,
    RejectRow,
    SubmissionRow,
    UnresolvedRow,
)
from citycredit.shared.calendar import add_months, local_date
from citycredit.shared.personal import sealed_fields
from citycredit.subjects.db import SubjectRow

PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}

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
    """Per department and item: 归集率, timeliness, completeness, rejections; 档案覆盖率."""
    require(actor, Permission.read_quality)
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        depts = {d.id: d for d in s.scalars(select(DepartmentRow))}
        cells: dict[tuple[int, str], dict[str, Any]] = defaultdict(
            lambda: {
                "due": 0,
                "met": 0,
                "delays": [],
                "filled": 0,
                "slots": 0,
                "received": 0,
                "rejected": 0,
                "reasons": Counter(),
                "unresolved": 0,
                "records": 0,
            }
        )
        # Event obligations: each record with a due date is one obligation.
        for dept_id, item, decision, first, due, on_time in s.execute(
            select(
                RecordRow.department_id,
                RecordRow.item_code,
                RecordRow.decision_date,
                RecordRow.first_submitted_at,
                RecordRow.due_date,
                RecordRow.on_time,
            )
        ):
            cell = cells[(dept_id, item)]
            cell["records"] += 1
            if due is not None and (due < today or on_time):
                cell["due"] += 1
                cell["met"] += int(bool(on_time))
            if decision is not None:
                cell["delays"].append((local_date(first) - decision).days)
        for r in _periodic(c, s, today):
            cell = cells[(r["department_id"], r["item"])]
            cell["due"] += 1
            cell["met"] += int(r["met"])
        # Completeness: filled catalog fields of current versions.
        for dept_id, item, payload, personal in s.execute(
            select(
                RecordRow.department_id,
                RecordRow.item_code,
                RecordVersionRow.payload,
                RecordVersionRow.personal,
            )
            .join(
                RecordVersionRow,
                (RecordVersionRow.record_id == RecordRow.id)
                & (RecordVersionRow.version == RecordRow.current_version),
            )
            .where(RecordRow.status == "active")
        ):
            cell = cells[(dept_id, item)]
            cell["filled"] += len(payload) + len(sealed_fields(personal))  # no key needed
            cell["slots"] += len(c.catalog.item(item).fields)
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
        for dept_id, item, reasons in s.execute(
            select(SubmissionRow.department_id, SubmissionRow.item_code, RejectRow.reasons).join(
                RejectRow, RejectRow.submission_id == SubmissionRow.id
            )
        ):
            cell = cells[(dept_id, item)]
            cell["rejected"] += 1
            cell["reasons"].update({r["code"] for r in reasons})
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
                "median_days_decision_to_submission": median(cell["delays"])
                if cell["delays"]
                else None,
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
