"""HTTP: the credit office runs, lists and downloads 双公示 exports; downloads are logged."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.bootstrap import Container
from citycredit.kernel.db import DisclosureRow
from support import (
    bearer,
    id_number,
    office_and_a_persons_penalty,
    uscc,
)

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
PERSON = id_number("610802", "19900707")


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    yield from office_and_a_persons_penalty(
        container, name="钱某", id_no=PERSON, case_no="榆市监罚〔2026〕71号"
    )


h = bearer


def test_run_list_and_download(world: dict[str, Any], container: Container) -> None:
    client, admin = world["client"], world["office"]
    assert client.post("/api/v1/exports/dual-publicity", json={}).status_code == 401
    denied = client.post("/api/v1/exports/dual-publicity", json={}, headers=h(world["dept"]))
    assert denied.status_code == 403
    bad = client.post("/api/v1/exports/dual-publicity", json={"since": "x"}, headers=h(admin))
    assert bad.status_code == 422 and bad.json()["field"] == "since"

    r = client.post("/api/v1/exports/dual-publicity", json={"formats": ["csv"]}, headers=h(admin))
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["trigger"] == "api" and done["counts"]["penalty"]["新增"] == 1
    listed = client.get("/api/v1/exports", headers=h(admin)).json()
    assert [e["id"] for e in listed["exports"]] == [done["id"]]
    assert client.get(f"/api/v1/exports/{done['id']}", headers=h(admin)).json() == done
    assert client.get("/api/v1/exports", headers=h(world["dept"])).status_code == 403

    cf = next(f for f in done["files"] if f["item"] == "penalty")
    url = f"/api/v1/exports/{done['id']}/files/{cf['name']}"
    assert client.get(url, headers=h(world["dept"])).status_code == 403
    # A natural person's penalty: downloaded only through an approved request (G35,
    # tests/e2e/test_export_approval_http.py); the empty licence file stays open.
    got = client.get(url, params={"purpose": "上传省级平台前核对"}, headers=h(admin))
    assert got.status_code == 403 and got.json()["error"] == "export_approval_required"
    lf = next(f for f in done["files"] if f["item"] == "licence")
    url = f"/api/v1/exports/{done['id']}/files/{lf['name']}"
    got = client.get(url, params={"purpose": "上传省级平台前核对"}, headers=h(admin))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert hashlib.sha256(got.content).hexdigest() == lf["sha256"]
    assert got.content.startswith(b"\xef\xbb\xbf") and PERSON.encode() not in got.content
    manifest = client.get(f"/api/v1/exports/{done['id']}/files/manifest.json", headers=h(admin))
    assert manifest.status_code == 200 and manifest.json()["export_id"] == done["id"]
    missing = client.get(f"/api/v1/exports/{done['id']}/files/..%2Fp.csv", headers=h(admin))
    assert missing.status_code == 404
    assert client.get("/api/v1/exports/nope", headers=h(admin)).status_code == 404

    with container.uow() as uow:
        rows = list(uow.session.scalars(select(DisclosureRow).order_by(DisclosureRow.id)))
    # the licence file and the manifest hold no personal data: not logged
    assert [(d.channel, d.items) for d in rows] == [("export", ["penalty"])]
