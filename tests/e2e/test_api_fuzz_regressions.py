"""What the schemathesis run (tests/fuzz, security.md G9) found, one focused test each.

* integers the routes did not bound reached the database: beyond 64 bits an id, an OFFSET or a
  record version made the driver raise and the caller got a 500 — now 422 naming the parameter;
* limits below 1 were taken silently (and clamped) — now refused, like every other bad value;
* evidence and repair materials took any 64 characters as a SHA-256 digest, and any size;
* dates and times took a number as a Unix timestamp (``{"made_on": 0}`` was 1970-01-01);
* an empty ``Authorization: Bearer`` header was taken as no header, so a session cookie beside
  it spoke for the request;
* the routes no anonymous caller may use did not say so: the OpenAPI schema declared no
  security (and listed the ``Authorization`` header as an ordinary optional parameter of every
  operation), so a client — or the fuzzer's ``ignored_auth`` check — could not tell them from
  the public ones; now they declare the bearer token and the web session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_role_matrix import AUTHN, POLICY, PUBLIC

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.ingest import service as ingest
from citycredit.ingest.db import RecordRow
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS_WITH_ID, SAMR, id_number, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

BEYOND = 2**63  # one past the largest id either database stores
SAMR_LIST = "market_supervision_serious"


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    samr_token = add_department(
        container, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")
    ).token
    office = add_user(
        container, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    ).token
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="榆林甲公司",
            CF_XDR_SHXYM=uscc("91", "610802", "MA6FT001"),
            CF_WSH="榆市监罚〔2026〕1号",
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="王小明",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=id_number("610802", "19800304"),
            CF_WSH="榆市监罚〔2026〕2号",
        ),
    ]
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, rows)
    ingest.ingest_submission(
        container, department_principal(container, SAMR), path=path, item_code="penalty"
    )
    with container.uow() as uow:
        record = uow.session.scalar(select(RecordRow.id).order_by(RecordRow.id))
        subject = uow.session.scalar(
            select(SubjectRow.subject_id).where(SubjectRow.uscc.is_not(None))
        )
    with TestClient(create_app(container, scheduler=False)) as client:
        yield {
            "client": client,
            "office": {"Authorization": f"Bearer {office}"},
            "samr": {"Authorization": f"Bearer {samr_token}"},
            "record": record,
            "subject": subject,
        }


def _refused(r: Any, field: str, value: object) -> None:
    """422 naming the parameter and the value it got."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"].split(".")[-1] == field, body
    assert str(body["value"]) == str(value), body


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/api/v1/unresolved/{}/attach", "unresolved_id", {"subject_id": "s1"}),
        ("/api/v1/unresolved/{}/dismiss", "unresolved_id", {"reason": "无法识别主体"}),
        ("/api/v1/ledger/alarms/{}/ack", "alarm_id", None),
        ("/api/v1/repair-receipts/{}/acknowledge", "receipt_id", None),
    ],
)
def test_integer_ids_outside_64_bits_are_refused_not_a_500(
    world: dict[str, Any], path: str, field: str, body: dict[str, Any] | None
) -> None:
    for value in (BEYOND, 0):
        r = world["client"].post(path.format(value), json=body, headers=world["office"])
        _refused(r, field, value)


def test_list_offset_and_page_outside_range_are_refused(world: dict[str, Any]) -> None:
    client = world["client"]
    _refused(client.get(f"/api/v1/lists/{SAMR_LIST}?offset={BEYOND}"), "offset", BEYOND)
    page = client.get(f"/lists/{SAMR_LIST}?page={10**18}")
    assert page.status_code == 422 and "page" in page.text, page.text[:300]


def test_record_version_outside_64_bits_is_refused(world: dict[str, Any]) -> None:
    r = world["client"].post(
        f"/api/v1/records/{world['record']}/personal",
        json={"purpose": "案件核查", "version": BEYOND},
        headers=world["samr"],
    )
    _refused(r, "version", BEYOND)


