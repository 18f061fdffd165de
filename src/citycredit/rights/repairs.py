"""信用修复 (NDRC Order No. 36): eligibility shown before applying, applications from three
channels, review on legal clocks, and on approval: publication stops on every public surface
(records.repaired_at, read at query time), list entries exit through the lists area's hook
(measures lift with them), the repair commitment becomes a public commitment, evaluation and
feeds hear `record.repaired`, and every consumer that received or read the record is notified
with a receipt. Decisions are exported back to the provincial platform.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Principal, Role, hidden_as, require_identified
from citycredit.bootstrap import Container
from citycredit.catalog.loader import default_catalog
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.kernel import outbox
from citycredit.kernel.db import DisclosureRow
from citycredit.ledger.entries import workflow_entry
from citycredit.lists.db import MembershipRow
from citycredit.lists.model import ExitCode, MembershipStatus
from citycredit.rights.cases import (
    case_steps,
    clock_view,
    escalate_late,
    record_case_step,
    required_text,
)
from citycredit.rights.db import RepairReceiptRow, RepairRow
from citycredit.rights.labels import record_label, target_label
from citycredit.rights.model import is_overdue
from citycredit.rights.notices import CREDIT_OFFICE, DEFAULT_NOTIFIER, DEPARTMENT, SUBJECT, Notice
from citycredit.rights.objections import (
    may_act_for_subject,
    require_case_role,
    require_subject_side,
)
from citycredit.rights.repair_rules import (
    Eligibility,
    PastRepair,
    RecordFacts,
    default_repair_rules,
    eligibility,
)
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow

SUBMITTED, ACCEPTED, REJECTED = "submitted", "accepted", "rejected"
APPROVED, DENIED, REVOKED = "approved", "denied", "revoked"
STATUS_LABELS = {
    SUBMITTED: "已提交",
    ACCEPTED: "已受理，认定单位审核中",
    REJECTED: "不予受理",
    APPROVED: "修复成功",
    DENIED: "不予修复",
    REVOKED: "修复已撤销（虚假材料）",
}
TRANSITIONS = {
    SUBMITTED: {ACCEPTED, REJECTED},
    ACCEPTED: {APPROVED, DENIED},
    APPROVED: {REVOKED},
    REJECTED: set(),
    DENIED: set(),
    REVOKED: set(),
}
OPEN = (SUBMITTED, ACCEPTED)
# Decisions that start the 修复结果共享 clock (sync_due): the province must hear of them.
SYNCED = (APPROVED, REVOKED)
CHANNELS = ("online", "window", "province")


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"修复申请状态「{STATUS_LABELS[current]}」不能转为「{STATUS_LABELS[target]}」",
            code="invalid_repair_transition",
        )


# --- eligibility -----------------------------------------------------------------------------


def _payload(s: Session, record: RecordRow) -> dict[str, Any]:
    v = s.scalar(
        select(RecordVersionRow.payload).where(
            RecordVersionRow.record_id == record.id,
            RecordVersionRow.version == record.current_version,
        )
    )
    return dict(v or {})


def deciding_authority(
    s: Session, record: RecordRow, payload: dict[str, Any] | None = None
) -> tuple[str, int]:
    """谁认定、谁修复: (the deciding authority's name, the department that decides the repair).

    The authority is the record's own field (the catalog roles `authority_code` / `authority`,
    e.g. CF_CFJGDM / CF_CFJG), not the department that submitted it. When it names a registered
    department (by USCC, else by name), that department decides; otherwise the submitting
    department decides (it forwards the case), while the authority's name still selects the
    sector rules."""
    payload = _payload(s, record) if payload is None else payload
    submitting = s.get(DepartmentRow, record.department_id)
    try:
        item = default_catalog().item(record.item_code)
    except NotFound:  # an item no longer in the catalog: the submitter decides
        item = None
    name = code = None
    if item is not None:
        name_f, code_f = item.field_by_role("authority"), item.field_by_role("authority_code")
        name = str(payload.get(name_f.code) or "").strip() if name_f else ""
        code = str(payload.get(code_f.code) or "").strip() if code_f else ""
    dept = None
    if code:
        dept = s.scalar(select(DepartmentRow).where(DepartmentRow.code == code.upper()))
    if dept is None and name:
        dept = s.scalar(select(DepartmentRow).where(DepartmentRow.name == name))
    if dept is not None:
        return dept.name, dept.id
    return (name or (submitting.name if submitting else "")), record.department_id


def _facts(s: Session, record: RecordRow) -> RecordFacts:
    from citycredit.subjects.archive import is_shared_now

    payload = _payload(s, record)
    authority, _ = deciding_authority(s, record, payload)
    try:
        adverse = default_catalog().item(record.item_code).is_adverse(payload)
    except NotFound:  # not in the catalog: not dishonesty information
        adverse = False
    return RecordFacts(
        record_id=record.id,
        item=record.item_code,
        department=authority,
        status=record.status,
        severity=record.severity,
        decision_date=record.decision_date,
        published=record.published,
        publication_end=record.publication_end,
        repair_from=record.repair_from,
        repaired=record.repaired_at is not None,
        adverse=adverse,
        shared=is_shared_now(record),
    )


def _history(s: Session, subject_id: str, *, exclude: str | None = None) -> list[PastRepair]:
    rows = s.execute(
        select(
            RepairRow.id,
            RepairRow.decided_on,
            RepairRow.revoked_on,
            RepairRow.target_id,
            RepairRow.status,
        ).where(RepairRow.subject_id == subject_id, RepairRow.status.in_([APPROVED, REVOKED]))
    )
    return [
        PastRepair(decided_on=d, item=t, revoked_for_fraud=st == REVOKED, revoked_on=rv)
        for rid, d, rv, t, st in rows
        if d is not None and rid != exclude
    ]


def record_eligibility_in(
    s: Session, record: RecordRow, today: date, *, exclude: str | None = None
) -> Eligibility:
    return eligibility(
        default_repair_rules(),
        _facts(s, record),
        _history(s, record.subject_id, exclude=exclude),
        today,
    )


def _visible_record(s: Session, actor: Principal, record_id: str) -> RecordRow:
    """The record if the actor may act for its subject (or decides it); another subject's
    record answers exactly like a missing one (no existence oracle)."""
    record = s.get(RecordRow, record_id)
    if record is not None and (
        may_act_for_subject(actor, record.subject_id)
        or (
            actor.role is Role.department_staff
            and actor.department_id is not None
            and actor.department_id in (record.department_id, deciding_authority(s, record)[1])
        )
    ):
        return record
    raise NotFound(f"记录 {record_id} 不存在", code="record_not_found")


def record_eligibility(c: Container, actor: Principal, record_id: str) -> dict[str, Any]:
    """可申请修复：自 … 起 — for the subject (its account or the window) and the departments
    that submitted or decide the record; to anyone else the record does not exist."""
    require_identified(actor)
    today = local_date(c.clock.now())
    with c.uow() as uow:
        record = _visible_record(uow.session, actor, record_id)
        e = record_eligibility_in(uow.session, record, today)
        return {"record_id": record_id, "item": record.item_code, **e.as_json()}


# --- steps -----------------------------------------------------------------------------------


def file_repair(
    c: Container,
    actor: Principal,
    *,
    target_type: str,
    target_id: str,
    reasons: str,
    commitment_text: str,
    materials: Sequence[dict[str, Any]],
    channel: str = "online",
    external_ref: str | None = None,
) -> dict[str, Any]:
    """申请信用修复 for a record or a list entry; refused with the failing condition."""
    require_subject_side(actor, "只能为本主体申请信用修复")
    reasons = _text("reasons", reasons, "失信行为纠正情况")
    commitment_text = _text("commitment_text", commitment_text, "信用修复承诺内容", min_len=10)
    if channel not in CHANNELS:
        raise FieldError("channel", channel, "invalid", f"channel 只能是 {'、'.join(CHANNELS)}")
    if channel == "province" and not external_ref:
        raise FieldError("external_ref", "", "required", "省平台转办的申请须有省平台申请编号")
    rules = default_repair_rules()
    mats = [_material(i, m) for i, m in enumerate(materials)]
    given = {m["code"] for m in mats}
    for code, label in rules.required_materials:
        if code not in given:
            raise FieldError(
                "materials",
                ",".join(sorted(given)),
                "missing_material",
                f"缺少材料：{label}（{code}）",
            )
    now = c.clock.now()
    today = local_date(now)
    with c.uow() as uow:
        s = uow.session
        if target_type == "record":
            record = s.get(RecordRow, target_id)
            if record is None or not may_act_for_subject(actor, record.subject_id):
                raise NotFound(f"记录 {target_id} 不存在", code="record_not_found")
            subject_id: str = record.subject_id
            department_id: int | None = deciding_authority(s, record)[1]
            elig = record_eligibility_in(s, record, today)
            if not elig.eligible:
                raise Conflict(elig.message, code="not_eligible")
            elig_json = elig.as_json()
        elif target_type == "membership":
            m = s.get(MembershipRow, target_id)
            if m is None or not may_act_for_subject(actor, m.subject_id):
                raise NotFound(f"名单记录 {target_id} 不存在", code="membership_not_found")
            subject_id = m.subject_id
            # 谁认定、谁修复: the proposing department, or the one that sent the listing record.
            department_id = m.department_id
            if department_id is None and m.record_id is not None:
                sent = s.get(RecordRow, m.record_id)
                department_id = sent.department_id if sent is not None else None
            elig_json = _membership_eligibility(m, today)
            if not elig_json["eligible"]:
                raise Conflict(elig_json["message"], code="not_eligible")
        else:
            raise FieldError(
                "target_type", target_type, "invalid", "target_type 只能是 record、membership"
            )
        dup = s.scalar(
            select(RepairRow.id).where(
                RepairRow.target_type == target_type,
                RepairRow.target_id == target_id,
                RepairRow.status.in_(OPEN),
            )
        )
        if dup is not None:
            raise Conflict(f"该信息已有办理中的修复申请 {dup}", code="repair_open")
        accept_days = rules.deadlines["accept_within"].working_days or 0
        row = RepairRow(
            id=new_id("RP"),
            subject_id=subject_id,
            target_type=target_type,
            target_id=target_id,
            department_id=department_id,
            channel=channel,
            external_ref=external_ref,
            reasons=reasons,
            commitment_text=commitment_text,
            materials=mats,
            eligibility=elig_json,
            status=SUBMITTED,
            filed_by=actor.label,
            filed_on=today,
            accept_due=c.calendar.add_working_days(today, accept_days).due,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        _step(c, s, row, "file", None, SUBMITTED, actor, reasons)
        DEFAULT_NOTIFIER.send(
            s,
            Notice(
                CREDIT_OFFICE,
                "-",
                "repair.filed",
                f"新信用修复申请：{target_label(c, s, row.target_type, row.target_id)}（{row.id}）",
                f"受理期限 {row.accept_due}",
                "repair",
                row.id,
            ),
            at=now,
        )
        uow.commit()
        return repair_view(c, s, row)


def accept(c: Container, actor: Principal, repair_id: str, note: str = "") -> dict[str, Any]:
    """受理 (materials complete): pushed to the deciding department (谁认定、谁修复)."""
    _require_office(actor)
    rules = default_repair_rules()
    days = rules.deadlines["decide_within"].working_days
    assert days is not None
    now = c.clock.now()
    today = local_date(now)
    with c.uow() as uow:
        s = uow.session
        row = _load(s, repair_id)
        check_transition(row.status, ACCEPTED)
        row.accepted_on = today
        row.decide_due = c.calendar.add_working_days(today, days).due
        _step(c, s, row, "accept", row.status, ACCEPTED, actor, note or None)
        row.status, row.updated_at = ACCEPTED, now
        if row.department_id is not None:
            DEFAULT_NOTIFIER.send(
                s,
                Notice(
                    DEPARTMENT,
                    str(row.department_id),
                    "repair.to_decide",
                    f"信用修复待审核：{target_label(c, s, row.target_type, row.target_id)}"
                    f"（{row.id}）",
                    f"请于 {row.decide_due} 前作出决定",
                    "repair",
                    row.id,
                ),
                at=now,
            )
        DEFAULT_NOTIFIER.send(
            s, _subject_notice(row, "信用修复申请已受理", f"审核期限 {row.decide_due}"), at=now
        )
        uow.commit()
        return repair_view(c, s, row)


def reject(c: Container, actor: Principal, repair_id: str, reason: str) -> dict[str, Any]:
    """不予受理 with reasons (e.g. materials incomplete)."""
    _require_office(actor)
    reason = _text("reason", reason, "不予受理的理由")
    return _close(c, actor, repair_id, REJECTED, reason)


def decide(
    c: Container, actor: Principal, repair_id: str, *, approve: bool, reason: str
) -> dict[str, Any]:
    """认定单位决定. Approval stops publication everywhere and lifts what hung on the record."""
    reason = _text("reason", reason, "决定理由")
    _require_staff(actor, "信用修复由认定单位决定（谁认定、谁修复）")
    with c.uow() as uow:
        missing = _missing(repair_id)
        row = _load(uow.session, repair_id, missing)
        with hidden_as(missing):
            _require_decider(actor, row)
        check_transition(row.status, APPROVED if approve else DENIED)
        target_type, target_id, subject_id = row.target_type, row.target_id, row.subject_id
        text = row.commitment_text
        filed_on = row.filed_on
        if approve:  # before the commitment is made: a refused approval leaves nothing behind
            _recheck(uow.session, row, local_date(c.clock.now()))
    if not approve:
        return _close(c, actor, repair_id, DENIED, reason)
    ref = f"信用修复 {repair_id}"
    commitment_id = None
    # The repair commitment becomes a public 信用修复型 commitment, accepted by the decider.
    if actor.role is Role.department_staff:
        from citycredit.commitments.service import create_commitment

        made = create_commitment(
            c, actor, subject_id=subject_id, kind="信用修复型", text=text, made_on=filed_on
        )
        commitment_id = made["commitment_id"]
    memberships: list[str] = []
    now = c.clock.now()
    record: RecordRow | None
    with c.uow() as uow:
        s = uow.session
        # One decision at a time per subject: the repeated-repair limits count approvals.
        s.get(SubjectRow, subject_id, with_for_update=True)
        row = _load(s, repair_id)
        check_transition(row.status, APPROVED)
        _recheck(s, row, local_date(now))
        if target_type == "record":
            record = s.get(RecordRow, target_id)
            assert record is not None
        else:  # a list entry: the record it mirrors (external lists) stops publication too
            m = s.get(MembershipRow, target_id)
            record = s.get(RecordRow, m.record_id) if m is not None and m.record_id else None
        if record is not None and record.repaired_at is None:
            _mark_repaired(c, s, record, row, actor)
            memberships = list(
                s.scalars(
                    select(MembershipRow.id).where(
                        MembershipRow.record_id == record.id,
                        MembershipRow.status == MembershipStatus.published.value,
                    )
                )
            )
            receipts = _notify_consumers(c, s, row, record)
        else:
            receipts = 0
        if target_type == "membership":
            memberships = [target_id]
        row.commitment_id = commitment_id
        row.decision_reason = reason
        row.decided_on = local_date(now)
        sync_days = default_repair_rules().deadlines["sync_within"].working_days
        assert sync_days is not None
        row.sync_due = c.calendar.add_working_days(row.decided_on, sync_days).due
        _step(
            c,
            s,
            row,
            "approve",
            row.status,
            APPROVED,
            actor,
            f"{reason}；已通知 {receipts} 个使用方",
        )
        row.status, row.updated_at = APPROVED, now
        DEFAULT_NOTIFIER.send(
            s, _subject_notice(row, "信用修复成功", f"{reason}。相关信息已停止公示和共享。"), at=now
        )
        uow.commit()
    # List entries leave their lists through the lists area's own hook (its minimum periods);
    # the platform carries out the decider's decision, also for entries sent from elsewhere.
    exits = []
    executor = Principal(role=Role.credit_office_admin, label=f"{actor.label}（信用修复决定）")
    for mid in memberships:
        from citycredit.lists.service import exit_on_repair

        try:
            exit_on_repair(c, executor, mid, ref)
            exits.append({"membership_id": mid, "exited": True})
        except (InvalidTransition, PermissionDenied) as e:
            exits.append({"membership_id": mid, "exited": False, "reason": e.message})
    with c.uow() as uow:
        view = repair_view(c, uow.session, _load(uow.session, repair_id))
    view["list_exits"] = exits
    return view


def _recheck(s: Session, row: RepairRow, today: date) -> None:
    """Eligibility again at the decision, without this application itself: two applications
    filed together must not both pass the repeated-repair limits. Refused naming the failing
    conditions."""
    if row.target_type == "record":
        record = s.get(RecordRow, row.target_id)
        if record is None:
            raise Conflict(f"记录 {row.target_id} 不存在", code="not_eligible")
        e = record_eligibility_in(s, record, today, exclude=row.id)
        if not e.eligible:
            failed = [
                c.refusal_sentence
                + (f"（{c.detail}）" if c.detail and c.detail not in c.refusal_sentence else "")
                for c in e.conditions
                if not c.met
            ]
            raise Conflict("不能批准修复：" + "；".join(failed), code="not_eligible")
        return
    m = s.get(MembershipRow, row.target_id)
    if m is None:
        raise Conflict(f"名单记录 {row.target_id} 不存在", code="not_eligible")
    verdict = _membership_eligibility(m, today)
    if not verdict["eligible"]:
        raise Conflict("不能批准修复：" + str(verdict["message"]), code="not_eligible")


def revoke_for_fraud(c: Container, actor: Principal, repair_id: str, reason: str) -> dict[str, Any]:
    """虚假材料: the repair is revoked, the record is published again, and the bar starts."""
    _require_office(actor)
    reason = _text("reason", reason, "撤销理由")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, repair_id)
        check_transition(row.status, REVOKED)
        # The record it repaired is published again (a list entry that left stays off: the
        # deciding department re-lists through the lists workflow if it must).
        for record in list(s.scalars(select(RecordRow).where(RecordRow.repair_id == row.id))):
            record.repaired_at, record.repair_id, record.updated_at = None, None, now
            outbox.emit(
                s,
                event_type="record.repair_revoked",
                aggregate_type="record",
                aggregate_id=record.id,
                subject_id=record.subject_id,
                at=now,
                payload={"item": record.item_code, "repair_id": row.id},
            )
        # The approval date stays; the revocation has its own date, and the province hears of it
        # with the next export (a new sharing clock).
        today = local_date(now)
        row.revoked_on = today
        row.synced_at = None
        sync_days = default_repair_rules().deadlines["sync_within"].working_days
        assert sync_days is not None
        row.sync_due = c.calendar.add_working_days(today, sync_days).due
        _step(c, s, row, "revoke", row.status, REVOKED, actor, reason)
        row.status, row.decision_reason, row.updated_at = REVOKED, reason, now
        DEFAULT_NOTIFIER.send(s, _subject_notice(row, "信用修复已撤销", reason), at=now)
        commitment_id = row.commitment_id
        uow.commit()
    # The 信用修复型 commitment was false (虚假承诺): recorded through the commitments area.
    if commitment_id is not None:
        from citycredit.commitments.service import record_outcome

        try:
            record_outcome(
                c,
                actor,
                commitment_id,
                result="false",
                checked_on=local_date(now),
                note=f"信用修复 {repair_id} 因虚假材料被撤销：{reason}",
            )
        except (InvalidTransition, NotFound) as e:  # already checked, or gone
            with c.uow() as uow:
                _step(
                    c,
                    uow.session,
                    _load(uow.session, repair_id),
                    "commitment_not_marked",
                    REVOKED,
                    REVOKED,
                    actor,
                    e.message,
                )
                uow.commit()
    with c.uow() as uow:
        return repair_view(c, uow.session, _load(uow.session, repair_id))


def acknowledge_receipt(c: Container, actor: Principal, receipt_id: int) -> dict[str, Any]:
    """A department confirms it stopped using the repaired record (another department's receipt
    answers like a missing one: G8)."""
    _require_staff(actor, "只能确认本单位的回执")
    with c.uow() as uow:
        s = uow.session
        missing = NotFound(f"回执 {receipt_id} 不存在", code="receipt_not_found")
        r = s.get(RepairReceiptRow, receipt_id)
        if r is None:
            raise missing
        with hidden_as(missing):
            if not (
                actor.role is Role.credit_office_admin
                or (r.consumer_kind == "department" and str(actor.department_id) == r.consumer_id)
            ):
                raise PermissionDenied("只能确认本单位的回执", code="forbidden")
        if r.acknowledged_at is None:
            r.acknowledged_at = c.clock.now()
        uow.commit()
        return _receipt_view(r)


def escalate_overdue(c: Container) -> dict[str, Any]:
    """Late acceptance, decision or sync to the province (修复结果共享): escalated once per clock
    to the credit office."""
    return escalate_late(
        c,
        case_type="repair",
        title="修复逾期",
        open_cases=lambda s: s.scalars(
            select(RepairRow)
            .where(
                or_(
                    RepairRow.status.in_(OPEN),
                    and_(RepairRow.status.in_(SYNCED), RepairRow.synced_at.is_(None)),
                )
            )
            .order_by(RepairRow.id)
        ),
        late=_late,
        step=lambda s, row, note: _step(c, s, row, "escalate", row.status, row.status, None, note),
        notifier=DEFAULT_NOTIFIER,
    )


# --- provincial platform ---------------------------------------------------------------------


def import_forwarded(c: Container, actor: Principal, path: Path) -> dict[str, Any]:
    """Applications forwarded by the provincial platform (JSON list): each is filed with
    channel=province, or reported with its reason; nothing is dropped silently."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FieldError("file", str(path), "unreadable", f"无法读取省平台转办文件：{e}") from None
    if not isinstance(items, list):
        raise FieldError("file", str(path), "invalid", "省平台转办文件应为 JSON 数组")
    filed, refused = [], []
    for i, it in enumerate(items):
        try:
            v = file_repair(
                c,
                actor,
                target_type=str(it.get("target_type", "record")),
                target_id=str(it.get("record_id") or it.get("target_id") or ""),
                reasons=str(it.get("reasons", "")),
                commitment_text=str(it.get("commitment_text", "")),
                materials=list(it.get("materials") or []),
                channel="province",
                external_ref=str(it.get("application_no") or ""),
            )
            filed.append(
                {"row": i, "application_no": it.get("application_no"), "repair_id": v["id"]}
            )
        except (FieldError, Conflict, NotFound, PermissionDenied) as e:
            refused.append(
                {"row": i, "application_no": it.get("application_no"), "reason": e.message}
            )
    return {"filed": filed, "refused": refused}


