"""The `lists` outbox consumer: intake records of list items become external memberships.

Lists decided elsewhere (courts, tax, SAMR …) arrive as records of the catalog items linked
to a list type that is not local-only: judgment_defaulter, serious_dishonesty (YZ_MDLX names
the list), red_list (HM_MDLX) and abnormal_operation (经营异常名录, sent without a document
number). Each record.accepted / record.corrected event (re)reads the record's current version
and keeps one published external membership in step with it: published on the record's
decision date and listed for as long as the source lists it — until its removal / end field
(SX_YCRQ, YZ_YCRQ, YC_YCRQ; HM_YXQZ is a last valid day), never on a default period of ours.
When that day comes the membership ends on it by the list's `source_removal_exit` (a court's
SX_YCRQ is a court_release); a correction that clears the date lists the subject again.
record.withdrawn withdraws the membership: the source department retracted the data, so the
listing is void (not an exit of a valid listing).

A record that is not public (published false — a minor's at the decision date, 涉及个人隐私 … —
or not 公开) still gives its membership: the source's listing is in force and authorised credit
checks see it, but it never appears on a public surface (`service.public_view_filter`, applied at
read time, so it follows every correction). The consumer records the change in the membership's
steps: `conceal` when its source record leaves the public view, `reveal` when it comes back.

A record carrying the document number of a local decision of the same list and subject is
that decision coming back through the feed: the local entry carries the listing and no
external copy is kept. A serious-list membership ends the subject's red-list entries.

Delivery is at-least-once: handling an event twice changes nothing (the consumer compares
with what it stored and only writes a step when something changed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.catalog.values import LONG_TERM
from citycredit.ingest.service import current_values
from citycredit.kernel.outbox import Consumer, Event
from citycredit.lists.db import MembershipEventRow, MembershipRow
from citycredit.lists.matching import can_publish, minor_on
from citycredit.lists.model import FINAL_STATUSES, MembershipStatus, Origin
from citycredit.lists.service import (
    PERSON_TYPES,
    SOURCE_REMOVAL,
    end_at_source_removal,
    enforce_serious_over_red,
    lists_catalog,
    local_twin,
    record_step,
    retire_external_copy,
    source_hidden_reason,
    to_model,
)
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import CityCreditError
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow

log = logging.getLogger(__name__)

S = MembershipStatus
RECORD_EVENTS = frozenset(
    {"record.accepted", "record.corrected", "record.withdrawn"}
    | {"record.withheld", "record.released"}  # 不予公示 / 恢复公示 (ingest/withhold.py)
)
ACTOR = "system:lists"
CONCEAL, REVEAL = "conceal", "reveal"  # steps: off / back on the public surfaces
MINOR_REASON = "当事人列入时未满十八周岁"
# Free-text fields that state why the subject is listed (scrubbed on public views).
REASON_FIELDS: dict[str, tuple[str, ...]] = {
    "judgment_defaulter": ("SX_SXQX", "SX_YW"),
    "serious_dishonesty": ("YZ_LRYY",),
    "red_list": ("HM_MDLX",),
    "abnormal_operation": ("YC_LRYY",),
}


@cache
def list_items() -> frozenset[str]:
    """Catalog items whose records are memberships: those of every list type decided (also)
    elsewhere (list_types.yaml catalog_item)."""
    return frozenset(
        lt.catalog_item.item
        for lt in lists_catalog().list_types.values()
        if lt.origin is not Origin.local
    )


def make_consumer(c: Container) -> Consumer:
    """The consumer registered as `lists` in the container."""

    def consume(s: Session, events: Sequence[Event]) -> None:
        for e in events:
            if e.aggregate_type != "record" or e.event_type not in RECORD_EVENTS:
                continue
            if e.payload.get("item") not in list_items():
                continue
            if e.event_type == "record.withdrawn":
                withdraw_for_record(c, s, e.aggregate_id, str(e.payload.get("reason") or ""))
            else:
                sync_record(c, s, e.aggregate_id)

    return consume


def _latest(s: Session, record_id: str) -> MembershipRow | None:
    return s.scalar(
        select(MembershipRow)
        .where(MembershipRow.record_id == record_id)
        .order_by(MembershipRow.created_at.desc(), MembershipRow.id.desc())
        .limit(1)
    )


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _field_value(item: CatalogItem, payload: dict[str, Any], role: str) -> Any:
    spec = item.field_by_role(role)
    return payload.get(spec.code) if spec is not None else None


def _external_state(
    c: Container, item: CatalogItem, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """List type, dates, document number and reasons of a record, or None if unusable."""
    try:
        lt = lists_catalog().for_external(item.code, _field_value(item, payload, "list_type"))
    except CityCreditError as exc:
        log.warning("lists: record of %s skipped: %s", item.code, exc)
        return None
    decided = _day(payload.get(item.decision_date_field or ""))
    if decided is None:
        return None
    rule = item.publication
    end = _day(payload.get(rule.end_field or ""))
    # No end date: listed for as long as the source lists it (its removal arrives as a
    # correction); the list type's period is the source's rule, not ours to apply.
    if end is not None and end >= LONG_TERM:
        end = None  # 长期: until an exit
    elif end is not None and rule.end_inclusive:
        end = end + timedelta(days=1)  # 有效期至 is the last listed day
    reasons = "；".join(
        str(payload[code]) for code in REASON_FIELDS.get(item.code, ()) if payload.get(code)
    )
    decision_no = _field_value(item, payload, "decision_no")
    return {
        "list_type": lt.code,
        "reasons": reasons,
        "decision_no": str(decision_no) if decision_no else None,
        "decided_on": decided,
        "published_on": decided,
        "expires_on": end,
    }


def sync_record(c: Container, s: Session, record_id: str) -> None:
    """Create or update the external membership mirroring a record's current version."""
    current = current_values(s, record_id)
    if current is None:
        return  # withdrawn since (its own event follows) or gone
    item_code, subject_id, payload = current
    item = c.catalog.item(item_code)
    state = _external_state(c, item, payload)
    if state is None:
        return
    now = c.clock.now()
    row = _latest(s, record_id)
    twin = local_twin(s, state["list_type"], subject_id, state["decision_no"])
    if twin is not None:
        # The local decision coming back through the feed: the local entry is the listing.
        if row is not None:
            retire_external_copy(c, s, row, twin)
        return
    hidden = hidden_reason(s, record_id, subject_id, state["decided_on"])
    if row is not None and S(row.status) not in FINAL_STATUSES:
        changed = {k: v for k, v in state.items() if getattr(row, k) != v}
        if changed:
            for k, v in changed.items():
                setattr(row, k, v)
            note = "来源记录更正：" + "、".join(sorted(changed))
            record_step(
                c, s, row, action="update", from_status=row.status, actor=ACTOR, at=now, note=note
            )
        follow_publicity(c, s, row, hidden)
        if not changed:
            return  # redelivery or a correction of fields the list does not carry
        end_at_source_removal(c, s, row, actor=ACTOR)  # a removal date that has come
        enforce_serious_over_red(c, s, subject_id)
        return
    relisted = row is not None and row.status != S.withdrawn.value
    if row is not None and relisted and not _relist(row, state, local_date(now)):
        return  # exited on the platform or still removed: a correction does not re-list
    row = MembershipRow(
        id=new_id("m"),
        subject_id=subject_id,
        origin=Origin.external.value,
        status=S.published.value,
        department_id=None,
        record_id=record_id,
        notice={},
        objection_pending=False,
        created_at=now,
        updated_at=now,
        **state,
    )
    has_no = item.field_by_role("decision_no") is not None
    verdict = can_publish(to_model(row), source_has_decision_no=has_no)
    if not verdict:
        log.warning("lists: record %s not listed: %s", record_id, verdict.reason)
        return
    s.add(row)
    note = f"外部认定，据归集记录 {record_id} 公示"
    if relisted:
        note = f"来源记录更正：移出日期已撤除，据归集记录 {record_id} 恢复列入"
    record_step(c, s, row, action="ingest", from_status=None, actor=ACTOR, at=now, note=note)
    follow_publicity(c, s, row, hidden)
    end_at_source_removal(c, s, row, actor=ACTOR)  # arrived already removed
    enforce_serious_over_red(c, s, subject_id)


