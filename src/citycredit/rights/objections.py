"""异议: file, accept or refuse, verify and decide, with legal clocks, marks and notices.

Every step is one transaction that also writes the objection's step row, an outbox event and
the notices it causes. Outcomes that change the disputed information go through the area that
owns it (ingest for records, lists for memberships), so the archive, the ledger, feeds and
evaluation see the change the usual way; the objection only records that it happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import (
    Permission,
    Principal,
    Role,
    hidden_as,
    require_subject_access,
)
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.lists.db import MembershipRow
from citycredit.lists.model import MembershipStatus
from citycredit.rights.cases import (
    case_steps,
    clock_view,
    escalate_late,
    record_case_step,
    required_text,
)
from citycredit.rights.db import ObjectionRow
from citycredit.rights.labels import target_label
from citycredit.rights.model import (
    MARK_OPEN,
    MARK_UNRESOLVED,
    OPEN,
    Ground,
    ObjectionStatus,
    Outcome,
    TargetType,
    check_outcome,
    check_transition,
    default_deadlines,
    is_overdue,
)
from citycredit.rights.notices import (
    CREDIT_OFFICE,
    DEFAULT_NOTIFIER,
    DEPARTMENT,
    SUBJECT,
    Notice,
    Notifier,
)
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow

S = ObjectionStatus
CHANNELS = ("online", "window", "province")


def _enum(enum: Any, field: str, value: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = "、".join(m.value for m in enum)
        msg = f"{field} 只能是 {allowed}（收到 {value!r}）"
        raise FieldError(field, value, "invalid", msg) from None


def _text(field: str, value: str | None, label: str, *, min_len: int = 2) -> str:
    return required_text(field, value, label, min_len=min_len)


# --- who may do what -------------------------------------------------------------------------


def may_act_for_subject(actor: Principal, subject_id: str) -> bool:
    """The credit office (service-hall window) acts for any subject; subject-side accounts act
    for the subjects of their approved bindings (accounts.model.require_subject_access)."""
    try:
        require_subject_access(actor, subject_id, office=True)
    except PermissionDenied:
        return False
    return True


def require_subject_side(actor: Principal, message: str) -> None:
    """Only those who may act for some subject file for one (the window, bound accounts); asked
    before looking at the target, so a refusal says nothing about it."""
    if actor.role is Role.credit_office_admin or actor.console:
        return
    if actor.can(Permission.act_for_subject):
        return
    raise PermissionDenied(message, code="not_your_subject")


def _require_office(actor: Principal) -> None:
    if actor.role is not Role.credit_office_admin:
        raise PermissionDenied("只有信用办可以受理异议", code="forbidden")


def _require_verifier(actor: Principal, row: ObjectionRow) -> None:
    """The source department verifies and decides what it provided (records, its list entries);
    the credit office decides only targets without one (grades: PIPL art. 24 human review). For
    the rest the office routes and escalates (`route`), it does not decide."""
    if row.department_id is None:
        if actor.role is Role.credit_office_admin:
            return
        raise PermissionDenied("信用评价结果的异议由信用办复核处理", code="forbidden")
    if actor.role is Role.department_staff and actor.department_id == row.department_id:
        return
    raise PermissionDenied(
        "该异议由信息提供单位核查处理；信用办可督办（转办），不能代为作出处理决定",
        code="forbidden",
    )


def require_case_role(actor: Principal, message: str) -> None:
    """The roles that take part in cases (the subject's side, the credit office, departments),
    asked before the case is looked up: another role's refusal says nothing about the id. Which
    case is theirs is checked on the row, answering like a missing one (security goal G8)."""
    if actor.role in (Role.credit_office_admin, Role.department_staff) or actor.console:
        return
    if actor.can(Permission.act_for_subject):
        return
    raise PermissionDenied(message, code="forbidden")


def _require_decider_role(actor: Principal) -> None:
    """Only departments (their records' objections) and the credit office (grades) decide."""
    if actor.role not in (Role.credit_office_admin, Role.department_staff):
        raise PermissionDenied("无权作出异议处理决定", code="forbidden")


def _require_reader(actor: Principal, row: ObjectionRow) -> None:
    if may_act_for_subject(actor, row.subject_id):
        return
    if actor.role is Role.department_staff and actor.department_id == row.department_id:
        return
    raise PermissionDenied("无权查看该异议", code="forbidden")


# --- targets ---------------------------------------------------------------------------------


def _resolve_target(
    s: Session, actor: Principal, target_type: TargetType, target_id: str
) -> tuple[str, int | None, str | None]:
    """(subject_id, verifying department, version at filing) of the disputed target. Whether the
    actor may act for its subject is asked first: another subject's target answers exactly like
    a missing one, whatever its state."""
    if target_type is TargetType.record:
        record = s.get(RecordRow, target_id)
        if record is None or not may_act_for_subject(actor, record.subject_id):
            raise NotFound(f"记录 {target_id} 不存在", code="record_not_found")
        if record.status != "active":
            raise Conflict(f"记录 {target_id} 已撤销，无需异议", code="record_withdrawn")
        return record.subject_id, record.department_id, str(record.current_version)
    if target_type is TargetType.membership:
        m = s.get(MembershipRow, target_id)
        if m is None or not may_act_for_subject(actor, m.subject_id):
            raise NotFound(f"名单记录 {target_id} 不存在", code="membership_not_found")
        if m.status not in (
            MembershipStatus.noticed.value,
            MembershipStatus.decided.value,
            MembershipStatus.published.value,
        ):
            raise Conflict(
                f"名单记录 {target_id} 当前状态（{m.status}）不接受异议", code="membership_closed"
            )
        return m.subject_id, m.department_id, m.status
    subject = s.get(SubjectRow, target_id)
    if subject is None or not may_act_for_subject(actor, subject.subject_id):
        raise NotFound(f"主体 {target_id} 不存在", code="subject_not_found")
    return subject.subject_id, None, None  # grades: the credit office reviews (PIPL art. 24)


# --- steps -----------------------------------------------------------------------------------


def file_objection(
    c: Container,
    actor: Principal,
    *,
    target_type: str,
    target_id: str,
    ground: str,
    reasons: str,
    evidence: Sequence[dict[str, Any]] = (),
    channel: str = "online",
    new_facts: str | None = None,
    notifier: Notifier = DEFAULT_NOTIFIER,
) -> dict[str, Any]:
    """提出异议: the target is marked "异议处理中" from this moment; the acceptance clock starts.

    The same objection filed again — same information and version, same ground, after an
    earlier one was 不予受理 or decided — needs `new_facts` (新的事实或理由); otherwise it is
    refused and nothing is marked (deadlines.yaml `refile_new_facts_min_chars`).
    """
    tt = _enum(TargetType, "target_type", target_type)
    gr = _enum(Ground, "ground", ground)
    reasons = _text("reasons", reasons, "异议理由")
    if channel not in CHANNELS:
        raise FieldError("channel", channel, "invalid", f"channel 只能是 {'、'.join(CHANNELS)}")
    evidence_list = [_evidence(i, e) for i, e in enumerate(evidence)]
    now = c.clock.now()
    today = local_date(now)
    deadlines = default_deadlines()
    require_subject_side(actor, "只能对本主体的信息提出异议")
    with c.uow() as uow:
        s = uow.session
        subject_id, department_id, version = _resolve_target(s, actor, tt, target_id)
        dup = s.scalar(
            select(ObjectionRow.id).where(
                ObjectionRow.target_type == tt.value,
                ObjectionRow.target_id == target_id,
                ObjectionRow.status.in_([st.value for st in OPEN]),
            )
        )
        if dup is not None:
            raise Conflict(f"该信息已有处理中的异议 {dup}", code="objection_open")
        earlier = _same_objection_closed(s, tt, target_id, version, gr)
        refiled_note = ""
        if earlier is not None:
            new_facts = _refile_facts(earlier, new_facts)
            if new_facts:
                reasons = f"{reasons}\n【新的事实和理由】{new_facts}"
                refiled_note = f"（再次提出，前次异议 {earlier.id}）"
        limit = deadlines.limit("objection", "accept_within")
        assert limit.working_days is not None
        row = ObjectionRow(
            id=new_id("OBJ"),
            subject_id=subject_id,
            target_type=tt.value,
            target_id=target_id,
            target_version=version,
            department_id=department_id,
            ground=gr.value,
            reasons=reasons,
            evidence=evidence_list,
            channel=channel,
            filed_by=actor.label,
            filed_by_user_id=actor.user_id,
            status=S.submitted.value,
            filed_on=today,
            accept_due=c.calendar.add_working_days(today, limit.working_days).due,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()  # the steps refer to it
        if tt is TargetType.membership:
            row.flagged_target = _flag_membership(c, s, target_id, actor, reasons, pending=True)
        _step(c, s, row, "file", None, S.submitted, actor, reasons + refiled_note)
        notifier.send(
            s,
            Notice(
                CREDIT_OFFICE,
                "-",
                "objection.filed",
                f"新异议待受理：{target_label(c, s, tt.value, target_id)}（{row.id}）",
                f"{tt.label} {target_id}，理由：{reasons}；受理期限 {row.accept_due}",
                "objection",
                row.id,
            ),
            at=now,
        )
        uow.commit()
        return objection_view(c, s, row)


def _same_objection_closed(
    s: Session, tt: TargetType, target_id: str, version: str | None, ground: Ground
) -> ObjectionRow | None:
    """The newest closed objection on the same information, version and ground, if any."""
    stmt = select(ObjectionRow).where(
        ObjectionRow.target_type == tt.value,
        ObjectionRow.target_id == target_id,
        ObjectionRow.ground == ground.value,
        ObjectionRow.status.in_([S.rejected.value, S.decided.value]),
    )
    stmt = stmt.where(
        ObjectionRow.target_version.is_(None)
        if version is None
        else ObjectionRow.target_version == version
    )
    return s.scalar(stmt.order_by(ObjectionRow.created_at.desc(), ObjectionRow.id.desc()))


def _refile_facts(earlier: ObjectionRow, new_facts: str | None) -> str | None:
    """The new facts a repeated objection must state, checked against the configured minimum."""
    minimum = default_deadlines().limit("objection", "refile_new_facts_min_chars").value or 0
    if minimum == 0:
        return (new_facts or "").strip() or None
    text = (new_facts or "").strip()
    if len(text) < minimum:
        closed = S(earlier.status).label
        outcome = f"，{Outcome(earlier.outcome).label}" if earlier.outcome else ""
        when = earlier.decided_on or earlier.filed_on
        raise FieldError(
            "new_facts",
            text,
            "objection_refiled",
            f"该信息的同一理由异议 {earlier.id} 已于 {when} 办结（{closed}{outcome}）；"
            f"再次提出须在 new_facts 中说明新的事实或理由（至少 {minimum} 字）",
        )
    return text


def accept(
    c: Container,
    actor: Principal,
    objection_id: str,
    note: str = "",
    notifier: Notifier = DEFAULT_NOTIFIER,
) -> dict[str, Any]:
    """受理: the verification clock starts; the source department is told."""
    _require_office(actor)
    now = c.clock.now()
    today = local_date(now)
    limit = default_deadlines().limit("objection", "verify_within")
    assert limit.working_days is not None
    with c.uow() as uow:
        s = uow.session
        row = _load(s, objection_id)
        check_transition(S(row.status), S.accepted)
        row.accepted_on = today
        row.verify_due = c.calendar.add_working_days(today, limit.working_days).due
        _step(c, s, row, "accept", S(row.status), S.accepted, actor, note or None)
        row.status = S.accepted.value
        row.updated_at = now
        who = (DEPARTMENT, str(row.department_id)) if row.department_id else (CREDIT_OFFICE, "-")
        notifier.send(
            s,
            Notice(
                *who,
                "objection.to_verify",
                f"异议待核查：{target_label(c, s, row.target_type, row.target_id)}（{row.id}）",
                f"请于 {row.verify_due} 前核查并作出处理（{TargetType(row.target_type).label} "
                f"{row.target_id}）。异议理由：{row.reasons}",
                "objection",
                row.id,
            ),
            at=now,
        )
        notifier.send(
            s, _subject_notice(row, "已受理您的异议", f"核查期限 {row.verify_due}"), at=now
        )
        uow.commit()
        return objection_view(c, s, row)


def reject(
    c: Container,
    actor: Principal,
    objection_id: str,
    reason: str,
    notifier: Notifier = DEFAULT_NOTIFIER,
) -> dict[str, Any]:
    """不予受理 (e.g. not the subject's information, no grounds): reasons are required."""
    _require_office(actor)
    reason = _text("reason", reason, "不予受理的理由")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, objection_id)
        check_transition(S(row.status), S.rejected)
        _step(c, s, row, "reject", S(row.status), S.rejected, actor, reason)
        row.status = S.rejected.value
        row.outcome_reason = reason
        row.decided_on = local_date(now)
        row.updated_at = now
        if row.target_type == TargetType.membership.value:
            _unflag_membership(c, s, row, actor, reason)
        notifier.send(s, _subject_notice(row, "异议不予受理", reason), at=now)
        uow.commit()
        return objection_view(c, s, row)


def decide(
    c: Container,
    actor: Principal,
    objection_id: str,
    *,
    outcome: str,
    reason: str,
    notifier: Notifier = DEFAULT_NOTIFIER,
) -> dict[str, Any]:
    """核查处理: record the outcome. `withdrawn` withdraws the record (or takes the entry off its
    list through the lists area's exit hook) first; `corrected` needs the corrected version to
    have been submitted already (through intake, so it is checked like every record)."""
    _require_decider_role(actor)
    with c.uow() as uow:
        missing = _missing(objection_id)
        row = _load(uow.session, objection_id, missing)
        with hidden_as(missing):
            _require_verifier(actor, row)
        check_transition(S(row.status), S.decided)
        tt = TargetType(row.target_type)
        oc = _enum(Outcome, "outcome", outcome)
        check_outcome(tt, oc)
        reason = _text("reason", reason, "处理结果说明")
        target_id, target_version = row.target_id, row.target_version
    ref = f"异议 {objection_id}：{reason}"
    # The owning area changes the information in its own transaction (and its own checks).
    if oc is Outcome.withdrawn and tt is TargetType.record:
        from citycredit.ingest.service import withdraw_record

        with c.uow() as uow:
            record = uow.session.get(RecordRow, target_id)
            already = record is not None and record.status == "withdrawn"
        if not already:
            withdraw_record(c, actor, target_id, ref)
    elif oc is Outcome.withdrawn and tt is TargetType.membership:
        from citycredit.lists import service as lists

        with c.uow() as uow:
            m = uow.session.get(MembershipRow, target_id)
            status = m.status if m is not None else None
        if status in (MembershipStatus.noticed.value, MembershipStatus.decided.value):
            lists.withdraw(c, actor, target_id, ref)
        elif status == MembershipStatus.published.value:
            lists.exit_on_objection_upheld(c, actor, target_id, ref)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, objection_id)
        check_transition(S(row.status), S.decided)  # nobody decided it meanwhile
        if oc is Outcome.corrected and tt is TargetType.record:
            record = s.get(RecordRow, target_id)
            assert record is not None
            if record.status != "active" or str(record.current_version) == target_version:
                raise Conflict(
                    "信息提供单位尚未报送更正后的记录：请先通过报送提交更正，再登记处理结果",
                    code="correction_missing",
                )
        if tt is TargetType.membership and oc is not Outcome.withdrawn:
            _unflag_membership(c, s, row, actor, reason)
        review = None
        if tt is TargetType.evaluation and oc is Outcome.corrected:
            review = _reevaluate_on_objection(c, s, row)
        row.outcome = oc.value
        row.outcome_reason = reason
        row.decided_on = local_date(now)
        _step(c, s, row, f"decide_{oc.value}", S(row.status), S.decided, actor, reason)
        row.status = S.decided.value
        row.updated_at = now
        body = f"{review or oc.label}。说明：{reason}"
        if oc in (Outcome.kept, Outcome.unresolved):
            body += "。您可以申请附加本人声明。"
        notifier.send(s, _subject_notice(row, "异议处理结果", body), at=now)
        uow.commit()
        return objection_view(c, s, row)


def _grade_text(grade: str | None, score: int | None) -> str:
    from citycredit.evaluation.model import GRADE_LABELS

    if grade is None:
        return "未评价"
    return f"{grade}（{GRADE_LABELS.get(grade, grade)}，{score} 分）"


def _outcome_label(row: ObjectionRow) -> str:
    """The outcome in words; a corrected grade was evaluated again (no information changed)."""
    outcome = Outcome(str(row.outcome))
    if row.target_type == TargetType.evaluation.value and outcome is Outcome.corrected:
        return "异议成立，已重新评价"
    return outcome.label


def _reevaluate_on_objection(c: Container, s: Session, row: ObjectionRow) -> str:
    """异议成立 against a grade (PIPL art. 24 review): the subject is evaluated again now, in
    the deciding transaction, on the information as it stands (corrected records come through
    intake first). Returns the outcome in words: what changed since the objection was filed, or
    that the result is unchanged — never 信息已更正 when nothing was."""
    from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationResultRow
    from citycredit.evaluation.service import reevaluate

    subject_id = row.subject_id
    res = EvaluationResultRow
    at_filing = s.execute(  # the result current when the objection was filed
        select(res.grade, res.score)
        .where(res.subject_id == subject_id, res.evaluated_at <= row.created_at)
        .order_by(res.as_of.desc(), res.id.desc())
        .limit(1)
    ).first()
    reevaluate(c, s, [subject_id], trigger="objection.corrected")
    s.flush()
    now = s.execute(
        select(EvaluationCurrentRow.grade, EvaluationCurrentRow.score).where(
            EvaluationCurrentRow.subject_id == subject_id
        )
    ).first()
    before = _grade_text(*at_filing) if at_filing is not None else "未评价"
    after = _grade_text(*now) if now is not None else "未评价"
    if before == after:
        return f"已人工复核并重新评价，评价结果未变（{after}）"
    return f"异议成立，已重新评价，评价结果由 {before}调整为 {after}"


def route(
    c: Container,
    actor: Principal,
    objection_id: str,
    note: str,
    notifier: Notifier = DEFAULT_NOTIFIER,
) -> dict[str, Any]:
    """督办/转办: the credit office sends an accepted objection (again) to the department that
    decides it, with its note; the department gets a notice. The status does not change."""
    _require_office(actor)
    note = _text("note", note, "督办说明")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, objection_id)
        if S(row.status) not in OPEN:
            raise Conflict(f"异议 {row.id} 已办结，无需督办", code="objection_closed")
        if row.department_id is None:
            raise Conflict("该异议由信用办复核处理，无需转办", code="office_decides")
        _step(c, s, row, "route", S(row.status), S(row.status), actor, note)
        notifier.send(s, _department_notice(c, s, row, "异议督办", note), at=now)
        uow.commit()
        return objection_view(c, s, row)


