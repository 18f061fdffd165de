"""信用核查 over HTTP on both databases: lists, measures, 信易批, disclosure log, feedback, stats."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from citycredit.accounts.db import AuditEventRow, DepartmentRow
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.checks.db import CreditCheckRow
from citycredit.commitments.service import create_commitment, record_outcome
from citycredit.ingest.service import ingest_submission
from citycredit.kernel import outbox
from citycredit.kernel.db import DisclosureRow, OutboxEventRow
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerLeafRow
from citycredit.shared.clock import FixedClock
from citycredit.subjects.db import SubjectRow
from citycredit.web import audit as web_audit
from citycredit.web import checks_api
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, department, uscc, write_csv

pytestmark = pytest.mark.db

COURT = "榆林市中级人民法院"
TRANSPORT = "榆林市交通运输局"
AUTH = uscc("11", "610800", "MA0CAMR1")  # SAMR's code (support.department default)
LISTED = uscc("91", "610802", "MA6CHK01")
CLEAN = uscc("91", "610802", "MA6CHK02")
DEFAULTER = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_AH", "SX_ZXFY", "SX_FBRQ", "SX_SXQX"]


def subjects(c: Container, tmp: Path) -> dict[str, str]:
    """A company on the 失信被执行人 list (via the `lists` consumer) and a clean one."""
    court = department(c, COURT, "MA0CRT01")
    ingest_submission(
        c,
        court,
        path=write_csv(
            tmp / "sx.csv",
            DEFAULTER,
            [
                [
                    "榆阳区失信商贸有限公司",
                    "法人及非法人组织",
                    LISTED,
                    "（2026）陕0802执100号",
                    COURT,
                    "2026-10-01",
                    "有履行能力而拒不履行生效法律文书确定义务",
                ]
            ],
        ),
        item_code="judgment_defaulter",
    )
    samr = department(c)
    penalty = [
        "榆阳区守信商贸有限公司",
        "法人及非法人组织",
        CLEAN,
        "榆市监罚〔2026〕1号",
        "x",
        "x",
        "x",
        "警告",
        "警告",
        "",
        "2026-11-02",
        SAMR,
        AUTH,
        SAMR,
        AUTH,
    ]
    ingest_submission(
        c, samr, path=write_csv(tmp / "p.csv", PENALTY_COLUMNS, [penalty]), item_code="penalty"
    )
    outbox.deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    with c.uow() as uow:
        ids = {
            row.uscc: row.subject_id
            for row in uow.session.scalars(select(SubjectRow).where(SubjectRow.uscc.isnot(None)))
        }
    return {"listed": ids[LISTED], "clean": ids[CLEAN]}


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    ids = subjects(container, tmp_path)
    tokens = {
        "transport": add_department(
            container, SYSTEM, name=TRANSPORT, code=uscc("11", "610800", "MA0TRN01")
        ).token,
        "admin": add_user(
            container,
            SYSTEM,
            username="admin",
            display_name="信用办",
            role=Role.credit_office_admin,
        ).token,
        "samr": add_user(
            container,
            SYSTEM,
            username="samr1",
            display_name="市场监管核查员",
            role=Role.department_staff,
            department=SAMR,
        ).token,
    }
    with TestClient(create_app(container, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "ids": ids, "c": container}


def h(world: dict[str, Any], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"} if who else {}


def check(world: dict[str, Any], who: str | None, subject: str, matter: str, **extra: Any) -> Any:
    body = {"subject_id": world["ids"][subject], "matter": matter, **extra}
    return world["client"].post("/api/v1/checks", json=body, headers=h(world, who))


def codes(result: dict[str, Any]) -> list[str]:
    return [m["code"] for m in result["measures"]]


def test_check_lists_measures_and_eligibility_by_matter(world: dict[str, Any]) -> None:
    r = check(world, "transport", "listed", "road_transport_licence")
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["check_id"] and res["department"] == TRANSPORT
    assert res["grade"] is None and res["grade_note"] == "尚无公共信用综合评价结果"
    (membership,) = res["memberships"]
    assert (
        membership["list_type"] == "judgment_defaulter"
        and membership["list_name"] == "失信被执行人"
    )
    assert membership["decision_no"] == "（2026）陕0802执100号"
    assert codes(res) == [
        "defaulter_public_restrictions",
        "no_notify_commit",
        "no_tolerant_acceptance",
        "key_supervision",
    ]
    for m in res["measures"]:
        assert m["legal_basis"] and all(b["title"] for b in m["legal_basis"])
        assert m["triggered_by"] == ["judgment_defaulter"]
    restrictions = res["measures"][0]
    assert restrictions["group"] == "rights_restriction" and restrictions["list_basis"]
    assert {b["list_type"] for b in restrictions["list_basis"]} == {"judgment_defaulter"}
    fa = res["fast_approval"]
    assert fa["eligible"] is False and fa["modes"] == []
    assert "不在以下名单中" in fa["rule"] and any("失信被执行人" in x for x in fa["reasons"])
    assert res["pending"] == {"objections": [], "repairs": [], "tracked": True}

    # Another matter, another department: the measures follow the matter's scope.
    food = check(world, "samr", "listed", "food_business_licence").json()
    assert codes(food) == ["no_notify_commit", "no_tolerant_acceptance", "key_supervision"]
    assert food["department"] == SAMR and food["fast_approval"]["eligible"] is False

    # A subject on no list: eligible for food, with the rule that decided it; no grade yet.
    clean = check(world, "samr", "clean", "food_business_licence").json()
    assert clean["memberships"] == [] and clean["measures"] == []
    assert clean["fast_approval"]["eligible"] is True
    assert clean["fast_approval"]["modes"] == ["notify_commit", "tolerant_acceptance"]
    assert any("尚无公共信用综合评价结果" in x for x in clean["fast_approval"]["reasons"])
    # A high-risk matter needs a demonstrated grade: without one, not eligible.
    coal = check(world, "admin", "clean", "coal_mine_safety_licence").json()
    assert coal["fast_approval"]["eligible"] is False and coal["department"] == "市信用办"
    assert any("视为不满足等级条件" in x for x in coal["fast_approval"]["reasons"])

    # The stored check is exactly the answer.
    c: Container = world["c"]
    with c.uow() as uow:
        row = uow.session.get(CreditCheckRow, res["check_id"])
        assert row is not None and row.result == res and row.month == "2026-11"
        assert row.eligible is False and row.matter == "road_transport_licence"
    got = world["client"].get(f"/api/v1/checks/{res['check_id']}", headers=h(world, "transport"))
    assert got.json()["check_id"] == res["check_id"] and got.json()["feedback"] == []


def test_check_permissions_and_bad_input(world: dict[str, Any]) -> None:
    assert check(world, None, "clean", "food_business_licence").status_code == 401
    r = check(world, "transport", "clean", "food_business_licence", department=SAMR)
    assert r.status_code == 403  # staff check for their own department only
    # Naming one's own department is fine, for a matter the department may check
    # (food_business_licence is 市场监管局's: tests/integration/test_check_authority.py).
    ok = check(world, "transport", "clean", "road_transport_licence", department=TRANSPORT)
    assert ok.status_code == 200
    bad = check(world, "samr", "clean", "no_such_matter")
    assert bad.status_code == 422 and bad.json()["field"] == "matter"
    body = {"subject_id": "snope", "matter": "food_business_licence"}
    missing = world["client"].post("/api/v1/checks", json=body, headers=h(world, "samr"))
    assert missing.status_code == 422  # a field of the body: named with its value
    assert (missing.json()["field"], missing.json()["value"]) == ("subject_id", "snope")
    other = check(world, "admin", "clean", "food_business_licence", department="不存在的局")
    assert other.status_code == 404
    rid = ok.json()["check_id"]
    # another department's check answers like a missing one (G8)
    assert world["client"].get(f"/api/v1/checks/{rid}", headers=h(world, "samr")).status_code == 404


def test_every_check_is_in_the_disclosure_log_and_the_ledger(world: dict[str, Any]) -> None:
    c: Container = world["c"]
    res = check(world, "transport", "listed", "road_transport_licence").json()
    with c.uow() as uow:
        rows = list(uow.session.scalars(select(DisclosureRow)))
        events = list(
            uow.session.scalars(
                select(OutboxEventRow).where(OutboxEventRow.event_type == "credit_check.made")
            )
        )
    (log,) = rows
    assert log.purpose == "信用核查：道路货物运输经营许可"
    assert log.subject_id == world["ids"]["listed"] and log.actor_role == "department_staff"
    assert log.detail["check_id"] == res["check_id"] and "judgment_defaulter" in log.items
    (event,) = events
    assert event.aggregate_id == res["check_id"] and "ledger" in event.payload
    ledger.integrate_now(c)
    with c.uow() as uow:
        leaf = uow.session.scalar(
            select(LedgerLeafRow).where(LedgerLeafRow.ref == f"{res['check_id']}/made")
        )
        assert leaf is not None and leaf.entry_type == "credit_check.made"


def audit_trail(c: Container, path: str) -> list[AuditEventRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow).where(AuditEventRow.path == path).order_by(AuditEventRow.id)
            )
        )


def count_of(c: Container, model: Any) -> int:
    with c.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_check_commits_with_its_audit_event_and_failures_are_recorded(
    world: dict[str, Any],
) -> None:
    """The check's operator-audit event is inserted in the check's transaction (one event,
    "success", the check id as its object); a refused or failed check is recorded by the
    middleware and stores nothing."""
    c: Container = world["c"]
    res = check(world, "samr", "clean", "food_business_licence").json()
    (event,) = audit_trail(c, "/api/v1/checks")
    assert (event.action, event.result, event.status_code) == (
        "http.POST /api/v1/checks",
        "success",
        200,
    )
    assert event.object_id == res["check_id"] and event.actor_role == "department_staff"
    assert event.credential and event.credential.startswith("token:") and event.request_id
    body = {"subject_id": "snope", "matter": "food_business_licence"}
    missing = world["client"].post("/api/v1/checks", json=body, headers=h(world, "samr"))
    assert missing.status_code == 422
    assert check(world, None, "clean", "food_business_licence").status_code == 401
    got = [(e.result, e.status_code, e.actor_role) for e in audit_trail(c, "/api/v1/checks")]
    assert got == [
        ("success", 200, "department_staff"),
        ("failure", 422, "department_staff"),
        ("denied", 401, "public"),
    ]
    assert count_of(c, CreditCheckRow) == 1


def test_a_check_whose_audit_event_cannot_be_written_is_not_made(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: the audit insert fails inside the check's transaction, so the check, its
    disclosure-log row and its outbox event are not stored either."""
    c: Container = world["c"]
    real = web_audit.transactional_event

    def unwritable(request: Any, c_: Container) -> dict[str, Any]:
        return {**real(request, c_), "action": None}  # NOT NULL: the INSERT fails

    monkeypatch.setattr(checks_api, "transactional_event", unwritable)
    before = (count_of(c, CreditCheckRow), count_of(c, DisclosureRow), count_of(c, OutboxEventRow))
    cl = TestClient(create_app(c, scheduler=False), raise_server_exceptions=False)
    body = {"subject_id": world["ids"]["clean"], "matter": "food_business_licence"}
    r = cl.post("/api/v1/checks", json=body, headers=h(world, "samr"))
    assert r.status_code == 500
    after = (count_of(c, CreditCheckRow), count_of(c, DisclosureRow), count_of(c, OutboxEventRow))
    assert after == before
    assert [e.result for e in audit_trail(c, "/api/v1/checks")] == ["error"]