@pytest.mark.parametrize(
    ("url", "who", "field", "value"),
    [
        ("/api/v1/subjects?q=榆林&limit=0", None, "limit", 0),
        ("/api/v1/commitments?limit=-1", None, "limit", -1),
        ("/api/v1/lists/" + SAMR_LIST + "?limit=0", None, "limit", 0),
        ("/api/v1/publicity/penalty?limit=1000", None, "limit", 1000),
        ("/api/v1/subjects/{subject}/evaluation?history=0", None, "history", 0),
        ("/api/v1/evaluation/runs?limit=-1", "office", "limit", -1),
        ("/api/v1/ledger/leaves?purpose=核查&limit=0", "office", "limit", 0),
    ],
)
def test_limits_and_indexes_out_of_range_are_refused(
    world: dict[str, Any], url: str, who: str | None, field: str, value: int
) -> None:
    headers = world[who] if who else {}
    r = world["client"].get(url.format(subject=world["subject"]), headers=headers)
    _refused(r, field, value)


def test_evidence_digest_and_size_are_validated(world: dict[str, Any]) -> None:
    client = world["client"]

    def objection(**evidence: Any) -> Any:
        item = {"name": "缴款凭证.pdf", "sha256": "0" * 64, **evidence}
        return client.post(
            "/api/v1/objections",
            json={
                "target_type": "record",
                "target_id": world["record"],
                "ground": "wrong",
                "reasons": "处罚金额有误",
                "evidence": [item],
            },
            headers=world["office"],
        )

    _refused(objection(sha256="z" * 64), "sha256", "z" * 64)
    _refused(objection(size=-1), "size", -1)
    material = {"code": "commitment", "name": "承诺书.pdf", "sha256": "承" * 64}
    r = client.post(
        "/api/v1/repairs",
        json={
            "target_type": "record",
            "target_id": world["record"],
            "reasons": "已缴纳罚款并完成整改",
            "commitment_text": "本单位承诺今后依法经营",
            "materials": [material],
        },
        headers=world["office"],
    )
    _refused(r, "sha256", "承" * 64)
    assert objection().status_code == 201  # a hex digest and no size: accepted


def test_protected_routes_declare_their_credentials(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearerToken", "sessionCookie"}
    declared = {
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if op.get("security") == [{"bearerToken": []}, {"sessionCookie": []}]
    }
    in_schema = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    protected = {
        route
        for route, rule in POLICY.items()
        if rule.who not in (PUBLIC, AUTHN) and route in in_schema
    }
    assert declared == protected, (sorted(declared - protected), sorted(protected - declared))
    # no operation takes the credential as an ordinary header parameter any more
    assert not [
        (m, p)
        for p, ops in schema["paths"].items()
        for m, op in ops.items()
        for prm in op.get("parameters", [])
        if prm["name"].lower() == "authorization"
    ]


@pytest.mark.parametrize("made_on", [0, "0", 86400])
def test_dates_are_iso_strings_not_timestamps(world: dict[str, Any], made_on: object) -> None:
    r = world["client"].post(
        "/api/v1/commitments",
        json={
            "subject_id": world["subject"],
            "kind": "approval_substitute",
            "matter": "food_business_licence",
            "text": "承诺申报材料真实有效",
            "made_on": made_on,
        },
        headers=world["samr"],
    )
    _refused(r, "made_on", made_on)
    assert "ISO 8601" in r.json()["message"]


def test_an_empty_bearer_is_refused_even_beside_a_session(
    container: Container, world: dict[str, Any]
) -> None:
    from citycredit.accounts import auth
    from citycredit.accounts.auth import SESSION_COOKIE

    add_user(
        container,
        SYSTEM,
        username="agent",
        display_name="代理人",
        role=Role.enterprise_agent,
        password="initial",
    )
    step = auth.login(container, username="agent", password="initial")
    done = auth.change_password(
        container,
        cookie=step.cookie,
        current_password="initial",
        new_password="榆林信用-horse-battery",
    )
    assert done is not None
    client = world["client"]
    client.cookies.set(SESSION_COOKIE, done.cookie)
    assert client.get("/api/v1/auth/me").json()["via"] == "session"
    for header in ("Bearer ", "Bearer", ""):
        r = client.get("/api/v1/auth/me", headers={"Authorization": header})
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", (header, r.text)
