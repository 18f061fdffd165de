"""One model, three engines: the platform database, DuckDB over Parquet, Apache Spark.

Each engine runs the SAME compiled query (`evaluation.compiler`) over the SAME relations
(`evaluation.facts`) with the same bound parameters, and every row it returns is re-scored by
`evaluation.scoring.result_from_row`, which raises EngineMismatch if the engine's score or grade
differs from the Python arithmetic on the engine's own indicator values.

- `evaluate_db`: on the caller's SQLAlchemy session or connection (PostgreSQL or SQLite), the fact
  view is a CTE restricted to the given subjects — the unit of work's own transaction, so a
  re-evaluation sees the record it was triggered by.
- `evaluate_duckdb`: the de-identified Parquet export (`citycredit.analytics.export`) of a
  whole city, one pass per model. Its facts rows also carry the subject's type, and the query
  compiled for DuckDB and Spark filters on it (`compiler.TYPED_FACTS`) where the query for
  the platform database joins fact_subjects.
- `evaluate_spark`: the same Parquet files on Spark (pyspark is an optional extra and is
  imported only here, only when chosen).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, bindparam, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from citycredit.evaluation.compiler import CompiledModel, compile_model, output_columns
from citycredit.evaluation.facts import fact_view_sql
from citycredit.evaluation.model import EvaluationModel, ModelSet
from citycredit.evaluation.result import SubjectResult
from citycredit.evaluation.scoring import result_from_row

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyspark.sql import SparkSession

__all__ = [
    "PARQUET_FILES",
    "duckdb_table",
    "evaluate_all_db",
    "evaluate_db",
    "evaluate_duckdb",
    "evaluate_spark",
    "open_duckdb",
    "spark_session",
]

# Relation name → file of the Parquet export (the export writes exactly these).
PARQUET_FILES = {
    "fact_subjects": "fact_subjects.parquet",
    "facts": "facts.parquet",
    "fact_memberships": "fact_memberships.parquet",
}
_ROWS_PER_BATCH = 10_000
# Columns the DuckDB / Spark query needs beyond the fact view's (export format /2 and later).
_EXPORT_COLUMNS = {"facts": ("subject_type",)}


def _connection(session_or_connection: Session | Connection) -> Connection:
    if isinstance(session_or_connection, Session):
        # Sessions here do not autoflush: pending rows of the unit of work must be visible.
        session_or_connection.flush()
        return session_or_connection.connection()
    return session_or_connection


@lru_cache(maxsize=4)
def _scoped_view(dialect: str) -> str:
    return fact_view_sql(dialect, scoped=True)


def _models_by_type(models: ModelSet, as_of: date) -> dict[str, EvaluationModel]:
    """Subject type → the model in force on as_of (ModelSet.current: `effective <= as_of`)."""
    return {t: m for m in models.current(as_of) for t in m.subject_types}


_STATEMENTS: dict[int, tuple[CompiledModel, TextClause]] = {}


def _db_statement(compiled: CompiledModel, as_of: date) -> TextClause:
    """The model's statement on the platform database, built once per compiled model.

    The same TextClause object (and so the same SQL text) on every call lets SQLAlchemy reuse
    its compiled form, and psycopg prepare the statement on the server after a few executions
    (the PostgreSQL planner then keeps a generic plan instead of planning the query per call).
    """
    known = _STATEMENTS.get(id(compiled))
    if known is not None and known[0] is compiled:
        return known[1]
    sql = f"WITH {_scoped_view(compiled.dialect)}, {compiled.ctes}"
    # Dates bound with their SQL type (SQLite keeps ISO text), ids as an expanding IN list.
    stmt = text(sql).bindparams(
        bindparam("subject_ids", expanding=True),
        *(bindparam(k, type_=Date()) for k in compiled.params(as_of)),
    )
    if len(_STATEMENTS) > 64:
        _STATEMENTS.clear()
    _STATEMENTS[id(compiled)] = (compiled, stmt)
    return stmt


def _db_rows(
    conn: Connection, model: EvaluationModel, subject_ids: Sequence[str], as_of: date
) -> list[dict[str, Any]]:
    compiled = compile_model(model, conn.dialect.name)
    stmt = _db_statement(compiled, as_of)
    params = compiled.params(as_of)
    params["subject_ids"] = list(subject_ids)
    return [dict(r._mapping) for r in conn.execute(stmt, params)]


def evaluate_db(
    session_or_connection: Session | Connection,
    models: ModelSet,
    subject_ids: Sequence[str],
    as_of: date,
) -> list[SubjectResult]:
    """Evaluate the given subjects on the platform database (in the caller's transaction).

    Subjects whose type no model in force on as_of evaluates (natural persons, other
    organisations) and unknown ids are skipped. Results come in the order of `subject_ids`.
    """
    from citycredit.subjects.db import SubjectRow

    if not subject_ids:
        return []
    conn = _connection(session_or_connection)
    by_type = _models_by_type(models, as_of)
    wanted = list(dict.fromkeys(subject_ids))
    types = conn.execute(
        select(SubjectRow.subject_id, SubjectRow.subject_type).where(
            SubjectRow.subject_id.in_(wanted)
        )
    ).all()
    groups: dict[str, list[str]] = {}
    for sid, stype in types:
        model = by_type.get(stype)
        if model is not None:
            groups.setdefault(model.key, []).append(sid)
    results: dict[str, SubjectResult] = {}
    for model in models.current(as_of):
        ids = groups.get(model.key)
        if not ids:
            continue
        for row in _db_rows(conn, model, ids, as_of):
            results[row["subject_id"]] = result_from_row(model, as_of, row)
    return [results[s] for s in wanted if s in results]


def evaluate_all_db(
    session_or_connection: Session | Connection,
    models: ModelSet,
    as_of: date,
    *,
    batch: int = 5000,
) -> Iterator[SubjectResult]:
    """Every subject a model in force on as_of evaluates, `batch` subjects per query, by id."""
    from citycredit.subjects.db import SubjectRow

    conn = _connection(session_or_connection)
    types = list(models.subject_types(as_of))
    after = ""
    while True:
        ids = list(
            conn.execute(
                select(SubjectRow.subject_id)
                .where(SubjectRow.subject_type.in_(types), SubjectRow.subject_id > after)
                .order_by(SubjectRow.subject_id)
                .limit(batch)
            ).scalars()
        )
        if not ids:
            return
        yield from evaluate_db(conn, models, ids, as_of)
        after = ids[-1]


# --- DuckDB -------------------------------------------------------------------------------


def open_duckdb(parquet_dir: Path, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the export's three relations as views over its Parquet files."""
    import duckdb

    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    for name, file in PARQUET_FILES.items():
        path = Path(parquet_dir) / file
        if not path.exists():
            raise FileNotFoundError(
                f"Parquet 导出缺少文件 {path}（先运行 citycredit analytics export）"
            )
        # The relational API: no file path is ever formatted into SQL text.
        relation = con.read_parquet(str(path))
        _check_export(name, relation.columns, path)
        relation.create_view(name)
    return con


def _check_export(name: str, columns: Sequence[str], path: Path) -> None:
    missing = [c for c in _EXPORT_COLUMNS.get(name, ()) if c not in columns]
    if missing:
        raise ValueError(
            f"Parquet 导出 {path} 缺少列 {', '.join(missing)}（导出格式过旧，"
            "请重新运行 citycredit analytics export）"
        )


def duckdb_table(con: duckdb.DuckDBPyConnection, model: EvaluationModel, as_of: date) -> pa.Table:
    """The model's result table (columns: `compiler.output_columns`) — one query, one pass."""
    compiled = compile_model(model, "duckdb")
    return con.sql(compiled.sql, params=compiled.params(as_of)).to_arrow_table()


def _rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=_ROWS_PER_BATCH):
        yield from batch.to_pylist()


