"""Subjects' rights, audit fixes (both databases): repair of records still shared, the lists
area's 陈述申辩 flag, repeated-repair limits at the decision, fraud revocation reaching the
province and the commitment, items without a severity, 谁认定谁修复 by the record's authority,
who decides record objections, refusal sentences, and permission before existence."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.commitments.db import CommitmentRow
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipRow
from citycredit.rights import objections, repairs
from citycredit.rights.db import RepairRow
from citycredit.rights.notices import inbox
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import Conflict, NotFound, PermissionDenied
from citycredit.subjects.archive import authorised_archive, public_archive
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

A = uscc("91", "610802", "MA6RF001")
B = uscc("91", "610802", "MA6RF002")
NAME_A, NAME_B = "榆阳区甲修复商贸有限公司", "榆阳区乙修复商贸有限公司"
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")
MATERIALS = [
    {"code": "performance_proof", "name": "罚款缴纳凭证.pdf", "sha256": "b" * 64},
    {"code": "commitment", "name": "信用修复承诺书.pdf", "sha256": "c" * 64},
]
PROMISE = "本企业承诺所提交材料真实有效，如有虚假愿承担相应法律责任。"
SAFETY = "榆林市应急管理局"
SAFETY_CODE = uscc("11", "610800", "MA0YJJ01")


def penalty(c: Container, tmp: Path, name: str, **values: Any) -> str:
    """Ingest one 行政处罚 (SAMR submits it) and return the new record's id."""
    samr = department_principal(c, SAMR)
    row = penalty_row(**values)
    with c.uow() as uow:
        before = set(uow.session.scalars(select(RecordRow.id)))
    ingest_submission(
        c, samr, path=write_csv(tmp / name, PENALTY_COLUMNS, [row]), item_code="penalty"
    )
    with c.uow() as uow:
        (rid,) = set(uow.session.scalars(select(RecordRow.id))) - before
    return rid


def subject_of(c: Container, rid: str) -> str:
    with c.uow() as uow:
        r = uow.session.get(RecordRow, rid)
        assert r is not None
        return r.subject_id


def apply(c: Container, rid: str, actor: Principal = CLERK) -> dict[str, Any]:
    return repairs.file_repair(
        c,
        actor,
        target_type="record",
        target_id=rid,
        reasons="罚款已全额缴纳，违法行为已整改",
        commitment_text=PROMISE,
        materials=MATERIALS,
        channel="window",
    )


def failed(e: dict[str, Any]) -> set[str]:
    return {x["code"] for x in e["conditions"] if not x["met"]}


# 1 -------------------------------------------------------------------------------------------


def test_records_still_shared_can_be_repaired(container: Container, tmp_path: Path) -> None:
    """A 警告 (轻微, never published) and a 一般 penalty past its publication end are still in the
    departments' authorised view: both can be repaired, and the repair stops sharing."""
    c = container
    department(c)
    tax = department(c, "榆林市税务局", "MA0TAX01")
    minor = penalty(
        c,
        tmp_path,
        "a.csv",
        CF_XDR_MC=NAME_A,
        CF_XDR_SHXYM=A,
        CF_JDRQ="2026-10-01",
        CF_CFLB="警告",
        CF_NR="警告",
        CF_NR_FK="",
        CF_WSH="榆市监罚〔2026〕1号",
    )
    old = penalty(  # published until 2026-09-01
        c,
        tmp_path,
        "b.csv",
        CF_XDR_MC=NAME_A,
        CF_XDR_SHXYM=A,
        CF_JDRQ="2025-09-01",
        CF_WSH="榆市监罚〔2025〕2号",
    )
    sid = subject_of(c, minor)
    assert public_archive(c, ANONYMOUS, sid)["total"] == 0
    shared = {
        e["record_id"]
        for g in authorised_archive(c, tax, sid, purpose="纳税信用评价")["groups"]
        for e in g["records"]
    }
    assert shared == {minor, old}
    e = repairs.record_eligibility(c, CLERK, minor)
    assert e["eligible"] is True and e["available_from"] == "2026-10-01"  # from the decision
    e = repairs.record_eligibility(c, CLERK, old)
    assert e["eligible"] is True and "无需修复" not in e["message"]
    samr = department_principal(c, SAMR)
    v = repairs.accept(c, CLERK, apply(c, old)["id"])
    repairs.decide(c, samr, v["id"], approve=True, reason="已履行，同意修复")
    shared_after = {
        e["record_id"]
        for g in authorised_archive(c, tax, sid, purpose="纳税信用评价")["groups"]
        for e in g["records"]
    }
    assert shared_after & {minor, old} == {minor}  # (the repair commitment is a record too)
    e = repairs.record_eligibility(c, CLERK, old)
    assert e["repairable"] is False and e["message"] == "不可申请修复：信息已修复"


