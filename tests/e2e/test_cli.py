"""The `citycredit` command end to end (in process), on both databases."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from citycredit.bootstrap import Container
from support import PENALTY_COLUMNS, SAMR, cli_env, penalty_row, uscc, write_csv
from support import run_cli as run

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
CO = uscc("91", "610802", "MA6CL001")
PEN = PENALTY_COLUMNS


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    cli_env(container, monkeypatch)
    return CliRunner()


def test_departments_users_ingest_withdraw_quality(cli: CliRunner, tmp_path: Path) -> None:
    out = run(cli, "departments", "add", SAMR, "--code", AUTH)
    token = out.strip().splitlines()[-1]
    assert token.startswith("cc_") and len(token) > 30
    run(cli, "departments", "add", SAMR, "--code", AUTH, code=2)  # already exists: a clear error
    assert "统一社会信用代码" in run(cli, "departments", "add", "某局", "--code", "123", code=2)
    staff = run(
        cli,
        "users",
        "add",
        "zhang",
        "--name",
        "张三",
        "--department",
        SAMR,
        "--password",
        "s3cret!",
    )
    assert staff.strip().splitlines()[-1].startswith("cc_")
    run(cli, "users", "add", "li", "--role", "department_staff", code=2)  # staff needs a department
    assert SAMR in run(cli, "departments", "list")

    rows = [
        penalty_row(CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕5号"),
        [
            "坏行",
            "法人及非法人组织",
            CO,
            "",
            "x",
            "x",
            "x",
            "罚款",
            "x",
            "1",
            "2026-02-30",
            "x",
            AUTH,
            SAMR,
            AUTH,
        ],
    ]
    path = write_csv(tmp_path / "p.csv", PEN, rows, encoding="gbk")
    dry = json.loads(
        run(
            cli,
            "ingest",
            str(path),
            "--item",
            "penalty",
            "--department",
            SAMR,
            "--dry-run",
            "--json",
        )
    )
    assert (dry["new"], dry["rejected"], dry["dry_run"]) == (1, 1, True)
    assert dry["submission_id"] is None
    assert [(x["row"], [r["field"] for r in x["reasons"]]) for x in dry["rejects"]] == [
        (2, ["CF_JDRQ", "CF_WSH"])
    ]
    human_dry = run(
        cli, "ingest", str(path), "--item", "penalty", "--department", SAMR, "--dry-run"
    )
    assert "试校验回执（未入库）" in human_dry
    assert "第 2 行 CF_JDRQ（invalid_date）" in human_dry and "2026-02-30" in human_dry
    receipt = json.loads(
        run(cli, "ingest", str(path), "--item", "penalty", "--department", SAMR, "--json")
    )
    assert (receipt["received"], receipt["new"], receipt["rejected"], receipt["encoding"]) == (
        2,
        1,
        1,
        "gb18030",
    )
    human = run(cli, "ingest", str(path), "--item", "penalty", "--department", SAMR)
    assert "重复 1" in human and "问题数据 1" in human
    run(cli, "ingest", str(path), "--item", "nonsense", "--department", SAMR, code=2)
    run(cli, "ingest", str(path), "--item", "penalty", "--department", "不存在的局", code=2)

    out = run(
        cli,
        "withdraw",
        "--department",
        SAMR,
        "--reason",
        "行政复议撤销",
        "--item",
        "penalty",
        "--key",
        f"CF_XDR_SHXYM={CO}",
        "--key",
        "CF_WSH=榆市监罚〔2026〕5号",
    )
    assert "已撤销" in out
    run(
        cli,
        "withdraw",
        "--department",
        SAMR,
        "--reason",
        "再次撤销",
        "--item",
        "penalty",
        "--key",
        f"CF_XDR_SHXYM={CO}",
        "--key",
        "CF_WSH=榆市监罚〔2026〕5号",
        code=2,
    )

    report = json.loads(run(cli, "quality", "--json"))
    assert report["subjects"] == 1 and report["departments"][0]["department"] == SAMR
    assert "归集率" in run(cli, "quality")
    assert "待认领 0 条" in run(cli, "unresolved")
    sweeps = run(cli, "jobs", "run-due", "--lane", "sweep")
    assert "publication_end: ok" in sweeps and "deliveries: ok" in sweeps
    assert "quality_report" not in sweeps  # a batch: the other lane
    batches = run(cli, "jobs", "run-due")
    assert "quality_report: ok" in batches and "deliveries" not in batches
    assert "没有到期的任务" in run(cli, "jobs", "run-due")
    listing = run(cli, "jobs", "list")
    assert re.search(r"ledger_verify\s*│\s*verify\s*│\s*3600\s*│", listing), listing
    assert re.search(r"quality_report\s*│\s*batch\s*│", listing) and "已到期" not in listing
    assert "从未运行" not in listing  # every job ran above
    assert "没有名为 nightly 的任务通道" in run(cli, "jobs", "run-due", "--lane", "nightly", code=2)


def test_catalog_show_and_templates(cli: CliRunner, tmp_path: Path) -> None:
    listing = run(cli, "catalog", "show")
    for code in ("registration", "licence", "penalty", "judgment_defaulter", "tax_credit_grade"):
        assert code in listing
    detail = run(cli, "catalog", "show", "penalty")
    assert "CF_WSH" in detail and "行政处罚决定书文号" in detail
    run(cli, "catalog", "show", "nonsense", code=2)
    csv_path = tmp_path / "t.csv"
    run(cli, "catalog", "template", "penalty", "--out", str(csv_path))
    with csv_path.open(encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh))
    assert header[:3] == ["CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM"] and "CF_JDRQ" in header
    xlsx = tmp_path / "t.xlsx"
    run(cli, "catalog", "template", "licence", "--format", "xlsx", "--out", str(xlsx))
    wb = load_workbook(xlsx)
    first = [c.value for c in next(wb.worksheets[0].iter_rows(max_row=1))]
    assert "XK_WSH" in first and "XK_YXQZI" in first


def test_db_check_and_generate(cli: CliRunner, tmp_path: Path) -> None:
    assert "一致" in run(cli, "db", "check")
    out = tmp_path / "city"
    run(cli, "generate", "--subjects", "60", "--seed", "3", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 3 and len(manifest["files"]) > 10


def test_ledger_commands(cli: CliRunner, container: Container, tmp_path: Path) -> None:
    from sqlalchemy import delete, select, update

    from citycredit.ingest.db import RecordRow, RecordVersionRow

    run(cli, "departments", "add", SAMR, "--code", AUTH)
    rows = [penalty_row(CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕5号")]
    run(
        cli,
        "ingest",
        str(write_csv(tmp_path / "p.csv", PEN, rows)),
        "--item",
        "penalty",
        "--department",
        SAMR,
    )
    assert "已处理" in run(cli, "ledger", "integrate")
    cp = run(cli, "ledger", "checkpoint")
    assert cp.startswith("yulin.citycredit/ledger\n1\n")
    vkey = cp.strip().splitlines()[-1].split("：", 1)[1]
    with container.uow() as uow:
        rid = uow.session.scalar(select(RecordRow.id))
    bundle = tmp_path / "b.json"
    run(cli, "ledger", "bundle", str(rid), "--out", str(bundle))
    ok = run(cli, "ledger", "verify-bundle", str(bundle), "--vkey", vkey)
    assert "验证通过" in ok and "注意" not in ok
    assert "注意" in run(cli, "ledger", "verify-bundle", str(bundle))  # unpinned key is flagged
    data = json.loads(bundle.read_text(encoding="utf-8"))
    data["disclosed"]["CF_WSH"]["value"] = "榆市监罚〔2026〕6号"
    bundle.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert "验证失败" in run(cli, "ledger", "verify-bundle", str(bundle), code=1)
    assert "全量验证（全部叶子 #0–#0）：叶子 1，" in run(cli, "ledger", "verify")
    assert "增量验证（轮换复核 #0–#0）：叶子 1，" in run(cli, "ledger", "verify", "--incremental")
    with container.uow() as uow:
        uow.session.execute(update(RecordVersionRow).values(payload={"CF_WSH": "改过的文号"}))
        uow.commit()
    out = run(cli, "ledger", "verify", "--incremental", code=1)
    assert f"被修改：{rid}/1" in out  # leaf 0 is in the window
    out = run(cli, "ledger", "verify", code=1)
    assert f"被修改：{rid}/1" in out
    from citycredit.ledger.db import LedgerLeafRow

    with container.uow() as uow:
        uow.session.execute(delete(LedgerLeafRow).where(LedgerLeafRow.idx == 0))
        uow.commit()
    out = run(cli, "ledger", "verify", code=1)
    assert "叶子缺失：#0" in out and "第一个有问题的叶子：#0" in out
