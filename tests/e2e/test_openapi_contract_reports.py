"""The OpenAPI contract of what a credit report stores from the public archive (its sections'
records and its 自愿注册 block) and of the subject's own evaluation detail (/me/archive).

A bank reading a report builds its client from ``/openapi.json``: the records and the
registration a report keeps are the public archive's, typed with the archive's own models
(`ArchiveGroup`, `ArchiveEntry`, `PublicRegistration`); the own account's ``evaluation_detail``
carries the evaluation area's stored result and grade history (`EvaluationResult`,
`GradeHistoryEntry`). Real answers — a report of an enterprise with a disputed public penalty, a
grade and a 自愿注册, its bundle, a report whose records lack a key later versions write, the
subject's own account after two evaluation runs — validate against the schema **taken from
/openapi.json** (`openapi_support`). The report routes validate the stored document per request
(``response_model``, ``exclude_unset``): the answer must still be the document exactly as stored,
and its bundle must still verify offline. The world is the role matrix's
(`test_role_matrix.build_world`), on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import test_role_matrix as rm

from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.bootstrap import Container
from citycredit.evaluation import runs
from citycredit.evaluation.views import current_evaluation
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import verify_bundle
from citycredit.reports.db import ReportRow
from citycredit.subjects import archive
from openapi_support import answer_as, answer_schema, published_spec, validate

ISSUE = "/api/v1/subjects/{subject_id}/reports"
REPORT = "/api/v1/reports/{report_no}"
REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def _refs(node: Any) -> Iterator[str]:
    """The component names a schema refers to, at any depth."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix(REF)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closure(spec: dict[str, Any], root: str) -> dict[str, dict[str, Any]]:
    """``root`` and every component it reaches."""
    schemas = spec["components"]["schemas"]
    seen: dict[str, dict[str, Any]] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen[name] = schemas[name]
            todo.extend(_refs(schemas[name]))
    return seen