def feedback(world: dict[str, Any], who: str, check_id: str, **body: Any) -> Any:
    return world["client"].post(
        f"/api/v1/checks/{check_id}/feedback", json=body, headers=h(world, who)
    )


def test_feedback_rules_and_statistics(world: dict[str, Any]) -> None:
    c: Container = world["c"]
    clock = c.clock
    assert isinstance(clock, FixedClock)
    road = check(world, "transport", "listed", "road_transport_licence").json()["check_id"]
    food = check(world, "samr", "listed", "food_business_licence").json()["check_id"]

    ok = feedback(
        world, "transport", road, measure_code="defaulter_public_restrictions", applied=True
    )
    assert ok.status_code == 200 and ok.json()["applied"] is True
    no_reason = feedback(world, "transport", road, measure_code="no_notify_commit", applied=False)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    r = feedback(
        world,
        "transport",
        road,
        measure_code="no_notify_commit",
        applied=False,
        reason="申请人已履行完毕，法院删除信息在途",
    )
    assert r.status_code == 200
    again = feedback(world, "transport", road, measure_code="no_notify_commit", applied=True)
    assert again.status_code == 409
    # Another department may not answer for the checking department (its check looks missing).
    other = feedback(world, "samr", road, measure_code="key_supervision", applied=True)
    assert (other.status_code, other.json()["error"]) == (404, "check_not_found")
    # A measure the check did not return is refused, naming measure_code.
    absent = feedback(
        world, "samr", food, measure_code="defaulter_public_restrictions", applied=True
    )
    assert absent.status_code == 422 and absent.json()["field"] == "measure_code"
    assert absent.json()["value"] == "defaulter_public_restrictions"
    assert (
        feedback(world, "samr", food, measure_code="key_supervision", applied=True).status_code
        == 200
    )
    # The credit office may record feedback on any check.
    assert (
        feedback(world, "admin", food, measure_code="no_notify_commit", applied=True).status_code
        == 200
    )

    # 2026-12-01 01:00 in Shanghai is still 30 November in UTC: the month is Shanghai's.
    clock.current = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    dec = check(world, "transport", "listed", "road_transport_licence").json()["check_id"]
    assert (
        feedback(
            world,
            "transport",
            dec,
            measure_code="key_supervision",
            applied=False,
            reason="已列入重点监管",
        ).status_code
        == 200
    )

    assert world["client"].get("/api/v1/checks/stats", headers=h(world, "samr")).status_code == 403
    assert world["client"].get("/api/v1/checks/stats").status_code == 401
    stats = world["client"].get("/api/v1/checks/stats", headers=h(world, "admin")).json()
    assert (stats["checks"], stats["feedback"], stats["applied"], stats["not_applied"]) == (
        3,
        5,
        3,
        2,
    )
    by_dept = {
        r["department"]: (r["checks"], r["applied"], r["not_applied"])
        for r in stats["by_department"]
    }
    assert by_dept == {TRANSPORT: (2, 1, 2), SAMR: (1, 2, 0)}
    by_measure = {r["measure"]: (r["applied"], r["not_applied"]) for r in stats["by_measure"]}
    assert by_measure == {
        "defaulter_public_restrictions": (1, 0),
        "no_notify_commit": (1, 1),
        "key_supervision": (1, 1),
    }
    by_matter = {
        r["matter"]: (r["checks"], r["applied"], r["not_applied"]) for r in stats["by_matter"]
    }
    assert by_matter == {"road_transport_licence": (2, 1, 2), "food_business_licence": (1, 2, 0)}
    names = {r["matter"]: r["matter_name"] for r in stats["by_matter"]}
    assert names["food_business_licence"] == "食品经营许可"
    by_month = {
        r["month"]: (r["checks"], r["applied"], r["not_applied"]) for r in stats["by_month"]
    }
    assert by_month == {"2026-11": (2, 3, 1), "2026-12": (1, 0, 1)}


