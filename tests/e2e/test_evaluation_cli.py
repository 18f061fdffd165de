"""`citycredit evaluate --engine db|duckdb --as-of DATE` end to end (in process, both databases).

The Spark engine's CLI test is in tests/engines/test_evaluation_cli_spark.py (marked `spark`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.analytics.export import export_parquet
from citycredit.bootstrap import Container
from citycredit.cli.main import app
from citycredit.evaluation.db import EvaluationResultRow, EvaluationRunRow
from evaluation_support import COMPANY, OTHER, SHOP, deliver, ingest, licence, penalty
from support import cli_env, department

pytestmark = pytest.mark.db


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """The command on the test database, with three evaluated subjects of two models."""
    cli_env(container, monkeypatch)
    department(container)
    licence(container, tmp_path, COMPANY)
    ingest(
        container,
        tmp_path,
        [
            penalty(OTHER, "榆市监罚〔2026〕1号", name="榆阳区另一有限公司"),
            penalty(SHOP, "榆市监罚〔2026〕2号", name="榆阳区王记小吃店"),
        ],
    )
    deliver(container)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> Any:
    result = cli.invoke(app, ["evaluate", *args])
    assert result.exit_code == code, (args, result.output)
    return result


def stored(c: Container) -> tuple[list[EvaluationRunRow], dict[str, list[tuple[Any, ...]]]]:
    """Runs, and per run id the (subject, score, grade, model version) of its results."""
    with c.uow() as uow:
        runs = list(uow.session.scalars(select(EvaluationRunRow)))
        rows = uow.session.execute(
            select(
                EvaluationResultRow.run_id,
                EvaluationResultRow.subject_id,
                EvaluationResultRow.score,
                EvaluationResultRow.grade,
                EvaluationResultRow.model_version,
            ).where(EvaluationResultRow.run_id.is_not(None))
        ).all()
    by_run: dict[str, list[tuple[Any, ...]]] = {}
    for run_id, *rest in rows:
        by_run.setdefault(run_id, []).append(tuple(rest))
    return runs, {k: sorted(v) for k, v in by_run.items()}


def test_db_engine_prints_the_run_and_stores_it(cli: CliRunner, container: Container) -> None:
    result = run(cli, "--engine", "db", "--as-of", "2026-11-25")
    out = result.stdout
    assert "评价批次 evr" in out and "引擎 db" in out and "评价基准日 2026-11-25" in out
    assert "enterprise 2026.1" in out and "individual_business 2026.1" in out
    assert "共评价 3 个主体" in out
    assert "评价" in result.stderr and "3/3" in result.stderr  # the Rich progress bar
    (runs, by_run) = stored(container)
    (only,) = runs
    assert (only.engine, only.status, only.evaluated, only.skipped) == ("db", "completed", 3, 0)
    assert sum(only.counts.values()) == 3 and only.counts["B"] >= 1
    assert len(by_run[only.id]) == 3


def test_duckdb_engine_agrees_with_the_database(
    cli: CliRunner, container: Container, tmp_path: Path
) -> None:
    run(cli, "--engine", "db", "--as-of", "2026-11-25")
    exported = json.loads(run(cli, "--engine", "duckdb", "--as-of", "2026-11-25", "--json").stdout)
    assert exported["engine"] == "duckdb" and exported["status"] == "completed"
    assert exported["source"]["exported"] is True and exported["source"]["parquet"] is None
    assert exported["source"]["rows"]["fact_subjects"] == 3
    # An export made earlier (--parquet DIR) is read as it is.
    directory = tmp_path / "export"
    export_parquet(container, directory)
    given = json.loads(
        run(
            cli,
            "--engine",
            "duckdb",
            "--as-of",
            "2026-11-25",
            "--parquet",
            str(directory),
            "--json",
        ).stdout
    )
    assert given["source"]["parquet"] == str(directory) and given["source"]["exported"] is False
    runs, by_run = stored(container)
    engines = {r.id: r.engine for r in runs}
    results = {
        engines[k] + ("-given" if k == given["run_id"] else ""): v for k, v in by_run.items()
    }
    assert results["duckdb"] == results["db"] == results["duckdb-given"]
    assert exported["counts"] == given["counts"]


def test_bad_input_names_the_field(cli: CliRunner, tmp_path: Path) -> None:
    bad_date = run(cli, "--engine", "db", "--as-of", "2026-13-01", code=2)
    assert "as_of" in bad_date.output and "2026-13-01" in bad_date.output
    bad_engine = run(cli, "--engine", "oracle", "--as-of", "2026-11-25", code=2)
    assert "engine" in bad_engine.output and "oracle" in bad_engine.output
    missing = run(
        cli,
        "--engine",
        "duckdb",
        "--as-of",
        "2026-11-25",
        "--parquet",
        str(tmp_path / "no"),
        code=2,
    )
    assert "parquet" in missing.output
    assert run(cli, "--engine", "db", code=2).exit_code == 2  # --as-of is required
