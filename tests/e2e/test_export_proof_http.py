"""An export's ledger proof over HTTP (`GET /api/v1/exports/{id}/proof`) and the CLI
(`citycredit export proof`, `citycredit export verify`): what the province runs on the
directory it received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.exports.service import export_dual_publicity
from citycredit.ingest.service import ingest_submission
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import verify_bundle
from citycredit.ledger.signers import generate_signer, verifier_to_vkey
from citycredit.ledger.suites import Suite
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    bearer,
    cli_env,
    id_number,
    office_and_a_persons_penalty,
    penalty_row,
    uscc,
    write_csv,
)
from support import run_cli as run

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
PERSON = id_number("610802", "19880808")


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    yield from office_and_a_persons_penalty(
        container, name="孙某", id_no=PERSON, case_no="榆市监罚〔2026〕81号"
    )


h = bearer


def test_the_proof_over_http(world: dict[str, Any], container: Container) -> None:
    client, office = world["client"], world["office"]
    made = client.post("/api/v1/exports/dual-publicity", json={}, headers=h(office))
    assert made.status_code == 201, made.text
    export_id = made.json()["id"]
    url = f"/api/v1/exports/{export_id}/proof"

    assert client.get(url).status_code == 401
    assert client.get(url, headers=h(world["dept"])).status_code == 403
    missing = client.get("/api/v1/exports/x-none/proof", headers=h(office))
    assert missing.status_code == 404 and missing.json()["error"] == "export_not_found"
    pending = client.get(url, headers=h(office))  # before the sequencer took the leaf in
    assert pending.status_code == 409, pending.text
    assert pending.json()["error"] == "ledger_pending"

    ledger.integrate_now(container)
    r = client.get(url, headers=h(office))
    assert r.status_code == 200, r.text
    bundle = r.json()
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/api/v1/exports/{export_id}/proof"]["get"]["responses"]["200"]
    root = {**schema["content"]["application/json"]["schema"], "components": spec["components"]}
    jsonschema.Draft202012Validator(root).validate(bundle)  # the answer is what the spec says
    vkey = client.get("/api/v1/ledger/checkpoint").json()["vkey"]
    report = verify_bundle(bundle, trusted_vkey=vkey)
    assert report.ref == f"{export_id}/completed"
    manifest = json.loads(
        (Path(made.json()["directory"]) / "manifest.json").read_text(encoding="utf-8")
    )
    assert bundle["manifest"] == manifest


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    cli_env(container, monkeypatch)
    return CliRunner()


def test_the_proof_and_the_check_by_the_cli(
    cli: CliRunner, container: Container, tmp_path: Path
) -> None:
    c = container
    add_department(c, SYSTEM, name=SAMR, code=AUTH)
    row = penalty_row(PENALTY_COLUMNS_WITH_ID, CF_XDR_SHXYM=uscc("91", "610802", "MA6CLP01"))
    path = write_csv(c.settings.data_dir / "p.csv", PENALTY_COLUMNS_WITH_ID, [row])
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    done = export_dual_publicity(c, SYSTEM)
    directory = Path(done["directory"])

    refused = run(cli, "export", "proof", done["id"], code=2)
    assert "尚未收录到数据链" in refused
    run(cli, "ledger", "integrate")
    wrote = run(cli, "export", "proof", done["id"])
    assert str(directory / "proof.json") in wrote
    vkey = str(ledger.checkpoint(c)["vkey"])

    out = run(cli, "export", "verify", str(directory), "--vkey", vkey)  # proof.json found
    assert "使用目录中的凭证" in out and "验证通过" in out
    assert f"导出批次 {done['id']} 的清单与数据链中登记的摘要一致" in out
    assert "✓ 目录中的 manifest.json 就是数据链第" in out and "注意" not in out

    elsewhere = tmp_path / "bundle.json"
    run(cli, "export", "proof", done["id"], "--out", str(elsewhere))
    run(cli, "export", "verify", str(directory), "--bundle", str(elsewhere), "--vkey", vkey)

    other = generate_signer(c.settings.ledger_origin, Suite(c.settings.ledger_suite))
    wrong = verifier_to_vkey(other.verifier())
    failed = run(cli, "export", "verify", str(directory), "--vkey", wrong, code=1)
    assert "公钥" in failed and "验证失败" in failed

    data = next(directory / f["name"] for f in done["files"] if f["format"] == "csv")
    data.write_bytes(data.read_bytes() + b"x")
    failed = run(cli, "export", "verify", str(directory), "--bundle", str(elsewhere), code=1)
    assert data.name in failed and "SHA-256" in failed