def hidden_reason(
    s: Session, record_id: str, subject_id: str, decided_on: date | None
) -> str | None:
    """Why a membership mirroring this record must stay off public surfaces, or None: its
    source record is not public, or its subject (a natural person) was under 18 on the
    decision date (also when intake did not flag the record, e.g. stored before the rule)."""
    reason = source_hidden_reason(s, record_id)
    if reason is not None:
        return reason
    subject = s.get(SubjectRow, subject_id)
    if (
        subject is not None
        and subject.subject_type in PERSON_TYPES
        and minor_on(subject.birth_date, decided_on)
    ):
        return MINOR_REASON
    return None


def _concealed(s: Session, row: MembershipRow) -> bool:
    """Whether the membership's last publicity step concealed it (none yet: public)."""
    s.flush()
    last = s.scalar(
        select(MembershipEventRow.action)
        .where(
            MembershipEventRow.membership_id == row.id,
            MembershipEventRow.action.in_((CONCEAL, REVEAL)),
        )
        .order_by(MembershipEventRow.id.desc())
        .limit(1)
    )
    return last == CONCEAL


def follow_publicity(c: Container, s: Session, row: MembershipRow, hidden: str | None) -> None:
    """Record that a membership left (``hidden``: why) or came back to the public surfaces.

    The listing itself is unchanged (in force for authorised checks); the public reads apply
    the same rule on their own (`service.public_view_filter`), this step is its trail.
    """
    if S(row.status) in FINAL_STATUSES or (hidden is not None) == _concealed(s, row):
        return
    if hidden is not None:
        action, note = CONCEAL, f"{hidden}：名单记录不在公开名单和公开信用档案中展示，仅供授权核查"
    else:
        action, note = REVEAL, "来源记录更正后可以公示：名单记录恢复在公开名单中展示"
    record_step(
        c, s, row, action=action, from_status=row.status, actor=ACTOR, at=c.clock.now(), note=note
    )


def _relist(row: MembershipRow, state: dict[str, Any], today: date) -> bool:
    """An ended external membership comes back when it ended only because the source gave a
    removal date (or on an old default period) and the corrected record no longer removes it."""
    ends = state["expires_on"]
    if ends is not None and ends <= today:
        return False
    by_source = (row.exit_reason or "").startswith(SOURCE_REMOVAL)
    by_old_default = row.status == S.expired.value and row.exit_reason is None
    return by_source or by_old_default


def withdraw_for_record(c: Container, s: Session, record_id: str, reason: str) -> None:
    """The source record was withdrawn (撤销): its membership is withdrawn too."""
    row = _latest(s, record_id)
    if row is None or S(row.status) in FINAL_STATUSES:
        return
    now = c.clock.now()
    before = row.status
    row.status = S.withdrawn.value
    row.ended_on = local_date(now)
    row.exit_reason = f"来源记录已撤销：{reason}" if reason else "来源记录已撤销"
    record_step(
        c,
        s,
        row,
        action="withdraw_record",
        from_status=before,
        actor=ACTOR,
        at=now,
        note=row.exit_reason,
    )