def add_statement(c: Container, actor: Principal, objection_id: str, text: str) -> dict[str, Any]:
    """本人声明: the subject's own words, shown with the information (kept or unresolved)."""
    limit = default_deadlines().limit("objection", "statement_max_chars").value or 200
    text = _text("statement", text, "本人声明内容")
    if len(text) > limit:
        raise FieldError(
            "statement", text, "too_long", f"本人声明不超过 {limit} 字（现 {len(text)} 字）"
        )
    require_subject_side(actor, "只能为本主体附加本人声明")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        missing = _missing(objection_id)
        row = _load(s, objection_id, missing)
        with hidden_as(missing):
            require_subject_access(actor, row.subject_id, office=True)
        if row.outcome not in (Outcome.kept.value, Outcome.unresolved.value):
            raise Conflict(
                "本人声明在异议处理为「维持」或「无法核实」后附加", code="statement_not_allowed"
            )
        row.statement = text
        row.updated_at = now
        _step(c, s, row, "statement", S(row.status), S(row.status), actor, text)
        uow.commit()
        return objection_view(c, s, row)


def escalate_overdue(c: Container, notifier: Notifier = DEFAULT_NOTIFIER) -> dict[str, Any]:
    """Every open objection past a clock is escalated once per clock to the credit office."""
    return escalate_late(
        c,
        case_type="objection",
        title="异议逾期",
        open_cases=lambda s: s.scalars(
            select(ObjectionRow)
            .where(ObjectionRow.status.in_([st.value for st in OPEN]))
            .order_by(ObjectionRow.id)
        ),
        late=_late_clock,
        step=lambda s, row, note: _escalate_step(c, s, row, note, notifier),
        notifier=notifier,
    )


