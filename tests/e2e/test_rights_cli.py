"""`citycredit rights …` end to end (in process), on both databases: forwarded repair
applications in, decisions back out, the overdue list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.cli.main import app
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.rights import repairs
from citycredit.shared.clock import FixedClock
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

MATERIALS = [
    {"code": "performance_proof", "name": "缴款凭证.pdf", "sha256": "d" * 64},
    {"code": "commitment", "name": "承诺书.pdf", "sha256": "e" * 64},
]


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    s = container.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    return CliRunner()


def test_forwarded_repairs_in_and_decisions_out(
    cli: CliRunner, container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    clock.current = datetime.now(UTC)  # the CLI runs on the system clock: same day here
    samr = department(c)
    row = penalty_row(
        CF_XDR_MC="榆阳区命令行商贸有限公司", CF_XDR_SHXYM=uscc("91", "610802", "MA6CL901")
    )
    row[PENALTY_COLUMNS.index("CF_JDRQ")] = "2026-06-01"
    ingest_submission(
        c, samr, path=write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, [row]), item_code="penalty"
    )
    with c.uow() as uow:
        rid = uow.session.scalars(select(RecordRow.id)).one()
    forwarded = tmp_path / "forwarded.json"
    forwarded.write_text(
        json.dumps(
            [
                {
                    "application_no": "SX-1",
                    "record_id": rid,
                    "reasons": "罚款已缴清",
                    "commitment_text": "本企业承诺所提交材料真实有效，愿承担法律责任。",
                    "materials": MATERIALS,
                },
                {"application_no": "SX-2", "record_id": "missing"},
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    result = cli.invoke(app, ["rights", "import-repairs", str(forwarded)])
    assert result.exit_code == 0, result.output
    assert "SX-1" in result.output and "1 条未登记" in result.output
    out = cli.invoke(app, ["rights", "overdue"])
    assert out.exit_code == 0 and set(json.loads(out.output)) == {"objections", "repairs"}
    office = repairs.Principal(role=repairs.Role.credit_office_admin, label="信用办")
    (filed,) = repairs.list_repairs(c, office)
    assert filed["external_ref"] == "SX-1" and filed["channel"] == "province"
    repair_id = filed["id"]
    repairs.accept(c, office, repair_id)
    repairs.decide(c, department_principal(c, SAMR), repair_id, approve=True, reason="同意修复")
    result = cli.invoke(app, ["rights", "export-repair-decisions", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "out").glob("*.manifest.json")).read_text("utf-8"))
    assert manifest["count"] == 1
    decisions = json.loads(
        next((tmp_path / "out").glob("repair-decisions-*[0-9]Z.json")).read_text("utf-8")
    )
    assert decisions[0]["application_no"] == "SX-1" and decisions[0]["status"] == "approved"
