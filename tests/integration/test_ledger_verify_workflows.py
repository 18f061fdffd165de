"""`ledger verify` checks workflow leaves against the rows they commit to (security goal G11):
list membership steps, objection and repair steps, records marked repaired, credit checks and
their feedback, commitments. A row edited, deleted or inserted directly in the database is
named with its leaf index and row id; a clean log (and a step still pending) stays clean."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from citycredit.accounts.model import Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.checks import service as checks
from citycredit.checks.db import CheckFeedbackRow, CreditCheckRow
from citycredit.commitments import service as commitments
from citycredit.commitments.db import CommitmentRow
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerAlarmRow, LedgerLeafRow
from citycredit.ledger.verify import VerifyReport, verify_log
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipEventRow, MembershipRow
from citycredit.rights import objections as obj
from citycredit.rights import repairs
from citycredit.rights.db import CaseStepRow, ObjectionRow, RepairRow
from citycredit.shared.calendar import day_start
from citycredit.shared.clock import FixedClock
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

AUTH = uscc("11", "610800", "MA0CAMR1")
SAMR_LIST = "market_supervision_serious"
COMPANY = "榆阳区链上核对商贸有限公司"
CODE = uscc("91", "610802", "MA6LC001")
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")
PROMISE = "本企业承诺所提交材料真实有效，如有虚假愿承担相应法律责任。"
MATERIALS = [
    {"code": "performance_proof", "name": "罚款缴纳凭证.pdf", "sha256": "b" * 64},
    {"code": "commitment", "name": "信用修复承诺书.pdf", "sha256": "c" * 64},
]


# -- helpers -----------------------------------------------------------------------------------


def penalty(c: Container, tmp: Path, decided: str = "2026-06-01") -> tuple[str, str]:
    """A 一般 SAMR penalty of COMPANY: (subject id, record id)."""
    row = penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_JDRQ=decided)
    path = write_csv(tmp / "p.csv", PENALTY_COLUMNS, [row])
    ingest_submission(c, department(c), path=path, item_code="penalty")
    with c.uow() as uow:
        r = uow.session.scalars(select(RecordRow)).one()
        return r.subject_id, r.id


def published(c: Container, clock: FixedClock, sid: str) -> str:
    """A SAMR membership of `sid` taken through propose → notify → decide → publish."""
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品，情节严重",
    )  # fmt: skip
    lists.notify(c, samr, mid)
    with c.uow() as uow:
        due = uow.session.scalar(select(MembershipRow.objection_due).where(MembershipRow.id == mid))
    assert due is not None
    clock.current = (day_start(due + timedelta(days=1)) + timedelta(hours=10)).astimezone(UTC)
    lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕1号")
    lists.publish(c, samr, mid)
    return mid


def clean(c: Container) -> None:
    """Sequence everything; verify finds nothing."""
    ledger.integrate_now(c)
    report = verify_log(c)
    assert report.ok, report.as_dict()


def index_of(c: Container, ref: str) -> int:
    with c.uow() as uow:
        idx = uow.session.scalar(select(LedgerLeafRow.idx).where(LedgerLeafRow.ref == ref))
    assert idx is not None, ref
    return idx


def tampered(c: Container) -> VerifyReport:
    report = verify_log(c)
    assert not report.ok
    with c.uow() as uow:
        alarm = uow.session.scalar(select(LedgerAlarmRow).order_by(LedgerAlarmRow.id.desc()))
    assert alarm is not None and alarm.kind == "tamper"
    assert alarm.detail["first_bad_index"] == report.first_bad_index
    assert report.root_ok and report.signature_ok and not report.leaf_mismatch
    return report


def changed(report: VerifyReport) -> set[tuple[Any, ...]]:
    return {
        (x["ref"], x["index"], x["table"], x["row_id"], tuple(x["fields"])) for x in report.changed
    }


def sql(c: Container, *statements: Any) -> None:
    with c.uow() as uow:
        for st in statements:
            uow.session.execute(st)
        uow.commit()


def membership_steps(c: Container, mid: str) -> dict[str, tuple[int, str]]:
    """action → (step row id, leaf ref) of a membership's steps."""
    with c.uow() as uow:
        rows = uow.session.execute(
            select(
                MembershipEventRow.action, MembershipEventRow.id, MembershipEventRow.ledger_ref
            ).where(MembershipEventRow.membership_id == mid)
        )
        return {a: (i, ref) for a, i, ref in rows}


