"""The OpenAPI contract of the rights, privacy and withholding surfaces (权益保护, 个人信息明文查看,
不予公示).

A bank checking a borrower, an enterprise disputing a penalty, a citizen reading who queried
them and the credit office's clerks build clients from ``/openapi.json``: every operation of
web/rights_api.py, privacy_api.py and withhold_api.py declares a closed, exemplified answer
and its error bodies, and real answers — an objection carried to a decision and a statement, a
repair approved with a stop-use receipt acknowledged and then revoked, an authorisation used by
the bank, the subject's own account and its query log, a clear read, a lookup, a withholding
and its release — validate against the schema **taken from /openapi.json** (`openapi_support`).
The world is the role matrix's (`test_role_matrix.build_world`), on both databases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_role_matrix as rm

from citycredit.bootstrap import Container
from citycredit.rights import objections
from citycredit.web import privacy_api, rights_api, withhold_api
from openapi_support import (
    answer_as,
    check_declares_answer,
    check_examples,
    check_published_examples,
    operations,
    published_spec,
    response_models,
)

OPERATIONS = operations((rights_api.router, privacy_api.router, withhold_api.router))
MATERIALS = [
    {"code": "performance_proof", "name": "缴款凭证.pdf", "sha256": "0" * 64, "size": 20480},
    {"code": "commitment", "name": "信用修复承诺书.pdf", "sha256": "1" * 64},
]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def test_the_contract_covers_every_operation_of_the_three_routers() -> None:
    assert len(OPERATIONS) == 27 + 2 + 2  # rights 27, privacy 2, withholding 2


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_every_operation_declares_its_answer(spec: dict[str, Any], method: str, path: str) -> None:
    check_declares_answer(spec, method, path)


def test_every_response_model_has_an_example_that_validates() -> None:
    models = response_models(OPERATIONS)
    assert len(models) == 18
    check_examples(models)


def test_the_published_schema_carries_the_examples(spec: dict[str, Any]) -> None:
    check_published_examples(spec, response_models(OPERATIONS))


# -- real answers against /openapi.json --------------------------------------------------------


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    return rm.build_world(container, tmp_path)


answer = answer_as


@pytest.mark.db
def test_an_objection_from_filing_to_statement_matches_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, one = world, "/api/v1/objections/{objection_id}"
    oid = {"objection_id": w.ids["objection"]}
    accepted = answer(spec, w, rm.OFFICE, "post", one + "/accept", json={}, ids=oid)
    assert accepted["status"]["code"] == "accepted" and accepted["mark"] == "异议处理中"
    routed = answer(
        spec, w, rm.OFFICE, "post", one + "/route", json={"note": "请于期限内核查"}, ids=oid
    )
    assert routed["steps"][-1]["action"] == "route" and routed["steps"][-1]["from"] == "accepted"
    decided = answer(
        spec,
        w,
        rm.DEPT_A,
        "post",
        one + "/decide",
        json={"outcome": "kept", "reason": "经核实信息无误"},
        ids=oid,
    )
    assert decided["outcome"] == {
        "code": "kept",
        "label": "异议不成立，维持原信息",
        "reason": "经核实信息无误",
    }
    assert [c["state"] for c in decided["clocks"]] == ["done", "done"]
    stated = answer(
        spec,
        w,
        rm.AGENT_A,
        "post",
        one + "/statement",
        json={"text": "本单位对处罚金额仍有异议"},
        ids=oid,
    )
    assert stated["statement"] == "本单位对处罚金额仍有异议"
    assert answer(spec, w, rm.AGENT_A, "get", one, ids=oid) == stated
    # a second objection, with evidence, refused by the office
    filed = answer(
        spec,
        w,
        rm.AGENT_A,
        "post",
        "/api/v1/objections",
        201,
        json={
            "target_type": "record",
            "target_id": w.ids["record_r3"],
            "ground": "expired",
            "reasons": "已超过公示期限",
            "evidence": [{"name": "决定书.pdf", "sha256": "a" * 64, "size": 1024}],
        },
    )
    assert filed["evidence"] == [{"name": "决定书.pdf", "sha256": "a" * 64, "size": 1024}]
    rejected = answer(
        spec,
        w,
        rm.OFFICE,
        "post",
        one + "/reject",
        json={"reason": "不属于异议范围"},
        ids={"objection_id": filed["id"]},
    )
    assert rejected["rejection_reason"] == "不属于异议范围"
    listed = answer(spec, w, rm.DEPT_A, "get", "/api/v1/objections")
    assert listed["count"] == 2 and stated in listed["items"]
    inbox = answer(spec, w, rm.DEPT_A, "get", "/api/v1/inbox")
    assert any(n["ref"] == {"type": "objection", "id": w.ids["objection"]} for n in inbox["items"])
    # errors: the declared error body
    answer(spec, w, rm.OFFICE, "get", one, 404, ids={"objection_id": "OBJnone"})
    again = answer(spec, w, rm.OFFICE, "post", one + "/accept", 409, json={}, ids=oid)
    assert again["error"] == "invalid_objection_transition"
    assert answer(spec, w, rm.AGENT_A, "get", "/api/v1/inbox", 403)["error"] == "forbidden"
    bad = answer(spec, w, rm.OFFICE, "get", "/api/v1/objections", 422, params={"status": "x"})
    assert bad["field"] == "status"


@pytest.mark.db
def test_repairs_and_receipts_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, one = world, "/api/v1/repairs/{repair_id}"
    eligible = answer(
        spec,
        w,
        rm.AGENT_A,
        "get",
        "/api/v1/records/{record_id}/repair-eligibility",
        ids={"record_id": w.ids["record_r3"]},
    )
    assert eligible["eligible"] and eligible["conditions"]
    filed = answer(
        spec,
        w,
        rm.AGENT_A,
        "post",
        "/api/v1/repairs",
        201,
        json={
            "target_id": w.ids["record_r3"],
            "reasons": "已缴纳罚款并完成整改",
            "commitment_text": "本单位承诺今后依法经营，如有违反愿承担责任",
            "materials": MATERIALS,
        },
    )
    assert filed["eligibility"]["available_from"] == eligible["available_from"]
    assert filed["materials"][1]["size"] is None
    rejected = answer(
        spec,
        w,
        rm.OFFICE,
        "post",
        one + "/reject",
        json={"reason": "材料不齐全"},
        ids={"repair_id": filed["id"]},
    )
    assert rejected["status"]["code"] == "rejected"
    rid = {"repair_id": w.ids["repair"]}
    answer(spec, w, rm.OFFICE, "post", one + "/accept", json={}, ids=rid)
    approved = answer(
        spec,
        w,
        rm.DEPT_A,
        "post",
        one + "/decide",
        json={"approve": True, "reason": "已履行法定义务"},
        ids=rid,
    )
    assert approved["status"]["code"] == "approved" and approved["commitment_id"]
    assert approved["list_exits"] == []
    got = answer(spec, w, rm.AGENT_A, "get", one, ids=rid)
    assert "list_exits" not in got and got["decided_on"] == "2026-11-25"
    revoked = answer(
        spec, w, rm.OFFICE, "post", one + "/revoke", json={"reason": "提供虚假材料"}, ids=rid
    )
    assert revoked["status"]["code"] == "revoked" and revoked["revoked_on"] == "2026-11-25"
    # the world's repair of C was approved: dept B read C's archive and acknowledges its receipt
    ack = answer(
        spec,
        w,
        rm.DEPT_B,
        "post",
        "/api/v1/repair-receipts/{receipt_id}/acknowledge",
        ids={"receipt_id": w.ids["receipt"]},
    )
    assert ack["acknowledged_at"] and ack["via"] == "disclosure"
    listed = answer(spec, w, rm.OFFICE, "get", "/api/v1/repairs")
    assert listed["count"] == 3
    assert [r["receipts"] for r in listed["items"] if r["receipts"]] == [[ack]]
    answer(spec, w, rm.DEPT_A, "get", "/api/v1/repairs", params={"overdue": "true"})
    # errors
    twice = answer(
        spec, w, rm.OFFICE, "post", one + "/revoke", 409, json={"reason": "重复撤销"}, ids=rid
    )
    assert twice["error"] == "invalid_repair_transition"
    answer(spec, w, rm.AGENT_B, "get", one, 404, ids=rid)  # another subject's: like a missing one
    short = answer(
        spec,
        w,
        rm.AGENT_A,
        "post",
        "/api/v1/repairs",
        422,
        json={
            "target_id": w.ids["record_r3"],
            "reasons": "已整改",
            "commitment_text": "承诺",
            "materials": MATERIALS,
        },
    )
    assert (short["error"], short["field"]) == ("required", "commitment_text")


@pytest.mark.db
def test_authorisations_the_account_and_its_query_log_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, subject = world, {"subject_id": world.ids["subject_a"]}
    granted = answer(
        spec,
        w,
        rm.AGENT_A,
        "post",
        "/api/v1/authorisations",
        201,
        json={
            "subject_id": w.ids["subject_a"],
            "grantee": rm.CO["K"],
            "purpose": "授信审查",
            "valid_until": "2027-03-01",
            "items": ["penalty"],
        },
    )
    assert granted["items"] == ["penalty"] and granted["state"] == "active"
    for key in ("authorisation_revoke", "authorisation"):  # the bank keeps only the new one
        revoked = answer(
            spec,
            w,
            rm.AGENT_A,
            "post",
            "/api/v1/authorisations/{authorisation_id}/revoke",
            ids={"authorisation_id": w.ids[key]},
        )
        assert revoked["state"] == "revoked" and revoked["revoked_at"]
    listed = answer(spec, w, rm.AGENT_A, "get", "/api/v1/authorisations", params=subject)
    scopes = {(tuple(a["items"]), a["all_non_public_items"]) for a in listed["items"]}
    assert scopes == {((), True), (("penalty",), False)}
    held = answer(spec, w, rm.BANK, "get", "/api/v1/authorisations")
    assert held["count"] == 3
    # the bank reads A's archive under its valid authorisation (penalties only)
    archive = answer(
        spec, w, rm.BANK, "get", "/api/v1/institution/subjects/{subject_id}/archive", ids=subject
    )
    assert archive["authorisation"] == {
        "id": granted["id"],
        "purpose": "授信审查",
        "items": ["penalty"],
        "all_non_public_items": False,
        "evaluation": False,
        "valid_until": "2027-03-01",
    }
    assert [g["item"] for g in archive["groups"] if g["authorised"]] == ["penalty"]
    assert all(e["public"] for g in archive["groups"] if not g["authorised"] for e in g["records"])
    penalties = next(g for g in archive["groups"] if g["item"] == "penalty")["records"]
    entry = next(e for e in penalties if e["record_id"] == w.ids["record_a"])
    assert entry["objection_mark"]["mark"] == "异议处理中" and "repair" not in entry
    assert all(
        not f.get("masked") for g in archive["groups"] for e in g["records"] for f in e["fields"]
    )
    assert set(archive["disclosed"]) <= {"penalty"} and archive["scope_note"]
    # the subject's own account: objections, repairs, authorisations, marks, 自愿注册, 自主公示
    mine = answer(spec, w, rm.AGENT_A, "get", "/api/v1/me/archive", params=subject)
    assert mine["view"] == "own" and mine["voluntary_registration"]["status"]
    assert [o["id"] for o in mine["objections"]] == [w.ids["objection"]]
    assert [r["id"] for r in mine["repairs"]] == [w.ids["repair"]]
    assert len(mine["authorisations"]) == 3 and len(mine["self_disclosures"]) == 1
    assert mine["lists"][0]["exit_conditions"]
    own_entry = next(e for g in mine["groups"] for e in g["records"] if "repair" in e)
    assert own_entry["repair"]["message"]
    queries = answer(spec, w, rm.AGENT_A, "get", "/api/v1/me/queries", params=subject)
    used = [q for q in queries["items"] if q["authorisation"]]
    assert used[0]["authorisation"] == granted["id"] and used[0]["channel"] == "institution"
    assert (used[0]["channel_label"], used[0]["role_label"]) == ("授权机构查询", "金融机构")
    names = {"penalty": "行政处罚", "evaluation": "公共信用综合评价"}
    assert all(
        len(q["item_labels"]) == len(q["items"])
        and all(
            names.get(i, lab) == lab and lab != i
            for i, lab in zip(q["items"], q["item_labels"], strict=True)
        )
        for q in queries["items"]
    )
    assert used[0]["items"] == archive["disclosed"]  # exactly what went beyond the public view
    objection = {"objection_id": w.ids["objection"]}
    reject = "/api/v1/objections/{objection_id}/reject"
    answer(spec, w, rm.OFFICE, "post", reject, json={"reason": "不属于异议范围"}, ids=objection)
    inbox = answer(spec, w, rm.AGENT_A, "get", "/api/v1/me/inbox", params=subject)
    assert inbox["subject_id"] == w.ids["subject_a"]
    assert inbox["items"][0]["ref"] == {"type": "objection", "id": w.ids["objection"]}
    # errors
    again = answer(
        spec,
        w,
        rm.AGENT_A,
        "post",
        "/api/v1/authorisations/{authorisation_id}/revoke",
        409,
        ids={"authorisation_id": w.ids["authorisation_revoke"]},
    )
    assert again["error"] == "already_revoked"
    refused = answer(
        spec,
        w,
        rm.AGENCY,
        "get",
        "/api/v1/institution/subjects/{subject_id}/archive",
        403,
        ids=subject,
    )
    assert refused["error"] == "institution_not_bound"
    forged = {"Authorization": "Bearer not-a-token"}
    answer(spec, w, rm.ANON, "get", "/api/v1/me/archive", 401, headers=forged)


@pytest.mark.db
def test_clear_values_lookup_and_withholding_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w = world
    clear = answer(
        spec,
        w,
        rm.DEPT_A,
        "post",
        "/api/v1/records/{record_id}/personal",
        json={"purpose": "案件核查"},
        ids={"record_id": w.ids["record_p"]},
    )
    assert {"code": "CF_XDR_ZJHM", "label": "证件号码", "value": rm.PERSON_ID} in clear["fields"]
    found = answer(
        spec,
        w,
        rm.DEPT_A,
        "post",
        "/api/v1/personal/lookup",
        json={"kind": "id_number", "value": rm.PERSON_ID, "purpose": "案件核查"},
    )
    assert found["count"] >= 1 and found["records"][0]["record_id"] == w.ids["record_p"]
    path = "/api/v1/records/{record_id}/"
    rid = {"record_id": w.ids["record_b"]}
    withheld = answer(
        spec,
        w,
        rm.DEPT_A,
        "post",
        path + "withhold",
        json={"reason": "trade_secret", "basis": "榆市监不予公示审批 1 号"},
        ids=rid,
    )
    assert (withheld["action"], withheld["published"]) == ("withhold", False)
    assert withheld["unpublished_label"] == "不予公示：涉及商业秘密"
    released = answer(
        spec, w, rm.DEPT_A, "post", path + "release", json={"basis": "经复核恢复公示"}, ids=rid
    )
    assert (released["published"], released["unpublished_reason"]) == (True, None)
    # errors
    answer(spec, w, rm.DEPT_A, "post", path + "release", 409, json={"basis": "再次恢复"}, ids=rid)
    answer(spec, w, rm.DEPT_B, "post", path + "personal", 404, json={"purpose": "核查"}, ids=rid)
    bad = answer(
        spec,
        w,
        rm.DEPT_A,
        "post",
        "/api/v1/personal/lookup",
        422,
        json={"kind": "name", "value": "王小明", "purpose": "案件核查"},
    )
    assert bad["field"] == "kind"


@pytest.mark.db
def test_an_undocumented_key_is_refused_not_dropped(
    world: rm.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that adds a key the model does not describe: the answer is refused (500), not
    sent with the key dropped."""
    real = objections.get_objection

    def with_extra(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**real(*args, **kwargs), "surprise": True}

    url = f"/api/v1/objections/{world.ids['objection']}"
    assert world.call(rm.OFFICE, "GET", url).status_code == 200
    monkeypatch.setattr(objections, "get_objection", with_extra)
    assert world.call(rm.OFFICE, "GET", url).status_code == 500
