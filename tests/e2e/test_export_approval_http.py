"""G35 over HTTP and the command line: request, second-person approval, watermarked download,
410 after the expiry, deletion by the job, tracing a copy by its SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.exports.files import WATERMARK_COLUMN
from citycredit.exports.service import export_dual_publicity
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.jobs import run_due
from citycredit.shared.clock import FixedClock
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    bearer,
    cli_env,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)
from support import run_cli as run

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
PERSON = id_number("610802", "19910909")


h = bearer


def _data(c: Container) -> None:
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="周某",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=PERSON,
        CF_WSH="榆市监罚〔2026〕91号",
    )
    path = write_csv(c.settings.data_dir / "p.csv", PENALTY_COLUMNS_WITH_ID, [row])
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    tokens = {"dept": add_department(container, SYSTEM, name=SAMR, code=AUTH).token}
    for name, label in (("zhang", "张三"), ("li", "李四")):
        tokens[name] = add_user(
            container, SYSTEM, username=name, display_name=label, role=Role.credit_office_admin
        ).token
    _data(container)
    with TestClient(create_app(container, scheduler=False)) as client:
        yield {"client": client, **tokens}


def test_request_approve_download_expire_over_http(
    world: dict[str, Any], container: Container, clock: FixedClock
) -> None:
    client, zhang, li = world["client"], world["zhang"], world["li"]
    done = client.post("/api/v1/exports/dual-publicity", json={}, headers=h(zhang)).json()
    pen = next(f for f in done["files"] if f["item"] == "penalty" and f["format"] == "csv")
    plain = client.get(f"/api/v1/exports/{done['id']}/files/{pen['name']}", headers=h(zhang))
    assert plain.status_code == 403 and plain.json()["error"] == "export_approval_required"

    base = f"/api/v1/exports/{done['id']}/download-requests"
    assert client.post(base, json={"purpose": "核对"}, headers=h(world["dept"])).status_code == 403
    bad = client.post(base, json={"purpose": "x"}, headers=h(zhang))
    assert bad.status_code == 422 and bad.json()["field"] == "purpose"
    made = client.post(
        base, json={"purpose": "上传前核对", "files": [pen["name"]]}, headers=h(zhang)
    )
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    url = f"/api/v1/exports/download-requests/{rid}"

    same = client.post(f"{url}/approve", headers=h(zhang))
    assert same.status_code == 403 and same.json()["error"] == "same_person"
    assert "另一名信用办管理员" in same.json()["message"]
    pending = client.get(f"{url}/files/{pen['name']}", headers=h(zhang))
    assert pending.status_code == 409 and pending.json()["error"] == "download_request_pending"

    ok = client.post(f"{url}/approve", headers=h(li))
    assert ok.status_code == 200, ok.text
    (cp,) = ok.json()["copies"]
    assert client.get(f"{url}/files/{pen['name']}", headers=h(li)).status_code == 403
    got = client.get(f"{url}/files/{pen['name']}", headers=h(zhang))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert hashlib.sha256(got.content).hexdigest() == cp["sha256"]
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows[0]["CF_XDR_ZJHM"] == PERSON and rid in rows[0][WATERMARK_COLUMN]
    assert "+08:00" in rows[0][WATERMARK_COLUMN] and "Z）" in rows[0][WATERMARK_COLUMN]

    traced = client.get(
        "/api/v1/exports/download-requests", params={"sha256": cp["sha256"]}, headers=h(li)
    )
    assert [r["id"] for r in traced.json()["download_requests"]] == [rid]
    listed = client.get(
        "/api/v1/exports/download-requests", params={"status": "nope"}, headers=h(li)
    )
    assert listed.status_code == 422 and listed.json()["field"] == "status"

    clock.advance(hours=24)
    expired = client.get(f"{url}/files/{pen['name']}", headers=h(zhang))
    assert expired.status_code == 410 and expired.json()["error"] == "export_copy_expired"
    assert "download-requests" in expired.json()["message"]
    copy = container.settings.data_dir / "exports" / "downloads" / rid / pen["name"]
    assert copy.is_file()
    run_due(container, only="export_downloads_expire")
    assert not copy.exists()
    assert client.get(url, headers=h(zhang)).json()["status"] == "expired"
    assert client.get(f"{url}/files/{pen['name']}", headers=h(zhang)).status_code == 410

    other = client.post(base, json={"purpose": "再次核对"}, headers=h(li)).json()
    no = client.post(
        f"/api/v1/exports/download-requests/{other['id']}/refuse", json={}, headers=h(zhang)
    )
    assert no.status_code == 422 and no.json()["field"] == "reason"
    no = client.post(
        f"/api/v1/exports/download-requests/{other['id']}/refuse",
        json={"reason": "已有有效副本"},
        headers=h(zhang),
    )
    assert no.status_code == 200 and no.json()["status"] == "refused"


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    cli_env(container, monkeypatch)
    monkeypatch.delenv("CITYCREDIT_TOKEN", raising=False)
    return CliRunner()


def test_the_same_workflow_on_the_command_line(
    cli: CliRunner, container: Container, tmp_path: Path
) -> None:
    c = container
    add_department(c, SYSTEM, name=SAMR, code=AUTH)
    tokens = {
        name: add_user(
            c, SYSTEM, username=name, display_name=label, role=Role.credit_office_admin
        ).token
        for name, label in (("zhang", "张三"), ("li", "李四"))
    }
    _data(c)
    done = export_dual_publicity(c, SYSTEM)  # the command line runs on the real clock

    assert "--token" in run(cli, "export", "request", done["id"], "--purpose", "核对", code=2)
    out = run(
        cli, "export", "request", done["id"], "--purpose", "x", "--token", tokens["zhang"], code=2
    )
    assert "字段 purpose" in out
    asked = json.loads(
        run(
            cli,
            "export",
            "request",
            done["id"],
            "--purpose",
            "上传前核对",
            "--token",
            tokens["zhang"],
            "--json",
        )
    )
    rid = asked["id"]
    out = run(cli, "export", "approve", rid, "--token", tokens["zhang"], code=2)
    assert "不能由本人审批" in out
    approved = json.loads(run(cli, "export", "approve", rid, "--json", "--token", tokens["li"]))
    assert approved["status"] == "approved" and approved["decided_by"] == "李四（li）"

    dest = tmp_path / "mine"
    out = run(cli, "export", "download", rid, "--out", str(dest), "--token", tokens["li"], code=2)
    assert "仅供申请人" in out
    run(cli, "export", "download", rid, "--out", str(dest), "--token", tokens["zhang"])
    saved = sorted(dest.iterdir())
    assert [p.name for p in saved] == sorted(cp["name"] for cp in approved["copies"])
    for p in saved:
        assert oct(p.stat().st_mode & 0o777) == "0o600"
    traced = json.loads(run(cli, "export", "trace", str(saved[0]), "--json"))
    assert [t["id"] for t in traced] == [rid]
    assert "不是任何已批准下载的副本" in run(cli, "export", "trace", "0" * 64)
    listed = run(cli, "export", "requests", "--status", "approved")
    assert rid in listed and "张三" in listed and "李四" in listed
    assert "字段 status" in run(cli, "export", "requests", "--status", "nope", code=2)

    other = json.loads(
        run(
            cli,
            "export",
            "request",
            done["id"],
            "--purpose",
            "再次核对",
            "--token",
            tokens["li"],
            "--json",
        )
    )
    refused = json.loads(
        run(
            cli,
            "export",
            "refuse",
            other["id"],
            "--reason",
            "重复申请",
            "--token",
            tokens["zhang"],
            "--json",
        )
    )
    assert refused["status"] == "refused" and refused["decision_note"] == "重复申请"