def case_steps(c: Container, case_id: str) -> dict[str, tuple[int, str]]:
    """action → (case_steps row id, leaf ref) of a case's steps (found by the leaf's ref)."""
    with c.uow() as uow:
        steps = uow.session.execute(
            select(CaseStepRow.action, CaseStepRow.id).where(CaseStepRow.case_id == case_id)
        ).all()
        refs = uow.session.scalars(
            select(LedgerLeafRow.ref).where(LedgerLeafRow.ref.like(f"{case_id}/%"))
        ).all()
    out = {}
    for action, i in steps:
        (ref,) = [r for r in refs if r.startswith(f"{case_id}/{action}/")]
        out[action] = (i, ref)
    return out


# -- list memberships ------------------------------------------------------------------------


def test_membership_steps_and_state_are_checked(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid, _ = penalty(c, tmp_path)
    mid = published(c, clock, sid)
    clean(c)
    steps = membership_steps(c, mid)
    assert set(steps) == {"propose", "notify", "decide", "publish"}
    decide_id, decide_ref = steps["decide"]
    notify_ref = steps["notify"][1]
    publish_ref = steps["publish"][1]
    sql(
        c,
        # a step's actor rewritten; the membership taken off the list and its decision changed;
        # the notice step deleted
        update(MembershipEventRow).where(MembershipEventRow.id == decide_id).values(actor="某人"),
        update(MembershipRow)
        .where(MembershipRow.id == mid)
        .values(status="exited", decision_no="榆市监严列〔2026〕99号"),
        delete(MembershipEventRow).where(MembershipEventRow.ledger_ref == notify_ref),
    )
    report = tampered(c)
    i_decide, i_notify, i_publish = (index_of(c, r) for r in (decide_ref, notify_ref, publish_ref))
    assert changed(report) == {
        (decide_ref, i_decide, "membership_events", decide_id, ("actor",)),
        # the membership row holds the state of its newest step (publish) only
        (publish_ref, i_publish, "memberships", mid, ("decision_no", "status")),
    }
    assert report.deleted == [notify_ref]
    assert not report.inserted
    assert report.first_bad_index == min(i_decide, i_notify, i_publish)
    # a step inserted with no leaf
    forged = f"{mid}/9/exit_repair"
    sql(
        c,
        insert(MembershipEventRow).values(
            membership_id=mid,
            from_status="published",
            to_status="exited",
            action="exit_repair",
            at=clock.now(),
            actor="某人",
            note="",
            ledger_ref=forged,
        ),
    )
    assert tampered(c).inserted == [forged]


def test_a_membership_step_not_yet_sequenced_is_not_an_alarm(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid, _ = penalty(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品，情节严重",
    )  # fmt: skip
    clean(c)
    lists.notify(c, samr, mid)
    assert verify_log(c).ok  # the notice's leaf is pending: the row may be ahead of the log
    clean(c)
    sql(c, update(MembershipRow).where(MembershipRow.id == mid).values(status="proposed"))
    report = tampered(c)
    ref = membership_steps(c, mid)["notify"][1]
    assert changed(report) == {(ref, index_of(c, ref), "memberships", mid, ("status",))}


# -- credit checks and their feedback -------------------------------------------------------


def test_checks_and_feedback_are_checked(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid, _ = penalty(c, tmp_path)
    published(c, clock, sid)
    samr = department_principal(c, SAMR)
    first = checks.run_check(c, samr, subject_id=sid, matter="food_business_licence")
    second = checks.run_check(c, samr, subject_id=sid, matter="food_business_licence")
    third = checks.run_check(c, samr, subject_id=sid, matter="food_business_licence")
    measures = [m["code"] for m in first["measures"]]
    assert measures, first
    checks.record_feedback(c, samr, first["check_id"], measure_code=measures[0], applied=True)
    clean(c)
    a, b, x = first["check_id"], second["check_id"], third["check_id"]
    with c.uow() as uow:
        fb = uow.session.scalar(select(CheckFeedbackRow.id).where(CheckFeedbackRow.check_id == a))
        row = uow.session.get(CreditCheckRow, b)
        assert row is not None
        result = {**row.result, "measures": []}  # the answer rewritten: no measures
    forged_check = {
        "id": "chk0forged", "subject_id": sid, "matter": "food_business_licence",
        "department_id": samr.department_id, "month": "2026-11", "eligible": True,
        "lists_version": "x", "result": result, "checked_by": "某人", "checked_at": clock.now(),
    }  # fmt: skip
    sql(
        c,
        update(CreditCheckRow).where(CreditCheckRow.id == a).values(eligible=True),
        update(CheckFeedbackRow)
        .where(CheckFeedbackRow.id == fb)
        .values(applied=False, reason="未采取"),
        update(CreditCheckRow).where(CreditCheckRow.id == b).values(result=result),
        delete(CreditCheckRow).where(CreditCheckRow.id == x),
        insert(CreditCheckRow).values(**forged_check),
    )
    report = tampered(c)
    ia, ib, ix = index_of(c, f"{a}/made"), index_of(c, f"{b}/made"), index_of(c, f"{x}/made")
    fb_ref = f"{a}/feedback/{measures[0]}"
    ifb = index_of(c, fb_ref)
    assert first["fast_approval"]["eligible"] is False  # a listed company: not 信易批
    assert changed(report) == {
        (f"{a}/made", ia, "credit_checks", a, ("eligible",)),
        (fb_ref, ifb, "credit_check_feedback", fb, ("applied", "reason")),
        (f"{b}/made", ib, "credit_checks", b, ("result",)),
    }
    assert report.deleted == [f"{x}/made"]
    assert report.inserted == ["chk0forged/made"]
    assert report.first_bad_index == min(ia, ib, ix, ifb)


# -- objections and repairs ------------------------------------------------------------------


def test_objection_steps_and_outcome_are_checked(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = penalty(c, tmp_path)
    samr = department_principal(c, SAMR)
    v = obj.file_objection(
        c, CLERK, target_type="record", target_id=rid, ground="wrong",
        reasons="罚款金额登记错误，应为2000元", channel="window",
    )  # fmt: skip
    oid = v["id"]
    obj.accept(c, CLERK, oid, "材料齐全")
    obj.decide(c, samr, oid, outcome="kept", reason="经核实，原记录无误")
    clean(c)
    steps = case_steps(c, oid)
    assert set(steps) == {"file", "accept", "decide_kept"}
    accept_id, accept_ref = steps["accept"]
    file_id, file_ref = steps["file"]
    decide_ref = steps["decide_kept"][1]
    sql(
        c,
        update(CaseStepRow).where(CaseStepRow.id == accept_id).values(note="材料不全"),
        update(ObjectionRow).where(ObjectionRow.id == oid).values(outcome="corrected"),
        delete(CaseStepRow).where(CaseStepRow.id == file_id),
        insert(CaseStepRow).values(
            case_type="objection",
            case_id="OBJ0forged",
            action="file",
            from_status=None,
            to_status="submitted",
            actor="某人",
            note="伪造",
            at=datetime(2026, 12, 1, tzinfo=UTC),
        ),
    )
    report = tampered(c)
    i_accept, i_file, i_decide = (index_of(c, r) for r in (accept_ref, file_ref, decide_ref))
    assert changed(report) == {
        (accept_ref, i_accept, "case_steps", accept_id, ("note",)),
        (decide_ref, i_decide, "objections", oid, ("outcome",)),
    }
    assert report.deleted == [file_ref]
    assert report.inserted == ["OBJ0forged/file/2026-12-01T00:00:00+00:00"]
    assert report.first_bad_index == min(i_accept, i_file, i_decide)


def test_repair_steps_repaired_record_and_commitment_are_checked(
    container: Container, tmp_path: Path
) -> None:
    c = container
    _, rid = penalty(c, tmp_path)
    samr = department_principal(c, SAMR)
    v = repairs.file_repair(
        c, CLERK, target_type="record", target_id=rid, reasons="罚款已全额缴纳，违法行为已整改",
        commitment_text=PROMISE, materials=MATERIALS, channel="window",
    )  # fmt: skip
    repairs.accept(c, CLERK, v["id"])
    v = repairs.decide(c, samr, v["id"], approve=True, reason="已履行法定义务，同意修复")
    repair_id, cm = v["id"], v["commitment_id"]
    assert cm is not None
    clean(c)
    steps = case_steps(c, repair_id)
    assert set(steps) == {"file", "accept", "approve"}
    approve_id, approve_ref = steps["approve"]
    repaired_ref = f"{rid}/repaired/{repair_id}"
    sql(
        c,
        # the decider rewritten; the record published again behind the decision's back;
        # the commitment's text changed; the repair's channel changed
        update(CaseStepRow).where(CaseStepRow.id == approve_id).values(actor="某人"),
        update(RecordRow).where(RecordRow.id == rid).values(repaired_at=None, repair_id=None),
        update(CommitmentRow).where(CommitmentRow.id == cm).values(text="另一份承诺内容，已被改写"),
        update(RepairRow).where(RepairRow.id == repair_id).values(channel="online"),
    )
    report = tampered(c)
    i_approve, i_repaired, i_cm = (
        index_of(c, r) for r in (approve_ref, repaired_ref, f"{cm}/recorded")
    )
    assert changed(report) == {
        (approve_ref, i_approve, "case_steps", approve_id, ("actor",)),
        (approve_ref, i_approve, "repairs", repair_id, ("channel",)),
        # the record.repaired leaf names its decider: the approve step's actor
        (repaired_ref, i_repaired, "records", rid, ("decided_by",)),
        (repaired_ref, i_repaired, "records", rid, ("repair_id", "repaired_at")),
        (f"{cm}/recorded", i_cm, "commitments", cm, ("text",)),
    }
    assert not report.deleted and not report.inserted
    assert report.first_bad_index == min(i_approve, i_repaired, i_cm)


def test_a_deleted_repair_and_a_record_marked_repaired_without_a_leaf(
    container: Container, tmp_path: Path
) -> None:
    c = container
    _, rid = penalty(c, tmp_path)
    v = repairs.file_repair(
        c, CLERK, target_type="record", target_id=rid, reasons="罚款已全额缴纳，违法行为已整改",
        commitment_text=PROMISE, materials=MATERIALS, channel="window",
    )  # fmt: skip
    clean(c)
    file_ref = case_steps(c, v["id"])["file"][1]
    sql(
        c,
        delete(RepairRow).where(RepairRow.id == v["id"]),
        update(RecordRow)
        .where(RecordRow.id == rid)
        .values(repaired_at=datetime(2026, 11, 25, tzinfo=UTC), repair_id="rp0forged"),
    )
    report = tampered(c)
    assert report.deleted == [file_ref]
    assert report.inserted == [f"{rid}/repaired/rp0forged"]
    assert report.first_bad_index == index_of(c, file_ref)


# -- commitments -----------------------------------------------------------------------------


def test_commitments_are_checked(container: Container, tmp_path: Path) -> None:
    c = container
    sid, _ = penalty(c, tmp_path)
    samr = department_principal(c, SAMR)

    def make() -> str:
        made = commitments.create_commitment(
            c, samr, subject_id=sid, kind="approval_substitute", matter="food_business_licence",
            text="承诺所报材料真实，三个月内补交健康证明", made_on=date(2026, 9, 1),
        )  # fmt: skip
        return str(made["commitment_id"])

    a, b, x = make(), make(), make()
    clean(c)
    commitments.record_outcome(c, samr, a, result="breached", checked_on=date(2026, 11, 20))
    assert verify_log(c).ok  # the outcome's leaf is pending
    clean(c)
    with c.uow() as uow:
        subjects = uow.session.scalars(select(SubjectRow.subject_id)).all()
    sql(
        c,
        # a breach turned into fulfilment; b checked without a leaf; x deleted
        update(CommitmentRow).where(CommitmentRow.id == a).values(status="fulfilled"),
        update(CommitmentRow)
        .where(CommitmentRow.id == b)
        .values(status="fulfilled", checked_on=date(2026, 11, 20)),
        delete(CommitmentRow).where(CommitmentRow.id == x),
    )
    assert len(subjects) == 1
    report = tampered(c)
    ia = index_of(c, f"{a}/breached")
    assert changed(report) == {(f"{a}/breached", ia, "commitments", a, ("status",))}
    assert report.deleted == [f"{x}/recorded"]
    # a's state and b's now need an outcome leaf that does not exist
    assert sorted(report.inserted) == sorted([f"{a}/fulfilled", f"{b}/fulfilled"])
    assert report.first_bad_index == min(ia, index_of(c, f"{x}/recorded"))