def export_decisions(
    c: Container, actor: Principal, out_dir: Path, *, since: datetime | None = None
) -> dict[str, Any]:
    """Decisions not yet synced (or decided since `since`) → decisions.json + .csv + manifest;
    each exported decision is marked synced (修复结果共享)."""
    _require_office(actor)
    now = c.clock.now()
    out_dir.mkdir(parents=True, exist_ok=True)
    with c.uow() as uow:
        s = uow.session
        q = select(RepairRow).where(RepairRow.status.in_([APPROVED, DENIED, REJECTED, REVOKED]))
        q = (
            q.where(RepairRow.updated_at > since)
            if since
            else q.where(RepairRow.synced_at.is_(None))
        )
        rows = list(s.scalars(q.order_by(RepairRow.id)))
        out = []
        for r in rows:
            record = s.get(RecordRow, r.target_id) if r.target_type == "record" else None
            out.append(
                {
                    "repair_id": r.id,
                    "application_no": r.external_ref,
                    "channel": r.channel,
                    "target_type": r.target_type,
                    "record_key": record.key_text if record else None,
                    "item": record.item_code if record else None,
                    "status": r.status,
                    "status_label": STATUS_LABELS[r.status],
                    "decided_on": r.decided_on.isoformat() if r.decided_on else None,
                    "revoked_on": r.revoked_on.isoformat() if r.revoked_on else None,
                    "reason": r.decision_reason,
                }
            )
            if r.synced_at is None:
                r.synced_at = now
        body = json.dumps(out, ensure_ascii=False, indent=1).encode()
        buf = io.StringIO()
        cols = list(out[0]) if out else ["repair_id"]
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(out)
        csv_bytes = ("\ufeff" + buf.getvalue()).encode()
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        files = {f"repair-decisions-{stamp}.json": body, f"repair-decisions-{stamp}.csv": csv_bytes}
        for name, data in files.items():
            tmp = out_dir / (name + ".part")
            tmp.write_bytes(data)
            tmp.replace(out_dir / name)
        manifest = {
            "kind": "repair_decisions",
            "generated_at": now.isoformat(),
            "since": since.isoformat() if since else None,
            "count": len(out),
            "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()},
        }
        (out_dir / f"repair-decisions-{stamp}.manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        uow.commit()
    return manifest


# --- reads -----------------------------------------------------------------------------------


def get_repair(c: Container, actor: Principal, repair_id: str) -> dict[str, Any]:
    """One repair: its subject's side, its department, the credit office; to others (another
    subject, another department) it answers like a missing one."""
    require_case_role(actor, "无权查看该修复申请")
    with c.uow() as uow:
        missing = _missing(repair_id)
        row = _load(uow.session, repair_id, missing)
        with hidden_as(missing):
            if not (
                may_act_for_subject(actor, row.subject_id)
                or (
                    actor.role is Role.department_staff and actor.department_id == row.department_id
                )
            ):
                raise PermissionDenied("无权查看该修复申请", code="forbidden")
        return repair_view(c, uow.session, row)


def list_repairs(c: Container, actor: Principal, *, overdue: bool = False) -> list[dict[str, Any]]:
    if actor.role not in (Role.credit_office_admin, Role.department_staff):
        raise PermissionDenied("无权查看修复申请列表", code="forbidden")
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        q = select(RepairRow).order_by(RepairRow.filed_on, RepairRow.id)
        if actor.role is Role.department_staff:
            q = q.where(RepairRow.department_id == actor.department_id)
        rows = [r for r in s.scalars(q) if not overdue or _late(r, today)]
        return [repair_view(c, s, r) for r in rows]


def open_repairs(session: Session, subject_id: str) -> list[RepairRow]:
    return list(
        session.scalars(
            select(RepairRow).where(RepairRow.subject_id == subject_id, RepairRow.status.in_(OPEN))
        )
    )


def repair_view(c: Container, s: Session, row: RepairRow) -> dict[str, Any]:
    today = local_date(c.clock.now())
    rules = default_repair_rules()
    receipts = s.scalars(select(RepairReceiptRow).where(RepairReceiptRow.repair_id == row.id))
    clocks = [
        clock_view(c, code, rules.deadlines[code], due, done, today)
        for code, due, done in (
            (
                "accept_within",
                row.accept_due,
                row.accepted_on or (row.decided_on if row.status == REJECTED else None),
            ),
            ("decide_within", row.decide_due, row.decided_on if row.accepted_on else None),
            ("sync_within", row.sync_due, local_date(row.synced_at) if row.synced_at else None),
        )
        if due is not None
    ]
    return {
        "id": row.id,
        "subject_id": row.subject_id,
        "target": {"type": row.target_type, "id": row.target_id},
        "channel": row.channel,
        "external_ref": row.external_ref,
        "status": {"code": row.status, "label": STATUS_LABELS[row.status]},
        "reasons": row.reasons,
        "commitment_text": row.commitment_text,
        "commitment_id": row.commitment_id,
        "materials": row.materials,
        "eligibility": row.eligibility,
        "decision_reason": row.decision_reason,
        "decided_on": row.decided_on.isoformat() if row.decided_on else None,
        "revoked_on": row.revoked_on.isoformat() if row.revoked_on else None,
        "clocks": clocks,
        "overdue": _late(row, today),
        "synced_at": row.synced_at.isoformat() if row.synced_at else None,
        "receipts": [_receipt_view(r) for r in receipts],
        "basis": rules.basis,
        "steps": case_steps(s, "repair", row.id),
    }


# --- internals -------------------------------------------------------------------------------


def _membership_eligibility(m: MembershipRow, today: date) -> dict[str, Any]:
    from citycredit.lists.matching import exit_allowed
    from citycredit.lists.service import lists_catalog, to_model

    lt = lists_catalog().list_type(m.list_type)
    verdict = exit_allowed(lt, ExitCode.repair, to_model(m), today)
    message = "可申请修复（移出名单）" if verdict else f"不可申请修复：{verdict.reason}"
    return {"eligible": bool(verdict), "message": message, "basis": verdict.reason}


def _mark_repaired(
    c: Container, s: Session, record: RecordRow, row: RepairRow, actor: Principal
) -> None:
    """Publication and sharing stop (read-time rule) and every consumer hears of it."""
    now = c.clock.now()
    record.repaired_at, record.repair_id, record.updated_at = now, row.id, now
    outbox.emit(
        s,
        event_type="record.repaired",
        aggregate_type="record",
        aggregate_id=record.id,
        subject_id=record.subject_id,
        at=now,
        payload={
            "item": record.item_code,
            "version": record.current_version,
            "repair_id": row.id,
            "ledger": workflow_entry(
                c.settings.ledger_suite,
                entry_type="record.repaired",
                ref=f"{record.id}/repaired/{row.id}",
                subject_id=record.subject_id,
                fields={"record_id": record.id, "repair_id": row.id, "decided_by": actor.label},
                at=now,
            ).as_payload(),
        },
    )


def _notify_consumers(c: Container, s: Session, row: RepairRow, record: RecordRow) -> int:
    """Every department that received the record (sharing deliveries) or read it (disclosure
    log) gets a notice and a receipt row."""
    now = c.clock.now()
    seen: dict[tuple[str, str], tuple[str, str, datetime | None]] = {}
    # (kind, id) → (via, label, last seen); a delivery outranks a read of the same department
    for dept_id, last in s.execute(
        select(DisclosureRow.department_id, func.max(DisclosureRow.at))
        .where(
            DisclosureRow.subject_id == record.subject_id, DisclosureRow.department_id.is_not(None)
        )
        .group_by(DisclosureRow.department_id)
    ):
        if dept_id is not None and dept_id != record.department_id:
            seen[("department", str(dept_id))] = ("disclosure", _dept_name(s, dept_id), last)
    from citycredit.sharing.service import consumers_of_record

    for d in consumers_of_record(s, record.id):  # feeds and files: who received which version
        if d.department_id != record.department_id:
            seen[("department", str(d.department_id))] = (
                "delivery",
                d.department or str(d.department_id),
                d.delivered_at,
            )
    for (kind, cid), (via, label, last_seen) in sorted(seen.items()):
        s.add(
            RepairReceiptRow(
                repair_id=row.id,
                consumer_kind=kind,
                consumer_id=cid,
                consumer_label=label,
                via=via,
                last_seen_at=last_seen,
                notified_at=now,
            )
        )
        DEFAULT_NOTIFIER.send(
            s,
            Notice(
                DEPARTMENT,
                cid,
                "repair.stop_use",
                f"信用修复：请停止使用 {record_label(c, s, record.id)}",
                f"该记录（{record.id}）已于 {local_date(now)} 完成信用修复，"
                "请停止公示、共享和使用，并确认回执。",
                "repair",
                row.id,
            ),
            at=now,
        )
    return len(seen)


def _dept_name(s: Session, dept_id: int) -> str:
    d = s.get(DepartmentRow, dept_id)
    return d.name if d else str(dept_id)


def _receipt_view(r: RepairReceiptRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "consumer": {"kind": r.consumer_kind, "id": r.consumer_id, "label": r.consumer_label},
        "via": r.via,
        "last_seen_at": r.last_seen_at.isoformat() if r.last_seen_at else None,
        "notified_at": r.notified_at.isoformat(),
        "acknowledged_at": r.acknowledged_at.isoformat() if r.acknowledged_at else None,
    }


def _close(
    c: Container, actor: Principal, repair_id: str, target: str, reason: str
) -> dict[str, Any]:
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, repair_id)
        check_transition(row.status, target)
        row.decided_on = local_date(now)
        row.decision_reason = reason
        _step(
            c, s, row, "reject" if target == REJECTED else "deny", row.status, target, actor, reason
        )
        row.status, row.updated_at = target, now
        DEFAULT_NOTIFIER.send(s, _subject_notice(row, STATUS_LABELS[target], reason), at=now)
        uow.commit()
        return repair_view(c, s, row)


