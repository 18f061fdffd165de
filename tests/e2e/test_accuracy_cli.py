"""`citycredit accuracy …` end to end (G40): check, show, list, close, and the job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citycredit.bootstrap import Container
from support import PENALTY_COLUMNS_WITH_ID, SAMR, cli_env, id_number, penalty_row, uscc, write_csv
from support import run_cli as run

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
PERSON = id_number("610802", "19850505")


def co(n: int) -> str:
    return uscc("91", "610802", f"MA6CL{n:02d}1")


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    cli_env(container, monkeypatch)
    return CliRunner()


def row(n: int, **over: Any) -> list[object]:
    values: dict[str, Any] = {
        "CF_XDR_MC": f"榆阳区第{n}商贸有限公司",
        "CF_XDR_SHXYM": co(n),
        "CF_WSH": f"榆市监罚〔2026〕{n}号",
    }
    values.update(over)
    return penalty_row(PENALTY_COLUMNS_WITH_ID, **values)


def snapshot(tmp: Path, name: str, rows: list[list[object]]) -> Path:
    return write_csv(tmp / name, PENALTY_COLUMNS_WITH_ID, rows)


@pytest.fixture
def ingested(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "departments", "add", SAMR, "--code", AUTH)
    person = row(4, CF_XDR_MC="赵某某", CF_XDR_LB="自然人", CF_XDR_SHXYM="", CF_XDR_ZJHM=PERSON)
    src = snapshot(tmp_path, "p.csv", [row(1), row(2), row(3), person])
    run(cli, "ingest", str(src), "--item", "penalty", "--department", SAMR)


def test_check_show_list_and_close(cli: CliRunner, ingested: None, tmp_path: Path) -> None:
    person = row(4, CF_XDR_MC="赵某", CF_XDR_LB="自然人", CF_XDR_SHXYM="", CF_XDR_ZJHM=PERSON)
    snap = snapshot(
        tmp_path,
        "snap.csv",
        [row(1, CF_NR_FK="5"), row(2, CF_NR_FK="２", CF_JDRQ="2026/11/2"), person],  # 3: deleted
    )
    out = run(
        cli,
        "accuracy",
        "check",
        "--department",
        AUTH,
        "--item",
        "penalty",
        str(snap),
        "--seed",
        "11",
    )
    assert "公示中记录 4 条，抽样 4 条" in out and "随机种子 11" in out
    assert "一致 1，不一致 2，源系统已无此记录 1，源数据无法解析 0" in out
    assert "差错率 75.00%" in out and "95% 置信区间" in out
    assert "CF_NR_FK：公示「20000.00」，源系统「50000.00」" in out
    assert "CF_XDR_MC（个人信息，不显示取值）" in out and "赵某" not in out
    assert "待处理 3 条" in out

    report = json.loads(
        run(
            cli,
            "accuracy",
            "check",
            "--department",
            AUTH,
            "--item",
            "penalty",
            str(snap),
            "--seed",
            "11",
            "--json",
        )
    )
    assert report["counts"] == {
        "match": 1,
        "mismatch": 2,
        "missing_at_source": 1,
        "unparseable_at_source": 0,
    }
    shown = run(cli, "accuracy", "show", report["id"])
    assert report["id"] in shown and "源系统已无此记录" in shown
    listing = run(cli, "accuracy", "list")
    assert report["id"] in listing and "75.00%" in listing
    listed = json.loads(run(cli, "accuracy", "list", "--json"))
    assert {r["id"] for r in listed} >= {report["id"]} and len(listed) == 2

    target = next(i for i in report["items"] if i["outcome"] == "missing_at_source")
    closed = run(
        cli, "accuracy", "close", str(target["id"]), "--note", "部门确认已撤销，需报送撤销"
    )
    assert "已处理" in closed
    again = json.loads(run(cli, "accuracy", "show", report["id"], "--json"))
    assert again["open"] == 2
    assert "已处理" in run(cli, "accuracy", "show", report["id"])


def test_bad_input_names_the_field(cli: CliRunner, ingested: None, tmp_path: Path) -> None:
    snap = snapshot(tmp_path, "snap.csv", [row(1)])
    out = run(
        cli,
        "accuracy",
        "check",
        "--department",
        AUTH,
        "--item",
        "penalty",
        str(snap),
        "--sample",
        "0",
        code=2,
    )
    assert "字段 sample_size" in out and "'0'" in out
    out = run(
        cli, "accuracy", "check", "--department", "无此部门", "--item", "penalty", str(snap), code=2
    )
    assert "部门「无此部门」不存在" in out
    assert "信息项" in run(
        cli, "accuracy", "check", "--department", AUTH, "--item", "nonsense", str(snap), code=2
    )
    assert "不存在" in run(cli, "accuracy", "show", "acc-none", code=2)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert "为空" in run(
        cli, "accuracy", "check", "--department", AUTH, "--item", "penalty", str(empty), code=2
    )
    assert "失败" in run(cli, "accuracy", "list")  # the failed check is on record


def test_the_job_checks_a_dropped_file_once(
    cli: CliRunner, ingested: None, container: Container
) -> None:
    folder = container.settings.data_dir / "accuracy" / AUTH / "penalty"
    folder.mkdir(parents=True)
    snapshot(folder, "snapshot.csv", [row(1), row(2), row(3, CF_JDRQ="2026-11-03")])
    out = run(cli, "jobs", "run-due", "--only", "accuracy_check")
    assert "accuracy_check: ok" in out
    detail = json.loads(out.split("accuracy_check: ok", 1)[1])
    (checked,) = detail["checked"]
    assert checked["sampled"] == 4 and checked["open"] == 2  # 3 changed, 4 missing
    again = run(cli, "jobs", "run-due", "--only", "accuracy_check", "--force")
    assert json.loads(again.split("accuracy_check: ok", 1)[1])["skipped"] == 1
    listed = json.loads(run(cli, "accuracy", "list", "--json"))
    assert [r["trigger"] for r in listed] == ["job"]