# 2 -------------------------------------------------------------------------------------------


def test_rejected_objection_keeps_the_departments_statement_flag(
    container: Container, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    rid = penalty(c, tmp_path, "a.csv", CF_XDR_MC=NAME_A, CF_XDR_SHXYM=A, CF_JDRQ="2026-10-01")
    sid = subject_of(c, rid)
    mid = lists.propose(
        c,
        samr,
        list_type="market_supervision_serious",
        subject_id=sid,
        document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品情节严重",
    )
    lists.notify(c, samr, mid)
    lists.register_objection(c, samr, mid, "当事人书面陈述申辩：不存在销售行为")
    o = objections.file_objection(
        c, CLERK, target_type="membership", target_id=mid, ground="wrong", reasons="再次异议"
    )
    objections.reject(c, CLERK, o["id"], "重复提出，已由认定部门按陈述申辩程序办理")
    with c.uow() as uow:
        m = uow.session.get(MembershipRow, mid)
        assert m is not None and m.objection_pending is True  # the department's own, unanswered
    # An objection that set the flag itself clears it when answered.
    lists.answer_objection(c, samr, mid, "已书面答复当事人")
    o = objections.file_objection(
        c,
        CLERK,
        target_type="membership",
        target_id=mid,
        ground="wrong",
        reasons="列入错误",
        new_facts="当事人提交了不存在销售行为的进货台账",  # the same ground again (rejected above)
    )
    with c.uow() as uow:
        m = uow.session.get(MembershipRow, mid)
        assert m is not None and m.objection_pending is True
    objections.reject(c, CLERK, o["id"], "不属于异议范围")
    with c.uow() as uow:
        m = uow.session.get(MembershipRow, mid)
        assert m is not None and m.objection_pending is False


# 3 + 8 ---------------------------------------------------------------------------------------


def test_applications_filed_together_respect_the_repeat_limit(
    container: Container, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    r1 = penalty(c, tmp_path, "a.csv", CF_XDR_MC=NAME_A, CF_XDR_SHXYM=A, CF_JDRQ="2026-06-01")
    r2 = penalty(
        c,
        tmp_path,
        "b.csv",
        CF_XDR_MC=NAME_A,
        CF_XDR_SHXYM=A,
        CF_JDRQ="2026-05-01",
        CF_WSH="榆市监罚〔2026〕3号",
    )
    v1 = repairs.accept(c, CLERK, apply(c, r1)["id"])
    v2 = repairs.accept(c, CLERK, apply(c, r2)["id"])
    repairs.decide(c, samr, v1["id"], approve=True, reason="已履行，同意修复")
    with pytest.raises(Conflict) as err:
        repairs.decide(c, samr, v2["id"], approve=True, reason="已履行，同意修复")
    assert err.value.code == "not_eligible"
    assert "距上次修复不足1年的不予修复" in err.value.message  # the failing condition, named
    assert repairs.get_repair(c, CLERK, v2["id"])["status"]["code"] == "accepted"
    # The department may still deny it; nothing was half-done (one commitment only).
    repairs.decide(c, samr, v2["id"], approve=False, reason="距上次修复不足1年")
    # A record withdrawn while its repair is under review: refused before any commitment.
    r3 = penalty(
        c,
        tmp_path,
        "c.csv",
        CF_XDR_MC=NAME_B,
        CF_XDR_SHXYM=B,
        CF_JDRQ="2026-05-01",
        CF_WSH="榆市监罚〔2026〕5号",
    )
    v3 = repairs.accept(c, CLERK, apply(c, r3)["id"])
    withdraw_record(c, samr, r3, "处罚决定被复议撤销")
    with pytest.raises(Conflict, match="信息已撤销"):
        repairs.decide(c, samr, v3["id"], approve=True, reason="已履行，同意修复")
    with c.uow() as uow:
        assert len(uow.session.scalars(select(CommitmentRow)).all()) == 1


def test_refusal_messages_say_why(container: Container, tmp_path: Path) -> None:
    """Each condition has its own refusal sentence: never its positive label."""
    c = container
    department(c)
    rid = penalty(c, tmp_path, "a.csv", CF_XDR_MC=NAME_A, CF_XDR_SHXYM=A, CF_JDRQ="2026-06-01")
    samr = department_principal(c, SAMR)
    withdraw_record(c, samr, rid, "处罚决定被撤销")
    e = repairs.record_eligibility(c, CLERK, rid)
    assert e["message"] == "不可申请修复：信息已撤销"
    refusal = next(x["refusal"] for x in e["conditions"] if x["code"] == "active")
    assert refusal == "信息已撤销"
    assert all(x["refusal"] is None for x in e["conditions"] if x["met"])


# 4 -------------------------------------------------------------------------------------------


def test_fraud_revocation_reaches_the_province_and_the_commitment(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    rid = penalty(c, tmp_path, "a.csv", CF_XDR_MC=NAME_A, CF_XDR_SHXYM=A, CF_JDRQ="2026-06-01")
    v = repairs.accept(c, CLERK, apply(c, rid)["id"])
    v = repairs.decide(c, samr, v["id"], approve=True, reason="已履行，同意修复")
    assert repairs.export_decisions(c, CLERK, tmp_path / "out1")["count"] == 1
    clock.advance(days=2)  # Fri 2026-11-27
    v = repairs.revoke_for_fraud(c, CLERK, v["id"], "缴款凭证系伪造")
    assert v["decided_on"] == "2026-11-25" and v["revoked_on"] == "2026-11-27"
    assert v["synced_at"] is None
    assert [k["due"] for k in v["clocks"] if k["code"] == "sync_within"] == ["2026-12-02"]
    manifest = repairs.export_decisions(c, CLERK, tmp_path / "out2")
    assert manifest["count"] == 1
    name = next(n for n in manifest["files"] if n.endswith(".json"))
    (row,) = json.loads((tmp_path / "out2" / name).read_text(encoding="utf-8"))
    assert row["status"] == "revoked" and row["decided_on"] == "2026-11-25"
    assert row["revoked_on"] == "2026-11-27"
    with c.uow() as uow:
        cm = uow.session.scalars(select(CommitmentRow)).one()
        assert cm.status == "breached" and cm.false_commitment is True
        repair = uow.session.get(RepairRow, v["id"])
        assert repair is not None and repair.synced_at is not None
    e = repairs.record_eligibility(c, CLERK, rid)
    assert e["available_from"] == "2029-11-27"  # the bar runs from the revocation


# 5 -------------------------------------------------------------------------------------------


def test_items_without_a_severity(container: Container, clock: FixedClock, tmp_path: Path) -> None:
    c = container
    add_department(
        c, SYSTEM, name="榆林市人力资源和社会保障局", code=uscc("11", "610800", "MA0RB001")
    )
    rs = department_principal(c, "榆林市人力资源和社会保障局")
    samr = department(c)
    header = ["QJ_MC", "QJ_LB", "QJ_SHXYM", "QJ_XZ", "QJ_SSQ", "QJ_JE", "QJ_RDRQ"]
    row = [NAME_A, "法人及非法人组织", A, "养老保险", "2026-08", "1200.50", "2026-09-05"]
    ingest_submission(
        c,
        rs,
        path=write_csv(tmp_path / "qj.csv", header, [row]),
        item_code="social_insurance_arrears",
    )
    yc = ["YC_MC", "YC_SHXYM", "YC_LRYY", "YC_LRRQ", "YC_LRJG"]
    yrow = [NAME_A, A, "通过登记的住所无法联系", "2026-06-01", SAMR]
    ingest_submission(
        c,
        samr,
        path=write_csv(tmp_path / "yc.csv", yc, [yrow]),
        item_code="abnormal_operation",
    )
    with c.uow() as uow:
        by_item = {r.item_code: r.id for r in uow.session.scalars(select(RecordRow))}
    arrears = repairs.record_eligibility(c, CLERK, by_item["social_insurance_arrears"])
    assert arrears["repairable"] is True and arrears["available_from"] == "2026-12-06"
    assert arrears["message"] == "暂不可申请修复：自 2026-12-06 起可申请"
    abnormal = repairs.record_eligibility(c, CLERK, by_item["abnormal_operation"])
    assert abnormal["repairable"] is False and "adverse" not in failed(abnormal)
    assert "国家企业信用信息公示系统" in abnormal["message"]
    assert "属于失信（不良）信息" not in abnormal["message"]
    clock.current = clock.current + timedelta(days=10)  # 2026-12-05: the minimum's last day
    assert not repairs.record_eligibility(c, CLERK, by_item["social_insurance_arrears"])["eligible"]
    clock.current = clock.current + timedelta(days=1)  # 2026-12-06
    assert repairs.record_eligibility(c, CLERK, by_item["social_insurance_arrears"])["eligible"]


# 6 -------------------------------------------------------------------------------------------


def test_the_records_authority_decides_and_picks_the_sector_rule(
    container: Container, tmp_path: Path
) -> None:
    """SAMR submits a penalty decided by 应急管理局 before 2026-04-01: the Order No. 58 one-year
    rule applies (by the authority), and the 应急管理局, once registered, decides the repair."""
    c = container
    samr = department(c)
    rid = penalty(
        c,
        tmp_path,
        "a.csv",
        CF_XDR_MC=NAME_A,
        CF_XDR_SHXYM=A,
        CF_JDRQ="2026-01-10",
        CF_CFJG=SAFETY,
        CF_CFJGDM=SAFETY_CODE,
        CF_WSH="榆应急罚〔2026〕1号",
    )
    e = repairs.record_eligibility(c, CLERK, rid)
    assert e["eligible"] is False and e["available_from"] == "2027-01-11"
    assert "原58号令" in next(x["detail"] for x in e["conditions"] if x["code"] == "min_period")
    add_department(c, SYSTEM, name=SAFETY, code=SAFETY_CODE)
    safety = department_principal(c, SAFETY)
    assert repairs.record_eligibility(c, safety, rid)["record_id"] == rid
    # A recent penalty of the same authority: its repair goes to the authority, not to SAMR.
    r2 = penalty(
        c,
        tmp_path,
        "b.csv",
        CF_XDR_MC=NAME_B,
        CF_XDR_SHXYM=B,
        CF_JDRQ="2026-06-01",
        CF_CFJG=SAFETY,
        CF_CFJGDM=SAFETY_CODE,
        CF_WSH="榆应急罚〔2026〕2号",
    )
    v = repairs.accept(c, CLERK, apply(c, r2)["id"])
    with pytest.raises(NotFound):  # not the record's authority: like a missing repair (G8)
        repairs.decide(c, samr, v["id"], approve=False, reason="不同意")
    v = repairs.decide(c, safety, v["id"], approve=True, reason="已履行，同意修复")
    assert v["status"]["code"] == "approved"


# 7 -------------------------------------------------------------------------------------------


def test_the_credit_office_routes_but_does_not_decide_record_objections(
    container: Container, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    rid = penalty(c, tmp_path, "a.csv", CF_XDR_MC=NAME_A, CF_XDR_SHXYM=A, CF_JDRQ="2026-10-01")
    o = objections.file_objection(
        c, CLERK, target_type="record", target_id=rid, ground="wrong", reasons="金额登记错误"
    )
    objections.accept(c, CLERK, o["id"])
    with pytest.raises(NotFound):  # the office does not decide it (G8: like a missing one)
        objections.decide(c, CLERK, o["id"], outcome="withdrawn", reason="信用办认为有误")
    with c.uow() as uow:
        record = uow.session.get(RecordRow, rid)
        assert record is not None and record.status == "active"
    v = objections.route(c, CLERK, o["id"], "请尽快核查并答复")
    assert v["steps"][-1]["action"] == "route"
    with c.uow() as uow:
        box = inbox(uow.session, "department", str(samr.department_id))
    assert any(n["topic"] == "objection.route" and "请尽快核查" in n["body"] for n in box)
    v = objections.decide(c, samr, o["id"], outcome="withdrawn", reason="经核查登记错误")
    assert v["outcome"]["code"] == "withdrawn"


# 9 -------------------------------------------------------------------------------------------


def test_another_subjects_target_answers_like_a_missing_one(
    container: Container, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    ra = penalty(c, tmp_path, "a.csv", CF_XDR_MC=NAME_A, CF_XDR_SHXYM=A, CF_JDRQ="2026-06-01")
    rb = penalty(
        c,
        tmp_path,
        "b.csv",
        CF_XDR_MC=NAME_B,
        CF_XDR_SHXYM=B,
        CF_JDRQ="2026-06-01",
        CF_WSH="榆市监罚〔2026〕2号",
    )
    withdraw_record(c, samr, rb, "复议撤销")
    agent = Principal(
        role=Role.enterprise_agent, label="甲经办人", subject_ids=frozenset({subject_of(c, ra)})
    )

    def refusal(f: Any) -> tuple[type, str, str]:
        with pytest.raises((NotFound, Conflict, PermissionDenied)) as err:
            f()
        return type(err.value), err.value.code, err.value.message.replace(rb, "X")

    def obj(tid: str) -> Any:
        return lambda: objections.file_objection(
            c, agent, target_type="record", target_id=tid, ground="wrong", reasons="金额错误"
        )

    assert refusal(obj(rb)) == refusal(obj("X"))
    assert refusal(obj(rb))[0] is NotFound
    assert refusal(lambda: apply(c, rb, agent)) == refusal(lambda: apply(c, "X", agent))
    for who in (agent, ANONYMOUS, department(c, "榆林市税务局", "MA0TAX01")):

        def elig(tid: str, who: Principal = who) -> Any:
            return lambda: repairs.record_eligibility(c, who, tid)

        assert refusal(elig(rb)) == refusal(elig("X"))
    assert repairs.record_eligibility(c, agent, ra)["eligible"] is True
    assert apply(c, ra, agent)["status"]["code"] == "submitted"
