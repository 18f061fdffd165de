"""共享调度 over HTTP and the CLI, on both databases: subscribe, page a feed, IDOR, files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.ingest.service import withdraw_record
from citycredit.sharing.fanout import fan_out
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, cli_env, department, penalty_row, uscc, write_csv
from support import run_cli as run

pytestmark = pytest.mark.db

TAX = "榆林市税务局"
DRC = "榆林市发展和改革委员会"
CO = [uscc("91", "610802", f"MA6HTP0{i}") for i in range(1, 4)]


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    from citycredit.ingest.service import ingest_submission

    samr = department(container)
    rows = [
        penalty_row(
            CF_XDR_MC=f"榆阳区共享{i}号商贸有限公司", CF_XDR_SHXYM=co, CF_WSH=f"罚〔2026〕{i}号"
        )
        for i, co in enumerate(CO, start=1)
    ]
    ingest_submission(
        container,
        samr,
        path=write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, rows),
        item_code="penalty",
    )
    tokens = {
        "tax": add_department(
            container, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01")
        ).token,
        "drc": add_department(
            container, SYSTEM, name=DRC, code=uscc("11", "610800", "MA0DRC01")
        ).token,
        "admin": add_user(
            container,
            SYSTEM,
            username="admin",
            display_name="管理员",
            role=Role.credit_office_admin,
        ).token,
    }
    with TestClient(create_app(container, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "c": container, "samr": samr}


def h(world: dict[str, Any], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"} if who else {}


def test_subscribe_and_page_the_feed_over_http(world: dict[str, Any]) -> None:
    client, c = world["client"], world["c"]
    r = client.post(
        "/api/v1/subscriptions",
        headers=h(world, "tax"),
        json={"name": "处罚信息", "items": ["penalty"]},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["department"], sub["access"], sub["last_seq"]) == (TAX, "public", 3)
    seen: list[int] = []
    after = 0
    while True:
        page = client.get(
            f"/api/v1/feeds/{sub['id']}",
            headers=h(world, "tax"),
            params={"after": after, "limit": 2},
        ).json()
        seen += [e["seq"] for e in page["entries"]]
        after = page["next_after"]
        if not page["has_more"]:
            break
    assert seen == [1, 2, 3]
    # A withdrawal later arrives after the cursor the department kept.
    rid = client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax")).json()["entries"][0][
        "record_id"
    ]
    withdraw_record(c, world["samr"], rid, "决定已撤销")
    fan_out(c)
    page = client.get(
        f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax"), params={"after": after}
    )
    assert [(e["record_id"], e["kind"]) for e in page.json()["entries"]] == [(rid, "withdrawal")]
    consumers = client.get(f"/api/v1/records/{rid}/consumers", headers=h(world, "admin")).json()
    assert {(x["department"], x["kind"]) for x in consumers["consumers"]} == {
        (TAX, "original"),
        (TAX, "withdrawal"),
    }
    listed = client.get("/api/v1/subscriptions", headers=h(world, "tax")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [sub["id"]]
    detail = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=h(world, "tax")).json()
    assert detail["delivered_max_seq"] == 4


def test_bad_input_names_the_field(world: dict[str, Any]) -> None:
    client = world["client"]
    r = client.post(
        "/api/v1/subscriptions",
        headers=h(world, "tax"),
        json={"name": "社保", "items": ["social_insurance_arrears"]},
    )
    assert r.status_code == 422 and r.json()["field"] == "items"
    r = client.post(
        "/api/v1/subscriptions",
        headers=h(world, "tax"),
        json={"name": "x", "channel": "ftp", "items": ["penalty"]},
    )
    assert r.status_code == 422 and (r.json()["field"], r.json()["value"]) == ("channel", "ftp")
    sub = client.post(
        "/api/v1/subscriptions", headers=h(world, "tax"), json={"name": "p", "items": ["penalty"]}
    ).json()
    r = client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax"), params={"after": 99})
    assert r.status_code == 422 and (r.json()["field"], r.json()["value"]) == ("after", "99")
    r = client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax"), params={"after": -1})
    assert r.status_code == 422 and "after" in r.text


def test_one_department_cannot_read_anothers_subscription(world: dict[str, Any]) -> None:
    client = world["client"]
    sub = client.post(
        "/api/v1/subscriptions", headers=h(world, "tax"), json={"name": "p", "items": ["penalty"]}
    ).json()
    # Another department: exactly like a missing subscription; no token at all: 401.
    for who, status in (("drc", 404), (None, 401)):
        assert client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, who)).status_code == status
        assert (
            client.get(f"/api/v1/subscriptions/{sub['id']}", headers=h(world, who)).status_code
            == status
        )
        r = client.post(
            f"/api/v1/subscriptions/{sub['id']}/status",
            headers=h(world, who),
            json={"status": "cancelled"},
        )
        assert r.status_code == status
    assert (
        client.get("/api/v1/subscriptions", headers=h(world, "drc")).json()["subscriptions"] == []
    )
    assert client.get("/api/v1/subscriptions").status_code == 401
    anonymous = client.post("/api/v1/subscriptions", json={"name": "p", "items": ["penalty"]})
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "authentication_required")
    # The office sees every subscription but pulls none (a feed not its own looks missing);
    # other departments learn nothing.
    admin = client.get("/api/v1/subscriptions", headers=h(world, "admin")).json()["subscriptions"]
    assert [s["id"] for s in admin] == [sub["id"]]
    assert client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "admin")).status_code == 404
    rid = client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax")).json()["entries"][0][
        "record_id"
    ]
    assert (
        client.get(f"/api/v1/records/{rid}/consumers", headers=h(world, "drc")).status_code == 404
    )


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    cli_env(container, monkeypatch)
    return CliRunner()


def test_cli_subscribe_feeds_write_files(world: dict[str, Any], cli: CliRunner) -> None:
    c = world["c"]
    out = run(
        cli,
        "sharing",
        "subscribe",
        "--department",
        TAX,
        "--name",
        "文件交换",
        "--item",
        "penalty",
        "--channel",
        "file",
        "--json",
    )
    file_sub = json.loads(out)
    assert file_sub["channel"] == "file" and file_sub["last_seq"] == 3
    pull_sub = json.loads(
        run(
            cli,
            "sharing",
            "subscribe",
            "--department",
            DRC,
            "--name",
            "拉取",
            "--item",
            "penalty",
            "--field",
            "penalty:CF_WSH",
            "--json",
        )
    )
    page = json.loads(
        run(cli, "sharing", "feeds", pull_sub["id"], "--department", DRC, "--limit", "2")
    )
    assert [e["seq"] for e in page["entries"]] == [1, 2] and page["has_more"]
    assert set(page["entries"][0]["data"]["fields"]) == {"CF_WSH"}
    run(cli, "sharing", "feeds", pull_sub["id"], "--department", TAX, code=2)  # not its own
    out = run(cli, "sharing", "write-files")
    assert "1–3" in out or "1-3" in out
    folder = Path(c.settings.data_dir) / "feeds" / file_sub["id"]
    (data,) = sorted(folder.glob("*.jsonl"))
    assert [json.loads(x)["seq"] for x in data.read_text("utf-8").splitlines()] == [1, 2, 3]
    assert (folder / f"{data.name}.manifest.json").exists()
    assert "没有待写出的数据" in run(cli, "sharing", "write-files")
    rid = json.loads(data.read_text("utf-8").splitlines()[0])["record_id"]
    consumers = json.loads(run(cli, "sharing", "consumers", rid, "--json"))["consumers"]
    assert {(x["department"], x["channel"]) for x in consumers} == {(TAX, "file"), (DRC, "pull")}
    listed = json.loads(run(cli, "sharing", "list", "--json"))
    assert {s["id"] for s in listed} == {file_sub["id"], pull_sub["id"]}
    table = run(cli, "sharing", "list", "--department", TAX)
    assert "│ file │ active" in table and "│ pull │" not in table
    run(
        cli,
        "sharing",
        "subscribe",
        "--department",
        TAX,
        "--name",
        "x",
        "--channel",
        "ftp",
        "--item",
        "penalty",
        code=2,
    )
    assert "处理事件" in run(cli, "sharing", "sync")


def test_bad_cursor_values_answer_like_every_other_error(world: dict[str, Any]) -> None:
    """error, field and value — for FastAPI's own checks as for the service's."""
    client = world["client"]
    sub = client.post(
        "/api/v1/subscriptions", headers=h(world, "tax"), json={"name": "p", "items": ["penalty"]}
    ).json()
    for params, field, value in (
        ({"after": "-1"}, "after", "-1"),
        ({"after": "abc"}, "after", "abc"),
        ({"limit": "0"}, "limit", "0"),
        ({"after": "99"}, "after", "99"),
    ):
        r = client.get(f"/api/v1/feeds/{sub['id']}", headers=h(world, "tax"), params=params)
        body = r.json()
        assert r.status_code == 422 and (body["field"], body["value"]) == (field, value), body
        assert body["error"] and body["message"]


def test_a_department_downloads_its_feed_files(world: dict[str, Any]) -> None:
    client, c = world["client"], world["c"]
    sub = client.post(
        "/api/v1/subscriptions",
        headers=h(world, "tax"),
        json={"name": "文件", "items": ["penalty"], "channel": "file"},
    ).json()
    from citycredit.sharing.files import write_files

    (m,) = write_files(c, SYSTEM)
    listed = client.get(f"/api/v1/feeds/{sub['id']}/files", headers=h(world, "tax")).json()
    assert [x["file"] for x in listed["files"]] == [m["file"]]
    got = client.get(f"/api/v1/feeds/{sub['id']}/files/{m['file']}", headers=h(world, "tax"))
    assert got.status_code == 200
    import hashlib

    assert hashlib.sha256(got.content).hexdigest() == m["sha256"]
    other = client.get(f"/api/v1/feeds/{sub['id']}/files/{m['file']}", headers=h(world, "drc"))
    assert other.status_code == 404
    missing = client.get(f"/api/v1/feeds/{sub['id']}/files/x.jsonl", headers=h(world, "tax"))
    assert missing.status_code == 404
