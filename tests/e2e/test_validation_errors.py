"""The API's answer to a request FastAPI refuses before any route runs (web/errors.py): the
platform's error shape in Chinese, never a secret or the whole body sent back; unknown paths
and methods answer in the same shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citycredit.accounts.policy import SecurityPolicy
from citycredit.bootstrap import Container
from citycredit.web.app import create_app

pytestmark = pytest.mark.db

SECRET = "Yulin-secret-pass-2026!x"
# pydantic's English texts, which must not reach a user
ENGLISH = re.compile(
    r"Field required|Input should|should (be|have|match)|String should|Value error"
)


@pytest.fixture
def client(container: Container) -> Any:
    container.settings = container.settings.model_copy(
        update={
            "security": SecurityPolicy(
                argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1
            )
        }
    )
    with TestClient(create_app(container, scheduler=False)) as cl:
        yield cl


def _chinese(body: dict[str, Any]) -> None:
    assert not ENGLISH.search(body["message"]), body["message"]
    for e in body["detail"]:
        assert not ENGLISH.search(e["msg"]), e


def test_a_missing_field_names_it_and_sends_no_value_back(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", json={"user": "boss", "password": SECRET})
    assert r.status_code == 422
    body = r.json()
    assert (body["error"], body["field"], body["value"]) == ("invalid", "username", None)
    assert body["message"] == "username：必须填写"
    assert SECRET not in r.text and "boss" not in r.text  # the body is not echoed
    _chinese(body)


def test_a_refused_password_is_masked_in_value_and_detail(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "boss", "password": 987654321})
    assert r.status_code == 422
    body = r.json()
    assert (body["field"], body["value"], body["message"]) == (
        "password",
        "***",
        "password：须为字符串",
    )
    assert "987654321" not in r.text
    assert body["detail"] == [
        {"type": "string_type", "loc": ["body", "password"], "msg": "须为字符串", "input": "***"}
    ]


def test_sign_up_lists_only_the_roles_that_may_sign_up(client: TestClient) -> None:
    r = client.post(
        "/api/v1/accounts/sign-up",
        json={"username": "x1", "password": SECRET, "display_name": "甲", "role": "boss"},
    )
    assert r.status_code == 422
    body = r.json()
    assert (body["field"], body["value"]) == ("role", "boss")
    assert body["message"] == "role：须为以下之一：「enterprise_agent」、「natural_person」"
    assert "admin" not in r.text and SECRET not in r.text
    ok = client.post(
        "/api/v1/accounts/sign-up",
        json={"username": "agent_x1", "password": SECRET, "role": "enterprise_agent"},
    )
    assert ok.status_code == 201, ok.text


def test_bounds_of_query_parameters_in_chinese(client: TestClient) -> None:
    r = client.get("/api/v1/lists/judgment_defaulter", params={"offset": -1, "limit": 501})
    assert r.status_code == 422
    body = r.json()
    _chinese(body)
    msgs = {e["loc"][-1]: (e["msg"], e.get("input")) for e in body["detail"]}
    assert msgs == {"offset": ("须不小于 0", "-1"), "limit": ("须不大于 500", "501")}
    text = client.get("/api/v1/lists/judgment_defaulter", params={"limit": "many"}).json()
    assert (text["field"], text["value"], text["message"]) == ("limit", "many", "limit：须为整数")


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    r = client.get("/api/v1/no/such/route")
    assert r.status_code == 404
    assert r.json() == {
        "error": "route_not_found",
        "message": "没有这个接口：GET /api/v1/no/such/route",
    }
    m = client.delete("/api/v1/catalog")
    assert m.status_code == 405 and m.json()["error"] == "method_not_allowed"
    assert "GET" in m.headers["allow"] and "不支持" in m.json()["message"]
