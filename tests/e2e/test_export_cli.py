"""`citycredit export dual-publicity` end to end, and its file ingested by `citycredit ingest`."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citycredit.bootstrap import Container
from support import PENALTY_COLUMNS_WITH_ID, SAMR, cli_env, id_number, penalty_row, uscc, write_csv
from support import run_cli as run

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
CO = uscc("91", "610802", "MA6CL201")
PERSON = id_number("610802", "19850505")


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    cli_env(container, monkeypatch)
    return CliRunner()


def test_export_then_ingest_the_file_elsewhere(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "departments", "add", SAMR, "--code", AUTH)
    rows = [
        penalty_row(PENALTY_COLUMNS_WITH_ID, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕61号"),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="赵某",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=PERSON,
            CF_WSH="榆市监罚〔2026〕62号",
        ),
    ]
    src = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, rows, encoding="gbk")
    run(cli, "ingest", str(src), "--item", "penalty", "--department", SAMR)

    out = tmp_path / "upload"
    done = json.loads(
        run(
            cli,
            "export",
            "dual-publicity",
            "--since",
            "2026-11-01",
            "--out",
            str(out),
            "--format",
            "csv",
            "--json",
        )
    )
    assert done["status"] == "completed" and done["mode"] == "explicit"
    assert done["since"] == "2026-11-01T00:00:00+08:00"
    # The CLI runs on the real clock: the files are named after the export's end.
    stamp = datetime.fromisoformat(done["until"]).strftime("%Y%m%dT%H%M%S")
    assert done["counts"]["penalty"]["新增"] == 2 and done["counts"]["total"] == 2
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        f"XZCF_610800_{stamp}.csv",
        f"XZXK_610800_{stamp}.csv",
        "manifest.json",
    ]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    cf = out / f"XZCF_610800_{stamp}.csv"
    with cf.open(encoding="utf-8-sig", newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert {r["CF_WSH"] for r in exported} == {"榆市监罚〔2026〕61号", "榆市监罚〔2026〕62号"}
    assert {r["OPERATION"] for r in exported} == {"新增"}

    # Bad input names the field and value.
    assert "字段 since" in run(cli, "export", "dual-publicity", "--since", "昨天", code=2)
    assert "字段 format" in run(cli, "export", "dual-publicity", "--format", "xml", code=2)
    assert "字段 until" in run(cli, "export", "dual-publicity", "--until", "2999-01-01", code=2)
    # The daily export does not start where a hand-run one ended (that would hide whatever
    # changed before the hand-run one's start): with no daily export yet it covers everything,
    # and sends nothing the province already holds.
    nxt = json.loads(run(cli, "export", "dual-publicity", "--json"))
    assert nxt["mode"] == "full" and nxt["since"] is None
    assert nxt["counts"]["total"] == 0
    listed = json.loads(run(cli, "export", "list", "--json"))
    assert [e["id"] for e in listed] == [nxt["id"], done["id"]]
    assert listed[1]["counts"]["total"] == 2
    assert done["id"] in run(cli, "export", "list")

    # The province's side: a fresh platform ingests the exported file through the intake.
    province = tmp_path / "province"
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", f"sqlite:///{province / 'p.sqlite3'}")
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(province))
    run(cli, "db", "upgrade")
    run(
        cli,
        "departments",
        "add",
        "榆林市发展和改革委员会",
        "--code",
        uscc("11", "610800", "MA0FGW01"),
    )
    receipt = json.loads(
        run(
            cli,
            "ingest",
            str(cf),
            "--item",
            "penalty",
            "--department",
            "榆林市发展和改革委员会",
            "--json",
        )
    )
    assert receipt["encoding"] == "utf-8-sig" and receipt["format"] == "csv"
    assert (receipt["received"], receipt["new"], receipt["rejected"]) == (2, 2, 0)
    assert any("OPERATION" in note for note in receipt["notes"])  # platform columns: noted


def test_daily_job_runs_from_the_command_line(cli: CliRunner, container: Container) -> None:
    out = run(cli, "jobs", "run-due", "--only", "dual_publicity_export")
    assert "dual_publicity_export: ok" in out
    exports = json.loads(run(cli, "export", "list", "--json"))
    assert [(e["trigger"], e["mode"], e["status"]) for e in exports] == [
        ("job", "full", "completed")
    ]
    directory = Path(exports[0]["directory"])
    assert directory.parent == container.settings.data_dir / "exports" / "dual_publicity"
    assert (directory / "manifest.json").is_file()