def _open_objects(node: Any, where: str) -> Iterator[str]:
    """Where a schema admits keys it does not name (``dict[str, …]``, an untyped object)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            yield where
        for key, value in node.items():
            yield from _open_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _open_objects(value, f"{where}/{i}")


def test_the_report_and_the_own_evaluation_publish_closed_schemas(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    content = schemas["ReportContent"]["properties"]
    assert content["sections"]["items"] == {"$ref": REF + "ArchiveGroup"}
    assert {"$ref": REF + "PublicRegistration"} in content["voluntary_registration"]["anyOf"]
    detail = schemas["OwnEvaluation"]["properties"]
    assert {"$ref": REF + "EvaluationResult"} in detail["current"]["anyOf"]
    assert detail["history"]["items"] == {"$ref": REF + "GradeHistoryEntry"}
    assert "ReportSection" not in schemas  # the archive's group, not a copy of it
    for root in ("ArchiveGroup", "PublicRegistration", "OwnEvaluation"):
        for name, schema in _closure(spec, root).items():
            assert schema["additionalProperties"] is False, name
            assert list(_open_objects(schema["properties"], name)) == [], name


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    return rm.build_world(container, tmp_path)


def _stored(c: Container, report_no: str) -> dict[str, Any]:
    with c.uow() as uow:
        row = uow.session.get(ReportRow, report_no)
        assert row is not None
        return dict(row.content)


@pytest.mark.db
def test_a_report_with_records_and_a_registration_matches_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, c, a = world, world.c, {"subject_id": world.ids["subject_a"]}
    runs.run_evaluation(c, SYSTEM, engine="db", as_of=date(2026, 11, 25))  # a grade is shown
    issued = answer_as(spec, w, rm.ANON, "post", ISSUE, 201, ids=a)
    no = {"report_no": issued["report_no"]}
    report = answer_as(spec, w, rm.ANON, "get", REPORT, ids=no)
    content = report["content"]
    # served exactly as stored (and as issued): typing it neither drops nor adds a key
    assert content == _stored(c, issued["report_no"]) == issued["content"]
    assert report["intact"]
    records = [r for g in content["sections"] for r in g["records"]]
    disputed = next(r for r in records if r["record_id"] == w.ids["record_a"])
    assert disputed["objection_mark"]["mark"] == "异议处理中"
    assert disputed["adverse"] and disputed["legal_basis"] and disputed["severity_note"]
    assert disputed["publication_last_day"] and disputed["fields"]
    assert all("department_id" not in r and "published" not in r for r in records)
    assert content["voluntary_registration"]["profile"] == {"introduction": "榆林本地企业"}
    assert content["evaluation"]["shown"] is True

    # the schema is closed where it used to be open: a record's or a profile's extra key fails
    schema = answer_schema(spec, "get", REPORT, 200)
    record = {**disputed, "undocumented": 1}
    altered = {**content, "sections": [{**content["sections"][0], "records": [record]}]}
    with pytest.raises(jsonschema.ValidationError, match="undocumented"):
        validate(spec, schema, {**report, "content": altered})
    registration = content["voluntary_registration"]
    profile = {**registration["profile"], "undocumented": "x"}
    altered = {**content, "voluntary_registration": {**registration, "profile": profile}}
    with pytest.raises(jsonschema.ValidationError, match="undocumented"):
        validate(spec, schema, {**report, "content": altered})

    # the bundle's report, validated and re-serialised on its way out, still verifies offline
    ledger.integrate_now(c)
    bundle = answer_as(spec, w, rm.ANON, "get", REPORT + "/bundle", ids=no)
    assert bundle["report"] == content
    assert verify_bundle(bundle).ref == f"{issued['report_no']}/issued"  # raises if altered


@pytest.mark.db
def test_a_report_whose_records_lack_a_later_key_is_served_as_stored(
    spec: dict[str, Any], world: rm.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports issued before 公示截止 (`publication_last_day`) was written lack it: the typed
    route serves them without the key — not with a null, not refused."""
    real = archive.public_entry

    def as_before(*args: Any, **kwargs: Any) -> dict[str, Any]:
        entry = real(*args, **kwargs)
        entry.pop("publication_last_day", None)
        return entry

    monkeypatch.setattr(archive, "public_entry", as_before)
    issued = answer_as(
        spec, world, rm.ANON, "post", ISSUE, 201, ids={"subject_id": world.ids["subject_a"]}
    )
    monkeypatch.undo()
    report = answer_as(spec, world, rm.ANON, "get", REPORT, ids={"report_no": issued["report_no"]})
    records = [r for g in report["content"]["sections"] for r in g["records"]]
    adverse = [r for r in records if r["adverse"]]
    assert adverse and all("publication_last_day" not in r for r in records)
    assert all(r["publication_end"] and r["severity_note"] for r in adverse)
    assert report["content"] == _stored(world.c, issued["report_no"])
    assert report["intact"]


@pytest.mark.db
def test_the_own_evaluation_detail_matches_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, c, sid = world, world.c, world.ids["subject_a"]
    for day in (date(2026, 11, 24), date(2026, 11, 25)):
        runs.run_evaluation(c, SYSTEM, engine="db", as_of=day)
    mine = answer_as(spec, w, rm.AGENT_A, "get", "/api/v1/me/archive", params={"subject_id": sid})
    detail = mine["evaluation_detail"]
    current, history = detail["current"], detail["history"]
    assert detail["evaluated"] and current["subject_id"] == sid
    assert current["indicators"] and current["reasons"] and "caps" in current
    assert all(i["code"] != "non_public" for i in current["indicators"])  # every detail: own
    assert [h["as_of"] for h in history] == ["2026-11-25", "2026-11-24"]
    assert history[0]["result_id"] == current["result_id"]
    assert [h["grade_changed"] for h in history] == [False, False]
    # what the service builds, key for key: the typed answer drops and adds nothing
    agent = Principal(role=Role.enterprise_agent, label="agent_a", subject_ids=frozenset({sid}))
    assert detail == current_evaluation(c, agent, sid, view="own")