# --- reads -----------------------------------------------------------------------------------


def get_objection(c: Container, actor: Principal, objection_id: str) -> dict[str, Any]:
    """One objection: its subject's side, its department, the credit office; to others (another
    subject, another department) it answers like a missing one."""
    require_case_role(actor, "无权查看该异议")
    with c.uow() as uow:
        missing = _missing(objection_id)
        row = _load(uow.session, objection_id, missing)
        with hidden_as(missing):
            _require_reader(actor, row)
        return objection_view(c, uow.session, row)


def list_objections(
    c: Container, actor: Principal, *, status: str | None = None, overdue: bool = False
) -> list[dict[str, Any]]:
    """The credit office sees all, a department its own; `overdue` lists late open cases."""
    if actor.role not in (Role.credit_office_admin, Role.department_staff):
        raise PermissionDenied("无权查看异议列表", code="forbidden")
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        q = select(ObjectionRow).order_by(ObjectionRow.filed_on, ObjectionRow.id)
        if status:
            q = q.where(ObjectionRow.status == _enum(S, "status", status).value)
        if overdue:
            q = q.where(ObjectionRow.status.in_([st.value for st in OPEN]))
        if actor.role is Role.department_staff:
            q = q.where(ObjectionRow.department_id == actor.department_id)
        rows = [r for r in s.scalars(q) if not overdue or _late_clock(r, today)]
        return [objection_view(c, s, r, today=today) for r in rows]