def test_breached_commitment_excludes_from_fast_approval(world: dict[str, Any]) -> None:
    c: Container = world["c"]
    from citycredit.accounts.service import department_principal

    samr = department_principal(c, SAMR)
    made = create_commitment(
        c,
        samr,
        subject_id=world["ids"]["clean"],
        kind="approval_substitute",
        matter="food_business_licence",
        text="承诺申报材料真实有效，三个月内补齐健康证明",
        made_on=date(2026, 8, 1),
    )
    before = check(world, "samr", "clean", "food_business_licence").json()
    assert before["fast_approval"]["eligible"] is True and before["commitment_breaches"] == []
    record_outcome(c, samr, made["commitment_id"], result="breached", checked_on=date(2026, 11, 20))
    after = check(world, "samr", "clean", "food_business_licence").json()
    assert after["commitment_breaches"] == ["2026-11-20"]
    assert after["fast_approval"]["eligible"] is False
    assert any("违反信用承诺" in x for x in after["fast_approval"]["reasons"])


def test_a_check_does_not_lock_its_department_row(world: dict[str, Any]) -> None:
    """Log rows reference nothing (ADR 0011): on PostgreSQL a check goes through while another
    transaction holds its department's row FOR UPDATE (a foreign key's FOR KEY SHARE would wait
    for it); on both databases the check is stored with the department's id."""
    c: Container = world["c"]
    with c.uow() as uow:
        dept_id = uow.session.scalar(select(DepartmentRow.id).where(DepartmentRow.name == SAMR))
    if c.engine.dialect.name == "postgresql":
        with c.engine.connect() as holder:
            holder.execute(
                text("SELECT id FROM departments WHERE id = :d FOR UPDATE"), {"d": dept_id}
            )
            with c.engine.begin() as probe:  # the lock is really held
                probe.execute(text("SET LOCAL lock_timeout = '200ms'"))
                with pytest.raises(OperationalError):
                    probe.execute(
                        text("SELECT id FROM departments WHERE id = :d FOR KEY SHARE"),
                        {"d": dept_id},
                    )
            done: list[Any] = []
            t = threading.Thread(
                target=lambda: done.append(check(world, "samr", "clean", "food_business_licence"))
            )
            t.start()
            t.join(10)  # with a foreign key the check would wait for the holder
            finished_while_locked = bool(done)
            holder.rollback()
            t.join(30)
            assert finished_while_locked, "the check waited for its department's row lock"
            (r,) = done
    else:
        r = check(world, "samr", "clean", "food_business_licence")
    assert r.status_code == 200, r.text
    with c.uow() as uow:
        row = uow.session.get(CreditCheckRow, r.json()["check_id"])
        assert row is not None and row.department_id == dept_id
