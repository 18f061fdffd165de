"""名单 fixes: 经营异常名录 memberships, serious lists end red ones, no incentive beside a
punishment, court removals and re-listing, formal objections hold decisions, one entry per
decision, persons' reasons, field errors and totals, dated exits over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.checks import service as checks
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.outbox import deliver
from citycredit.lists import (
    Facts,
    Grade,
    Membership,
    MembershipStatus,
    Origin,
    credit_check,
    default_lists,
)
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipRow
from citycredit.rights import objections
from citycredit.shared.calendar import day_start
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError, InvalidTransition
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS,
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

AUTH = uscc("11", "610800", "MA0CAMR1")
COURT = "榆林市中级人民法院"
NDRC = "榆林市发展和改革委员会"
SAMR_LIST = "market_supervision_serious"
COMPANY = "榆阳区诚信商贸有限公司"
COMPANY_USCC = uscc("91", "610802", "MA6L0001")
SX = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_ZJHM", "SX_AH", "SX_ZXFY", "SX_YW", "SX_SXQX"]
SX += ["SX_FBRQ", "SX_YCRQ"]
YZ = ["YZ_MC", "YZ_LB", "YZ_SHXYM", "YZ_ZJHM", "YZ_MDLX", "YZ_LRYY", "YZ_RDWH", "YZ_LRRQ"]
YZ += ["YZ_YCRQ", "YZ_RDJG"]
YC = ["YC_MC", "YC_SHXYM", "YC_LRYY", "YC_LRRQ", "YC_LRJG", "YC_YCRQ"]
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")


def at_local(day: date, hour: int = 10) -> datetime:
    return (day_start(day) + timedelta(hours=hour)).astimezone(UTC)


def company(c: Container, tmp: Path) -> str:
    """A company known to the registry (through a SAMR penalty), its subject id."""
    samr = department(c)
    row = [COMPANY, "法人及非法人组织", COMPANY_USCC, "榆市监罚〔2026〕1号"]
    row += ["x", "x", "x", "罚款", "罚款2万元", "2", "2026-11-02", SAMR, AUTH, SAMR, AUTH]
    ingest_submission(
        c, samr, path=write_csv(tmp / "penalty.csv", PENALTY_COLUMNS, [row]), item_code="penalty"
    )
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.name == COMPANY))
    assert sid is not None
    return sid


def dept(c: Container, name: str, body8: str) -> Principal:
    add_department(c, SYSTEM, name=name, code=uscc("11", "610800", body8))
    return department_principal(c, name)


def deliver_lists(c: Container) -> None:
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())


def memberships(c: Container, sid: str) -> list[MembershipRow]:
    with c.uow() as uow:
        rows = list(
            uow.session.scalars(
                select(MembershipRow)
                .where(MembershipRow.subject_id == sid)
                .order_by(MembershipRow.created_at, MembershipRow.id)
            )
        )
        for r in rows:
            uow.session.expunge(r)
        return rows


def row_of(c: Container, mid: str) -> MembershipRow:
    with c.uow() as uow:
        row = uow.session.get(MembershipRow, mid)
        assert row is not None
        uow.session.expunge(row)
        return row


def take_through(
    c: Container, clock: FixedClock, actor: Principal, mid: str, decision_no: str
) -> None:
    """notify → (after the window) decide → publish."""
    lists.notify(c, actor, mid)
    due = row_of(c, mid).objection_due
    assert due is not None
    if clock.current < at_local(due + timedelta(days=1)):
        clock.current = at_local(due + timedelta(days=1))
    lists.decide(c, actor, mid, decision_no=decision_no)
    lists.publish(c, actor, mid)


def published_red(c: Container, clock: FixedClock, sid: str) -> tuple[str, Principal]:
    ndrc = dept(c, NDRC, "MA0FGW01")
    mid = lists.propose(
        c, ndrc, list_type="red_list", subject_id=sid, document_no="榆发改〔2026〕1号",
        reasons="守信典型企业评选",
    )  # fmt: skip
    take_through(c, clock, ndrc, mid, "榆发改信〔2026〕2号")
    return mid, ndrc


def court_file(c: Container, tmp: Path, name: str, removed: str, listed: str) -> None:
    court = department_principal(c, COURT)
    row = [COMPANY, "法人及非法人组织", COMPANY_USCC, "", "(2026)陕0802执201号", COURT,
           "支付货款50万元", "有履行能力而拒不履行", listed, removed]  # fmt: skip
    ingest_submission(
        c, court, path=write_csv(tmp / name, SX, [row]), item_code="judgment_defaulter"
    )
    deliver_lists(c)


# ---- 1. 经营异常名录 ---------------------------------------------------------------------------


@pytest.mark.db
def test_abnormal_operation_records_are_list_entries(container: Container, tmp_path: Path) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    row = [COMPANY, COMPANY_USCC, "未按期公示年度报告", "2026-07-01", SAMR, ""]
    path = write_csv(tmp_path / "yc.csv", YC, [row])
    ingest_submission(c, samr, path=path, item_code="abnormal_operation")
    deliver_lists(c)
    [m] = memberships(c, sid)
    assert (m.list_type, m.origin, m.status, m.decision_no) == (
        "abnormal_operation",
        "external",
        "published",
        None,
    )
    assert m.published_on == date(2026, 7, 1) and m.expires_on is None
    [entry] = lists.public_list(c, ANONYMOUS, "abnormal_operation")["entries"]
    assert entry["name"] == COMPANY and entry["reasons"] == "未按期公示年度报告"
    road = checks.run_check(c, SYSTEM, subject_id=sid, matter="road_transport_licence")
    assert not road["fast_approval"]["eligible"]
    assert "存在有效名单记录：经营异常名录" in road["fast_approval"]["reasons"]
    bidding = checks.run_check(c, SYSTEM, subject_id=sid, matter="public_bidding_check")
    assert "market_supervision_restrictions" in [x["code"] for x in bidding["measures"]]
    # SAMR removes it (YC_YCRQ): off the list on that day, by the list's own exit
    row[-1] = "2026-11-20"
    ingest_submission(
        c, samr, path=write_csv(tmp_path / "yc2.csv", YC, [row]), item_code="abnormal_operation"
    )
    deliver_lists(c)
    [m] = memberships(c, sid)
    assert (m.status, m.exit_code, m.ended_on) == (
        "exited",
        "performance_completed",
        date(2026, 11, 20),
    )
    assert lists.public_list(c, ANONYMOUS, "abnormal_operation")["entries"] == []


# ---- 2. a serious list ends red ones ------------------------------------------------------


@pytest.mark.db
def test_court_listing_ends_red_entry_and_red_proposals_are_refused(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    red_id, ndrc = published_red(c, clock, sid)
    before = lists.public_subject_lists(c, ANONYMOUS, sid)
    assert [e["list_type"] for e in before["lists"]] == ["red_list"]
    assert before["measures"] and {m["kind"] for m in before["measures"]} == {"incentive"}
    assert all(m["triggered_by"] == ["red_list"] for m in before["measures"])
    dept(c, COURT, "MA0CRT01")
    court_file(c, tmp_path, "sx.csv", "", clock.current.date().isoformat())
    red = row_of(c, red_id)
    assert (red.status, red.exit_code) == ("exited", "decision_revoked")
    assert red.exit_reason and "失信被执行人" in red.exit_reason
    assert lists.public_list(c, ANONYMOUS, "red_list")["entries"] == []
    # the overview names the measures the listing triggers, those tied to no approval matter
    # (限制高消费) included — a credit check of a matter never shows them
    after = {m["code"]: m for m in lists.public_subject_lists(c, ANONYMOUS, sid)["measures"]}
    high = after["restrict_high_consumption"]
    assert (high["matter_scope"], high["kind"], high["triggered_by"]) == (
        "none",
        "punishment",
        ["judgment_defaulter"],
    )
    assert high["legal_basis"] and high["department"]
    assert not any(m["kind"] == "incentive" for m in after.values())  # the red entry ended
    bidding = checks.run_check(c, SYSTEM, subject_id=sid, matter="public_bidding_check")
    assert "restrict_high_consumption" not in [m["code"] for m in bidding["measures"]]
    page = TestClient(create_app(c, scheduler=False)).get(f"/subjects/{sid}").text
    assert "联合奖惩措施" in page and "限制高消费" in page and "不限审批事项" in page
    with pytest.raises(FieldError) as refused:
        lists.propose(
            c, ndrc, list_type="red_list", subject_id=sid, document_no="榆发改〔2026〕9号",
            reasons="再次评为守信典型",
        )  # fmt: skip
    assert (refused.value.field, refused.value.value) == ("subject_id", sid)
    assert refused.value.code == "on_serious_list" and "失信被执行人" in refused.value.message


@pytest.mark.db
def test_local_serious_decision_ends_red_entry(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    red_id, _ = published_red(c, clock, sid)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品，情节严重",
    )  # fmt: skip
    lists.notify(c, samr, mid)
    assert row_of(c, red_id).status == "published"  # a proposal is not a listing
    due = row_of(c, mid).objection_due
    assert due is not None
    clock.current = at_local(due + timedelta(days=1))
    lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕1号")
    red = row_of(c, red_id)
    assert (red.status, red.exit_code, red.ended_on) == (
        "exited",
        "decision_revoked",
        due + timedelta(days=1),
    )


# ---- 3. no incentive beside a punishment --------------------------------------------------


def _member(list_type: str) -> Membership:
    return Membership(
        list_type, "s1", Origin.local, MembershipStatus.published, decision_no="x",
        decided_on=date(2026, 1, 1), published_on=date(2026, 1, 2), expires_on=date(2028, 1, 1),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("grade", "extra"),
    [(Grade.D, ()), (Grade.C, ()), (Grade.A, ("abnormal_operation",))],
)
def test_checks_never_return_incentives_beside_punishments(
    grade: Grade, extra: tuple[str, ...]
) -> None:
    catalog = default_lists()
    held = (_member("red_list"), *(_member(x) for x in extra))
    for matter in catalog.matters.values():
        found = credit_check(matter, Facts(date(2026, 6, 1), grade, held), catalog.measures)
        kinds = {m.kind.value for m in found.measures}
        assert "incentive" not in kinds, (matter.code, [m.code for m in found.measures])
    food = catalog.matter("food_business_licence")
    codes = [m.code for m in credit_check(food, Facts(date(2026, 6, 1), Grade.D, held),
                                          catalog.measures).measures]  # fmt: skip
    assert "no_tolerant_acceptance" in codes and "tolerant_acceptance_priority" not in codes
    # a red list with a good grade still earns incentives
    good = credit_check(food, Facts(date(2026, 6, 1), Grade.A, (_member("red_list"),)),
                        catalog.measures)  # fmt: skip
    assert "tolerant_acceptance_priority" in [m.code for m in good.measures]


# ---- 4. court removals and re-listing -----------------------------------------------------


@pytest.mark.db
def test_court_listing_lasts_until_the_court_removes_it(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    dept(c, COURT, "MA0CRT01")
    court_file(c, tmp_path, "sx.csv", "", "2026-06-01")
    [m] = memberships(c, sid)
    assert m.status == "published" and m.expires_on is None  # no SX_YCRQ: still listed
    with c.uow() as uow:  # as stored before: the list's 24-month default as its end
        stored = uow.session.get(MembershipRow, m.id)
        assert stored is not None
        stored.expires_on = date(2028, 6, 1)
        uow.commit()
    clock.current = at_local(date(2029, 1, 10))  # past any default period
    assert lists.expire_due(c)["expired"] == 0
    assert row_of(c, m.id).expires_on is None  # the court's record decides
    with c.uow() as uow:
        active = lists.active_memberships(uow.session, sid, date(2029, 1, 10))
    assert [x.list_type for x in active] == ["judgment_defaulter"]
    # the court removes it on 2029-01-05: a court release on that day, not a period end
    court_file(c, tmp_path, "sx2.csv", "2029-01-05", "2026-06-01")
    [m] = memberships(c, sid)
    assert (m.status, m.exit_code, m.ended_on) == ("exited", "court_release", date(2029, 1, 5))
    # the court corrects the removal away: listed again
    court_file(c, tmp_path, "sx3.csv", "", "2026-06-01")
    old, new = memberships(c, sid)
    assert old.id == m.id and old.status == "exited"
    assert (new.status, new.origin, new.expires_on) == ("published", "external", None)
    assert [e["list_type"] for e in lists.public_subject_lists(c, ANONYMOUS, sid)["lists"]] == [
        "judgment_defaulter"
    ]


@pytest.mark.db
def test_future_court_removal_is_swept_on_its_day(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    dept(c, COURT, "MA0CRT01")
    court_file(c, tmp_path, "sx.csv", "2026-12-10", "2026-06-01")
    clock.current = at_local(date(2026, 12, 20))  # the sweep runs late
    assert lists.expire_due(c)["expired"] == 1
    [m] = memberships(c, sid)
    assert (m.status, m.exit_code, m.ended_on) == ("exited", "court_release", date(2026, 12, 10))


# ---- 5. formal objections hold the decision -----------------------------------------------


@pytest.mark.db
def test_no_decision_while_a_formal_objection_is_open(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="D1",
        reasons="销售不合格食品，情节严重",
    )  # fmt: skip
    lists.notify(c, samr, mid)
    filed = objections.file_objection(
        c, CLERK, target_type="membership", target_id=mid, ground="wrong", reasons="事实认定错误"
    )
    lists.answer_objection(c, samr, mid, "已答复")  # the department's own flag cleared
    clock.current = at_local(date(2026, 12, 31))
    with pytest.raises(InvalidTransition, match=filed["id"]):
        lists.decide(c, samr, mid, decision_no="决定1")
    assert row_of(c, mid).status == "noticed"
    objections.reject(c, CLERK, filed["id"], "不属于异议受理范围")
    assert lists.decide(c, samr, mid, decision_no="决定1")["status"] == "decided"


# ---- 6. one entry per decision ------------------------------------------------------------


def _feed_copy(c: Container, tmp: Path, decision_no: str, decided_on: date) -> None:
    samr = department_principal(c, SAMR)
    row = [COMPANY, "法人及非法人组织", COMPANY_USCC, "", "市场监管领域严重违法失信名单",
           "销售不合格食品", decision_no, decided_on.isoformat(), "", SAMR]  # fmt: skip
    ingest_submission(
        c, samr, path=write_csv(tmp / "yz.csv", YZ, [row]), item_code="serious_dishonesty"
    )
    deliver_lists(c)


@pytest.mark.db
def test_local_decision_coming_back_from_the_feed_is_one_entry(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品，情节严重",
    )  # fmt: skip
    take_through(c, clock, samr, mid, "榆市监严列〔2026〕1号")
    _feed_copy(c, tmp_path, "榆市监严列（2026）1号", row_of(c, mid).decided_on or date(2026, 12, 1))
    public = lists.public_list(c, ANONYMOUS, SAMR_LIST)
    assert [(e["origin"], e["decision_no"]) for e in public["entries"]] == [
        ("local", "榆市监严列〔2026〕1号")
    ]
    lists.exit_on_objection_upheld(c, samr, mid, "异议成立")
    res = checks.run_check(c, samr, subject_id=sid, matter="food_business_licence")
    assert res["memberships"] == [] and res["measures"] == []
    assert lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"] == []


@pytest.mark.db
def test_feed_copy_first_steps_aside_when_the_local_decision_is_published(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="榆市监罚〔2026〕1号",
        reasons="销售不合格食品，情节严重",
    )  # fmt: skip
    _feed_copy(c, tmp_path, "榆市监严列〔2026〕1号", date(2026, 11, 20))
    take_through(c, clock, samr, mid, "榆市监严列〔2026〕1号")
    by_origin = {m.origin: m for m in memberships(c, sid)}
    assert by_origin["local"].status == "published"
    assert by_origin["external"].status == "withdrawn"
    assert mid in (by_origin["external"].exit_reason or "")
    assert len(lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"]) == 1


# ---- 7. persons' reasons ------------------------------------------------------------------


@pytest.mark.db
def test_public_reasons_of_a_person_carry_no_name_or_address(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID, CF_XDR_MC="张三丰", CF_XDR_LB="自然人",
        CF_XDR_ZJHM=id_number("610802", "19800304", "123"), CF_WSH="榆市监罚〔2026〕7号",
    )  # fmt: skip
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, [row])
    ingest_submission(c, samr, path=path, item_code="penalty")
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.name == "张三丰"))
    assert sid is not None
    mid = lists.propose(
        c, samr, list_type=SAMR_LIST, subject_id=sid, document_no="榆市监罚〔2026〕7号",
        reasons="张三丰（住榆阳区人民路1号）销售假药，情节严重",
    )  # fmt: skip
    take_through(c, clock, samr, mid, "榆市监严列〔2026〕7号")
    client = TestClient(create_app(c, scheduler=False))
    for url in (f"/api/v1/lists/{SAMR_LIST}", f"/api/v1/subjects/{sid}/lists"):
        text = client.get(url).text
        assert "张三丰" not in text and "人民路" not in text, url
    [entry] = lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"]
    assert entry["name"] == "张**" and "榆市监严列〔2026〕7号" in entry["reasons"]
    res = checks.run_check(c, samr, subject_id=sid, matter="food_business_licence")
    assert "张三丰" not in str(res["memberships"])
    # organisations keep their reasons
    assert lists.public_list(c, ANONYMOUS, SAMR_LIST)["count"] == 1


# ---- 8. field errors and totals -----------------------------------------------------------


@pytest.mark.db
def test_http_field_errors_and_public_list_total(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    issued = add_department(
        c, SYSTEM, name="榆林市应急管理局", code=uscc("11", "610800", "MA0AQJ01")
    )
    auth = {"Authorization": f"Bearer {issued.token}"}
    client = TestClient(create_app(c, scheduler=False))
    body: dict[str, Any] = {"list_type": "no_such", "subject_id": sid, "document_no": "D"}
    body["reasons"] = "事实和理由充分"
    r = client.post("/api/v1/memberships", json=body, headers=auth)
    assert r.status_code == 422 and (r.json()["field"], r.json()["value"]) == (
        "list_type",
        "no_such",
    )
    body |= {"list_type": "work_safety_serious", "subject_id": "snope"}
    r = client.post("/api/v1/memberships", json=body, headers=auth)
    assert r.status_code == 422 and (r.json()["field"], r.json()["value"]) == (
        "subject_id",
        "snope",
    )
    # coal_mine_safety_licence: a matter 应急管理局 may check (matters.yaml checked_by)
    r = client.post(
        "/api/v1/checks", json={"subject_id": "snope", "matter": "coal_mine_safety_licence"},
        headers=auth,
    )  # fmt: skip
    assert r.status_code == 422 and (r.json()["field"], r.json()["value"]) == (
        "subject_id",
        "snope",
    )
    # two court entries, a page of one: count is the list's total
    dept(c, COURT, "MA0CRT01")
    court = department_principal(c, COURT)
    rows = [
        [COMPANY, "法人及非法人组织", COMPANY_USCC, "", f"(2026)陕0802执20{i}号", COURT,
         "支付货款", "违反财产报告制度", "2026-06-0" + str(i + 1), ""]
        for i in range(2)
    ]  # fmt: skip
    ingest_submission(
        c, court, path=write_csv(tmp_path / "sx.csv", SX, rows), item_code="judgment_defaulter"
    )
    deliver_lists(c)
    page = client.get("/api/v1/lists/judgment_defaulter?limit=1").json()
    assert len(page["entries"]) == 1 and page["count"] == page["total"] == 2


# ---- 9. dated exits over HTTP -------------------------------------------------------------


@pytest.mark.db
def test_http_decision_revoked_and_performance_completed(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    issued = add_department(
        c, SYSTEM, name="榆林市应急管理局", code=uscc("11", "610800", "MA0AQJ01")
    )
    auth = {"Authorization": f"Bearer {issued.token}"}
    office = add_user(c, SYSTEM, username="office1", display_name="信用办",
                      role=Role.credit_office_admin)  # fmt: skip
    client = TestClient(create_app(c, scheduler=False))
    body = {"list_type": "work_safety_serious", "subject_id": sid, "document_no": "榆应急罚1号",
            "reasons": "发生较大生产安全事故，负有责任"}  # fmt: skip
    mid = client.post("/api/v1/memberships", json=body, headers=auth).json()["id"]
    client.post(f"/api/v1/memberships/{mid}/notify", headers=auth)
    clock.current = at_local(date(2026, 12, 31))
    client.post(f"/api/v1/memberships/{mid}/decide", json={"decision_no": "D1"}, headers=auth)
    client.post(f"/api/v1/memberships/{mid}/publish", headers=auth)
    clock.current = at_local(date(2027, 3, 1))
    exit_url = f"/api/v1/memberships/{mid}/exit"
    ref = "(2027)陕08行终1号"
    no_reason = client.post(
        exit_url, json={"exit_code": "decision_revoked", "ref": ref}, headers=auth
    )
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    future = {
        "exit_code": "decision_revoked",
        "ref": ref,
        "reason": "判决撤销列入决定",
        "on": "2027-03-02",
    }
    assert client.post(exit_url, json=future, headers=auth).status_code == 422
    ok = client.post(exit_url, json={**future, "on": "2027-02-20"}, headers=auth)
    assert ok.status_code == 200
    got = ok.json()
    assert (got["status"], got["exit_code"], got["ended_on"]) == (
        "exited",
        "decision_revoked",
        "2027-02-20",
    )
    assert ref in got["exit_reason"] and "判决撤销列入决定" in got["exit_reason"]
    # an external court entry: performance completed, recorded by the credit office
    dept(c, COURT, "MA0CRT01")
    court_file(c, tmp_path, "sx.csv", "", "2026-06-01")
    with c.uow() as uow:
        jd = uow.session.scalar(
            select(MembershipRow.id).where(MembershipRow.list_type == "judgment_defaulter")
        )
        assert uow.session.scalar(select(RecordRow.id)) is not None
    done = {"exit_code": "performance_completed", "ref": "(2026)陕0802执201号之一",
            "reason": "被执行人已履行全部义务", "on": "2027-02-28"}  # fmt: skip
    # a department's staff: the external entry is none of its own, answered as missing (G8)
    assert client.post(f"/api/v1/memberships/{jd}/exit", json=done, headers=auth).status_code == 404
    out = client.post(
        f"/api/v1/memberships/{jd}/exit", json=done,
        headers={"Authorization": f"Bearer {office.token}"},
    )  # fmt: skip
    assert out.status_code == 200 and out.json()["exit_code"] == "performance_completed"
    assert out.json()["ended_on"] == "2027-02-28"
