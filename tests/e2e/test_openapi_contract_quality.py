"""The OpenAPI contract of 数据质量: `GET /api/v1/quality` (public) and
`POST /api/v1/quality/refresh` (the credit office).

Both answer a stored snapshot (ingest/quality.py), so they document `schemas/quality.py` without
validating each answer (an older release's snapshot is served, never a 500). Here real answers
validate against the schema **taken from /openapi.json** (`openapi_support`), on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from citycredit.bootstrap import Container
from citycredit.web import api
from openapi_support import (
    check_answer,
    check_declares_answer,
    check_examples,
    check_published_examples,
    operations,
    published_spec,
    response_models,
)
from support import bearer, id_number, office_and_a_persons_penalty

QUALITY = {("GET", "/api/v1/quality"), ("POST", "/api/v1/quality/refresh")}
OPERATIONS = operations((api.router,), lambda _r, m, p: (m, p) in QUALITY)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def test_both_are_documented_and_not_validated_per_request() -> None:
    assert {(m, p) for m, p, _ in OPERATIONS} == QUALITY
    assert all(route.response_model is None for _, _, route in OPERATIONS)


def test_both_declare_their_answer(spec: dict[str, Any]) -> None:
    check_declares_answer(spec, "GET", "/api/v1/quality", public=True)
    check_declares_answer(spec, "POST", "/api/v1/quality/refresh")


def test_the_model_has_an_example_that_validates_and_is_published(spec: dict[str, Any]) -> None:
    models = response_models(OPERATIONS)
    assert [m.__name__ for m in models] == ["QualityReport"]
    check_examples(models)
    check_published_examples(spec, models)


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    yield from office_and_a_persons_penalty(
        container,
        name="钱某",
        id_no=id_number("610802", "19850505"),
        case_no="榆市监罚〔2026〕71号",
    )


@pytest.mark.db
def test_real_answers_match_the_published_schema(
    spec: dict[str, Any], world: dict[str, Any]
) -> None:
    client = world["client"]
    first = client.get("/api/v1/quality")  # nothing stored yet: computed and stored by the read
    assert first.status_code == 200
    report = check_answer(spec, "get", "/api/v1/quality", first)
    assert report["departments"][0]["items"][0]["rejections_by_reason"] == {}
    fresh = client.post("/api/v1/quality/refresh", headers=bearer(world["office"]))
    assert fresh.status_code == 200
    check_answer(spec, "post", "/api/v1/quality/refresh", fresh)
    refused = client.post("/api/v1/quality/refresh", headers=bearer(world["dept"]))
    assert refused.status_code == 403
    check_answer(spec, "post", "/api/v1/quality/refresh", refused)
    served = client.get("/api/v1/quality")
    assert check_answer(spec, "get", "/api/v1/quality", served) == fresh.json()
