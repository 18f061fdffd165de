"""不予公示 over HTTP and the CLI (security goal G31), on both databases: the source department
withholds a record, the public archive API and page lose it, staff still read it with the
reason, another department gets the answer of a missing id, every call is in the audit trail;
`citycredit records release` brings it back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.cli.main import app as cli_app
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.ledger import service as ledger
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

CO = uscc("91", "610802", "MA6WHH01")
COMPANY = "榆阳区隐私保护测试商贸有限公司"
WSH = "榆市监罚〔2026〕91号"
BASIS = "榆市监〔2026〕不予公示审批 9 号"
PATH = "/api/v1/records/{record_id}/withhold"


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    c = container
    tokens = {
        "samr": add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token,
        "tax": add_department(
            c, SYSTEM, name="榆林市税务局", code=uscc("11", "610800", "MA0TAX01")
        ).token,
        "office": add_user(
            c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
        ).token,
    }
    from citycredit.accounts.service import department_principal

    rows = [penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CO, CF_WSH=WSH)]
    ingest_submission(
        c,
        department_principal(c, SAMR),
        path=write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, rows),
        item_code="penalty",
    )
    with c.uow() as uow:
        rec = uow.session.scalars(select(RecordRow)).one()
        rid, sid = rec.id, rec.subject_id
    with TestClient(create_app(c, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "c": c, "rid": rid, "sid": sid}


def h(world: dict[str, Any], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"} if who else {}


def public_ids(world: dict[str, Any]) -> set[str]:
    r = world["client"].get(f"/api/v1/subjects/{world['sid']}/archive")
    assert r.status_code == 200, r.text
    return {x["record_id"] for g in r.json()["groups"] for x in g["records"]}


def test_withhold_and_release_over_http(world: dict[str, Any]) -> None:
    client, rid, sid = world["client"], world["rid"], world["sid"]
    url = PATH.format(record_id=rid)
    assert rid in public_ids(world)
    page = client.get(f"/subjects/{sid}")
    assert page.status_code == 200 and WSH in page.text

    # another department: exactly the answer of a missing id; anonymous: refused
    other = client.post(url, headers=h(world, "tax"), json={"reason": "privacy", "basis": BASIS})
    missing = client.post(
        PATH.format(record_id="r0nosuchrecord000000"),
        headers=h(world, "tax"),
        json={"reason": "privacy", "basis": BASIS},
    )
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"] == missing.json()["error"] == "record_not_found"
    anonymous = client.post(url, json={"reason": "privacy", "basis": BASIS})
    assert anonymous.status_code == 401
    # bad input names the field and value
    bad = client.post(url, headers=h(world, "samr"), json={"reason": "privacy", "basis": "短"})
    assert bad.status_code in (400, 422), bad.text
    assert "basis" in bad.text
    assert rid in public_ids(world)

    r = client.post(url, headers=h(world, "samr"), json={"reason": "privacy", "basis": BASIS})
    assert r.status_code == 200, r.text
    assert r.json()["unpublished_label"] == "不予公示：涉及个人隐私"
    again = client.post(url, headers=h(world, "office"), json={"reason": "privacy", "basis": BASIS})
    assert again.status_code == 409 and again.json()["error"] == "already_withheld"
    # gone from the public API and page; staff read it with the reason
    assert rid not in public_ids(world)
    page = client.get(f"/subjects/{sid}")
    assert page.status_code == 200 and WSH not in page.text
    staff = client.get(
        f"/api/v1/subjects/{sid}/archive",
        headers=h(world, "office"),
        params={"view": "authorised", "purpose": "案件核查"},
    )
    assert staff.status_code == 200, staff.text
    [entry] = [x for g in staff.json()["groups"] for x in g["records"] if x["record_id"] == rid]
    assert (entry["published"], entry["unpublished_label"]) == (False, "不予公示：涉及个人隐私")

    back = client.post(
        f"/api/v1/records/{rid}/release", headers=h(world, "samr"), json={"basis": "经复核恢复公示"}
    )
    assert back.status_code == 200, back.text
    assert rid in public_ids(world)

    # the audit trail has every call, the refused one as denied (answered as missing)
    with world["c"].uow() as uow:
        events = list(
            uow.session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.object_id == rid, AuditEventRow.result != "started")
                .order_by(AuditEventRow.id)
            )
        )
    got = [(e.action, e.result, e.status_code) for e in events]
    assert got == [
        (f"http.POST {PATH}", "denied", 404),
        (f"http.POST {PATH}", "denied", anonymous.status_code),
        (f"http.POST {PATH}", "failure", 400 if bad.status_code == 400 else 422),
        (f"http.POST {PATH}", "success", 200),
        (f"http.POST {PATH}", "failure", 409),
        ("http.POST /api/v1/records/{record_id}/release", "success", 200),
    ]
    assert all(BASIS not in str(e.detail) for e in events)


def test_a_withheld_penalty_leaves_the_publicity_pages_and_its_public_bundle(
    world: dict[str, Any],
) -> None:
    """The portal's 双公示 (page, API, the home page's newest entries) and the ledger bundle read
    the record's `published` flag: withheld, the penalty is on none of them and its public
    bundle answers exactly like a missing record (as a withdrawn one does); staff with a
    purpose keep the bundle (the authorised view keeps the record); released, all is back."""
    client, c, rid = world["client"], world["c"], world["rid"]
    ledger.integrate_now(c)
    bundle_url = f"/api/v1/ledger/bundles/{rid}"
    staff = {"purpose": "案件核查"}

    def publicity_ids() -> set[str]:
        r = client.get("/api/v1/publicity/penalty")
        assert r.status_code == 200, r.text
        return {e["record"]["record_id"] for e in r.json()["entries"]}

    def shown() -> tuple[bool, bool]:
        """Whether the 双公示 page shows the penalty, and the home page's newest entries."""
        page, home = client.get("/publicity/penalty"), client.get("/")
        assert page.status_code == home.status_code == 200
        assert (WSH in page.text) == (COMPANY in page.text)
        return WSH in page.text, COMPANY in home.text

    assert publicity_ids() == {rid}
    assert shown() == (True, True)
    assert client.get(bundle_url).status_code == 200

    r = client.post(
        PATH.format(record_id=rid),
        headers=h(world, "samr"),
        json={"reason": "privacy", "basis": BASIS},
    )
    assert r.status_code == 200, r.text
    ledger.integrate_now(c)
    assert publicity_ids() == set()
    assert shown() == (False, False)
    refused = client.get(bundle_url)
    missing = client.get("/api/v1/ledger/bundles/r0nosuchrecord000000")
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["error"] == missing.json()["error"] == "record_not_found"
    kept = client.get(bundle_url, headers=h(world, "office"), params=staff)
    assert kept.status_code == 200, kept.text
    assert kept.json()["record"]["record_id"] == rid

    back = client.post(
        f"/api/v1/records/{rid}/release",
        headers=h(world, "office"),
        json={"basis": "经复核恢复公示"},
    )
    assert back.status_code == 200, back.text
    ledger.integrate_now(c)
    assert publicity_ids() == {rid}
    assert shown() == (True, True)
    again = client.get(bundle_url)
    assert again.status_code == 200, again.text
    assert again.json()["record"]["record_id"] == rid


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    s = container.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    return CliRunner()


def test_records_withhold_and_release_from_the_cli(world: dict[str, Any], cli: CliRunner) -> None:
    rid = world["rid"]
    args = ["records", "withhold", rid, "--reason", "trade_secret", "--basis", BASIS]
    done = cli.invoke(cli_app, [*args, "--department", SAMR])
    assert done.exit_code == 0, done.output
    assert "涉及商业秘密" in done.output
    assert rid not in public_ids(world)
    refused = cli.invoke(cli_app, ["records", "release", rid, "--basis", "好"])
    assert refused.exit_code == 2 and "basis" in refused.output
    other = cli.invoke(
        cli_app,
        ["records", "release", rid, "--basis", "经复核恢复公示", "--department", "榆林市税务局"],
    )
    assert other.exit_code == 2 and "不存在" in other.output
    back = cli.invoke(cli_app, ["records", "release", rid, "--basis", "经复核恢复公示"])
    assert back.exit_code == 0, back.output
    assert rid in public_ids(world)
