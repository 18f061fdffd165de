"""G35 over HTTP and the command line: a download request nobody decides lapses after
CITYCREDIT_EXPORT_DOWNLOAD_REQUEST_LAPSE_HOURS (72); approving it then answers 409 naming the
status, the job marks it `lapsed`, the list and `citycredit export requests` filter by it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.cli.main import app as cli_app
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.jobs import run_due
from citycredit.shared.clock import FixedClock
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    bearer,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
PERSON = id_number("610802", "19920202")


h = bearer


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    c = container
    tokens = {"dept": add_department(c, SYSTEM, name=SAMR, code=AUTH).token}
    for name, label in (("zhang", "张三"), ("li", "李四")):
        tokens[name] = add_user(
            c, SYSTEM, username=name, display_name=label, role=Role.credit_office_admin
        ).token
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="吴某",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=PERSON,
        CF_WSH="榆市监罚〔2026〕95号",
    )
    path = write_csv(c.settings.data_dir / "p.csv", PENALTY_COLUMNS_WITH_ID, [row])
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    with TestClient(create_app(c, scheduler=False)) as client:
        yield {"client": client, **tokens}


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    s = container.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    monkeypatch.delenv("CITYCREDIT_TOKEN", raising=False)
    return CliRunner()


def test_a_lapsed_request_answers_409_and_is_listed_as_lapsed(
    world: dict[str, Any], container: Container, clock: FixedClock, cli: CliRunner
) -> None:
    client, zhang, li = world["client"], world["zhang"], world["li"]
    done = client.post("/api/v1/exports/dual-publicity", json={}, headers=h(zhang)).json()
    made = client.post(
        f"/api/v1/exports/{done['id']}/download-requests",
        json={"purpose": "上传前核对"},
        headers=h(zhang),
    )
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    assert made.json()["lapses_at"] == "2026-11-28T10:00:00+08:00"
    url = f"/api/v1/exports/download-requests/{rid}"

    clock.advance(hours=72)
    late = client.post(f"{url}/approve", headers=h(li))
    assert late.status_code == 409 and late.json()["error"] == "download_request_decided"
    assert "lapsed" in late.json()["message"]
    (job,) = run_due(container, only="export_downloads_expire")
    assert job.status == "ok" and job.detail["lapsed_ids"] == [rid]
    view = client.get(url, headers=h(li)).json()
    assert (view["status"], view["decided_by"]) == ("lapsed", None)
    refused = client.post(f"{url}/refuse", json={"reason": "用途不明确"}, headers=h(li))
    assert refused.status_code == 409 and "lapsed" in refused.json()["message"]
    listed = client.get(
        "/api/v1/exports/download-requests", params={"status": "lapsed"}, headers=h(li)
    )
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["download_requests"]] == [rid]
    bad = client.get("/api/v1/exports/download-requests", params={"status": "x"}, headers=h(li))
    assert bad.status_code == 422 and bad.json()["field"] == "status"

    out = cli.invoke(cli_app, ["export", "requests", "--status", "lapsed"])
    assert out.exit_code == 0, out.output
    assert rid in out.output and "状态 lapsed" in out.output
    assert "lapsed" in cli.invoke(cli_app, ["export", "requests", "--help"]).output
