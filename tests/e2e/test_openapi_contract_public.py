"""The OpenAPI contract of the ledger, lists, evaluation and reports APIs (信用数据链, 名单,
公共信用综合评价, 信用报告).

A bank checking a borrower, the province verifying the ledger or a department reading lists
builds its client from ``/openapi.json``: every operation of the four routers declares the body
of its 200/201 (a closed schema with an example) and its errors (the platform's ErrorBody), and
real answers — a ledger with leaves, a membership through every step, a subject on a list with
the measures it triggers, an evaluation run and a result under objection, a report with changes
since issue — validate against the schema **taken from /openapi.json** (``jsonschema``; the
models' ``additionalProperties: false`` makes an undocumented key fail here). Hot public reads
(the checkpoint, the public lists, a subject's lists and evaluation) document their answer
without validating it per request; the other routes validate it (``response_model``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.evaluation import runs
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import withdraw_record
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerAlarmRow
from citycredit.ledger.verify import verify_log
from citycredit.lists import service as lists_service
from citycredit.rights import objections
from citycredit.shared.calendar import day_start
from citycredit.shared.clock import FixedClock
from citycredit.subjects.db import SubjectRow
from citycredit.web import evaluation_api, ledger_api, lists_api, reports_api
from citycredit.web.app import create_app
from evaluation_support import COMPANY, PERSON, TODAY, deliver, ingest, penalty, subject_id
from openapi_support import (
    answer_schema,
    check_answer,
    check_declares_answer,
    check_examples,
    check_published_examples,
    operations,
    published_spec,
    response_models,
    validate,
)
from support import SAMR, membership_row, uscc

ROUTERS = (ledger_api.router, lists_api.router, evaluation_api.router, reports_api.router)
OPERATIONS = operations(ROUTERS)
# Anonymous routes (the public, or anyone with a purpose): no 401/403 required.
PUBLIC = {
    ("GET", "/api/v1/ledger/checkpoint"),
    ("GET", "/api/v1/ledger/merge-delay"),
    ("GET", "/api/v1/ledger/proofs/inclusion"),
    ("GET", "/api/v1/ledger/proofs/consistency"),
    ("GET", "/api/v1/ledger/bundles/{record_id}"),
    ("GET", "/api/v1/lists"),
    ("GET", "/api/v1/lists/{list_type}"),
    ("GET", "/api/v1/subjects/{subject_id}/lists"),
    ("GET", "/api/v1/subjects/{subject_id}/evaluation"),
    ("POST", "/api/v1/subjects/{subject_id}/reports"),
    ("GET", "/api/v1/reports/{report_no}"),
    ("GET", "/api/v1/reports/{report_no}/bundle"),
}
# Hot public reads: documented (responses=), not validated per request (no response_model).
HOT = {
    ("GET", "/api/v1/ledger/checkpoint"),
    ("GET", "/api/v1/lists"),
    ("GET", "/api/v1/lists/{list_type}"),
    ("GET", "/api/v1/subjects/{subject_id}/lists"),
    ("GET", "/api/v1/subjects/{subject_id}/evaluation"),
}
SAMR_LIST = "market_supervision_serious"  # origin both, 5 working days' notice


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def test_the_contract_covers_every_operation_of_the_four_routers() -> None:
    assert len(OPERATIONS) == 9 + 12 + 3 + 3  # ledger 9, lists 12, evaluation 3, reports 3
    assert {(m, p) for m, p, _ in OPERATIONS} >= PUBLIC | HOT


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_every_operation_declares_its_answer(spec: dict[str, Any], method: str, path: str) -> None:
    check_declares_answer(spec, method, path, public=(method, path) in PUBLIC)


def test_hot_reads_document_their_answer_and_the_others_validate_it() -> None:
    for method, path, route in OPERATIONS:
        if (method, path) in HOT:
            assert route.response_model is None, path
            assert route.responses[200]["model"].model_config["extra"] == "forbid", path
        else:
            assert route.response_model is not None, path


def test_every_response_model_has_an_example_that_validates() -> None:
    models = response_models(OPERATIONS)
    assert len(models) == 20
    check_examples(models)


def test_the_published_schema_carries_the_examples(spec: dict[str, Any]) -> None:
    check_published_examples(spec, response_models(OPERATIONS))


# -- real answers against /openapi.json --------------------------------------------------------

OFFICE = Principal(role=Role.credit_office_admin, label="信用办")


def at_local(day: date, hour: int = 10) -> datetime:
    """``hour``:00 Asia/Shanghai of ``day``, as the clock's UTC instant."""
    return (day_start(day) + timedelta(hours=hour)).astimezone(UTC)


