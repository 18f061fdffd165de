"""The OpenAPI contract of 信用核查, 信用承诺, system alarms and the security policy.

A department's approval system (信易批) builds its client from ``/openapi.json``: every operation
of the three routers (web/checks_api.py, alarms_api.py, security_policy_api.py) declares the body
of its answer, every response model carries an example that validates against itself, and real
answers — a check of a company on the 失信被执行人 list with a grade, the stored check,
feedback, statistics, a commitment and its outcome, the commitments list, the system alarms and
the security policy before and after a change — validate against the schema **taken from
/openapi.json**, as do error answers. The check and the stored check are documented without
being validated per request (the hot path; rows of earlier versions): this test is what holds
their answers to the documentation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from citycredit.accounts import auth, manage, totp
from citycredit.accounts.auth import CSRF_HEADER, SESSION_COOKIE
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.db import storage
from citycredit.ingest.service import ingest_submission
from citycredit.web import alarms_api, checks_api, security_policy_api
from citycredit.web.app import create_app
from evaluation_support import COURT, DEFAULTER, deliver, subject_id
from openapi_support import (
    check_answer,
    check_declares_answer,
    check_examples,
    check_published_examples,
    operations,
    published_spec,
    response_models,
)
from support import SAMR, department, uscc, write_csv

OPERATIONS = operations((checks_api.router, alarms_api.router, security_policy_api.router))
PUBLIC = {("GET", "/api/v1/commitments")}  # public kinds of one subject, for everyone


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def test_the_contract_covers_every_operation_of_the_three_routers() -> None:
    assert len(OPERATIONS) == 7 + 2 + 2  # checks and commitments 7, alarms 2, policy 2


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_every_operation_declares_its_answer(spec: dict[str, Any], method: str, path: str) -> None:
    check_declares_answer(spec, method, path, public=(method, path) in PUBLIC)


def test_every_response_model_has_an_example_that_validates() -> None:
    models = response_models(OPERATIONS)
    assert len(models) == 10
    check_examples(models)


def test_the_published_schema_carries_the_examples(spec: dict[str, Any]) -> None:
    check_published_examples(spec, response_models(OPERATIONS))


def test_the_hot_path_and_stored_checks_are_documented_not_validated() -> None:
    """POST /checks answers its JSONResponse as built; GET /checks/{id} the JSON as stored."""
    routes = {(m, p): r for m, p, r in OPERATIONS}
    for key in (("POST", "/api/v1/checks"), ("GET", "/api/v1/checks/{check_id}")):
        assert routes[key].response_model is None, key
        assert routes[key].responses[200]["model"].__name__ in ("CheckResult", "StoredCheck")


# -- real answers against /openapi.json --------------------------------------------------------


LISTED = uscc("91", "610802", "MA6CTR01")
PASSWORD = "榆林信用-correct-horse"
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def _admin_session(c: Container, username: str, role: Role) -> dict[str, str]:
    """Headers of an administrator's web session past password, TOTP and the first change."""
    enrol = manage.add_admin(c, SYSTEM, username=username, display_name=username, role=role)
    step = auth.login(c, username=username, password=enrol.initial_password)
    step = auth.verify_second_factor(
        c, cookie=step.cookie, code=totp.code_at(enrol.totp_secret, c.clock.now())
    )
    done = auth.change_password(
        c, cookie=step.cookie, current_password=enrol.initial_password, new_password=PASSWORD
    )
    assert done is not None
    return {CSRF_HEADER: done.csrf_token, "Cookie": f"{SESSION_COOKIE}={done.cookie}"}


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A company on the 失信被执行人 list with a current grade; 市场监管局 and 信用办 tokens;
    the system and security administrators' sessions."""
    c = container
    c.settings = c.settings.model_copy(update={"security": SecurityPolicy(**FAST_HASHING)})
    sx = [
        "榆阳区契约失信商贸有限公司",
        "法人及非法人组织",
        LISTED,
        "（2026）陕0802执100号",
        COURT,
        "2026-10-01",
        "有履行能力而拒不履行生效法律文书确定义务",
    ]
    ingest_submission(
        c,
        department(c, COURT, "MA0CRT01"),
        path=write_csv(tmp_path / "sx.csv", DEFAULTER, [sx]),
        item_code="judgment_defaulter",
    )
    deliver(c)  # the list membership, then the evaluation
    headers = {
        "samr": add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token,
        "office": add_user(
            c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
        ).token,
    }
    auth_headers = {k: {"Authorization": f"Bearer {v}"} for k, v in headers.items()}
    auth_headers["sys"] = _admin_session(c, "sys", Role.system_admin)
    auth_headers["sec"] = _admin_session(c, "sec", Role.security_admin)
    with TestClient(create_app(c, scheduler=False)) as client:
        yield {"client": client, "h": auth_headers, "c": c, "sid": subject_id(c, LISTED)}


