"""Who may check which matter, over HTTP on both databases (matters.yaml `checked_by`).

POST /api/v1/checks refuses a department's check of a matter it may not check with 403 and a
Chinese message naming the matter and the department; nothing is stored, logged or emitted, and
the refusal is in the operator audit trail. The feedback and read routes of a check answer only
to the department that made it (and the credit office).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.checks.db import CheckFeedbackRow, CreditCheckRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel import outbox
from citycredit.kernel.db import DisclosureRow, OutboxEventRow
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import SAMR, department, uscc, write_csv

pytestmark = pytest.mark.db

COURT = "榆林市中级人民法院"
TRANSPORT = "榆林市交通运输局"
EDUCATION = "榆林市教育局"
HRSS = "榆林市人力资源和社会保障局"
FINANCE = "榆林市财政局"
LISTED = uscc("91", "610802", "MA6AUH01")
DEFAULTER = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_AH", "SX_ZXFY", "SX_FBRQ", "SX_SXQX"]


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    c = container
    court = department(c, COURT, "MA0CRT01")
    row = [
        "榆阳区核查接口商贸有限公司",
        "法人及非法人组织",
        LISTED,
        "（2026）陕0802执301号",
        COURT,
        "2026-10-01",
        "有履行能力而拒不履行生效法律文书确定义务",
    ]
    ingest_submission(
        c,
        court,
        path=write_csv(tmp_path / "sx.csv", DEFAULTER, [row]),
        item_code="judgment_defaulter",
    )
    outbox.deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == LISTED))
    tokens = {
        who: add_department(c, SYSTEM, name=name, code=uscc("11", "610800", body)).token
        for who, name, body in (
            ("samr", SAMR, "MA0CAMR1"),
            ("transport", TRANSPORT, "MA0TRN01"),
            ("education", EDUCATION, "MA0EDU01"),
            ("hrss", HRSS, "MA0HRM01"),
            ("finance", FINANCE, "MA0CJJ01"),
        )
    }
    tokens["office"] = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    ).token
    with TestClient(create_app(c, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "sid": sid, "c": c}


def post(w: dict[str, Any], who: str, matter: str, **extra: Any) -> Any:
    return w["client"].post(
        "/api/v1/checks",
        json={"subject_id": w["sid"], "matter": matter, **extra},
        headers={"Authorization": f"Bearer {w['tokens'][who]}"},
    )


def counts(c: Container) -> tuple[int, ...]:
    with c.uow() as uow:
        s = uow.session
        return tuple(
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (CreditCheckRow, DisclosureRow, OutboxEventRow, CheckFeedbackRow)
        )


def trail(c: Container, path: str) -> list[tuple[str, int, str]]:
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(AuditEventRow).where(AuditEventRow.path == path).order_by(AuditEventRow.id)
        )
        return [(e.result, e.status_code or 0, e.actor_role) for e in rows]


def test_own_listed_and_any_department_matters_are_checked(world: dict[str, Any]) -> None:
    own = post(world, "samr", "food_business_licence")
    assert own.status_code == 200, own.text
    assert own.json()["department"] == SAMR
    for who, name in (("education", EDUCATION), ("hrss", HRSS)):  # checked_by: [教育局, 人社局]
        r = post(world, who, "private_school_licence")
        assert r.status_code == 200 and r.json()["department"] == name
    for who in ("samr", "transport", "education", "hrss", "finance"):  # any_department
        r = post(world, who, "public_bidding_check")
        assert r.status_code == 200, (who, r.text)
    assert counts(world["c"])[0] == 8


def test_a_foreign_matter_is_refused_stores_nothing_and_is_audited(
    world: dict[str, Any],
) -> None:
    c = world["c"]
    before = counts(c)
    r = post(world, "transport", "food_business_licence")
    assert r.status_code == 403
    body = r.json()
    assert body["error"] == "matter_not_for_department"
    assert "食品经营许可" in body["message"] and TRANSPORT in body["message"]
    assert SAMR in body["message"]  # who may check it
    # Naming its own department does not help; the listed matter refuses the others.
    assert (
        post(world, "transport", "food_business_licence", department=TRANSPORT).status_code == 403
    )
    assert post(world, "samr", "private_school_licence").status_code == 403
    assert counts(c) == before  # no check, no disclosure-log row, no outbox event
    assert trail(c, "/api/v1/checks") == [("denied", 403, "department_staff")] * 3


def test_the_credit_office_acts_for_an_allowed_department_only(world: dict[str, Any]) -> None:
    c = world["c"]
    ok = post(world, "office", "private_school_licence", department=HRSS)
    assert ok.status_code == 200 and ok.json()["department"] == HRSS
    bidding = post(world, "office", "public_bidding_check", department=FINANCE)
    assert bidding.status_code == 200 and bidding.json()["department"] == FINANCE
    before = counts(c)
    no = post(world, "office", "food_business_licence", department=TRANSPORT)
    assert no.status_code == 403 and no.json()["error"] == "matter_not_for_department"
    assert f"信用办不能以部门「{TRANSPORT}」的名义" in no.json()["message"]
    assert counts(c) == before
    assert trail(c, "/api/v1/checks")[-1] == ("denied", 403, "credit_office_admin")


def test_feedback_and_reads_only_by_the_checking_department(world: dict[str, Any]) -> None:
    c = world["c"]
    check = post(world, "samr", "food_business_licence").json()
    path = f"/api/v1/checks/{check['check_id']}"
    measure = check["measures"][0]["code"]

    def feedback(who: str) -> Any:
        return world["client"].post(
            f"{path}/feedback",
            json={"measure_code": measure, "applied": True},
            headers={"Authorization": f"Bearer {world['tokens'][who]}"},
        )

    def read(who: str) -> Any:
        return world["client"].get(
            path, headers={"Authorization": f"Bearer {world['tokens'][who]}"}
        )

    before = counts(c)
    for other in ("transport", "finance"):  # another department's check looks missing (G8)
        refused = feedback(other)
        assert refused.status_code == 404 and refused.json()["error"] == "check_not_found"
        assert read(other).status_code == 404
    assert counts(c) == before
    outcomes = [e for e in trail(c, f"{path}/feedback") if e[0] != "started"]
    assert outcomes == [("denied", 404, "department_staff")] * 2  # the trail keeps the refusal
    assert feedback("samr").status_code == 200
    got = read("samr").json()
    assert [f["measure_code"] for f in got["feedback"]] == [measure]
    assert read("office").status_code == 200