def _late(row: RepairRow, today: date) -> str | None:
    if row.status == SUBMITTED and today > row.accept_due:
        return f"修复申请 {row.id} 超过受理期限（{row.accept_due}）仍未受理"
    if row.status == ACCEPTED and row.decide_due and today > row.decide_due:
        return f"修复申请 {row.id} 超过审核期限（{row.decide_due}）仍未决定"
    if row.status in SYNCED and row.synced_at is None and is_overdue(row.sync_due, today):
        decision = "撤销修复决定" if row.status == REVOKED else "修复决定"
        return (
            f"修复申请 {row.id} 的{decision}超过共享期限（{row.sync_due}）仍未报送省级平台"
            "（修复结果共享）"
        )
    return None


def _require_office(actor: Principal) -> None:
    if actor.role is not Role.credit_office_admin:
        raise PermissionDenied("只有信用办可以办理此步骤", code="forbidden")


def _require_staff(actor: Principal, message: str) -> None:
    """Departments and the credit office, asked before the lookup (no answer depends on the id)."""
    if actor.role not in (Role.credit_office_admin, Role.department_staff):
        raise PermissionDenied(message, code="forbidden")


def _require_decider(actor: Principal, row: RepairRow) -> None:
    if actor.role is Role.department_staff and actor.department_id == row.department_id:
        return
    if actor.role is Role.credit_office_admin and row.department_id is None:
        return
    raise PermissionDenied("信用修复由认定单位决定（谁认定、谁修复）", code="forbidden")


