"""The de-identified Parquet export that DuckDB and Spark evaluate (a whole city, offline).

It writes the fact view (`citycredit.evaluation.facts`) as the platform database engine reads
it — fact_subjects.parquet, facts.parquet, fact_memberships.parquet — plus manifest.json (files,
row counts, sha256). One column is added: each facts row also carries its subject's
`subject_type` (the subject's row in fact_subjects, copied at export), so the DuckDB and Spark
engines drop the facts of subjects a model does not evaluate with a filter their Parquet scan
evaluates instead of joining every fact with fact_subjects (`evaluation.compiler.TYPED_FACTS`).
De-identified by construction: the only identifier is the opaque subject_id; no names, USCCs,
ID numbers, phone numbers, addresses or free text leave the database, only dates, enumerated
codes and integers (PIPL art. 51 data minimisation: only the columns the evaluation engines
need). Subjects are limited to the types some current evaluation model evaluates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Date, Integer, String, bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from citycredit.evaluation.engines import PARQUET_FILES
from citycredit.evaluation.facts import (
    FACT_COLUMNS,
    MEMBERSHIP_COLUMNS,
    SUBJECT_COLUMNS,
    fact_view_sql,
)
from citycredit.shared.files import sha256_file

__all__ = ["EXPORT_FORMAT", "PARQUET_FACT_COLUMNS", "SCHEMAS", "export_parquet"]

# /2: facts rows carry subject_type (the DuckDB and Spark engines refuse a /1 export).
EXPORT_FORMAT = "citycredit-evaluation-facts/2"
_ARROW = {"string": pa.string(), "date": pa.date32(), "int32": pa.int32()}
_SQL: dict[str, TypeEngine[Any]] = {"string": String(), "date": Date(), "int32": Integer()}
# facts: the fact view's columns with the subject's type after subject_id (denormalised).
PARQUET_FACT_COLUMNS: Mapping[str, str] = {
    "subject_id": FACT_COLUMNS["subject_id"],
    "subject_type": SUBJECT_COLUMNS["subject_type"],
    **{c: kind for c, kind in FACT_COLUMNS.items() if c != "subject_id"},
}
_RELATIONS: Mapping[str, Mapping[str, str]] = {
    "fact_subjects": SUBJECT_COLUMNS,
    "facts": PARQUET_FACT_COLUMNS,
    "fact_memberships": MEMBERSHIP_COLUMNS,
}
SCHEMAS: Mapping[str, pa.Schema] = {
    name: pa.schema([(col, _ARROW[kind]) for col, kind in cols.items()])
    for name, cols in _RELATIONS.items()
}
_BATCH = 50_000


def _query(dialect: str, relation: str) -> Any:
    cols = _RELATIONS[relation]
    if relation == "fact_subjects":
        select = ", ".join(f"x.{c}" for c in cols)
        source = "fact_subjects AS x"
        where = "x.subject_type IN :subject_types"
    else:
        # The subject's type comes from its fact_subjects row (facts: denormalised into each row).
        select = ", ".join(f"s.{c}" if c == "subject_type" else f"x.{c}" for c in cols)
        source = f"{relation} AS x JOIN fact_subjects AS s ON s.subject_id = x.subject_id"
        where = "s.subject_type IN :subject_types"
    sql = (
        f"WITH {fact_view_sql(dialect, scoped=False)} SELECT {select} FROM {source}"
        f" WHERE {where} ORDER BY x.subject_id"
    )
    types: dict[str, TypeEngine[Any]] = {c: _SQL[k] for c, k in cols.items()}
    return text(sql).bindparams(bindparam("subject_types", expanding=True)).columns(**types)


def _batches(conn: Connection, relation: str, types: Sequence[str]) -> Iterator[pa.RecordBatch]:
    schema = SCHEMAS[relation]
    result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(
        _query(conn.dialect.name, relation), {"subject_types": list(types)}
    )
    names = list(_RELATIONS[relation])
    for part in result.partitions(_BATCH):
        columns = list(zip(*part, strict=True)) if part else [() for _ in names]
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(list(col), type=schema.field(n).type)
                for n, col in zip(names, columns, strict=True)
            ],
            schema=schema,
        )


def _write(conn: Connection, relation: str, types: Sequence[str], path: Path) -> int:
    rows = 0
    tmp = path.with_suffix(".parquet.part")
    with pq.ParquetWriter(tmp, SCHEMAS[relation], compression="zstd") as writer:
        for batch in _batches(conn, relation, types):
            writer.write_batch(batch)
            rows += batch.num_rows
    tmp.replace(path)
    return rows


def _connection(container_or_session: Any) -> tuple[Connection, Any]:
    """(connection, closer) for a Container, a Session or a Connection."""
    if isinstance(container_or_session, Connection):
        return container_or_session, None
    if isinstance(container_or_session, Session):
        return container_or_session.connection(), None
    conn = container_or_session.engine.connect()
    return conn, conn


def export_parquet(
    container_or_session: Any,
    out_dir: Path,
    *,
    subject_types: Sequence[str] | None = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Write the three Parquet files and manifest.json into out_dir; returns the manifest.

    `subject_types` defaults to the types the current evaluation models evaluate; `as_of` is
    only recorded in the manifest (the export holds every fact; engines apply as_of).
    """
    from citycredit.evaluation.model import load_models

    types = (
        list(subject_types) if subject_types is not None else list(load_models().subject_types())
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Taken before the first read: a batch over this export must not move a current grade
    # computed after it (evaluation.runs, the snapshot rule).
    clock = getattr(container_or_session, "clock", None)
    exported_at = clock.now() if clock is not None else datetime.now(UTC)
    conn, closer = _connection(container_or_session)
    files: dict[str, Any] = {}
    try:
        for relation, file in PARQUET_FILES.items():
            path = out / file
            rows = _write(conn, relation, types, path)
            files[relation] = {
                "file": file,
                "rows": rows,
                "sha256": sha256_file(path),
                "columns": dict(_RELATIONS[relation]),
            }
    finally:
        if closer is not None:
            closer.close()
    manifest = {
        "format": EXPORT_FORMAT,
        "subject_types": types,
        "as_of": as_of.isoformat() if as_of else None,
        "exported_at": exported_at.isoformat(),
        "files": files,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return manifest
