"""The OpenAPI contract of the portal's archive reads (信用档案, subject search, 双公示).

The public archive is what a citizen, an enterprise and a bank read first; its routes are the
portal's hot reads, so they document their answers (`schemas/archive.py`) without validating
each one at run time. Here real answers — an enterprise's public archive with its 自愿注册 and
a disputed record, a natural person's public summary, the staff's authorised view with masked
personal fields, a search, both 双公示 lists — validate against the schema **taken from
/openapi.json** (`openapi_support`), and a key the schema does not describe fails. The world
is the role matrix's (`test_role_matrix.build_world`), on both databases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import test_role_matrix as rm

from citycredit.bootstrap import Container
from citycredit.web import api
from openapi_support import (
    answer_as,
    answer_schema,
    check_declares_answer,
    check_examples,
    check_published_examples,
    operations,
    published_spec,
    response_models,
    validate,
)

ARCHIVE_READS = {
    ("GET", "/api/v1/subjects"),
    ("GET", "/api/v1/subjects/{subject_id}"),
    ("GET", "/api/v1/subjects/{subject_id}/archive"),
    ("GET", "/api/v1/publicity/{item}"),
}
OPERATIONS = operations((api.router,), lambda _r, m, p: (m, p) in ARCHIVE_READS)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def test_the_four_reads_are_documented_and_not_validated_per_request() -> None:
    assert {(m, p) for m, p, _ in OPERATIONS} == ARCHIVE_READS
    assert all(route.response_model is None for _, _, route in OPERATIONS)


@pytest.mark.parametrize(("method", "path"), sorted(ARCHIVE_READS))
def test_every_read_declares_its_answer(spec: dict[str, Any], method: str, path: str) -> None:
    check_declares_answer(spec, method, path, public=True)


def test_the_models_have_examples_that_validate_and_are_published(spec: dict[str, Any]) -> None:
    models = response_models(OPERATIONS)
    assert [m.__name__ for m in models] == [
        "Archive",
        "PublicityPage",
        "SubjectSearch",
        "SubjectSummary",
    ]
    check_examples(models)
    check_published_examples(spec, models)


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    return rm.build_world(container, tmp_path)


@pytest.mark.db
def test_real_archive_answers_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, a, p = world, {"subject_id": world.ids["subject_a"]}, {"subject_id": world.ids["subject_p"]}
    # the objection against A's penalty accepted: the record carries 异议处理中
    accepted = w.call(rm.OFFICE, "POST", f"/api/v1/objections/{w.ids['objection']}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    archive = "/api/v1/subjects/{subject_id}/archive"

    public = answer_as(spec, w, rm.ANON, "get", archive, ids=a)
    assert public["view"] == "public" and public["total"] >= 1
    assert public["voluntary_registration"]["profile"] == {"introduction": "榆林本地企业"}
    records = [r for g in public["groups"] for r in g["records"]]
    assert any(r.get("objection_mark") for r in records), records
    assert all("department_id" not in r for r in records)  # the public view's keys only

    staff = answer_as(
        spec, w, rm.DEPT_A, "get", archive, ids=p, params={"view": "authorised", "purpose": "核查"}
    )
    assert staff["view"] == "authorised" and staff["purpose"] == "核查"
    assert staff["subject"]["id_number_masked"]
    fields = [f for g in staff["groups"] for r in g["records"] for f in r["fields"]]
    assert any(f.get("masked") for f in fields)

    person = answer_as(spec, w, rm.ANON, "get", "/api/v1/subjects/{subject_id}", ids=p)
    assert person["uscc"] is None and person["name"] != "王小明"  # masked publicly
    assert "professions" in person and "id_number_masked" not in person
    found = answer_as(spec, w, rm.ANON, "get", "/api/v1/subjects", params={"q": "榆林A公司"})
    assert [s["subject_id"] for s in found["results"]] == [w.ids["subject_a"]]

    penalties = answer_as(
        spec, w, rm.ANON, "get", "/api/v1/publicity/{item}", ids={"item": "penalty"}
    )
    kinds = {e["subject"]["subject_id"] is None for e in penalties["entries"]}
    assert kinds == {True, False}  # a person's entry is not linked, an enterprise's is
    assert all(e["decision_no"] for e in penalties["entries"])
    licences = answer_as(
        spec, w, rm.ANON, "get", "/api/v1/publicity/{item}", ids={"item": "licence"}
    )
    assert licences["entries"] == [] and licences["has_more"] is False

    # errors: the platform's error body
    answer_as(
        spec, w, rm.ANON, "get", "/api/v1/subjects/{subject_id}", 404, ids={"subject_id": "nope"}
    )
    answer_as(spec, w, rm.ANON, "get", "/api/v1/publicity/{item}", 422, ids={"item": "permit"})
    answer_as(spec, w, rm.ANON, "get", archive, 401, ids=a, params={"view": "authorised"})

    # the schema is closed: a key it does not describe fails the check
    with pytest.raises(jsonschema.ValidationError, match="undocumented"):
        validate(spec, answer_schema(spec, "get", archive, 200), {**public, "undocumented": 1})
