"""`citycredit evaluate --engine spark`: a stored run whose results equal the database engine's.

Marked `spark` (run on its own by scripts/test.sh); the command's Spark session is the suite's
shared local[2] session (tests/engines/conftest.py), which `getOrCreate` hands back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.bootstrap import Container
from citycredit.cli.main import app
from citycredit.evaluation.db import EvaluationResultRow, EvaluationRunRow
from evaluation_support import COMPANY, OTHER, SHOP, deliver, ingest, licence, penalty
from support import department

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_spark_engine_run_matches_the_database_run(
    container: Container, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spark: Any
) -> None:
    c = container
    s = c.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    department(c)
    licence(c, tmp_path, COMPANY)
    ingest(
        c,
        tmp_path,
        [
            penalty(OTHER, "榆市监罚〔2026〕1号", name="榆阳区另一有限公司"),
            penalty(SHOP, "榆市监罚〔2026〕2号", name="榆阳区王记小吃店"),
        ],
    )
    deliver(c)
    cli = CliRunner()
    args = ["evaluate", "--as-of", "2026-11-25", "--json"]
    db = cli.invoke(app, [*args, "--engine", "db"])
    assert db.exit_code == 0, db.output
    on_spark = cli.invoke(app, [*args, "--engine", "spark", "--spark-master", "local[2]"])
    assert on_spark.exit_code == 0, on_spark.output
    run = json.loads(on_spark.stdout)
    assert run["engine"] == "spark" and run["status"] == "completed" and run["evaluated"] == 3
    assert run["source"]["spark_master"] == "local[2]" and run["source"]["exported"] is True
    assert run["counts"] == json.loads(db.stdout)["counts"]
    with c.uow() as uow:
        engines = {r.id: r.engine for r in uow.session.scalars(select(EvaluationRunRow))}
        rows = uow.session.execute(
            select(
                EvaluationResultRow.run_id,
                EvaluationResultRow.subject_id,
                EvaluationResultRow.score,
                EvaluationResultRow.grade,
                EvaluationResultRow.result,
            ).where(EvaluationResultRow.run_id.is_not(None))
        ).all()
    by_engine: dict[str, list[Any]] = {}
    for run_id, *rest in rows:
        by_engine.setdefault(engines[run_id], []).append(tuple(rest))
    assert sorted(by_engine["spark"], key=str) == sorted(by_engine["db"], key=str)
