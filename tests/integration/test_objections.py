"""异议 end to end on both databases: filing marks the target, clocks, outcomes through the
owning areas (ingest, lists), escalation of late cases, notices, permissions, HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.evaluation.views import current_evaluation
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipRow
from citycredit.rights import objections as obj
from citycredit.rights.db import NoticeRow
from citycredit.rights.notices import inbox
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.subjects.archive import authorised_archive, public_archive
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

COMPANY = "榆阳区异议商贸有限公司"
CODE = uscc("91", "610802", "MA6YY001")
OTHER = "神木市无关能源有限公司"
OTHER_CODE = uscc("91", "610821", "MA6YY002")
SAMR_LIST = "market_supervision_serious"


def setup_record(
    c: Container, tmp: Path, *, fine: str = "2", again: bool = False
) -> tuple[str, str]:
    samr = department_principal(c, SAMR) if again else department(c)
    rows = [
        penalty_row(
            CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕9号", CF_NR_FK=fine
        ),
        penalty_row(CF_XDR_MC=OTHER, CF_XDR_SHXYM=OTHER_CODE, CF_WSH="榆市监罚〔2026〕10号"),
    ]
    ingest_submission(
        c, samr, path=write_csv(tmp / "p.csv", PENALTY_COLUMNS, rows), item_code="penalty"
    )
    with c.uow() as uow:
        rec = uow.session.scalars(select(RecordRow).order_by(RecordRow.first_submitted_at)).all()
        by_key = {r.key_text: r for r in rec}
    record = next(r for k, r in by_key.items() if "榆市监罚〔2026〕9号" in k)
    return record.subject_id, record.id


def office(c: Container) -> Principal:
    """A service-hall clerk of the credit office (acts for subjects at the window)."""
    return Principal(role=Role.credit_office_admin, label="大厅窗口")


def file(c: Container, actor: Any, record_id: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "target_type": "record",
        "target_id": record_id,
        "ground": "wrong",
        "reasons": "罚款金额登记错误，应为2000元",
        "channel": "window",
    }
    args.update(kw)
    return obj.file_objection(c, actor, **args)


def test_record_objection_kept_with_statement(container: Container, tmp_path: Path) -> None:
    c = container
    sid, rid = setup_record(c, tmp_path)
    clerk = office(c)
    v = file(c, clerk, rid, evidence=[{"name": "缴款单.pdf", "sha256": "a" * 64}])
    assert v["status"]["code"] == "submitted" and v["mark"] == "异议处理中"
    assert v["clocks"][0]["code"] == "accept_within" and v["clocks"][0]["due"] == "2026-11-27"
    with c.uow() as uow:
        assert obj.marks_for(uow.session, sid)[("record", rid)]["mark"] == "异议处理中"
        office_box = inbox(uow.session, "credit_office", "-")
    # The mark is on the public archive and on the authorised (department) view.
    pub = public_archive(c, ANONYMOUS, sid)
    entry = next(e for g in pub["groups"] for e in g["records"] if e["record_id"] == rid)
    assert entry["objection_mark"]["mark"] == "异议处理中"
    samr0 = department_principal(c, SAMR)
    auth_view = authorised_archive(c, samr0, sid, purpose="核查异议")
    entry = next(e for g in auth_view["groups"] for e in g["records"] if e["record_id"] == rid)
    assert entry["objection_mark"]["mark"] == "异议处理中"
    assert office_box[0]["topic"] == "objection.filed"
    # A second objection on the same record while one is open is refused.
    with pytest.raises(Conflict):
        file(c, clerk, rid)
    # The department cannot accept; the credit office does.
    samr = department_principal(c, SAMR)
    with pytest.raises(PermissionDenied):
        obj.accept(c, samr, v["id"])
    v = obj.accept(c, clerk, v["id"], "材料齐全")
    assert v["status"]["code"] == "accepted"
    assert [k["due"] for k in v["clocks"]] == ["2026-11-27", "2026-12-09"]
    with c.uow() as uow:
        dept_box = inbox(uow.session, "department", str(samr.department_id))
    assert dept_box and dept_box[0]["topic"] == "objection.to_verify"
    # Another department may not decide: to it the objection answers like a missing one (G8).
    from support import department as add_dept

    other = add_dept(c, "榆林市税务局", "MA0TAX01")
    with pytest.raises(NotFound) as hidden:
        obj.decide(c, other, v["id"], outcome="kept", reason="核查无误")
    assert hidden.value.code == "objection_not_found"
    with pytest.raises(FieldError) as err:
        obj.decide(c, samr, v["id"], outcome="bogus", reason="核查无误")
    assert err.value.field == "outcome"
    v = obj.decide(c, samr, v["id"], outcome="kept", reason="经核查处罚决定书金额无误")
    assert v["outcome"]["code"] == "kept" and v["mark"] is None
    with c.uow() as uow:
        assert ("record", rid) not in obj.marks_for(uow.session, sid)
    with pytest.raises(InvalidTransition):
        obj.accept(c, clerk, v["id"])
    v = obj.add_statement(c, clerk, v["id"], "本企业已足额缴纳罚款，对金额登记有异议。")
    assert v["statement"]
    with c.uow() as uow:
        assert obj.marks_for(uow.session, sid)[("record", rid)]["mark"] == "本人声明"
    # the archive page labels the statement once
    from fastapi.testclient import TestClient

    from citycredit.web.app import create_app

    with TestClient(create_app(c, scheduler=False)) as web:
        page = web.get(f"/subjects/{sid}").text
    assert "<strong>本人声明</strong>：「本企业已足额缴纳罚款，对金额登记有异议。」" in page
    assert page.count("本人声明") == 1
    with pytest.raises(FieldError):
        obj.add_statement(c, clerk, v["id"], "长" * 201)
    actions = [s["action"] for s in v["steps"]]
    assert actions == ["file", "accept", "decide_kept", "statement"]
    with c.uow() as uow:
        events = uow.session.scalars(
            select(OutboxEventRow.event_type).where(OutboxEventRow.aggregate_type == "objection")
        ).all()
        subject_box = inbox(uow.session, "subject", sid)
    assert events == [
        "objection.file",
        "objection.accept",
        "objection.decide_kept",
        "objection.statement",
    ]
    assert {n["topic"] for n in subject_box} == {"objection"}
    assert any("维持" in n["body"] for n in subject_box)


def test_withdrawn_outcome_withdraws_the_record(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = setup_record(c, tmp_path)
    clerk = office(c)
    samr = department_principal(c, SAMR)
    v = obj.accept(c, clerk, file(c, clerk, rid)["id"])
    v = obj.decide(c, samr, v["id"], outcome="withdrawn", reason="处罚决定已被复议撤销")
    with c.uow() as uow:
        record = uow.session.get(RecordRow, rid)
        assert record is not None and record.status == "withdrawn"
    assert v["outcome"]["code"] == "withdrawn"


def test_corrected_needs_the_correction_first(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = setup_record(c, tmp_path)
    clerk = office(c)
    samr = department_principal(c, SAMR)
    v = obj.accept(c, clerk, file(c, clerk, rid)["id"])
    with pytest.raises(Conflict, match="尚未报送更正"):
        obj.decide(c, samr, v["id"], outcome="corrected", reason="金额已更正")
    setup_record(c, tmp_path, fine="0.2", again=True)  # the department submits the corrected row
    with c.uow() as uow:
        record = uow.session.get(RecordRow, rid)
        assert record is not None and record.current_version == 2
    v = obj.decide(c, samr, v["id"], outcome="corrected", reason="金额已更正")
    assert v["outcome"]["code"] == "corrected"


def test_rejection_needs_reasons_and_clears_mark(container: Container, tmp_path: Path) -> None:
    c = container
    sid, rid = setup_record(c, tmp_path)
    clerk = office(c)
    v = file(c, clerk, rid)
    with pytest.raises(FieldError) as err:
        obj.reject(c, clerk, v["id"], " ")
    assert err.value.field == "reason"
    v = obj.reject(c, clerk, v["id"], "异议人与信用主体无关")
    assert v["status"]["code"] == "rejected" and v["rejection_reason"]
    assert v["clocks"][0]["state"] == "done" and v["clocks"][0]["met"] is True
    with c.uow() as uow:
        assert obj.marks_for(uow.session, sid) == {}


def test_only_the_subject_side_may_file(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = setup_record(c, tmp_path)
    samr = department_principal(c, SAMR)
    for actor in (ANONYMOUS, samr):
        with pytest.raises(PermissionDenied):
            file(c, actor, rid)
    with pytest.raises(FieldError) as err:
        file(c, office(c), rid, ground="dislike")
    assert err.value.field == "ground"


def test_late_objections_are_escalated_once(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    _, rid = setup_record(c, tmp_path)
    clerk = office(c)
    v = file(c, clerk, rid)  # filed Wed 2026-11-25, accept by Fri 11-27
    clock.advance(days=2)  # Fri 11-27: still on time
    assert obj.escalate_overdue(c)["escalated"] == 0
    assert obj.list_objections(c, clerk, overdue=True) == []
    clock.advance(days=3)  # Mon 11-30
    assert obj.escalate_overdue(c) == {"escalated": 1, "ids": [v["id"]]}
    assert obj.escalate_overdue(c)["escalated"] == 0  # once
    late = obj.list_objections(c, clerk, overdue=True)
    assert [x["id"] for x in late] == [v["id"]]
    assert "超过受理期限" in late[0]["overdue"] and late[0]["clocks"][0]["state"] == "overdue"
    with c.uow() as uow:
        topics = uow.session.scalars(select(NoticeRow.topic)).all()
    assert "objection.overdue" in topics
    # Accepted late: the verification clock then runs (10 working days from 11-30).
    v = obj.accept(c, clerk, v["id"])
    assert v["clocks"][0]["met"] is False and v["clocks"][1]["due"] == "2026-12-14"


def _published_membership(c: Container, clock: FixedClock, sid: str) -> str:
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c,
        samr,
        list_type=SAMR_LIST,
        subject_id=sid,
        document_no="榆市监罚〔2026〕9号",
        reasons="销售不合格食品，情节严重",
    )
    lists.notify(c, samr, mid)
    with c.uow() as uow:
        m = uow.session.get(MembershipRow, mid)
        assert m is not None and m.objection_due is not None
        due = m.objection_due
    clock.current = clock.current + timedelta(days=(due - date(2026, 11, 25)).days + 1)
    lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕9号")
    lists.publish(c, samr, mid)
    return mid


def test_membership_objection_upheld_exits_the_list(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid, _ = setup_record(c, tmp_path)
    mid = _published_membership(c, clock, sid)
    clerk = office(c)
    samr = department_principal(c, SAMR)
    v = obj.file_objection(
        c, clerk, target_type="membership", target_id=mid, ground="wrong", reasons="列入对象错误"
    )
    with c.uow() as uow:
        m = uow.session.get(MembershipRow, mid)
        assert m is not None and m.objection_pending is True
    public = lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"]
    assert [e["objection_mark"] for e in public] == ["异议处理中"]
    with pytest.raises(FieldError):  # a list entry is not "corrected"
        obj.decide(
            c,
            samr,
            obj.accept(c, clerk, v["id"])["id"],
            outcome="corrected",
            reason="已更正列入信息",
        )
    obj.decide(c, samr, v["id"], outcome="withdrawn", reason="经核查列入对象错误，异议成立")
    with c.uow() as uow:
        m = uow.session.get(MembershipRow, mid)
        assert m is not None
        assert m.status == "exited" and m.exit_code == "objection_upheld"
        assert m.objection_pending is False or m.status == "exited"


def test_grade_objection_reviewed_by_the_credit_office(
    container: Container, tmp_path: Path
) -> None:
    c = container
    sid, _ = setup_record(c, tmp_path)
    clerk = office(c)
    v = obj.file_objection(
        c,
        clerk,
        target_type="evaluation",
        target_id=sid,
        ground="automated_decision",
        reasons="要求人工复核评价结果",
    )
    assert v["target"]["type"] == "evaluation"
    shown = current_evaluation(c, ANONYMOUS, sid)  # the public evaluation surface
    assert shown["objection_mark"]["mark"] == "异议处理中"
    v = obj.accept(c, clerk, v["id"])
    samr = department_principal(c, SAMR)
    with pytest.raises(NotFound):  # grades are the credit office's, not a department's (G8)
        obj.decide(c, samr, v["id"], outcome="kept", reason="核查无误")
    v = obj.decide(c, clerk, v["id"], outcome="kept", reason="人工复核：评价指标取值无误")
    assert v["outcome"]["code"] == "kept"
    assert current_evaluation(c, ANONYMOUS, sid)["objection_mark"] is None


def test_http_objection_flow(container: Container, tmp_path: Path) -> None:
    c = container
    sid, rid = setup_record(c, tmp_path)
    admin = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    )
    dept = add_user(
        c,
        SYSTEM,
        username="samr2",
        display_name="市场监管",
        role=Role.department_staff,
        department=SAMR,
    )
    h_admin = {"Authorization": f"Bearer {admin.token}"}
    h_dept = {"Authorization": f"Bearer {dept.token}"}
    with TestClient(create_app(c, scheduler=False)) as client:
        r = client.post(
            "/api/v1/objections",
            json={
                "target_type": "record",
                "target_id": rid,
                "ground": "wrong",
                "reasons": "金额错误",
            },
        )
        assert r.status_code == 401  # the public cannot object for a subject: log in
        r = client.post(
            "/api/v1/objections",
            headers=h_admin,
            json={
                "target_type": "record",
                "target_id": rid,
                "ground": "oops",
                "reasons": "金额错误",
            },
        )
        assert r.status_code == 422 and r.json()["field"] == "ground"
        r = client.post(
            "/api/v1/objections",
            headers=h_admin,
            json={
                "target_type": "record",
                "target_id": rid,
                "ground": "wrong",
                "reasons": "金额错误",
            },
        )
        assert r.status_code == 201
        oid = r.json()["id"]
        assert (
            client.post(f"/api/v1/objections/{oid}/accept", headers=h_dept, json={}).status_code
            == 403
        )
        assert (
            client.post(f"/api/v1/objections/{oid}/accept", headers=h_admin, json={}).status_code
            == 200
        )
        listed = client.get("/api/v1/objections", headers=h_dept).json()
        assert [x["id"] for x in listed["items"]] == [oid]
        r = client.post(
            f"/api/v1/objections/{oid}/decide",
            headers=h_dept,
            json={"outcome": "unresolved", "reason": "无法核实原始凭证"},
        )
        assert r.status_code == 200 and r.json()["outcome"]["code"] == "unresolved"
        assert client.get(f"/api/v1/objections/{oid}").status_code == 401
        box = client.get("/api/v1/inbox", headers=h_dept).json()
        assert box["items"][0]["topic"] == "objection.to_verify"
    with c.uow() as uow:
        assert obj.marks_for(uow.session, sid)[("record", rid)]["mark"].startswith("存在异议")


def test_the_same_objection_again_needs_new_facts(container: Container, tmp_path: Path) -> None:
    """异议办结后以同一理由再次提出: refused without 新的事实或理由, nothing marked; with them, or
    on another ground, or after the record changed, it is filed as usual."""
    c = container
    sid, rid = setup_record(c, tmp_path)
    clerk = office(c)
    samr = department_principal(c, SAMR)
    first = file(c, clerk, rid)
    obj.accept(c, clerk, first["id"], "材料齐全")
    obj.decide(c, samr, first["id"], outcome="kept", reason="经核查处罚决定书金额无误")
    with pytest.raises(FieldError) as err:
        file(c, clerk, rid)
    assert err.value.field == "new_facts" and err.value.code == "objection_refiled"
    assert first["id"] in str(err.value) and "异议不成立" in str(err.value)
    with pytest.raises(FieldError):
        file(c, clerk, rid, new_facts="仍有异议")  # shorter than the configured minimum
    with c.uow() as uow:
        assert ("record", rid) not in obj.marks_for(uow.session, sid)
        assert len(obj.subject_objections(uow.session, sid)) == 1
    # Another ground is another objection.
    other = file(c, clerk, rid, ground="infringes", reasons="公示内容包含与处罚无关的个人信息")
    obj.reject(c, clerk, other["id"], "公示内容不含个人信息")
    # New facts: filed, marked, the facts kept in the reasons, the step names the earlier case.
    again = file(c, clerk, rid, new_facts="取得了处罚机关出具的金额更正说明（榆市监函〔2026〕3号）")
    assert again["status"]["code"] == "submitted" and again["mark"] == "异议处理中"
    assert "【新的事实和理由】取得了处罚机关出具的金额更正说明" in again["reasons"]
    assert first["id"] in again["steps"][0]["note"]


def test_http_refiled_objection_names_the_missing_field(
    container: Container, tmp_path: Path
) -> None:
    c = container
    _, rid = setup_record(c, tmp_path)
    clerk = office(c)
    first = file(c, clerk, rid)
    obj.reject(c, clerk, first["id"], "异议人与信用主体无关")
    admin = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    )
    body = {
        "target_type": "record",
        "target_id": rid,
        "ground": "wrong",
        "reasons": "罚款金额登记错误，应为2000元",
        "channel": "window",
    }
    with TestClient(create_app(c, scheduler=False)) as client:
        auth = {"Authorization": f"Bearer {admin.token}"}
        refused = client.post("/api/v1/objections", json=body, headers=auth)
        assert refused.status_code == 422, refused.text
        assert "new_facts" in refused.text
        ok = client.post(
            "/api/v1/objections",
            json={**body, "new_facts": "异议人系该企业法定代表人，附营业执照及身份证明"},
            headers=auth,
        )
        assert ok.status_code == 201, ok.text


def test_a_departments_inbox_names_the_case_pages_and_marks_read(
    container: Container, tmp_path: Path
) -> None:
    """The department's 站内通知 say whose record and which decision (文号) a case is about;
    the inbox pages with totals and an unread count, and reading marks only the caller's own."""
    c = container
    sid, rid = setup_record(c, tmp_path)
    other_sid, other_rid = next(
        (r.subject_id, r.id) for r in _records(c) if "榆市监罚〔2026〕10号" in r.key_text
    )
    admin = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    )
    dept = add_user(
        c,
        SYSTEM,
        username="samr2",
        display_name="市场监管",
        role=Role.department_staff,
        department=SAMR,
    )
    tax = department(c, "榆林市税务局", "MA0TAX01")
    tax_user = add_user(
        c,
        SYSTEM,
        username="tax1",
        display_name="税务",
        role=Role.department_staff,
        department="榆林市税务局",
    )
    h_admin = {"Authorization": f"Bearer {admin.token}"}
    h_dept = {"Authorization": f"Bearer {dept.token}"}
    h_tax = {"Authorization": f"Bearer {tax_user.token}"}
    assert tax.department_id is not None
    clerk = office(c)
    for target in (rid, other_rid):
        v = file(c, clerk, target)
        obj.accept(c, clerk, v["id"])
    with TestClient(create_app(c, scheduler=False)) as client:
        office_box = client.get("/api/v1/inbox", headers=h_admin).json()
        assert office_box["items"][-1]["title"].startswith(
            f"新异议待受理：{COMPANY} 行政处罚 榆市监罚〔2026〕9号（OBJ"
        )
        box = client.get("/api/v1/inbox", headers=h_dept).json()
        assert (box["count"], box["total"], box["unread"]) == (2, 2, 2)
        titles = [n["title"] for n in box["items"]]
        assert titles[0].startswith(f"异议待核查：{OTHER} 行政处罚 榆市监罚〔2026〕10号（OBJ")
        assert titles[1].startswith(f"异议待核查：{COMPANY} 行政处罚 榆市监罚〔2026〕9号（OBJ")
        # one a page: the cursor walks back without skipping or repeating
        first = client.get("/api/v1/inbox", headers=h_dept, params={"limit": 1}).json()
        assert first["next_before"] == first["items"][0]["id"]
        second = client.get(
            "/api/v1/inbox", headers=h_dept, params={"limit": 1, "before": first["next_before"]}
        ).json()
        assert [n["id"] for n in first["items"] + second["items"]] == [
            n["id"] for n in box["items"]
        ]
        assert second["next_before"] is None
        # reading the older one: one marked, one left; the unread filter shows the newer
        older = box["items"][1]["id"]
        tax_read = client.post("/api/v1/inbox/read", headers=h_tax, json={"up_to": older + 10})
        assert tax_read.json() == {"marked": 0, "unread": 0}  # another department's: untouched
        r = client.post("/api/v1/inbox/read", headers=h_dept, json={"up_to": older})
        assert r.status_code == 200 and r.json() == {"marked": 1, "unread": 1}
        unread = client.get("/api/v1/inbox", headers=h_dept, params={"unread": True}).json()
        assert [n["id"] for n in unread["items"]] == [box["items"][0]["id"]]
        after = client.get("/api/v1/inbox", headers=h_dept).json()
        assert [n["read"] for n in after["items"]] == [False, True]
        again = client.post("/api/v1/inbox/read", headers=h_dept, json={"up_to": older})
        assert again.json() == {"marked": 0, "unread": 1}
        bad = client.post("/api/v1/inbox/read", headers=h_dept, json={"up_to": 0})
        assert bad.status_code == 422 and bad.json()["field"] == "up_to"
    assert sid != other_sid


def _records(c: Container) -> list[RecordRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(RecordRow)))
