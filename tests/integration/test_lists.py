"""名单 end to end on both databases: the local workflow, external memberships, public lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.jobs import run_due
from citycredit.kernel.outbox import deliver
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerLeafRow
from citycredit.lists import service as lists
from citycredit.lists.consumer import sync_record
from citycredit.lists.db import MembershipEventRow, MembershipRow
from citycredit.lists.model import MembershipStatus
from citycredit.shared.calendar import day_start
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import HiddenDenial, InvalidTransition, PermissionDenied
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db

AUTH = uscc("11", "610800", "MA0CAMR1")
COURT = "榆林市中级人民法院"
TAX = "榆林市税务局"
SAFETY = "榆林市应急管理局"
SAMR_LIST = "market_supervision_serious"  # origin both, 5 working days notice, repair ≥ 12 months
COMPANY = "榆阳区诚信商贸有限公司"
PERSON_ID = id_number("610802", "19800304", "123")
PERSON2_ID = id_number("610802", "19750101", "456")
PHONE = "13912345678"
SX = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_ZJHM", "SX_AH", "SX_ZXFY", "SX_YW", "SX_SXQX"]
SX += ["SX_FBRQ", "SX_YCRQ"]
YZ = ["YZ_MC", "YZ_LB", "YZ_SHXYM", "YZ_ZJHM", "YZ_MDLX", "YZ_LRYY", "YZ_RDWH", "YZ_LRRQ"]
YZ += ["YZ_YCRQ", "YZ_RDJG"]


def at_local(day: date, hour: int = 10) -> datetime:
    """``hour``:00 Asia/Shanghai of ``day`` as UTC."""
    return (day_start(day) + timedelta(hours=hour)).astimezone(UTC)


def company(c: Container, tmp: Path) -> str:
    """A company known to the registry (through a SAMR penalty), its subject id."""
    samr = department(c)
    row = [COMPANY, "法人及非法人组织", uscc("91", "610802", "MA6L0001"), "榆市监罚〔2026〕1号"]
    row += ["x", "x", "x", "罚款", "罚款2万元", "2", "2026-11-02", SAMR, AUTH, SAMR, AUTH]
    path = write_csv(tmp / "penalty.csv", PENALTY_COLUMNS, [row])
    ingest_submission(c, samr, path=path, item_code="penalty")
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.name == COMPANY))
    assert sid is not None
    return sid


def dept(c: Container, name: str, body8: str) -> Principal:
    add_department(c, SYSTEM, name=name, code=uscc("11", "610800", body8))
    return department_principal(c, name)


def row_of(c: Container, mid: str) -> MembershipRow:
    with c.uow() as uow:
        row = uow.session.get(MembershipRow, mid)
        assert row is not None
        uow.session.expunge(row)
        return row


def steps(c: Container, mid: str) -> list[tuple[str | None, str, str, str]]:
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(MembershipEventRow)
            .where(MembershipEventRow.membership_id == mid)
            .order_by(MembershipEventRow.id)
        )
        return [(r.from_status, r.to_status, r.action, r.actor) for r in rows]


def published_local(c: Container, clock: FixedClock, tmp: Path) -> tuple[str, Principal]:
    """A SAMR membership taken through propose → notify → decide → publish."""
    sid = company(c, tmp)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c,
        samr,
        list_type=SAMR_LIST,
        subject_id=sid,
        document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品，情节严重",
    )
    lists.notify(c, samr, mid)
    due = row_of(c, mid).objection_due
    assert due is not None
    clock.current = at_local(due + timedelta(days=1))
    lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕1号")
    lists.publish(c, samr, mid)
    return mid, samr


def test_local_lifecycle_every_step(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c,
        samr,
        list_type=SAMR_LIST,
        subject_id=sid,
        document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品，情节严重",
    )
    assert row_of(c, mid).status == "proposed"
    view = lists.notify(c, samr, mid)
    notice = view["notice"]
    assert notice["reasons"] and notice["basis"] and notice["rights"]
    due = date.fromisoformat(notice["objection_due"])
    assert due > date(2026, 11, 25) and view["objection_due"] == notice["objection_due"]
    # inside the window: no decision
    with pytest.raises(InvalidTransition, match="异议期"):
        lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕1号")
    # an objection received: no decision until answered, even after the window
    lists.register_objection(c, samr, mid, "当事人提出陈述申辩")
    clock.current = at_local(due + timedelta(days=1))
    with pytest.raises(InvalidTransition, match="陈述申辩"):
        lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕1号")
    lists.answer_objection(c, samr, mid, "经核实，申辩理由不成立")
    decided = lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕1号")
    today = due + timedelta(days=1)
    assert decided["status"] == "decided" and decided["decided_on"] == today.isoformat()
    # Three years from the decision day, that day not counted (民法典 201/202): the
    # corresponding day is the last on the list, expires_on the first day off.
    last = date(today.year + 3, today.month, today.day)
    assert decided["expires_on"] == (last + timedelta(days=1)).isoformat()
    # decided memberships are active (measures apply from the decision)
    with c.uow() as uow:
        active = lists.active_memberships(uow.session, sid, today)
    assert [(m.list_type, m.status) for m in active] == [(SAMR_LIST, MembershipStatus.decided)]
    published = lists.publish(c, samr, mid)
    assert published["status"] == "published" and published["published_on"] == today.isoformat()
    assert [(s[0], s[1], s[2]) for s in steps(c, mid)] == [
        (None, "proposed", "propose"),
        ("proposed", "noticed", "notify"),
        ("noticed", "noticed", "objection"),
        ("noticed", "noticed", "objection_answered"),
        ("noticed", "decided", "decide"),
        ("decided", "published", "publish"),
    ]
    assert all(s[3] == samr.label for s in steps(c, mid))
    # every step is a leaf of the 信用数据链
    ledger.integrate_now(c)
    with c.uow() as uow:
        refs = uow.session.scalars(
            select(LedgerLeafRow.ref).where(LedgerLeafRow.ref.like(f"{mid}/%"))
        ).all()
        types = set(
            uow.session.scalars(
                select(LedgerLeafRow.entry_type).where(LedgerLeafRow.ref.like(f"{mid}/%"))
            )
        )
    assert len(refs) == 6 and types == {"list.membership"}
    # the public list shows it with its legal basis and period
    public = lists.public_list(c, ANONYMOUS, SAMR_LIST)
    assert [e["decision_no"] for e in public["entries"]] == ["榆市监严列〔2026〕1号"]
    entry = public["entries"][0]
    assert entry["name"] == COMPANY and entry["legal_basis"] and entry["period"]["max_months"] == 36


def test_illegal_transitions_refused(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="文书1", reasons="严重违法失信"
    )
    with pytest.raises(InvalidTransition):  # proposed → published: never without notice
        lists.publish(c, samr, mid)
    with pytest.raises(InvalidTransition):  # proposed → decided: notice first
        lists.decide(c, samr, mid, decision_no="决定1")
    with pytest.raises(InvalidTransition):  # not published: withdraw, don't exit
        lists.exit_on_objection_upheld(c, samr, mid, "异议1")
    lists.notify(c, samr, mid)
    with pytest.raises(InvalidTransition):  # noticed twice
        lists.notify(c, samr, mid)
    lists.withdraw(c, samr, mid, "证据不足，撤回")
    assert row_of(c, mid).status == "withdrawn"
    with pytest.raises(InvalidTransition):  # final
        lists.notify(c, samr, mid)
    # external-only lists are never decided here
    with pytest.raises(InvalidTransition):
        lists.propose(
            c, SYSTEM, list_type="judgment_defaulter", subject_id=sid, document_no="x",
            reasons="不能在本地列入", department=SAMR,
        )  # fmt: skip
    # refused steps leave no trace: only the three steps that happened were written
    assert [s[2] for s in steps(c, mid)] == ["propose", "notify", "withdraw"]


def test_no_publication_without_prior_notice(container: Container, tmp_path: Path) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="文书1", reasons="严重违法失信"
    )
    # Even a row forced to `decided` (bypassing the workflow) is not published without notice.
    with c.uow() as uow:
        row = uow.session.get(MembershipRow, mid)
        assert row is not None
        row.status, row.decided_on, row.decision_no = "decided", date(2026, 11, 25), "决定1"
        uow.commit()
    with pytest.raises(InvalidTransition, match="未经告知不得公示"):
        lists.publish(c, samr, mid)
    assert row_of(c, mid).status == "decided"
    assert lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"] == []


def test_expiry_on_the_exact_day(container: Container, clock: FixedClock, tmp_path: Path) -> None:
    c = container
    mid, _ = published_local(c, clock, tmp_path)
    row = row_of(c, mid)
    assert row.expires_on is not None and row.subject_id
    last_day = row.expires_on - timedelta(days=1)
    clock.current = day_start(last_day).astimezone(UTC) + timedelta(hours=23, minutes=59)
    [result] = run_due(c, force=True, only="lists_expiry")
    assert result.status == "ok" and result.detail["expired"] == 0
    assert len(lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"]) == 1
    clock.current = day_start(row.expires_on).astimezone(UTC)  # 00:00 Shanghai of the day
    [result] = run_due(c, force=True, only="lists_expiry")
    assert result.detail == {"expired": 1, "as_of": row.expires_on.isoformat()}
    after = row_of(c, mid)
    assert after.status == "expired" and after.ended_on == row.expires_on
    assert after.exit_code == "period_end"
    assert steps(c, mid)[-1][:3] == ("published", "expired", "expire")
    assert lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"] == []
    with c.uow() as uow:
        assert lists.active_memberships(uow.session, row.subject_id, row.expires_on) == []
    # the sweep is idempotent
    assert run_due(c, force=True, only="lists_expiry")[0].detail["expired"] == 0


def ingest_external(c: Container, tmp: Path) -> dict[str, str]:
    """Court and tax files; returns {name: record id}."""
    court = dept(c, COURT, "MA0CRT01")
    tax = dept(c, TAX, "MA0TAX01")
    sx_rows: list[list[Any]] = [
        ["王小明", "自然人", "", PERSON_ID, "(2026)陕0802执100号", COURT,
         f"偿还借款10万元（被执行人身份证{PERSON_ID}，电话{PHONE}）", "有履行能力而拒不履行",
         "2026-11-02", ""],
        [COMPANY, "法人及非法人组织", uscc("91", "610802", "MA6L0001"), "",
         "(2026)陕0802执101号", COURT, "支付货款50万元", "违反财产报告制度",
         "2026-10-01", "2026-12-10"],
    ]  # fmt: skip
    ingest_submission(
        c, court, path=write_csv(tmp / "sx.csv", SX, sx_rows), item_code="judgment_defaulter"
    )
    yz_rows: list[list[Any]] = [
        ["李四海", "自然人", "", PERSON2_ID, "重大税收违法失信主体",
         f"偷税，联系电话{PHONE}", "榆税稽罚〔2026〕1号", "2026-11-01", "", TAX],
    ]  # fmt: skip
    ingest_submission(
        c, tax, path=write_csv(tmp / "yz.csv", YZ, yz_rows), item_code="serious_dishonesty"
    )
    with c.uow() as uow:
        recs = uow.session.execute(
            select(SubjectRow.name, RecordRow.id)
            .join(SubjectRow, SubjectRow.subject_id == RecordRow.subject_id)
            .where(RecordRow.item_code.in_(["judgment_defaulter", "serious_dishonesty"]))
        ).all()
    return {r[0]: r[1] for r in recs}


def deliver_lists(c: Container) -> int:
    return deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())


def by_record(c: Container, record_id: str) -> MembershipRow:
    with c.uow() as uow:
        row = uow.session.scalar(select(MembershipRow).where(MembershipRow.record_id == record_id))
        assert row is not None
        uow.session.expunge(row)
        return row


def test_external_memberships_from_intake(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    company(c, tmp_path)
    recs = ingest_external(c, tmp_path)
    assert deliver_lists(c) > 0
    person = by_record(c, recs["王小明"])
    assert (person.origin, person.status, person.list_type) == (
        "external",
        "published",
        "judgment_defaulter",
    )
    assert person.published_on == person.decided_on == date(2026, 11, 2)
    assert person.expires_on is None  # no SX_YCRQ: listed for as long as the court lists it
    assert person.decision_no == "(2026)陕0802执100号"
    firm = by_record(c, recs[COMPANY])
    assert firm.expires_on == date(2026, 12, 10)  # its own removal date
    tax = by_record(c, recs["李四海"])
    assert tax.list_type == "major_tax_violation" and tax.expires_on is None
    # redelivery changes nothing (at-least-once delivery)
    n_before = len(steps(c, person.id))
    with c.uow() as uow:
        sync_record(c, uow.session, recs["王小明"])
        uow.commit()
    assert len(steps(c, person.id)) == n_before == 1
    # active for the credit check
    with c.uow() as uow:
        active = lists.active_memberships(uow.session, firm.subject_id, date(2026, 12, 9))
        assert [m.list_type for m in active] == ["judgment_defaulter"]
        assert lists.active_memberships(uow.session, firm.subject_id, date(2026, 12, 10)) == []
    # removed by the court on its own date: a court release on that day
    clock.current = at_local(date(2026, 12, 11), hour=0)
    assert lists.expire_due(c)["expired"] == 1
    ended = by_record(c, recs[COMPANY])
    assert (ended.status, ended.exit_code, ended.ended_on) == (
        "exited",
        "court_release",
        date(2026, 12, 10),
    )
    assert by_record(c, recs["王小明"]).status == "published"
    # ingest steps are ledger leaves too
    ledger.integrate_now(c)
    with c.uow() as uow:
        refs = set(uow.session.scalars(select(LedgerLeafRow.ref)))
    assert f"{person.id}/1/ingest" in refs and f"{firm.id}/2/exit_court_release" in refs


def test_withdrawn_record_withdraws_membership(container: Container, tmp_path: Path) -> None:
    c = container
    company(c, tmp_path)
    recs = ingest_external(c, tmp_path)
    deliver_lists(c)
    court = department_principal(c, COURT)
    withdraw_record(c, court, recs["王小明"], "案号错误，撤销")
    deliver_lists(c)
    m = by_record(c, recs["王小明"])
    assert m.status == "withdrawn" and m.exit_reason and "案号错误" in m.exit_reason
    assert steps(c, m.id)[-1][:3] == ("published", "withdrawn", "withdraw_record")
    names = [e["name"] for e in lists.public_list(c, ANONYMOUS, "judgment_defaulter")["entries"]]
    assert names == [COMPANY]


def test_public_lists_carry_no_personal_data(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    company(c, tmp_path)
    ingest_external(c, tmp_path)
    deliver_lists(c)
    client = TestClient(create_app(c, scheduler=False))
    types = client.get("/api/v1/lists").json()["list_types"]
    jd = next(t for t in types if t["code"] == "judgment_defaulter")
    assert jd["legal_basis"] and jd["period"]["default_months"] == 24
    resp = client.get("/api/v1/lists/judgment_defaulter")
    assert resp.status_code == 200
    text = resp.text
    body = resp.json()
    assert PERSON_ID not in text and PERSON_ID[:6] + PERSON_ID[6:14] not in text
    assert PHONE not in text and "偿还借款" not in text  # a person's reasons are not published
    person = next(e for e in body["entries"] if e["decision_no"] == "(2026)陕0802执100号")
    assert person["reasons"].startswith("列入事由涉及自然人个人信息，不予公开")
    assert person["name"] == "王小明"  # judgment_defaulter: the courts' rule is `full`
    assert person["subject_id"] is None and person["uscc"] is None
    assert person["legal_basis"] and person["period"]["default_months"] == 24
    tax = client.get("/api/v1/lists/major_tax_violation")
    assert PERSON2_ID not in tax.text and PHONE not in tax.text
    [entry] = tax.json()["entries"]
    assert entry["name"] == "李**"  # surname_masked
    # a subject's public lists
    firm = next(e for e in body["entries"] if e["name"] == COMPANY)
    mine = client.get(f"/api/v1/subjects/{firm['subject_id']}/lists").json()
    assert [e["list_type"] for e in mine["lists"]] == ["judgment_defaulter"]
    assert client.get("/api/v1/lists/no_such_list").status_code == 404


def test_roles_who_may_act(container: Container, clock: FixedClock, tmp_path: Path) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    safety = dept(c, SAFETY, "MA0AQJ01")
    with pytest.raises(PermissionDenied):
        lists.propose(
            c, ANONYMOUS, list_type=SAMR_LIST, subject_id=sid, document_no="x", reasons="匿名拟列入"
        )
    with pytest.raises(PermissionDenied, match="认定部门"):  # SAMR's list, not 应急管理局's
        lists.propose(
            c, safety, list_type=SAMR_LIST, subject_id=sid, document_no="x", reasons="越权拟列入"
        )
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="文书1", reasons="严重违法失信"
    )
    with pytest.raises(HiddenDenial):  # another department's entry looks missing (G8)
        lists.notify(c, safety, mid)
    lists.notify(c, samr, mid)
    clock.current = at_local(date(2026, 12, 31))
    with pytest.raises(HiddenDenial):  # another department cannot decide
        lists.decide(c, safety, mid, decision_no="决定1")
    with pytest.raises(PermissionDenied):
        lists.get_membership(c, ANONYMOUS, mid)
    lists.decide(c, SYSTEM, mid, decision_no="决定1")  # the credit office may decide
    assert row_of(c, mid).status == "decided"
    # the credit office proposes on behalf of a department it names
    other = lists.propose(
        c, SYSTEM, list_type=SAMR_LIST, subject_id=sid, document_no="文书2",
        reasons="信用办代为拟列入", department=SAMR,
    )  # fmt: skip
    lists.notify(c, samr, other)  # the named department then owns it


def test_exit_hooks(container: Container, clock: FixedClock, tmp_path: Path) -> None:
    c = container
    mid, samr = published_local(c, clock, tmp_path)
    decided_on = row_of(c, mid).decided_on
    assert decided_on is not None
    # repair: refused before the list's minimum (12 months), allowed after
    clock.current = at_local(decided_on + timedelta(days=300))
    with pytest.raises(InvalidTransition, match="12 个月"):
        lists.exit_on_repair(c, samr, mid, "修复2026-001")
    assert row_of(c, mid).status == "published"
    # The 12 months' last day is the corresponding day (民法典 201/202): still refused then.
    last = date(decided_on.year + 1, decided_on.month, decided_on.day)
    clock.current = at_local(last)
    with pytest.raises(InvalidTransition, match="12 个月"):
        lists.exit_on_repair(c, samr, mid, "修复2026-001")
    clock.current = at_local(last + timedelta(days=1))
    out = lists.exit_on_repair(c, samr, mid, "修复2026-001")
    assert out["status"] == "exited" and out["exit_code"] == "repair"
    assert "修复2026-001" in (out["exit_reason"] or "")
    with pytest.raises(InvalidTransition):  # final
        lists.exit_on_objection_upheld(c, samr, mid, "异议1")
    assert lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"] == []


def test_exit_hooks_objection_and_court(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    mid, samr = published_local(c, clock, tmp_path)
    with pytest.raises(InvalidTransition, match="不适用"):  # SAMR's list has no court release
        lists.exit_on_court_release(c, samr, mid, "(2027)陕08行终1号")
    out = lists.exit_on_objection_upheld(c, samr, mid, "异议2026-7")
    assert out["status"] == "exited" and out["exit_code"] == "objection_upheld"
    # external judgment defaulter released by the court (the credit office records it)
    recs = ingest_external(c, tmp_path)
    deliver_lists(c)
    person = by_record(c, recs["王小明"])
    court = department_principal(c, COURT)
    with pytest.raises(HiddenDenial):  # external memberships: the credit office acts
        lists.exit_on_court_release(c, court, person.id, "(2026)陕0802执100号之一")
    out = lists.exit_on_court_release(c, SYSTEM, person.id, "(2026)陕0802执100号之一")
    assert out["status"] == "exited" and out["exit_code"] == "court_release"


def test_http_workflow_and_409(container: Container, clock: FixedClock, tmp_path: Path) -> None:
    c = container
    sid = company(c, tmp_path)
    issued = add_department(c, SYSTEM, name=SAFETY, code=uscc("11", "610800", "MA0AQJ01"))
    client = TestClient(create_app(c, scheduler=False))
    body = {"list_type": "work_safety_serious", "subject_id": sid, "document_no": "榆应急罚1号"}
    body["reasons"] = "发生较大生产安全事故，负有责任"
    assert client.post("/api/v1/memberships", json=body).status_code == 401  # anonymous
    auth = {"Authorization": f"Bearer {issued.token}"}
    created = client.post("/api/v1/memberships", json=body, headers=auth)
    assert created.status_code == 201
    mid = created.json()["id"]
    refused = client.post(f"/api/v1/memberships/{mid}/publish", headers=auth)
    assert refused.status_code == 409 and refused.json()["error"] == "invalid_transition"
    noticed = client.post(f"/api/v1/memberships/{mid}/notify", headers=auth)
    assert noticed.status_code == 200 and noticed.json()["status"] == "noticed"
    early = client.post(
        f"/api/v1/memberships/{mid}/decide", json={"decision_no": "D1"}, headers=auth
    )
    assert early.status_code == 409
    clock.current = at_local(date(2026, 12, 31))
    decided = client.post(
        f"/api/v1/memberships/{mid}/decide", json={"decision_no": "D1"}, headers=auth
    )
    assert decided.status_code == 200 and decided.json()["status"] == "decided"
    published = client.post(f"/api/v1/memberships/{mid}/publish", headers=auth)
    assert published.status_code == 200
    entries = client.get("/api/v1/lists/work_safety_serious").json()["entries"]
    assert [e["decision_no"] for e in entries] == ["D1"]
    events = client.get(f"/api/v1/memberships/{mid}", headers=auth).json()["events"]
    assert [e["to"] for e in events] == ["proposed", "noticed", "decided", "published"]


def test_portal_list_pages(
    container: Container, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """信用名单 in the portal: the list types, each list (masked, paged), a subject's lists."""
    from citycredit.web import pages

    c = container
    company(c, tmp_path)
    ingest_external(c, tmp_path)
    deliver_lists(c)
    client = TestClient(create_app(c, scheduler=False))
    home = client.get("/lists")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert '<a href="/lists/judgment_defaulter">失信被执行人</a>' in home.text
    assert "守信激励对象名单（红名单）" in home.text and "法释〔2017〕7号" in home.text
    page = client.get("/lists/judgment_defaulter")
    assert page.status_code == 200
    firm = next(
        e
        for e in client.get("/api/v1/lists/judgment_defaulter").json()["entries"]
        if e["name"] == COMPANY
    )
    assert f'<a href="/subjects/{firm["subject_id"]}">{COMPANY}</a>' in page.text
    assert "王小明" in page.text and "(2026)陕0802执100号" in page.text  # the courts' rule: full
    assert PERSON_ID not in page.text and PHONE not in page.text and "偿还借款" not in page.text
    tax = client.get("/lists/major_tax_violation")
    assert "李**" in tax.text and "李四海" not in tax.text and PERSON2_ID not in tax.text
    # the company's archive page names its list, with the decision and the basis
    archive = client.get(f"/subjects/{firm['subject_id']}")
    assert archive.status_code == 200
    section = archive.text.split('<section class="memberships">', 1)[1].split("</section>", 1)[0]
    assert '<a href="/lists/judgment_defaulter">失信被执行人</a>' in section
    # 公示截止 is the last day listed: the day before the court's 移出日期 (SX_YCRQ 2026-12-10)
    assert "(2026)陕0802执101号" in section and "<dd>2026-12-09</dd>" in section
    assert "2026-12-10" not in section
    # one entry a page: page 1 links on, page 2 back, past the end a plain sentence
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    first = client.get("/lists/judgment_defaulter")
    second = client.get("/lists/judgment_defaulter", params={"page": 2})
    assert 'href="?page=2"' in first.text and 'href="?page=1"' in second.text
    assert 'href="?page=3"' not in second.text
    names = {n for n in ("王小明", COMPANY) if n in first.text} | {
        n for n in ("王小明", COMPANY) if n in second.text
    }
    assert names == {"王小明", COMPANY}
    assert "本页没有更多名单信息" in client.get("/lists/judgment_defaulter?page=3").text
    # errors on pages are pages; the API keeps its JSON
    missing = client.get("/lists/no_such_list")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "没有名单类型 &#39;no_such_list&#39;" in missing.text  # the service's message
    assert "失信被执行人（judgment_defaulter）" in missing.text  # the lists by name
    bad = client.get("/lists/judgment_defaulter", params={"page": "x"})
    assert bad.status_code == 422 and "参数 page 的值「x」无效" in bad.text
    nowhere = client.get("/no/such/page")
    assert nowhere.status_code == 404 and "没有这个页面" in nowhere.text
    api = client.get("/api/v1/lists/no_such_list")
    assert api.status_code == 404 and api.json()["error"]
    assert client.get("/api/v1/no/such/route").json()["error"] == "route_not_found"
