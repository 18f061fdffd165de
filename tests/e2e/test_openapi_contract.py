"""The OpenAPI contract of the integration surfaces (共享调度, 归集, 双公示 exports).

An integration engineer builds a client from ``/openapi.json``: every operation of the three
routers declares the body of its 200/201 (a typed schema, or the media types of a download),
every response model carries an example that validates against itself, and real answers —
a submission's receipt and rejects, a feed page after that submission, an export and a download
request — validate against the schema **taken from /openapi.json** with ``jsonschema`` (the
spec's ``components`` resolved; ``additionalProperties: false`` of the models checked, so an
undocumented key fails here). The models forbid keys they do not describe: a route whose
service adds one answers 500 in the tests instead of dropping it silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.sharing import service as sharing_service
from citycredit.sharing.fanout import fan_out
from citycredit.web import api, exports_api, sharing_api
from citycredit.web.app import create_app
from citycredit.web.schemas.sharing import FeedFileManifest
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
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    id_number,
    penalty_row,
    uscc,
)

# The routes of web/api.py in the contract; the public archive, subject search, 双公示 lists
# and data quality (hot public reads) document their answers without run-time validation: see
# test_openapi_contract_archive.py and test_openapi_contract_quality.py.
API_TYPED = {
    ("POST", "/api/v1/submissions"),
    ("GET", "/api/v1/submissions/{submission_id}"),
    ("GET", "/api/v1/submissions/{submission_id}/rejects"),
    ("GET", "/api/v1/submissions"),
    ("GET", "/api/v1/submissions/{submission_id}/rejects.csv"),
    ("POST", "/api/v1/records/{record_id}/withdraw"),
    ("GET", "/api/v1/records/{record_id}/history"),
    ("GET", "/api/v1/unresolved"),
    ("POST", "/api/v1/unresolved/{unresolved_id}/attach"),
    ("POST", "/api/v1/unresolved/{unresolved_id}/dismiss"),
    ("GET", "/api/v1/catalog"),
}


def _in_contract(router: Any, method: str, path: str) -> bool:
    return router is not api.router or (method, path) in API_TYPED


OPERATIONS = operations((sharing_api.router, api.router, exports_api.router), _in_contract)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def test_the_contract_covers_every_operation_of_the_three_routers() -> None:
    assert len(OPERATIONS) == 8 + len(API_TYPED) + 11  # sharing 8, intake 11, exports 11
    assert {(m, p) for m, p, _ in OPERATIONS} >= API_TYPED


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_every_operation_declares_its_answer(spec: dict[str, Any], method: str, path: str) -> None:
    check_declares_answer(spec, method, path, public=path == "/api/v1/catalog")


def test_every_response_model_has_an_example_that_validates() -> None:
    models = [FeedFileManifest, *response_models(OPERATIONS)]
    assert len(models) >= 17
    check_examples(models)


def test_the_published_schema_carries_the_examples(spec: dict[str, Any]) -> None:
    check_published_examples(spec, [FeedFileManifest, *response_models(OPERATIONS)])


# -- real answers against /openapi.json --------------------------------------------------------


AUTH = uscc("11", "610800", "MA0CAMR1")
TAX = "榆林市税务局"
PERSON = id_number("610802", "19910909")
CO = uscc("91", "610802", "MA6HTP01")


def _csv() -> bytes:
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="周某",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=PERSON,
            CF_WSH="榆市监罚〔2026〕91号",
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="榆阳区契约1号商贸有限公司",
            CF_XDR_SHXYM=CO,
            CF_WSH="榆市监罚〔2026〕92号",
        ),
        # quarantined: no name, a bad code
        ["", "法人及非法人组织", "bad"] + [""] * (len(PENALTY_COLUMNS_WITH_ID) - 3),
    ]
    lines = [",".join(PENALTY_COLUMNS_WITH_ID), *(",".join(map(str, r)) for r in rows)]
    return "\n".join(lines).encode("utf-8")


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    tokens = {
        "samr": add_department(container, SYSTEM, name=SAMR, code=AUTH).token,
        "tax": add_department(
            container, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01")
        ).token,
    }
    for name, label in (("zhang", "张三"), ("li", "李四")):
        tokens[name] = add_user(
            container, SYSTEM, username=name, display_name=label, role=Role.credit_office_admin
        ).token
    with TestClient(create_app(container, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "c": container}


def h(world: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"}


def _submit(world: dict[str, Any]) -> Any:
    return world["client"].post(
        "/api/v1/submissions",
        headers=h(world, "samr"),
        data={"item": "penalty"},
        files={"file": ("p.csv", io.BytesIO(_csv()), "text/csv")},
    )


@pytest.mark.db
def test_a_receipt_and_its_rejects_match_the_published_schema(
    spec: dict[str, Any], world: dict[str, Any]
) -> None:
    client = world["client"]
    receipt = check_answer(spec, "post", "/api/v1/submissions", _submit(world))
    assert (receipt["received"], receipt["new"], receipt["rejected"]) == (3, 2, 1)
    sid = receipt["submission_id"]
    again = check_answer(
        spec,
        "get",
        "/api/v1/submissions/{submission_id}",
        client.get(f"/api/v1/submissions/{sid}", headers=h(world, "samr")),
    )
    assert again == receipt
    for who, hidden in (("samr", False), ("zhang", True)):
        rejects = check_answer(
            spec,
            "get",
            "/api/v1/submissions/{submission_id}/rejects",
            client.get(f"/api/v1/submissions/{sid}/rejects", headers=h(world, who)),
        )
        assert rejects["count"] == 1
        # the optional key stays absent where the service leaves it out (exclude_unset)
        assert ("personal_hidden" in rejects["rejects"][0]) is hidden
    # 报送记录: the department's own submissions as receipts; the credit office sees all
    listed = check_answer(
        spec,
        "get",
        "/api/v1/submissions",
        client.get("/api/v1/submissions", headers=h(world, "samr")),
    )
    assert (listed["count"], listed["total"], listed["submissions"]) == (1, 1, [receipt])
    office = client.get("/api/v1/submissions", headers=h(world, "zhang")).json()
    assert office["total"] == 1
    assert client.get("/api/v1/submissions", headers=h(world, "tax")).json()["total"] == 0
    none = client.get("/api/v1/submissions", headers=h(world, "samr"), params={"item": "licence"})
    assert none.json()["total"] == 0
    bad = client.get("/api/v1/submissions", headers=h(world, "samr"), params={"item": "行政处罚"})
    assert bad.status_code == 422 and (bad.json()["field"], bad.json()["value"]) == (
        "item",
        "行政处罚",
    )
    # 问题数据下载: the rejected row in the file's columns with its reasons, for Excel
    got = client.get(f"/api/v1/submissions/{sid}/rejects.csv", headers=h(world, "samr"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    assert got.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads it as UTF-8
    table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert table[0] == [*PENALTY_COLUMNS_WITH_ID, "行号", "问题说明"]
    assert len(table) == 2 and table[1][2] == "bad" and table[1][-2] == "3"
    assert "CF_XDR_SHXYM" in table[1][-1] and "bad" in table[1][-1]
    other = client.get(f"/api/v1/submissions/{sid}/rejects.csv", headers=h(world, "tax"))
    assert other.status_code == 404  # another department's: like a missing one
    catalog = check_answer(spec, "get", "/api/v1/catalog", client.get("/api/v1/catalog"))
    assert {"penalty", "licence"} <= {i["code"] for i in catalog["items"]}
    # an error answer: the declared error body
    missing = client.get("/api/v1/submissions/nope", headers=h(world, "samr"))
    assert missing.status_code == 404
    check_answer(spec, "get", "/api/v1/submissions/{submission_id}", missing)
    # the schema is closed: a key the spec does not describe fails the check
    with pytest.raises(jsonschema.ValidationError, match="undocumented"):
        validate(
            spec,
            answer_schema(spec, "post", "/api/v1/submissions", 200),
            {**receipt, "undocumented": 1},
        )


@pytest.mark.db
def test_a_feed_page_after_a_submission_matches_the_published_schema(
    spec: dict[str, Any], world: dict[str, Any]
) -> None:
    client, c = world["client"], world["c"]
    made = client.post(
        "/api/v1/subscriptions",
        headers=h(world, "tax"),
        json={"name": "处罚信息", "items": ["penalty"]},
    )
    sub = check_answer(spec, "post", "/api/v1/subscriptions", made)
    assert made.status_code == 201
    assert _submit(world).status_code == 200
    fan_out(c, grace=0)
    page = check_answer(
        spec,
        "get",
        "/api/v1/feeds/{subscription_id}",
        client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax")),
    )
    assert [e["kind"] for e in page["entries"]] == ["original", "original"]
    person = next(
        e for e in page["entries"] if e["data"]["subject"]["subject_type"] != "enterprise"
    )
    # public access: no authorised-only keys, and the masked name (the answer is not rewritten)
    assert "openness" not in person["data"] and person["data"]["subject"]["name"] == "周*"
    assert "uscc" not in person["data"]["subject"]
    rid = page["entries"][0]["record_id"]
    withdrawn = check_answer(
        spec,
        "post",
        "/api/v1/records/{record_id}/withdraw",
        client.post(
            f"/api/v1/records/{rid}/withdraw", headers=h(world, "samr"), json={"reason": "错误录入"}
        ),
    )
    assert withdrawn == {"record_id": rid, "version": 2, "status": "withdrawn"}
    fan_out(c, grace=0)
    page = check_answer(
        spec,
        "get",
        "/api/v1/feeds/{subscription_id}",
        client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax")),
    )
    first, notice = page["entries"][0], page["entries"][-1]
    assert first["data"] is None and first["redacted"]["reason"] == "withdrawal"
    assert (notice["kind"], notice["data"]) == ("withdrawal", None)
    for method, path, url, who in (
        ("get", "/api/v1/subscriptions", "/api/v1/subscriptions", "zhang"),
        (
            "get",
            "/api/v1/subscriptions/{subscription_id}",
            f"/api/v1/subscriptions/{sub['id']}",
            "tax",
        ),
        (
            "get",
            "/api/v1/records/{record_id}/consumers",
            f"/api/v1/records/{rid}/consumers",
            "zhang",
        ),
        ("get", "/api/v1/records/{record_id}/history", f"/api/v1/records/{rid}/history", "samr"),
        ("get", "/api/v1/unresolved", "/api/v1/unresolved", "zhang"),
    ):
        check_answer(spec, method, path, client.get(url, headers=h(world, who)))
    cancelled = check_answer(
        spec,
        "post",
        "/api/v1/subscriptions/{subscription_id}/status",
        client.post(
            f"/api/v1/subscriptions/{sub['id']}/status",
            headers=h(world, "tax"),
            json={"status": "cancelled"},
        ),
    )
    assert cancelled["status"] == "cancelled"
    bad = client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax"), params={"after": -1})
    assert bad.status_code == 422
    assert check_answer(spec, "get", "/api/v1/feeds/{subscription_id}", bad)["field"] == "after"


@pytest.mark.db
def test_an_export_and_a_download_request_match_the_published_schema(
    spec: dict[str, Any], world: dict[str, Any]
) -> None:
    client = world["client"]
    assert _submit(world).status_code == 200
    made = client.post("/api/v1/exports/dual-publicity", json={}, headers=h(world, "zhang"))
    assert made.status_code == 201, made.text
    export = check_answer(spec, "post", "/api/v1/exports/dual-publicity", made)
    assert export["counts"]["penalty"]["新增"] == 2
    manifest = export["files"][-1]
    assert manifest["format"] == "manifest" and "personal_rows" not in manifest
    listed = check_answer(
        spec, "get", "/api/v1/exports", client.get("/api/v1/exports", headers=h(world, "zhang"))
    )
    assert listed == {"exports": [export]}
    one = client.get(f"/api/v1/exports/{export['id']}", headers=h(world, "zhang"))
    assert check_answer(spec, "get", "/api/v1/exports/{export_id}", one) == export
    asked = client.post(
        f"/api/v1/exports/{export['id']}/download-requests",
        json={"purpose": "上传前核对"},
        headers=h(world, "zhang"),
    )
    request = check_answer(spec, "post", "/api/v1/exports/{export_id}/download-requests", asked)
    assert request["status"] == "pending" and request["copies"] == []
    approved = check_answer(
        spec,
        "post",
        "/api/v1/exports/download-requests/{download_id}/approve",
        client.post(
            f"/api/v1/exports/download-requests/{request['id']}/approve", headers=h(world, "li")
        ),
    )
    assert approved["status"] == "approved" and len(approved["copies"]) == 2
    listed_requests = check_answer(
        spec,
        "get",
        "/api/v1/exports/download-requests",
        client.get("/api/v1/exports/download-requests", headers=h(world, "zhang")),
    )
    assert listed_requests == {"download_requests": [approved]}
    # a file download answers one of its declared media types
    data = next(f for f in export["files"] if f["format"] == "csv" and f["personal_rows"] == 0)
    got = client.get(
        f"/api/v1/exports/{export['id']}/files/{data['name']}", headers=h(world, "zhang")
    )
    assert got.status_code == 200
    declared = spec["paths"]["/api/v1/exports/{export_id}/files/{name}"]["get"]["responses"]
    assert got.headers["content-type"] in declared["200"]["content"]


@pytest.mark.db
def test_an_undocumented_key_fails_loudly(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that adds a key the model does not describe: the answer is refused (500 in
    production, an exception in the tests), not sent with the key dropped."""
    real = sharing_service.record_consumers

    def with_extra(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**real(*args, **kwargs), "surprise": True}

    assert _submit(world).status_code == 200
    with world["c"].uow() as uow:
        rid = uow.session.scalars(select(RecordRow.id).order_by(RecordRow.id)).first()
    url = f"/api/v1/records/{rid}/consumers"
    assert world["client"].get(url, headers=h(world, "zhang")).status_code == 200
    monkeypatch.setattr(sharing_service, "record_consumers", with_extra)
    with pytest.raises(ResponseValidationError, match="surprise"):
        world["client"].get(url, headers=h(world, "zhang"))


def test_every_schema_of_the_spec_has_its_own_name(spec: dict[str, Any]) -> None:
    """Two models (or request bodies) of one name in different modules would be published as
    `citycredit__web__…__Name`: a client generator then makes odd types of them."""
    assert [n for n in spec["components"]["schemas"] if "__" in n] == []
