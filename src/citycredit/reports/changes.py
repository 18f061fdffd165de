"""What changed since a report was issued: the report stays as issued (its digest must keep
verifying), but its verification page and its PDF say which of its entries are no longer as
printed — and stop republishing the ones the platform no longer publishes.

Each record of the report is compared with the record as it is now (``records``): 撤销
(withdrawn), 信用修复 (repaired: publication and sharing stop, Order No. 36 art. 3), 停止公示 or
公示期届满, or 更正 (a newer version). Each list entry is compared with the subject's
memberships now: 信用修复移出, 提前移出, 期满移出, 撤回. An entry that is no longer public is
``hidden``: the page and the PDF show its status in its place, not its details.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.catalog.model import Openness
from citycredit.ingest.db import RecordRow
from citycredit.lists.db import MembershipRow
from citycredit.lists.model import ExitCode, MembershipStatus

__all__ = ["REPAIRED", "changes_since_issue"]

REPAIRED = "已信用修复，不再公示"
WITHDRAWN = "已撤销，不再公示"
UNPUBLISHED = "已停止公示"
PUBLICATION_ENDED = "公示期已届满，不再公示"
CORRECTED = "已更正，以信用档案中更正后的信息为准"
GONE = "已不再公示"
LIST_EXITED = "已提前移出名单，不再公示"
LIST_EXPIRED = "名单期限届满已移出，不再公示"
LIST_WITHDRAWN = "列入已撤回，不再公示"


def _record_change(r: RecordRow | None, issued_version: int, today: date) -> tuple[str, str]:
    """(code, label) of how a record differs from the version a report printed; ("", "") if
    it is still public as printed."""
    if r is None:
        return "gone", GONE
    if r.repaired_at is not None:
        return "repaired", REPAIRED
    if r.status != "active":
        return "withdrawn", WITHDRAWN
    if not r.published or r.openness != Openness.public.value:
        return "unpublished", UNPUBLISHED
    if r.publication_end is not None and r.publication_end <= today:
        return "publication_ended", PUBLICATION_ENDED
    if r.current_version != issued_version:
        return "corrected", CORRECTED
    return "", ""


def _list_change(rows: list[MembershipRow], today: date) -> tuple[str, str]:
    """(code, label) of a printed list entry given the memberships it may be now."""
    if not rows:
        return "gone", GONE
    live = [m for m in rows if m.status == MembershipStatus.published.value]
    if any(m.expires_on is None or m.expires_on > today for m in live):
        return "", ""
    if live:
        return "list_expired", LIST_EXPIRED
    m = max(rows, key=lambda m: m.updated_at)
    if m.exit_code == ExitCode.repair.value:
        return "repaired", REPAIRED
    if m.status == MembershipStatus.exited.value:
        return "list_exited", LIST_EXITED
    if m.status == MembershipStatus.expired.value:
        return "list_expired", LIST_EXPIRED
    if m.status == MembershipStatus.withdrawn.value:
        return "list_withdrawn", LIST_WITHDRAWN
    return "gone", GONE


def _records(s: Session, ids: list[str]) -> dict[str, RecordRow]:
    out: dict[str, RecordRow] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        out.update((r.id, r) for r in s.scalars(select(RecordRow).where(RecordRow.id.in_(chunk))))
    return out


def changes_since_issue(
    s: Session, subject_id: str, content: dict[str, Any], today: date
) -> list[dict[str, Any]]:
    """The entries of a report that are no longer as printed, in the report's order.

    Each change: ``kind`` ("record" | "list"), ``record_id`` or ``list_index`` (the entry's
    index in content["lists"]), ``where`` (the item and the entry's position in it, or the
    list's name — never the details), ``code``, ``label`` and ``hidden`` (no longer public:
    not to be shown again).
    """
    out: list[dict[str, Any]] = []
    groups = content.get("sections") or []
    ids = [str(e["record_id"]) for g in groups for e in g.get("records", [])]
    rows = _records(s, ids) if ids else {}
    for g in groups:
        for n, e in enumerate(g.get("records", []), start=1):
            code, label = _record_change(rows.get(e["record_id"]), int(e["version"]), today)
            if code:
                out.append(
                    {
                        "kind": "record",
                        "record_id": e["record_id"],
                        "where": f"{g.get('item_name')} 第 {n} 条",
                        "code": code,
                        "label": label,
                        "hidden": code != "corrected",
                    }
                )
    memberships = content.get("lists") or []
    if memberships:
        mine = list(s.scalars(select(MembershipRow).where(MembershipRow.subject_id == subject_id)))
        for i, m in enumerate(memberships):
            same = [
                row
                for row in mine
                if row.list_type == m.get("list_type")
                and row.decision_no == m.get("decision_no")
                and _iso(row.decided_on) == m.get("decided_on")
                and _iso(row.published_on) == m.get("published_on")
            ]
            code, label = _list_change(same, today)
            if code:
                out.append(
                    {
                        "kind": "list",
                        "list_index": i,
                        "where": str(m.get("list_name")),
                        "code": code,
                        "label": label,
                        "hidden": True,
                    }
                )
    return out


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