def subject_objections(session: Session, subject_id: str) -> list[ObjectionRow]:
    return list(
        session.scalars(
            select(ObjectionRow)
            .where(ObjectionRow.subject_id == subject_id)
            .order_by(ObjectionRow.filed_on, ObjectionRow.id)
        )
    )


def marks_for(session: Session, subject_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(target_type, target_id) → the mark every surface shows: "异议处理中" while open, and
    the recorded dispute (with the subject's statement) where the check could not settle it."""
    marks: dict[tuple[str, str], dict[str, Any]] = {}
    for row in subject_objections(session, subject_id):
        key = (row.target_type, row.target_id)
        if row.status in (S.submitted.value, S.accepted.value):
            marks[key] = {
                "mark": MARK_OPEN,
                "objection_id": row.id,
                "since": row.filed_on.isoformat(),
            }
        elif row.outcome in (Outcome.unresolved.value, Outcome.kept.value) and row.statement:
            label = MARK_UNRESOLVED if row.outcome == Outcome.unresolved.value else "本人声明"
            marks.setdefault(
                key, {"mark": label, "objection_id": row.id, "statement": row.statement}
            )
        elif row.outcome == Outcome.unresolved.value:
            marks.setdefault(key, {"mark": MARK_UNRESOLVED, "objection_id": row.id})
    return marks


def objection_view(
    c: Container, s: Session, row: ObjectionRow, *, today: date | None = None
) -> dict[str, Any]:
    today = today or local_date(c.clock.now())
    deadlines = default_deadlines()
    status = S(row.status)
    return {
        "id": row.id,
        "subject_id": row.subject_id,
        "target": {"type": row.target_type, "id": row.target_id, "version": row.target_version},
        "ground": {"code": row.ground, "label": Ground(row.ground).label},
        "reasons": row.reasons,
        "evidence": row.evidence,
        "channel": row.channel,
        "status": {"code": status.value, "label": status.label},
        "mark": MARK_OPEN if status in OPEN else None,
        "outcome": (
            {"code": row.outcome, "label": _outcome_label(row), "reason": row.outcome_reason}
            if row.outcome
            else None
        ),
        "rejection_reason": row.outcome_reason if status is S.rejected else None,
        "statement": row.statement,
        "clocks": _clocks(c, row, today),
        "overdue": _late_clock(row, today),
        "escalated_at": row.escalated_at.isoformat() if row.escalated_at else None,
        "deadlines": deadlines.as_json("objection"),
        "steps": case_steps(s, "objection", row.id),
    }


# --- internals -------------------------------------------------------------------------------


def _clocks(c: Container, row: ObjectionRow, today: date) -> list[dict[str, Any]]:
    """Each legal clock with its due day, remaining working days and state (live)."""
    deadlines = default_deadlines()
    return [
        clock_view(c, code, deadlines.limit("objection", code), due, done, today)
        for code, due, done in (
            ("accept_within", row.accept_due, row.accepted_on or _rejected_on(row)),
            ("verify_within", row.verify_due, row.decided_on if row.accepted_on else None),
        )
        if due is not None
    ]


def _rejected_on(row: ObjectionRow) -> date | None:
    return row.decided_on if row.status == S.rejected.value else None


def _late_clock(row: ObjectionRow, today: date) -> str | None:
    """A sentence naming the late clock, or None."""
    if row.status == S.submitted.value and is_overdue(row.accept_due, today):
        return f"异议 {row.id} 超过受理期限（{row.accept_due}）仍未受理"
    if row.status == S.accepted.value and is_overdue(row.verify_due, today):
        return f"异议 {row.id} 超过核查期限（{row.verify_due}）仍未处理"
    return None


def _missing(objection_id: str) -> NotFound:
    return NotFound(f"异议 {objection_id} 不存在", code="objection_not_found")


def _load(s: Session, objection_id: str, missing: NotFound | None = None) -> ObjectionRow:
    """The objection, or ``missing`` (the same error a hidden one answers with: G8)."""
    row = s.get(ObjectionRow, objection_id)
    if row is None:
        raise missing or _missing(objection_id)
    return row


def _evidence(i: int, e: dict[str, Any]) -> dict[str, Any]:
    name, digest = e.get("name"), e.get("sha256")
    if not name or not isinstance(digest, str) or len(digest) != 64:
        raise FieldError(
            f"evidence[{i}]", str(e)[:80], "invalid", "证明材料须有文件名（name）和 sha256 摘要"
        )
    return {"name": str(name), "sha256": digest.lower(), "size": e.get("size")}


def _step(
    c: Container,
    s: Session,
    row: ObjectionRow,
    action: str,
    from_status: ObjectionStatus | None,
    to_status: ObjectionStatus,
    actor: Principal | None,
    note: str | None,
) -> None:
    record_case_step(
        c,
        s,
        case_type="objection",
        case_id=row.id,
        subject_id=row.subject_id,
        action=action,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        actor=actor,
        note=note,
        facts={
            "target_type": row.target_type,
            "target_id": row.target_id,
            "department_id": row.department_id,
            "ground": row.ground,
            "reasons": row.reasons,
            "outcome": row.outcome,
        },
    )


def _escalate_step(
    c: Container, s: Session, row: ObjectionRow, note: str, notifier: Notifier
) -> None:
    """The escalation's step; the department that decides the objection is told too."""
    _step(c, s, row, "escalate", S(row.status), S(row.status), None, note)
    if row.department_id is not None:
        notifier.send(s, _department_notice(c, s, row, "异议逾期督办", note), at=c.clock.now())


def _department_notice(
    c: Container, s: Session, row: ObjectionRow, title: str, body: str
) -> Notice:
    return Notice(
        DEPARTMENT,
        str(row.department_id),
        "objection.route",
        f"{title}：{target_label(c, s, row.target_type, row.target_id)}（{row.id}）",
        f"{body}（{TargetType(row.target_type).label} {row.target_id}，"
        f"核查期限 {row.verify_due or '受理后起算'}）",
        "objection",
        row.id,
    )


def _subject_notice(row: ObjectionRow, title: str, body: str) -> Notice:
    return Notice(
        SUBJECT, row.subject_id, "objection", f"{title}（{row.id}）", body, "objection", row.id
    )


def _unflag_membership(
    c: Container, s: Session, row: ObjectionRow, actor: Principal, note: str
) -> None:
    """Clear the entry's flag only if this objection set it and no other objection is open on
    the entry: a 陈述申辩 the department registered itself stays pending until it answers."""
    if not row.flagged_target:
        return
    other = s.scalar(
        select(ObjectionRow).where(
            ObjectionRow.target_type == row.target_type,
            ObjectionRow.target_id == row.target_id,
            ObjectionRow.id != row.id,
            ObjectionRow.status.in_([st.value for st in OPEN]),
        )
    )
    if other is None:
        _flag_membership(c, s, row.target_id, actor, note, pending=False)
    else:  # the open one now holds the flag
        other.flagged_target = True
    row.flagged_target = False


def _flag_membership(
    c: Container, s: Session, membership_id: str, actor: Principal, note: str, *, pending: bool
) -> bool:
    """Keep the lists area's own flag in step: a local listing waits while an objection runs.
    True if the flag changed here."""
    from citycredit.lists.service import record_step

    m = s.get(MembershipRow, membership_id)
    if m is None or m.objection_pending == pending:
        return False
    m.objection_pending = pending
    record_step(
        c,
        s,
        m,
        action="objection" if pending else "objection_answered",
        from_status=m.status,
        actor=actor.label,
        at=c.clock.now(),
        note=note,
    )
    return True
