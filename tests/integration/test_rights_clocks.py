"""The legal clocks of objections and repairs: each late clock is escalated once (a case late in
its acceptance and later in its decision is escalated twice), the repair result's 3-working-day
sync to the province turns overdue and is escalated, every clock says whether its year's holiday
arrangement is confirmed, and the credit office routes (督办) an open objection over HTTP."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_objections import file, office, setup_record
from test_repairs import CLERK, apply, setup

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.rights import objections as obj
from citycredit.rights import repairs
from citycredit.rights.db import CaseStepRow, NoticeRow
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.clock import FixedClock
from citycredit.web.app import create_app
from support import SAMR

pytestmark = pytest.mark.db


def escalations(c: Container, case_type: str, case_id: str) -> list[str | None]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(CaseStepRow.from_status)
                .where(
                    CaseStepRow.case_type == case_type,
                    CaseStepRow.case_id == case_id,
                    CaseStepRow.action == "escalate",
                )
                .order_by(CaseStepRow.id)
            )
        )


def test_objection_late_twice_is_escalated_twice(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    _, rid = setup_record(c, tmp_path)
    clerk = office(c)
    v = file(c, clerk, rid)  # Wed 2026-11-25: accept by Fri 11-27
    clock.advance(days=5)  # Mon 11-30: acceptance late
    assert obj.escalate_overdue(c)["ids"] == [v["id"]]
    v = obj.accept(c, clerk, v["id"])  # verification due Mon 12-14
    assert obj.escalate_overdue(c)["escalated"] == 0  # accepted: nothing late now
    clock.advance(days=14)  # Mon 12-14: on time
    assert obj.escalate_overdue(c)["escalated"] == 0
    clock.advance(days=1)  # Tue 12-15: verification late
    assert obj.escalate_overdue(c) == {"escalated": 1, "ids": [v["id"]]}
    assert obj.escalate_overdue(c)["escalated"] == 0  # once per clock
    assert escalations(c, "objection", v["id"]) == ["submitted", "accepted"]
    late = obj.list_objections(c, clerk, overdue=True)
    assert "超过核查期限" in late[0]["overdue"]
    with c.uow() as uow:
        bodies = uow.session.scalars(
            select(NoticeRow.title).where(NoticeRow.topic == "objection.overdue")
        ).all()
    assert len(bodies) == 2


def test_repair_sync_to_the_province_turns_overdue(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    _, rid = setup(c, tmp_path)
    v = apply(c, rid)
    repairs.accept(c, CLERK, v["id"])
    samr = department_principal(c, SAMR)
    v = repairs.decide(c, samr, v["id"], approve=True, reason="已履行法定义务")  # Wed 11-25
    sync = next(k for k in v["clocks"] if k["code"] == "sync_within")
    assert sync["due"] == "2026-11-30" and sync["state"] == "running"
    assert sync["remaining_working_days"] == 3 and sync["calendar_confirmed"] is True
    clock.advance(days=5)  # Mon 11-30: still on time
    assert repairs.escalate_overdue(c)["escalated"] == 0
    assert repairs.list_repairs(c, CLERK, overdue=True) == []
    clock.advance(days=1)  # Tue 12-01: the decision has not reached the province
    late = repairs.list_repairs(c, CLERK, overdue=True)
    assert [r["id"] for r in late] == [v["id"]] and "共享期限" in late[0]["overdue"]
    assert repairs.escalate_overdue(c) == {"escalated": 1, "ids": [v["id"]]}
    assert repairs.escalate_overdue(c)["escalated"] == 0
    repairs.export_decisions(c, CLERK, tmp_path / "out")
    v = repairs.get_repair(c, CLERK, v["id"])
    sync = next(k for k in v["clocks"] if k["code"] == "sync_within")
    assert sync["state"] == "done" and sync["met"] is False and v["overdue"] is None
    assert repairs.list_repairs(c, CLERK, overdue=True) == []


def test_objection_clock_in_a_year_without_a_holiday_notice_says_so(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    # chinesecalendar and the packaged data end with 2026: a clock due in 2027 is counted
    # Monday to Friday and flagged.
    assert c.calendar.day(date(2027, 1, 4)).confirmed is False
    _, rid = setup_record(c, tmp_path)
    clock.current = datetime(2026, 12, 30, 10, tzinfo=SHANGHAI)  # Wed
    v = file(c, office(c), rid)  # 2 working days: Thu 12-31 (confirmed), Mon 2027-01-04
    accept = v["clocks"][0]
    assert accept["due"] == "2027-01-04" and accept["calendar_confirmed"] is False
    clock.current = datetime(2026, 12, 31, 10, tzinfo=SHANGHAI)
    assert obj.get_objection(c, office(c), v["id"])["clocks"][0]["remaining_working_days"] == 1


def test_repair_clocks_in_a_year_without_a_holiday_notice_say_so(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    _, rid = setup(c, tmp_path)
    clock.current = datetime(2026, 12, 30, 10, tzinfo=SHANGHAI)
    v = apply(c, rid)
    accept = v["clocks"][0]
    assert accept["due"].startswith("2027-") and accept["calendar_confirmed"] is False
    assert accept["remaining_working_days"] == 3
    clock.current = datetime(2026, 11, 30, 10, tzinfo=SHANGHAI)
    assert repairs.get_repair(c, CLERK, v["id"])["clocks"][0]["calendar_confirmed"] is False


def test_the_credit_office_routes_an_open_objection(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = setup_record(c, tmp_path)
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
    oid = file(c, office(c), rid)["id"]
    h_admin = {"Authorization": f"Bearer {admin.token}"}
    h_dept = {"Authorization": f"Bearer {dept.token}"}
    with TestClient(create_app(c, scheduler=False)) as client:
        url = f"/api/v1/objections/{oid}/route"
        assert client.post(url, headers=h_dept, json={"note": "请核查"}).status_code == 403
        r = client.post(url, headers=h_admin, json={"note": ""})
        assert r.status_code == 422 and r.json()["field"] == "note"
        r = client.post(url, headers=h_admin, json={"note": "请于期限内核查并反馈"})
        assert r.status_code == 200 and r.json()["status"]["code"] == "submitted"
        box = client.get("/api/v1/inbox", headers=h_dept).json()
        routed = [n for n in box["items"] if n["topic"] == "objection.route"]
        assert routed and "请于期限内核查并反馈" in routed[0]["body"]
        assert "受理后起算" in routed[0]["body"]
        client.post(f"/api/v1/objections/{oid}/accept", headers=h_admin, json={})
        r = client.post(
            f"/api/v1/objections/{oid}/decide",
            headers=h_dept,
            json={"outcome": "kept", "reason": "经核实信息无误"},
        )
        assert r.status_code == 200
        r = client.post(url, headers=h_admin, json={"note": "再次督办"})
        assert r.status_code == 409 and r.json()["error"] == "objection_closed"
