"""不予公示: a record withheld from every public view, and its release (security goal G31).

The provincial rule (陕西 行政处罚信息网上公示 暂行办法, security.md §3.3, S22) keeps a record off
the internet when its main facts involve state secrets, trade secrets or personal privacy, or when
publishing it may endanger national security or social stability. (A minor's record is never
published: the intake decides that itself, `ingest.intake._minor_at`.) This is the workflow for
the other cases: the record's source department or the credit office withholds a record with a
statutory reason and its 依据, and may release it again.

- ``withhold_record``: ``records.published`` false and ``unpublished_reason`` the reason code, so
  every public read drops it at once (the archive's `is_public_now`, the lists'
  `public_view_filter`, 双公示 exports — a 删除 for a record the province holds — credit
  reports, public sharing feeds); the authorised view keeps it with the reason's label.
- ``release_record``: published again, only when nothing else keeps it off the public view (a
  minor's record, a 轻微 record under Order No. 36 are refused with the rule that applies).
- Every step is a `record_withholdings` row and an outbox event (`record.withheld` /
  `record.released`) carrying its ledger leaf: the reason code, the acting account and
  department, and the basis only as its SHA-256 (free text may name people). `ledger verify`
  checks each leaf against its row and the record's state against the newest one. The
  `evaluation` consumer re-evaluates the subject on either event (an indicator marked
  `published_only` counts the record only while it is published).
- A correction of a withheld record keeps it withheld (`ingest.intake`, `ingest.fast.merge`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, Role, hidden_as, require
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow, RecordWithholdingRow
from citycredit.kernel import outbox
from citycredit.ledger.entries import workflow_entry
from citycredit.shared.errors import Conflict, FieldError, NotFound
from citycredit.subjects.db import SubjectRow

__all__ = [
    "WITHHELD_REASONS",
    "WithholdReason",
    "basis_digest",
    "release_record",
    "unpublished_label",
    "withhold_record",
]

WITHHOLD, RELEASE = "withhold", "release"
ENTRY_WITHHELD, ENTRY_RELEASED = "record.withheld", "record.released"
MIN_BASIS, MAX_BASIS = 4, 2000


class WithholdReason(StrEnum):
    """Why a record is not published online (the provincial rule's cases besides minors)."""

    privacy = "privacy"
    state_secret = "state_secret"
    trade_secret = "trade_secret"
    security = "security"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    WithholdReason.privacy: "涉及个人隐私",
    WithholdReason.state_secret: "涉及国家秘密",
    WithholdReason.trade_secret: "涉及商业秘密",
    WithholdReason.security: "可能危害国家安全、社会稳定",
}
WITHHELD_REASONS = frozenset(r.value for r in WithholdReason)
# records.unpublished_reason → what staff read (the authorised view)
_UNPUBLISHED_LABELS = {
    **{r.value: f"不予公示：{r.label}" for r in WithholdReason},
    "minor": "不予公示：当事人为未成年人",
    "severity": "不予公示：轻微失信信息（按规定不公示）",
}


def unpublished_label(reason: str | None) -> str | None:
    """The Chinese label of a record's `unpublished_reason` (None when it is published)."""
    if reason is None:
        return None
    return _UNPUBLISHED_LABELS.get(reason, f"不予公示：{reason}")


def basis_digest(basis: str) -> str:
    """What the ledger commits of a basis: its SHA-256 (the text may name people)."""
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def _reason(value: Any) -> WithholdReason:
    text = str(value or "").strip()
    for r in WithholdReason:
        if text in (r.value, r.label):
            return r
    choices = "、".join(f"{r.value}（{r.label}）" for r in WithholdReason)
    raise FieldError("reason", text, "invalid", f"不予公示理由（reason）须为以下之一：{choices}")


def _basis(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) < MIN_BASIS:
        raise FieldError(
            "basis",
            text,
            "required",
            f"须说明依据（basis，如决定文书、审批意见），至少 {MIN_BASIS} 个字",
        )
    if len(text) > MAX_BASIS:
        raise FieldError("basis", text, "too_long", f"依据（basis）不得超过 {MAX_BASIS} 个字")
    return text


def _load(s: Session, actor: Principal, record_id: str) -> RecordRow:
    """The record, if the actor is its source department or the credit office; another
    department's record answers exactly like a missing one (G8)."""
    missing = NotFound(f"记录 {record_id} 不存在", code="record_not_found")
    record = s.get(RecordRow, record_id, with_for_update=True)
    if record is None:
        raise missing
    with hidden_as(missing):
        require(actor, Permission.withdraw_records, department_id=record.department_id)
    return record


