"""What every OpenAPI contract test checks, for any set of routers.

A contract test names its routers (and, for a router only partly in the contract, the typed
operations); these functions then check that every operation declares its answer (a closed
schema with an example, or a download's media types), that every response model's example
validates and is published, and that a real answer validates against the schema taken from
``/openapi.json`` (``jsonschema`` 2020-12, the spec's components resolvable by ``$ref``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from citycredit.bootstrap import build_container
from citycredit.settings import Settings
from citycredit.web.app import create_app
from citycredit.web.schemas.common import ErrorBody

FILE_MEDIA = {
    "application/x-ndjson",
    "text/csv; charset=utf-8",
    "application/octet-stream",
    "application/pdf",
    "image/jpeg",
    "image/png",
}

Operation = tuple[str, str, APIRoute]


def operations(
    routers: Iterable[APIRouter], keep: Callable[[APIRouter, str, str], bool] | None = None
) -> list[Operation]:
    """(method, path, route) of the routers' operations (HEAD excluded), ``keep`` filtering."""
    out = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for method in sorted(route.methods - {"HEAD"}):
                if keep is not None and not keep(router, method, route.path):
                    continue
                out.append((method, route.path, route))
    return out


def published_spec() -> dict[str, Any]:
    """The schema the app publishes (it does not depend on the database)."""
    settings = Settings(
        environment="test", data_dir=Path(tempfile.mkdtemp()), seed_synthetic_city=False
    )
    c = build_container(settings)
    app: FastAPI = create_app(c, scheduler=False)
    r = TestClient(app).get("/openapi.json")  # no lifespan: this database is never migrated
    c.dispose()
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def response_models(ops: Iterable[Operation]) -> list[type[BaseModel]]:
    """The top-level models the operations answer with (``list[X]`` → X), by name.

    An operation that documents its answer without validating it at run time (a hot public read:
    ``responses={200: {"model": X}}``) counts too."""
    models: dict[str, type[BaseModel]] = {}
    for _method, _path, route in ops:
        candidates = [route.response_model]
        candidates += [r.get("model") for r in route.responses.values() if isinstance(r, dict)]
        for model in candidates:
            if model is None:
                continue
            inner = getattr(model, "__args__", (model,))[0]  # list[Export] → Export
            assert isinstance(inner, type) and issubclass(inner, BaseModel), route.path
            if inner is ErrorBody:
                continue
            models[inner.__name__] = inner
    return [models[k] for k in sorted(models)]


def check_declares_answer(
    spec: dict[str, Any], method: str, path: str, *, public: bool = False
) -> None:
    """The operation's 200/201 has a body: a closed, exemplified schema or a download's media
    types; its errors are the platform's ErrorBody; unless ``public``, 401 and 403 are listed."""
    op = spec["paths"][path][method.lower()]
    ok = next(code for code in ("200", "201") if code in op["responses"])
    content = op["responses"][ok].get("content", {})
    assert content, f"{method} {path}: no body declared"
    json_schema = content.get("application/json", {}).get("schema", {})
    files = set(content) & FILE_MEDIA
    if files:  # a download: its file media types, each a binary body
        assert all(content[m]["schema"]["format"] == "binary" for m in files)
    else:
        assert set(json_schema) & {"$ref", "items"}, f"{method} {path}: {json_schema}"
    if "$ref" in json_schema:
        name = json_schema["$ref"].rsplit("/", 1)[1]
        declared = spec["components"]["schemas"][name]
        assert declared["properties"] and declared["additionalProperties"] is False, name
        assert declared.get("examples"), f"{name} has no example in the spec"
    for code, answer in op["responses"].items():
        if code.startswith(("4", "5")):
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorBody", (method, path, code)
    if not public:
        assert {"401", "403"} <= set(op["responses"]), (method, path)


def check_examples(models: Iterable[type[BaseModel]]) -> None:
    """Each model forbids undescribed keys and carries examples that validate against it."""
    for model in [*models, ErrorBody]:
        extra = model.model_config.get("json_schema_extra")
        assert isinstance(extra, dict), model.__name__
        examples = extra.get("examples")
        assert isinstance(examples, list) and examples, f"{model.__name__}: no example"
        for example in examples:
            model.model_validate(example)  # raises if the example drifted from the model
        assert model.model_config.get("extra") == "forbid", model.__name__


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def check_published_examples(spec: dict[str, Any], models: Iterable[type[BaseModel]]) -> None:
    """The spec shows each model's example. FastAPI drops null values from a published
    example (it encodes the document with ``exclude_none``), so the published copy is compared
    with the model's example less its nulls; the full example is validated by check_examples."""
    for model in models:
        extra = model.model_config.get("json_schema_extra")
        assert isinstance(extra, dict)
        published = spec["components"]["schemas"][model.__name__]["examples"]
        assert published == [_without_nulls(e) for e in extra["examples"]], model.__name__


def validate(spec: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
    """jsonschema (2020-12, formats checked) with the spec's components resolvable by $ref."""
    root = {**schema, "components": spec["components"]}
    jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(body)


def answer_schema(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """The schema /openapi.json declares for the operation's answer with this status."""
    schema: dict[str, Any] = spec["paths"][path][method]["responses"][str(status)]["content"][
        "application/json"
    ]["schema"]
    return schema


def check_answer(spec: dict[str, Any], method: str, path: str, r: Any) -> Any:
    """The answer validates against the schema /openapi.json declares for its status."""
    validate(spec, answer_schema(spec, method, path, r.status_code), r.json())
    return r.json()


def answer_as(
    spec: dict[str, Any],
    world: Any,
    who: str,
    method: str,
    path: str,
    status: int = 200,
    **kwargs: Any,
) -> Any:
    """Call ``path`` (its ``{name}`` filled from ``kwargs["ids"]``) as ``who`` of a world with
    ``app`` and ``creds`` (identity → headers, cookies; tests/e2e/test_role_matrix.World); the
    answer has ``status`` and validates against the schema /openapi.json declares for it. An
    answer the response model refuses raises here, naming the key."""
    ids = kwargs.pop("ids", {})
    headers, cookies = world.creds[who]
    client = TestClient(world.app, headers=headers, cookies=cookies)  # a refused answer raises
    r = client.request(method.upper(), path.format(**ids), **kwargs)
    assert r.status_code == status, r.text
    return check_answer(spec, method, path, r)
