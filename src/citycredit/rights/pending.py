"""What every surface shows of a subject's open rights cases: "异议处理中" and repairs under way
(credit checks, lists, evaluation and the archive call this)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from citycredit.rights.objections import MARK_OPEN, OPEN, subject_objections
from citycredit.rights.repairs import STATUS_LABELS, open_repairs


def pending_cases(session: Session, subject_id: str) -> dict[str, Any]:
    """Open objections (with their mark) and open repair applications of one subject."""
    objections = [
        {
            "objection_id": o.id,
            "target": {"type": o.target_type, "id": o.target_id},
            "status": o.status,
            "mark": MARK_OPEN,
            "filed_on": o.filed_on.isoformat(),
        }
        for o in subject_objections(session, subject_id)
        if o.status in {s.value for s in OPEN}
    ]
    repairs = [
        {
            "repair_id": r.id,
            "target": {"type": r.target_type, "id": r.target_id},
            "status": r.status,
            "status_label": STATUS_LABELS[r.status],
            "filed_on": r.filed_on.isoformat(),
        }
        for r in open_repairs(session, subject_id)
    ]
    return {"objections": objections, "repairs": repairs, "tracked": True}