@pytest.mark.db
def test_a_check_its_feedback_and_the_statistics_match_the_published_schema(
    spec: dict[str, Any], world: dict[str, Any]
) -> None:
    client, h = world["client"], world["h"]
    body = {"subject_id": world["sid"], "matter": "food_business_licence"}
    made = check_answer(
        spec, "post", "/api/v1/checks", client.post("/api/v1/checks", json=body, headers=h["samr"])
    )
    assert made["department"] == SAMR and made["grade"] is not None
    assert made["evaluation"]["grade"] == made["grade"] and made["grade_note"] is None
    (membership,) = made["memberships"]
    assert (membership["list_type"], membership["status"]) == ("judgment_defaulter", "published")
    assert made["measures"] and all(
        "judgment_defaulter" in m["triggered_by"] for m in made["measures"]
    )
    assert made["fast_approval"]["eligible"] is False
    url = f"/api/v1/checks/{made['check_id']}"
    stored = check_answer(
        spec, "get", "/api/v1/checks/{check_id}", client.get(url, headers=h["samr"])
    )
    assert stored == {**made, "feedback": []}
    code = made["measures"][0]["code"]
    recorded = check_answer(
        spec,
        "post",
        "/api/v1/checks/{check_id}/feedback",
        client.post(
            f"{url}/feedback",
            json={"measure_code": code, "applied": False, "reason": "已由上级部门实施"},
            headers=h["samr"],
        ),
    )
    assert (recorded["measure_code"], recorded["applied"]) == (code, False)
    again = check_answer(
        spec, "get", "/api/v1/checks/{check_id}", client.get(url, headers=h["office"])
    )
    assert again["feedback"] == [recorded]
    stats = check_answer(
        spec, "get", "/api/v1/checks/stats", client.get("/api/v1/checks/stats", headers=h["office"])
    )
    assert (stats["checks"], stats["feedback"], stats["not_applied"]) == (1, 1, 1)
    assert [d["department"] for d in stats["by_department"]] == [SAMR]
    # error answers: the declared error body
    fb = "/api/v1/checks/{check_id}/feedback"
    unknown = {**body, "matter": "no_such_matter"}
    refused = (
        (
            409,
            "post",
            fb,
            client.post(
                f"{url}/feedback", json={"measure_code": code, "applied": True}, headers=h["samr"]
            ),
        ),
        (
            422,
            "post",
            fb,
            client.post(
                f"{url}/feedback", json={"measure_code": "x", "applied": True}, headers=h["samr"]
            ),
        ),
        (
            404,
            "get",
            "/api/v1/checks/{check_id}",
            client.get("/api/v1/checks/chknope", headers=h["samr"]),
        ),
        (403, "get", "/api/v1/checks/stats", client.get("/api/v1/checks/stats", headers=h["samr"])),
        (
            422,
            "post",
            "/api/v1/checks",
            client.post("/api/v1/checks", json=unknown, headers=h["samr"]),
        ),
        # the hot path authenticates inside the check: no credentials is 401
        (401, "post", "/api/v1/checks", client.post("/api/v1/checks", json=body)),
    )
    for status, method, path, r in refused:
        assert r.status_code == status, (path, r.text)
        assert check_answer(spec, method, path, r)["error"]


