"""The Parquet export is de-identified: no ID numbers, USCCs, phones or persons' names anywhere."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from evaluation_city import build_city
from openpyxl import load_workbook
from sqlalchemy import func, select

from citycredit.analytics.export import SCHEMAS, export_parquet
from citycredit.bootstrap import Container
from citycredit.evaluation.engines import PARQUET_FILES
from citycredit.ingest.db import RecordRow
from citycredit.shared.clock import FixedClock
from citycredit.shared.files import sha256_file

pytestmark = pytest.mark.db

ID_NUMBER = re.compile(r"\d{17}[\dXx]")
USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}")
PHONE = re.compile(r"1[3-9]\d{9}")
DIGITS = re.compile(r"\d{9,}")  # registration numbers, organisation codes, bank accounts …


def _rows(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".xlsx":
        sheet = load_workbook(path, read_only=True).active
        assert sheet is not None
        values = [
            [str(v) if v is not None else "" for v in r] for r in sheet.iter_rows(values_only=True)
        ]
        return [dict(zip(values[0], r, strict=False)) for r in values[1:]]
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = (
            data
            if isinstance(data, list)
            else next(v for v in data.values() if isinstance(v, list))
        )
        return [{k: str(v) for k, v in r.items()} for r in rows]
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return list(csv.DictReader(io.StringIO(raw.decode(encoding))))
        except UnicodeDecodeError:
            continue
    raise AssertionError(path)


def person_names(city: Path) -> set[str]:
    """Names of natural persons in the department files: persons, households, legal reps."""
    names: set[str] = set()
    for path in sorted(city.iterdir()):
        if path.name == "manifest.json":
            continue
        for row in _rows(path):
            if row.get("DJ_ZTLX") in ("自然人", "农户"):
                names.add(row.get("DJ_MC", ""))
            for key in ("DJ_FRDB", "CF_FRDB", "XK_FRDB", "SX_FRDB", "YC_FRDB"):
                names.add(row.get(key, ""))
    return {n.strip() for n in names if n and len(n.strip()) >= 2}


def test_export_is_de_identified_and_complete(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    build_city(c, clock, tmp_path, subjects=160)
    out = tmp_path / "parquet"
    manifest = export_parquet(c, out)
    names = person_names(tmp_path / "city")
    assert len(names) > 50
    # Positive controls: the scanners find what the department files do contain.
    registrations = _rows(tmp_path / "city" / "01-scjg-registration.csv")
    assert any(USCC.search(r["DJ_SHXYM"]) for r in registrations)
    assert any(PHONE.search(r["DJ_LXDH"]) for r in registrations)
    households = _rows(next((tmp_path / "city").glob("*-nync-registration.csv")))
    assert any(ID_NUMBER.search(r["DJ_ZJHM"]) for r in households)
    scanned = 0
    for relation, file in PARQUET_FILES.items():
        path = out / file
        spec = manifest["files"][relation]
        assert spec["sha256"] == sha256_file(path)
        table = pq.read_table(path)
        assert table.schema.equals(SCHEMAS[relation]), relation  # only the declared columns
        assert table.num_rows == spec["rows"]
        for column in table.column_names:
            for value in table.column(column).to_pylist():
                if value is None:
                    continue
                text = str(value)
                scanned += 1
                assert not ID_NUMBER.search(text), (relation, column, text)
                assert not USCC.search(text), (relation, column, text)
                assert not PHONE.search(text), (relation, column, text)
                assert not DIGITS.search(text.replace("-", "")), (relation, column, text)
                if isinstance(value, str):
                    assert not any(n in text for n in names), (relation, column, text)
    assert scanned > 1000
    on_disk = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest
    subjects = pq.read_table(out / PARQUET_FILES["fact_subjects"]).to_pydict()
    assert "natural_person" not in set(subjects["subject_type"])
    assert "other_organisation" not in set(subjects["subject_type"])
    # Each facts row carries its subject's type (the DuckDB and Spark engines filter on it).
    types = dict(zip(subjects["subject_id"], subjects["subject_type"], strict=True))
    facts = pq.read_table(out / PARQUET_FILES["facts"], columns=["subject_id", "subject_type"])
    pairs = list(zip(*facts.to_pydict().values(), strict=True))
    assert len(pairs) > 100
    assert all(types[sid] == stype for sid, stype in pairs)
    assert len({stype for _, stype in pairs}) > 1
    # Every active record of an evaluated subject is exported once; withdrawn ones never.
    with c.uow() as uow:
        s = uow.session
        active = s.scalar(
            select(func.count())
            .select_from(RecordRow)
            .where(
                RecordRow.status == "active",
                RecordRow.subject_id.in_(subjects["subject_id"]),
            )
        )
    assert manifest["files"]["facts"]["rows"] == active
