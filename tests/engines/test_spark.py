"""Spark runs the same compiled model over the same Parquet export: identical results.

Marked `spark`: scripts/test.sh runs these on their own (`-m spark -p no:xdist`) with one
shared session (tests/engines/conftest.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from evaluation_city import AS_OF, EXPECTED, build_city, edge_ids

from citycredit.analytics.export import export_parquet
from citycredit.bootstrap import Container
from citycredit.evaluation import evaluate_all_db, evaluate_duckdb, evaluate_spark, load_models
from citycredit.evaluation.reference import evaluate_reference, read_parquet_facts
from citycredit.shared.clock import FixedClock

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_spark_agrees_with_every_engine(
    container: Container, clock: FixedClock, tmp_path: Path, spark: Any
) -> None:
    c = container
    build_city(c, clock, tmp_path)
    models = load_models()
    out = tmp_path / "parquet"
    export_parquet(c, out)
    facts = read_parquet_facts(out)
    edges = edge_ids(c)
    on_spark: dict[str, Any] = {}
    for day in (AS_OF - timedelta(days=1), AS_OF):
        on_spark = {r.subject_id: r for r in evaluate_spark(out, models, day, spark=spark)}
        on_duckdb = {r.subject_id: r for r in evaluate_duckdb(out, models, day)}
        reference = {r.subject_id: r for r in evaluate_reference(models, *facts, day)}
        with c.uow() as uow:
            on_db = {r.subject_id: r for r in evaluate_all_db(uow.session, models, day)}
        assert len(on_spark) > 150
        assert on_spark == on_duckdb == reference == on_db, day
    for key, expected in EXPECTED.items():
        result = on_spark[edges[key]]  # the last day evaluated: AS_OF
        for name, want in expected.items():
            assert (result.grade if name == "grade" else result.value(name)) == want, (key, name)