def _missing(repair_id: str) -> NotFound:
    return NotFound(f"修复申请 {repair_id} 不存在", code="repair_not_found")


def _load(s: Session, repair_id: str, missing: NotFound | None = None) -> RepairRow:
    """The repair, or ``missing`` (the same error a hidden one answers with: G8)."""
    row = s.get(RepairRow, repair_id)
    if row is None:
        raise missing or _missing(repair_id)
    return row


def _text(field: str, value: str | None, label: str, *, min_len: int = 2) -> str:
    return required_text(field, value, label, min_len=min_len)


def _material(i: int, m: dict[str, Any]) -> dict[str, Any]:
    code, name, digest = m.get("code"), m.get("name"), m.get("sha256")
    if not code or not name or not isinstance(digest, str) or len(digest) != 64:
        raise FieldError(
            f"materials[{i}]",
            str(m)[:80],
            "invalid",
            "每份材料须有类型（code）、文件名（name）和 sha256 摘要",
        )
    return {"code": str(code), "name": str(name), "sha256": digest.lower(), "size": m.get("size")}


def _subject_notice(row: RepairRow, title: str, body: str) -> Notice:
    return Notice(SUBJECT, row.subject_id, "repair", f"{title}（{row.id}）", body, "repair", row.id)


def _step(
    c: Container,
    s: Session,
    row: RepairRow,
    action: str,
    from_status: str | None,
    to_status: str,
    actor: Principal | None,
    note: str | None,
) -> None:
    record_case_step(
        c,
        s,
        case_type="repair",
        case_id=row.id,
        subject_id=row.subject_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        note=note,
        facts={
            "target_type": row.target_type,
            "target_id": row.target_id,
            "department_id": row.department_id,
            "channel": row.channel,
        },
    )