@pytest.fixture
def world(container: Container, tmp_path: Path, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A company and a person with a SAMR penalty each (evaluated on arrival), SAMR's token
    and the credit office's."""
    c = container
    tokens = {
        "samr": add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token,
        "office": add_user(
            c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
        ).token,
    }
    receipt = ingest(
        c,
        tmp_path,
        [penalty(COMPANY, "榆市监罚〔2026〕1号"), penalty(PERSON, "榆市监罚〔2026〕2号")],
    )
    assert receipt.as_dict()["new"] == 2, receipt.as_dict()
    deliver(c)
    with c.uow() as uow:
        person = uow.session.scalar(
            select(SubjectRow.subject_id).where(SubjectRow.subject_type == "natural_person")
        )
    company = subject_id(c, COMPANY)
    with c.uow() as uow:
        record = uow.session.scalar(select(RecordRow.id).where(RecordRow.subject_id == company))
    ids = {"company": company, "person": str(person), "record": str(record)}
    with TestClient(create_app(c, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "ids": ids, "c": c, "spec": spec}


def h(world: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"}


def call(
    world: dict[str, Any],
    method: str,
    path: str,
    url: str,
    who: str | None = None,
    status: int = 200,
    **kwargs: Any,
) -> Any:
    """Call one operation, check its status, validate its body against the spec; the body."""
    headers = h(world, who) if who else {}
    r = world["client"].request(method, url, headers=headers, **kwargs)
    assert r.status_code == status, (method, url, r.status_code, r.text)
    return check_answer(world["spec"], method.lower(), path, r)


@pytest.mark.db
def test_the_ledger_answers_match_the_published_schema(
    world: dict[str, Any],
) -> None:
    c, ids = world["c"], world["ids"]
    assert ledger.integrate_now(c) > 0
    cp = call(world, "GET", "/api/v1/ledger/checkpoint", "/api/v1/ledger/checkpoint")
    assert cp["size"] >= 2 and "cosigned_by" not in cp
    cosigned = call(
        world,
        "GET",
        "/api/v1/ledger/checkpoint",
        "/api/v1/ledger/checkpoint",
        params={"cosigned": "true"},
    )
    assert cosigned["cosigned_by"] == []
    delay = call(world, "GET", "/api/v1/ledger/merge-delay", "/api/v1/ledger/merge-delay")
    assert delay["pending"] == 0 and delay["oldest_pending_age_s"] is None
    size = cp["size"]
    proof = call(
        world,
        "GET",
        "/api/v1/ledger/proofs/inclusion",
        "/api/v1/ledger/proofs/inclusion",
        params={"index": 0, "size": size},
    )
    assert proof["hashes"]
    call(
        world,
        "GET",
        "/api/v1/ledger/proofs/consistency",
        "/api/v1/ledger/proofs/consistency",
        params={"first": 1, "second": size},
    )
    found = call(
        world,
        "GET",
        "/api/v1/ledger/leaves",
        "/api/v1/ledger/leaves",
        "office",
        params={"subject_id": ids["company"], "purpose": "接口核对"},
    )
    assert found["count"] >= 1 and found["leaves"][0]["type"] == "record.version"
    bundle = call(
        world,
        "GET",
        "/api/v1/ledger/bundles/{record_id}",
        f"/api/v1/ledger/bundles/{ids['record']}",
    )
    assert bundle["record"]["record_id"] == ids["record"] and bundle["disclosed"]
    # how far the log is verified: a verify run keeps the head it verified
    verify_log(c, incremental=True)
    verification = call(
        world, "GET", "/api/v1/ledger/verification", "/api/v1/ledger/verification", "office"
    )
    assert verification["log_size"] == size and verification["not_verified"] == 0
    assert verification["head"]["size"] == size and verification["head"]["mode"] == "full"
    # alarms: one open, acknowledged, then in the history
    with c.uow() as uow:
        alarm = LedgerAlarmRow(raised_at=c.clock.now(), kind="tamper", detail={"records": 1})
        uow.session.add(alarm)
        uow.session.flush()
        alarm_id = alarm.id
        uow.commit()
    alarms = call(world, "GET", "/api/v1/ledger/alarms", "/api/v1/ledger/alarms", "office")
    assert [a["id"] for a in alarms["alarms"]] == [alarm_id]
    ack = call(
        world,
        "POST",
        "/api/v1/ledger/alarms/{alarm_id}/ack",
        f"/api/v1/ledger/alarms/{alarm_id}/ack",
        "office",
    )
    assert ack == {"id": alarm_id, "acknowledged": True}
    history = call(
        world,
        "GET",
        "/api/v1/ledger/alarms",
        "/api/v1/ledger/alarms",
        "office",
        params={"all": "true"},
    )
    assert history["alarms"][0]["acknowledged_at"] is not None
    # error answers: the declared ErrorBody
    bad = call(
        world,
        "GET",
        "/api/v1/ledger/proofs/inclusion",
        "/api/v1/ledger/proofs/inclusion",
        status=422,
        params={"index": 0, "size": size + 1},
    )
    assert bad["field"] == "size"
    call(
        world,
        "GET",
        "/api/v1/ledger/bundles/{record_id}",
        "/api/v1/ledger/bundles/nope",
        status=404,
    )
    anonymous = world["client"].get("/api/v1/ledger/alarms")
    assert anonymous.status_code == 401
    check_answer(world["spec"], "get", "/api/v1/ledger/alarms", anonymous)
    call(
        world,
        "POST",
        "/api/v1/ledger/alarms/{alarm_id}/ack",
        "/api/v1/ledger/alarms/999/ack",
        "office",
        status=404,
    )


@pytest.mark.db
def test_a_membership_through_every_step_matches_the_published_schema(
    world: dict[str, Any], clock: FixedClock
) -> None:
    ids = world["ids"]
    step = "/api/v1/memberships/{membership_id}"
    body = {
        "list_type": SAMR_LIST,
        "subject_id": ids["company"],
        "document_no": "榆市监罚〔2026〕1号",
        "reasons": "销售不合格食品，情节严重",
    }
    made = call(world, "POST", "/api/v1/memberships", "/api/v1/memberships", "samr", 201, json=body)
    mid = made["id"]
    url = f"/api/v1/memberships/{mid}"
    got = call(world, "GET", step, url, "samr")
    assert got["status"] == "proposed" and got["notice"] == {}
    noticed = call(world, "POST", step + "/notify", url + "/notify", "samr")
    assert noticed["notice"]["objection_due"] == noticed["objection_due"]
    objected = call(
        world,
        "POST",
        step + "/objections",
        url + "/objections",
        "samr",
        json={"note": "当事人提出陈述申辩"},
    )
    assert objected["objection_pending"] is True
    answered = call(
        world,
        "POST",
        step + "/objections/answer",
        url + "/objections/answer",
        "samr",
        json={"note": "经核实，申辩理由不成立"},
    )
    assert answered["objection_pending"] is False
    # publishing before a decision: the state does not allow it
    refused = call(world, "POST", step + "/publish", url + "/publish", "samr", 409)
    assert refused["error"] == "invalid_transition"
    clock.current = at_local(TODAY + timedelta(days=30))
    decided = call(
        world,
        "POST",
        step + "/decide",
        url + "/decide",
        "samr",
        json={"decision_no": "榆市监严列〔2026〕1号"},
    )
    assert decided["status"] == "decided" and decided["expires_on"] and decided["period_months"]
    published = call(world, "POST", step + "/publish", url + "/publish", "samr")
    assert [e["to"] for e in published["events"]][-2:] == ["decided", "published"]
    assert published["events"][0]["from"] is None
    # the public reads: list types, the list, the subject's lists with the measures they trigger
    types = call(world, "GET", "/api/v1/lists", "/api/v1/lists")
    assert SAMR_LIST in {t["code"] for t in types["list_types"]}
    objections.file_objection(
        world["c"],
        OFFICE,
        target_type="membership",
        target_id=mid,
        ground="wrong",
        reasons="列入事实有误",
        channel="window",
    )
    page = call(
        world,
        "GET",
        "/api/v1/lists/{list_type}",
        f"/api/v1/lists/{SAMR_LIST}",
        params={"limit": 1},
    )
    (entry,) = page["entries"]
    assert (page["total"], entry["uscc"], entry["objection_mark"]) == (1, COMPANY, "异议处理中")
    mine = call(
        world,
        "GET",
        "/api/v1/subjects/{subject_id}/lists",
        f"/api/v1/subjects/{ids['company']}/lists",
    )
    assert [e["decision_no"] for e in mine["lists"]] == ["榆市监严列〔2026〕1号"]
    assert mine["measures"] and all(m["legal_basis"] for m in mine["measures"])
    exited = call(
        world,
        "POST",
        step + "/exit",
        url + "/exit",
        "samr",
        json={"exit_code": "objection_upheld", "ref": "榆异〔2026〕1号"},
    )
    assert (exited["status"], exited["exit_code"]) == ("exited", "objection_upheld")
    assert exited["ended_on"] and exited["exit_reason"]
    # a second proposal, withdrawn before publication
    second = call(
        world,
        "POST",
        "/api/v1/memberships",
        "/api/v1/memberships",
        "samr",
        201,
        json={**body, "document_no": "榆市监罚〔2026〕3号"},
    )
    withdrawn = call(
        world,
        "POST",
        step + "/withdraw",
        f"/api/v1/memberships/{second['id']}/withdraw",
        "samr",
        json={"reason": "证据不足，撤回"},
    )
    assert withdrawn["status"] == "withdrawn"
    # error answers
    call(world, "GET", step, "/api/v1/memberships/nope", "samr", 404)
    call(world, "GET", "/api/v1/lists/{list_type}", "/api/v1/lists/nope", status=404)
    bad = call(
        world,
        "GET",
        "/api/v1/lists/{list_type}",
        f"/api/v1/lists/{SAMR_LIST}",
        status=422,
        params={"after": "not-a-cursor"},
    )
    assert bad["field"] == "after"
    bad = call(
        world,
        "POST",
        step + "/exit",
        url + "/exit",
        "samr",
        422,
        json={"exit_code": "nope", "ref": "x"},
    )
    assert bad["field"] == "exit_code"
    call(world, "POST", "/api/v1/memberships", "/api/v1/memberships", status=401, json=body)


@pytest.mark.db
def test_an_evaluation_and_its_runs_match_the_published_schema(
    world: dict[str, Any],
) -> None:
    c, ids = world["c"], world["ids"]
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)
    objections.file_objection(
        c,
        OFFICE,
        target_type="evaluation",
        target_id=ids["company"],
        ground="automated_decision",
        reasons="请求人工复核评价结果",
        channel="window",
    )
    path = "/api/v1/subjects/{subject_id}/evaluation"
    url = f"/api/v1/subjects/{ids['company']}/evaluation"
    public = call(world, "GET", path, url)
    assert public["evaluated"] and public["current"]["grade"] and public["history"]
    assert public["objection_mark"]["mark"] == "异议处理中"
    authorised = call(
        world,
        "GET",
        path,
        url,
        "office",
        params={"view": "authorised", "purpose": "行政许可审查"},
    )
    assert authorised["view"] == "authorised" and authorised["current"]["indicators"]
    listed = call(world, "GET", "/api/v1/evaluation/runs", "/api/v1/evaluation/runs", "office")
    assert [r["run_id"] for r in listed["runs"]] == [run["run_id"]]
    one = call(
        world,
        "GET",
        "/api/v1/evaluation/runs/{run_id}",
        f"/api/v1/evaluation/runs/{run['run_id']}",
        "office",
    )
    assert one["status"] == "completed" and one["evaluated"] >= 1
    # error answers: a person's grade is not public; an unknown run; a bad view
    hidden = call(world, "GET", path, f"/api/v1/subjects/{ids['person']}/evaluation", status=401)
    assert hidden["error"] == "evaluation_not_public"
    call(
        world,
        "GET",
        "/api/v1/evaluation/runs/{run_id}",
        "/api/v1/evaluation/runs/nope",
        "office",
        404,
    )
    call(world, "GET", path, url, status=422, params={"view": "own"})


@pytest.mark.db
def test_a_report_and_its_bundle_match_the_published_schema(
    world: dict[str, Any],
) -> None:
    c, ids = world["c"], world["ids"]
    with c.uow() as uow:  # a published listing, so the report has a list entry and a tag
        uow.session.add(membership_row(ids["company"], "mreportcontract00001", "published", 0))
        uow.commit()
    issued = call(
        world,
        "POST",
        "/api/v1/subjects/{subject_id}/reports",
        f"/api/v1/subjects/{ids['company']}/reports",
        status=201,
    )
    content = issued["content"]
    assert content["tags"] == ["失信惩戒对象"] and len(content["lists"]) == 1
    assert content["sections"] and content["overview"]
    path, url = "/api/v1/reports/{report_no}", f"/api/v1/reports/{issued['report_no']}"
    pending = call(world, "GET", path, url)
    assert (pending["intact"], pending["ledger_index"]) == (True, None)
    call(world, "GET", path + "/bundle", url + "/bundle", status=409)
    ledger.integrate_now(c)
    bundle = call(world, "GET", path + "/bundle", url + "/bundle")
    assert set(bundle["disclosed"]) == {"content_hash", "report_no"}
    samr = department_principal(c, SAMR)
    withdraw_record(c, samr, ids["record"], "错误录入")
    report = call(world, "GET", path, url)
    assert report["intact"] and report["ledger_index"] is not None
    assert [(ch["kind"], ch["code"]) for ch in report["changes"]] == [("record", "withdrawn")]
    # the withdrawn record by its status only (`HiddenRecord`); its bundle for the subject
    # only: a withdrawn record is no longer shared, staff with a purpose are refused too
    assert report["complete"] is False
    [hidden] = [
        r
        for g in report["content"]["sections"]
        for r in g["records"]
        if r["record_id"] == ids["record"]
    ]
    assert hidden == {
        "record_id": ids["record"],
        "hidden": True,
        "code": "withdrawn",
        "label": "已撤销，不再公示",
    }
    refused = call(world, "GET", path + "/bundle", url + "/bundle", status=401)
    assert refused["error"] == "report_not_public"
    refused = call(
        world, "GET", path + "/bundle", url + "/bundle", "office", 403, params={"purpose": "核查"}
    )
    assert refused["error"] == "report_not_public"
    # error answers: a person's report is not public; an unknown number
    refused = call(
        world,
        "POST",
        "/api/v1/subjects/{subject_id}/reports",
        f"/api/v1/subjects/{ids['person']}/reports",
        status=401,
    )
    assert refused["error"] == "report_not_public"
    call(world, "GET", path, "/api/v1/reports/YLCR20261125NOPE", status=404)


@pytest.mark.db
def test_an_undocumented_key_fails_loudly(
    spec: dict[str, Any], world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that adds a key the model does not describe: a validated route refuses the
    answer (500 in production, an exception in the tests); a hot read's answer fails the
    published schema here."""
    run = runs.run_evaluation(world["c"], SYSTEM, engine="db", as_of=TODAY)
    real_run = runs.get_run
    monkeypatch.setattr(runs, "get_run", lambda *a, **k: {**real_run(*a, **k), "surprise": 1})
    with pytest.raises(ResponseValidationError, match="surprise"):
        world["client"].get(f"/api/v1/evaluation/runs/{run['run_id']}", headers=h(world, "office"))
    real_types = lists_service.public_list_types
    monkeypatch.setattr(
        lists_service,
        "public_list_types",
        lambda *a, **k: [{**t, "surprise": 1} for t in real_types(*a, **k)],
    )
    r = world["client"].get("/api/v1/lists")
    assert r.status_code == 200  # not validated per request …
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        check_answer(spec, "get", "/api/v1/lists", r)  # … but the contract refuses it
    with pytest.raises(jsonschema.ValidationError, match="undocumented"):
        validate(
            spec,
            answer_schema(spec, "get", "/api/v1/ledger/merge-delay", 200),
            {"mmd_s": 60, "oldest_pending_age_s": None, "pending": 0, "undocumented": 1},
        )
