"""The DuckDB engine reads the export's format: facts rows carry their subject's type."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from citycredit.analytics.export import EXPORT_FORMAT, PARQUET_FACT_COLUMNS, SCHEMAS
from citycredit.evaluation.engines import PARQUET_FILES, evaluate_duckdb, open_duckdb
from citycredit.evaluation.facts import FACT_COLUMNS
from citycredit.evaluation.model import load_models

AS_OF = date(2026, 6, 15)


def _write(out: Path, *, typed: bool) -> None:
    subjects = pa.table(
        {
            "subject_id": ["s1", "s2"],
            "subject_type": ["enterprise", "natural_person"],
            "registered_on": pa.array([date(2010, 1, 1), None], pa.date32()),
        },
        schema=SCHEMAS["fact_subjects"],
    )
    facts = {
        "subject_id": ["s1", "s2"],
        "subject_type": ["enterprise", "natural_person"],
        "item_code": ["licence", "licence"],
        "decision_date": pa.array([date(2026, 1, 1)] * 2, pa.date32()),
        "severity": [None, None],
        "publication_end": pa.array([None, None], pa.date32()),
        "published": pa.array([1, 1], pa.int32()),
        "repaired_on": pa.array([None, None], pa.date32()),
        "value": [None, None],
        "category": [None, None],
    }
    columns = PARQUET_FACT_COLUMNS if typed else FACT_COLUMNS
    schema = (
        SCHEMAS["facts"] if typed else pa.schema([f for f in SCHEMAS["facts"] if f.name in columns])
    )
    pq.write_table(
        pa.table({c: facts[c] for c in columns}, schema=schema), out / PARQUET_FILES["facts"]
    )
    pq.write_table(subjects, out / PARQUET_FILES["fact_subjects"])
    pq.write_table(
        SCHEMAS["fact_memberships"].empty_table(), out / PARQUET_FILES["fact_memberships"]
    )


def test_facts_carry_the_subject_type_after_the_id() -> None:
    assert list(PARQUET_FACT_COLUMNS)[:2] == ["subject_id", "subject_type"]
    assert set(PARQUET_FACT_COLUMNS) == {*FACT_COLUMNS, "subject_type"}
    assert EXPORT_FORMAT.endswith("/2")


def test_engine_evaluates_typed_facts(tmp_path: Path) -> None:
    _write(tmp_path, typed=True)
    results = list(evaluate_duckdb(tmp_path, load_models(), AS_OF))
    assert [(r.subject_id, r.value("licences_in_force")) for r in results] == [("s1", 1)]


def test_engine_refuses_an_export_without_subject_types(tmp_path: Path) -> None:
    _write(tmp_path, typed=False)
    with pytest.raises(ValueError, match="subject_type"):
        open_duckdb(tmp_path)