def _step(
    c: Container,
    s: Session,
    actor: Principal,
    record: RecordRow,
    *,
    action: str,
    reason: WithholdReason | None,
    basis: str,
    now: datetime,
) -> RecordWithholdingRow:
    """The step row and its event with the ledger leaf, in the caller's transaction."""
    department_id = actor.department_id if actor.role is Role.department_staff else None
    row = RecordWithholdingRow(
        record_id=record.id,
        action=action,
        reason=reason.value if reason else None,
        basis=basis,
        department_id=department_id,
        actor=actor.label,
        at=now,
    )
    s.add(row)
    s.flush()  # the step's id names its leaf
    entry_type = ENTRY_WITHHELD if action == WITHHOLD else ENTRY_RELEASED
    word = "withheld" if action == WITHHOLD else "released"
    outbox.emit(
        s,
        event_type=entry_type,
        aggregate_type="record",
        aggregate_id=record.id,
        subject_id=record.subject_id,
        at=now,
        payload={
            "item": record.item_code,
            "version": record.current_version,
            "reason": row.reason,
            "ledger": workflow_entry(
                c.settings.ledger_suite,
                entry_type=entry_type,
                ref=f"{record.id}/{word}/{row.id}",
                subject_id=record.subject_id,
                fields=leaf_fields(row),
                at=now,
            ).as_payload(),
        },
    )
    return row


def leaf_fields(row: RecordWithholdingRow | Any) -> dict[str, Any]:
    """The values a step's leaf commits (ledger.verify recomputes them from the row)."""
    return {
        "record_id": row.record_id,
        "action": row.action,
        "reason": row.reason,
        "basis_sha256": basis_digest(row.basis),
        "department_id": row.department_id,
        "by": row.actor,
    }


def _view(record: RecordRow, row: RecordWithholdingRow) -> dict[str, Any]:
    return {
        "record_id": record.id,
        "step_id": row.id,
        "action": row.action,
        "published": record.published,
        "unpublished_reason": record.unpublished_reason,
        "unpublished_label": unpublished_label(record.unpublished_reason),
        "at": row.at.isoformat(),
        "by": row.actor,
    }


def withhold_record(
    c: Container, actor: Principal, record_id: str, *, reason: str, basis: str
) -> dict[str, Any]:
    """不予公示: the record leaves every public view at once; the authorised view keeps it."""
    require(actor, Permission.withdraw_records)  # the role first: no answer depends on the id
    why, text = _reason(reason), _basis(basis)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        record = _load(s, actor, record_id)
        if record.status == "withdrawn":
            raise Conflict(f"记录 {record_id} 已撤销，无需不予公示", code="record_withdrawn")
        if record.unpublished_reason in WITHHELD_REASONS:
            raise Conflict(
                f"记录 {record_id} 已不予公示（{WithholdReason(record.unpublished_reason).label}）",
                code="already_withheld",
            )
        if not record.published:
            raise Conflict(
                f"记录 {record_id} 本就不公示（{unpublished_label(record.unpublished_reason)}）",
                code="not_published",
            )
        record.published, record.unpublished_reason = False, why.value
        record.updated_at = now
        row = _step(c, s, actor, record, action=WITHHOLD, reason=why, basis=text, now=now)
        out = _view(record, row)
        uow.commit()
    return out


def _blocking_rule(s: Session, c: Container, record: RecordRow) -> str | None:
    """Why the record would not be published even without the withholding (the intake's own
    rules on its current version), or None."""
    from citycredit.catalog.model import PublicationKind
    from citycredit.ingest.intake import _minor_at

    try:
        item = c.catalog.item(record.item_code)
    except NotFound:
        return None
    payload = (
        s.scalar(
            select(RecordVersionRow.payload).where(
                RecordVersionRow.record_id == record.id,
                RecordVersionRow.version == record.current_version,
            )
        )
        or {}
    )
    periods = item.severity_periods
    if (
        item.publication.kind is PublicationKind.severity
        and record.severity == "minor"
        and periods is not None
        and not periods.minor_published
    ):
        return "该记录为轻微失信信息，按国家发展改革委令第 36 号原则上不予公示"
    subject = s.get(SubjectRow, record.subject_id)
    minor = subject is not None and _minor_at(subject, record.decision_date)
    if minor and item.is_adverse(payload):
        return "当事人在决定作出时未满十八周岁，该记录依规定不予公示"
    return None


def release_record(c: Container, actor: Principal, record_id: str, *, basis: str) -> dict[str, Any]:
    """恢复公示: a withheld record is published again, unless another rule keeps it off."""
    require(actor, Permission.withdraw_records)
    text = _basis(basis)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        record = _load(s, actor, record_id)
        if record.status == "withdrawn":
            raise Conflict(f"记录 {record_id} 已撤销，不能恢复公示", code="record_withdrawn")
        if record.unpublished_reason not in WITHHELD_REASONS:
            if record.unpublished_reason == "minor":
                raise Conflict(
                    f"记录 {record_id} 的当事人在决定作出时未满十八周岁，依规定不予公示，"
                    "不能恢复公示",
                    code="minor_not_publishable",
                )
            if record.unpublished_reason == "severity":
                raise Conflict(
                    f"记录 {record_id} 为轻微失信信息，按规定不公示，不能恢复公示",
                    code="minor_severity_not_publishable",
                )
            raise Conflict(f"记录 {record_id} 未被不予公示，无需恢复", code="not_withheld")
        blocked = _blocking_rule(s, c, record)
        if blocked:
            raise Conflict(f"记录 {record_id} 不能恢复公示：{blocked}", code="not_publishable")
        record.published, record.unpublished_reason = True, None
        record.updated_at = now
        row = _step(c, s, actor, record, action=RELEASE, reason=None, basis=text, now=now)
        out = _view(record, row)
        uow.commit()
    return out
