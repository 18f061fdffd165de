"""What every surface shows of a subject's open rights cases: "异议处理中" and repairs under way
(credit checks, lists, evaluation and the archive call this)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from citycredit.rights.objections import MARK_OPEN, OPEN, subject_objections
from citycredit.rights.repairs import OPEN as OPEN_REPAIRS
from citycredit.rights.repairs import STATUS_LABELS, open_repairs

# Statuses of open cases (credit checks read them in one statement: checks.standing).
OPEN_OBJECTION_STATUSES = tuple(sorted(s.value for s in OPEN))
OPEN_REPAIR_STATUSES = tuple(sorted(OPEN_REPAIRS))


def objection_entry(o: Any) -> dict[str, Any]:
    """One open objection as `pending_cases` shows it (an ObjectionRow or a row with its
    id, target_type, target_id, status and filed_on)."""
    return {
        "objection_id": o.id,
        "target": {"type": o.target_type, "id": o.target_id},
        "status": o.status,
        "mark": MARK_OPEN,
        "filed_on": o.filed_on.isoformat(),
    }


def repair_entry(r: Any) -> dict[str, Any]:
    """One open repair application as `pending_cases` shows it (same attributes)."""
    return {
        "repair_id": r.id,
        "target": {"type": r.target_type, "id": r.target_id},
        "status": r.status,
        "status_label": STATUS_LABELS[r.status],
        "filed_on": r.filed_on.isoformat(),
    }


def pending_cases(session: Session, subject_id: str) -> dict[str, Any]:
    """Open objections (with their mark) and open repair applications of one subject, each
    oldest first (filed_on, then id)."""
    objections = [
        objection_entry(o)
        for o in subject_objections(session, subject_id)
        if o.status in OPEN_OBJECTION_STATUSES
    ]
    repairs = [
        repair_entry(r)
        for r in sorted(open_repairs(session, subject_id), key=lambda r: (r.filed_on, r.id))
    ]
    return {"objections": objections, "repairs": repairs, "tracked": True}