@pytest.mark.db
def test_a_commitment_its_outcome_and_the_list_match_the_published_schema(
    spec: dict[str, Any], world: dict[str, Any]
) -> None:
    client, h, sid = world["client"], world["h"], world["sid"]
    made = check_answer(
        spec,
        "post",
        "/api/v1/commitments",
        client.post(
            "/api/v1/commitments",
            json={
                "subject_id": sid,
                "kind": "approval_substitute",
                "matter": "food_business_licence",
                "text": "承诺所提交的食品经营许可申请材料真实有效",
                "made_on": "2026-11-01",
            },
            headers=h["samr"],
        ),
    )
    assert (made["status"], made["matter_name"], made["record_id"] is not None) == (
        "in_progress",
        "食品经营许可",
        True,
    )
    path = "/api/v1/commitments/{commitment_id}/outcome"
    url = f"/api/v1/commitments/{made['commitment_id']}/outcome"
    outcome = {"result": "false", "checked_on": "2026-11-20", "note": "经营场所与申报地址不符"}
    done = check_answer(spec, "post", path, client.post(url, json=outcome, headers=h["samr"]))
    assert (done["status"], done["false_commitment"], done["adverse"]) == ("breached", True, True)
    for who in (None, "samr", "office"):
        listed = check_answer(
            spec,
            "get",
            "/api/v1/commitments",
            client.get(
                "/api/v1/commitments", params={"subject_id": sid}, headers=h[who] if who else {}
            ),
        )
        assert listed == {"subject_id": sid, "count": 1, "commitments": [done]}
    again = client.post(url, json=outcome, headers=h["samr"])
    assert again.status_code == 409
    assert check_answer(spec, "post", path, again)["error"] == "already_checked"
    anonymous = client.get("/api/v1/commitments")  # the public names a subject
    assert anonymous.status_code == 422
    assert check_answer(spec, "get", "/api/v1/commitments", anonymous)["field"] == "subject_id"


@pytest.mark.db
def test_system_alarms_and_the_security_policy_match_the_published_schema(
    spec: dict[str, Any], world: dict[str, Any]
) -> None:
    client, h, c = world["client"], world["h"], world["c"]
    storage.reset()
    storage.record_storage_full(
        "POST /api/v1/submissions",
        OperationalError("INSERT …", {}, sqlite3.OperationalError("database or disk is full")),
        engine=c.engine,
    )
    alarm_id = storage.status()["alarm_id"]
    storage.reset()
    listed = check_answer(
        spec, "get", "/api/v1/admin/alarms", client.get("/api/v1/admin/alarms", headers=h["office"])
    )
    (alarm,) = listed["alarms"]
    assert (alarm["id"], alarm["detail"]["where"]) == (alarm_id, "POST /api/v1/submissions")
    ack = check_answer(
        spec,
        "post",
        "/api/v1/admin/alarms/{alarm_id}/ack",
        client.post(f"/api/v1/admin/alarms/{alarm_id}/ack", headers=h["sys"]),
    )
    assert ack["acknowledged_by"] and ack["acknowledged_at"]
    every = client.get("/api/v1/admin/alarms", params={"all": "true"}, headers=h["sys"])
    assert check_answer(spec, "get", "/api/v1/admin/alarms", every) == {"alarms": [ack]}
    assert every.headers["cache-control"] == "no-store"
    missing = client.post(f"/api/v1/admin/alarms/{alarm_id + 1}/ack", headers=h["sys"])
    assert missing.status_code == 404
    check_answer(spec, "post", "/api/v1/admin/alarms/{alarm_id}/ack", missing)

    url = "/api/v1/admin/security-policy"
    before = client.get(url, headers=h["sec"])
    assert check_answer(spec, "get", url, before)["changes"] == []
    assert before.headers["cache-control"] == "no-store"
    changed = check_answer(
        spec,
        "put",
        url,
        client.put(url, json={"lockout_threshold": 3, "reason": "等保测评整改"}, headers=h["sec"]),
    )
    assert changed["changes"] == {"lockout_threshold": {"old": 5, "new": 3}}
    after = check_answer(spec, "get", url, client.get(url, headers=h["sec"]))
    assert after["overrides"] == {"lockout_threshold": 3} and len(after["changes"]) == 1
    assert after["policy"]["lockout_threshold"] == 3 == changed["policy"]["lockout_threshold"]
    refused = client.get(url, headers=h["office"])
    assert refused.status_code == 403
    check_answer(spec, "get", url, refused)
    unchanged = client.put(
        url, json={"lockout_threshold": 3, "reason": "重复提交"}, headers=h["sec"]
    )
    assert unchanged.status_code == 422
    check_answer(spec, "put", url, unchanged)