def evaluate_duckdb(parquet_dir: Path, models: ModelSet, as_of: date) -> Iterator[SubjectResult]:
    """Every subject of the export that a model in force on as_of evaluates, model by model."""
    con = open_duckdb(parquet_dir)
    try:
        for model in models.current(as_of):
            table = duckdb_table(con, model, as_of)
            for row in _rows(table):
                yield result_from_row(model, as_of, row)
    finally:
        con.close()


# --- Spark --------------------------------------------------------------------------------


def spark_session(
    master: str = "local[2]",
    *,
    shuffle_partitions: int = 4,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A Spark session for evaluation (pyspark is the optional `spark` extra).

    Tests and laptops use local[2]; production passes the cluster URL (spark://…, yarn) and
    more shuffle partitions. The UI is off (no port opened on the evaluation host). `conf`
    adds settings (applied only when this call creates the session).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError("Spark 引擎需要安装 pyspark（pip install 'citycredit[spark]'）") from exc
    builder = (
        SparkSession.builder.master(master)
        .appName("citycredit-evaluation")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def evaluate_spark(
    parquet_dir: Path,
    models: ModelSet,
    as_of: date,
    *,
    master: str = "local[2]",
    spark: SparkSession | None = None,
) -> Iterator[SubjectResult]:
    """The Parquet export evaluated on Spark (a cluster URL in production, local[2] in tests)."""
    session = spark if spark is not None else spark_session(master)
    for name, file in PARQUET_FILES.items():
        path = Path(parquet_dir) / file
        if not path.exists():
            raise FileNotFoundError(
                f"Parquet 导出缺少文件 {path}（先运行 citycredit analytics export）"
            )
        files = session.read.parquet(str(path))
        _check_export(name, files.columns, path)
        files.createOrReplaceTempView(name)
    for model in models.current(as_of):
        compiled = compile_model(model, "spark")
        frame = session.sql(compiled.sql, args=compiled.params(as_of))
        # One result row per subject: collected through Arrow (toLocalIterator would run one
        # job per partition, several times slower).
        table = frame.select(*output_columns(model)).toArrow()
        for row in _rows(table):
            yield result_from_row(model, as_of, row)
