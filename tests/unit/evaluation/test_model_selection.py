"""Which model version evaluates a day: the newest version that is not retired and took effect
on or before as_of (`effective`); a back-dated as_of gets the version in force then."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from citycredit.analytics.export import SCHEMAS
from citycredit.evaluation.engines import PARQUET_FILES, evaluate_duckdb
from citycredit.evaluation.model import EvaluationModel, ModelSet, load_models
from citycredit.evaluation.service import model_summary

PACKAGED = load_models()
BASE = PACKAGED.get("enterprise", "2026.1")  # effective 2026-04-01


def version(number: str, effective: date, *, retired: bool = False) -> EvaluationModel:
    return dataclasses.replace(BASE, version=number, effective=effective, retired=retired)


@pytest.fixture
def models() -> ModelSet:
    """enterprise 2026.1 (from 2026-04-01), 2026.5 (from 2026-10-01), 2026.7 (retired,
    2026-11-01), 2027.1 (from 2027-01-01, published ahead of its day)."""
    return ModelSet(
        (
            BASE,
            version("2026.5", date(2026, 10, 1)),
            version("2026.7", date(2026, 11, 1), retired=True),
            version("2027.1", date(2027, 1, 1)),
        )
    )


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 3, 31), None),  # before any version took effect: not evaluated
        (date(2026, 4, 1), "2026.1"),  # the effective day itself
        (date(2026, 9, 30), "2026.1"),
        (date(2026, 10, 1), "2026.5"),
        (date(2026, 11, 25), "2026.5"),  # 2026.7 is retired, 2027.1 not in force yet
        (date(2026, 12, 31), "2026.5"),
        (date(2027, 1, 1), "2027.1"),
    ],
)
def test_the_version_in_force_on_as_of(models: ModelSet, as_of: date, expected: str | None) -> None:
    found = models.current_for("enterprise", as_of)
    assert (found.version if found else None) == expected
    assert [m.version for m in models.current(as_of)] == ([expected] if expected else [])
    assert ("enterprise" in models.subject_types(as_of)) is (expected is not None)


def test_without_as_of_the_newest_version_known(models: ModelSet) -> None:
    found = models.current_for("enterprise")
    assert found is not None and found.version == "2027.1"


def test_a_run_records_the_versions_of_its_as_of(models: ModelSet) -> None:
    assert model_summary(models, date(2026, 11, 25)) == [
        {"code": "enterprise", "version": "2026.5", "subject_types": ["enterprise"]}
    ]
    assert model_summary(models, date(2026, 1, 1)) == []


def _export(out: Path) -> None:
    """One enterprise with a licence: the smallest export the DuckDB engine reads."""
    pq.write_table(
        pa.table(
            {
                "subject_id": ["s1"],
                "subject_type": ["enterprise"],
                "registered_on": pa.array([date(2010, 1, 1)], pa.date32()),
            },
            schema=SCHEMAS["fact_subjects"],
        ),
        out / PARQUET_FILES["fact_subjects"],
    )
    facts = {
        "subject_id": ["s1"],
        "subject_type": ["enterprise"],
        "item_code": ["licence"],
        "decision_date": pa.array([date(2026, 1, 1)], pa.date32()),
        "severity": [None],
        "publication_end": pa.array([None], pa.date32()),
        "published": pa.array([1], pa.int32()),
        "repaired_on": pa.array([None], pa.date32()),
        "value": ["有效"],
        "category": [None],
    }
    schema = SCHEMAS["facts"]
    pq.write_table(
        pa.table({f.name: facts[f.name] for f in schema}, schema=schema),
        out / PARQUET_FILES["facts"],
    )
    pq.write_table(
        SCHEMAS["fact_memberships"].empty_table(), out / PARQUET_FILES["fact_memberships"]
    )


def test_engines_evaluate_with_the_version_in_force(models: ModelSet, tmp_path: Path) -> None:
    _export(tmp_path)
    today = list(evaluate_duckdb(tmp_path, models, date(2026, 11, 25)))
    assert [(r.subject_id, r.model_version) for r in today] == [("s1", "2026.5")]
    back = list(evaluate_duckdb(tmp_path, models, date(2026, 6, 1)))  # back-dated run
    assert [(r.model_version, r.as_of) for r in back] == [("2026.1", date(2026, 6, 1))]
    assert list(evaluate_duckdb(tmp_path, models, date(2026, 3, 1))) == []  # none in force
