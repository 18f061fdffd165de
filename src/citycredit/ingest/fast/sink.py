"""Set-based reads and writes of the fast intake, on the submission's own connection.

PostgreSQL: rows go in with psycopg 3 ``cursor.copy()`` (CSV written by Polars), updates are
staged with COPY into a TEMP table and applied with one ``UPDATE … FROM``, lookups take one
array parameter (``= ANY(%s)``). SQLite: ``executemany`` into the table or a TEMP staging
table and the same ``UPDATE … FROM``. Everything runs inside the submission's transaction
(ADR 0003): a rollback (dry run, error, killed process) leaves nothing behind.

Columns a frame does not carry get the model's scalar default, so a nullable or defaulted
column added to a table later does not break bulk inserts (a NOT NULL column without a
default does, loudly, at the first insert).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

__all__ = ["Sink", "make_sink"]

_CHUNK = 30_000  # SQLite host parameters per statement stay below its 32,766 limit
_SLICE = 2_000  # rows per CSV buffer written into a COPY


class Sink:
    """Dialect-neutral part: defaults, type conversion, the statements both dialects share."""

    def __init__(self, session: Session) -> None:
        self.session = session
        conn = session.connection()
        self.dialect: Dialect = conn.dialect
        self.raw: Any = conn.connection.driver_connection

    # -- values --------------------------------------------------------------------------------
    def timestamp(self, table: Table, column: str, value: datetime) -> str:
        """A datetime as the column stores it: naive UTC text on SQLite, ISO 8601 on PostgreSQL."""
        if self.dialect.name != "sqlite":
            return value.astimezone(UTC).isoformat()
        proc = table.c[column].type.bind_processor(self.dialect)
        out = proc(value) if proc else value
        return str(out)

    def _complete(self, table: Table, frame: pl.DataFrame) -> pl.DataFrame:
        """Add the model defaults of columns the frame leaves out (not autoincrement keys)."""
        extra = []
        for col in table.columns:
            if col.name in frame.columns or col.default is None:
                continue
            default = col.default
            value = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
            if isinstance(value, dict | list):
                value = json.dumps(value)
            extra.append(pl.lit(value).alias(col.name))
        return frame.with_columns(extra) if extra else frame

    # -- interface -----------------------------------------------------------------------------
    def insert(self, table: Table, frame: pl.DataFrame) -> None:
        with self.inserting(table, frame):
            pass

    @contextmanager
    def inserting(self, table: Table, frame: pl.DataFrame) -> Iterator[None]:
        """Insert the rows; the block runs while the database stores them (where it can)."""
        raise NotImplementedError
        yield

    def update(self, table: Table, frame: pl.DataFrame, keys: Sequence[str]) -> None:
        raise NotImplementedError

    def select_in(
        self, sql: str, column: str, values: Sequence[Any], schema: dict[str, Any]
    ) -> pl.DataFrame:
        """Rows of ``sql`` (which ends with ``WHERE … {column} IN_LIST``) for the given values."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.raw.cursor()
        try:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall()) if cur.description else []
        finally:
            cur.close()


class PgSink(Sink):
    """PostgreSQL through psycopg 3."""

    @contextmanager
    def inserting(self, table: Table, frame: pl.DataFrame) -> Iterator[None]:
        """COPY the rows; the block runs while the server stores them (before COPY ends)."""
        if frame.is_empty():
            yield
            return
        frame = self._complete(table, frame)
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        with (
            self.raw.cursor() as cur,
            cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN (FORMAT csv)') as cp,
        ):
            for part in frame.iter_slices(_SLICE):  # a few MB of CSV at a time
                buf = io.BytesIO()
                part.write_csv(buf, include_header=False, null_value="")
                cp.write(buf.getbuffer())
            del buf
            yield

    def update(self, table: Table, frame: pl.DataFrame, keys: Sequence[str]) -> None:
        if frame.is_empty():
            return
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        stage = f"_fast_{table.name}"
        sets = ", ".join(f'"{c}" = u."{c}"' for c in frame.columns if c not in keys)
        where = " AND ".join(f't."{k}" = u."{k}"' for k in keys)
        buf = io.BytesIO()
        frame.write_csv(buf, include_header=False, null_value="")
        with self.raw.cursor() as cur:
            cur.execute(
                f'CREATE TEMP TABLE "{stage}" ON COMMIT DROP AS '
                f'SELECT {cols} FROM "{table.name}" WITH NO DATA'
            )
            with cur.copy(f'COPY "{stage}" ({cols}) FROM STDIN (FORMAT csv)') as cp:
                cp.write(buf.getbuffer())
            cur.execute(f'UPDATE "{table.name}" AS t SET {sets} FROM "{stage}" AS u WHERE {where}')
            cur.execute(f'DROP TABLE "{stage}"')

    def select_in(
        self, sql: str, column: str, values: Sequence[Any], schema: dict[str, Any]
    ) -> pl.DataFrame:
        if not values:
            return pl.DataFrame(schema=schema)
        query = sql.replace("IN_LIST", "= ANY(%s)")
        with self.raw.cursor() as cur:
            cur.execute(query, (list(values),))
            rows = cur.fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")


class SqliteSink(Sink):
    """SQLite through the sqlite3 module."""

    def _rows(self, frame: pl.DataFrame) -> Iterator[tuple[Any, ...]]:
        casts = [
            pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if dtype == pl.Date
        ]
        return (frame.with_columns(casts) if casts else frame).iter_rows(buffer_size=_SLICE)

    @contextmanager
    def inserting(self, table: Table, frame: pl.DataFrame) -> Iterator[None]:
        if not frame.is_empty():
            frame = self._complete(table, frame)
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            marks = ", ".join("?" for _ in frame.columns)
            self.raw.executemany(
                f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})', self._rows(frame)
            )
        yield

    def update(self, table: Table, frame: pl.DataFrame, keys: Sequence[str]) -> None:
        if frame.is_empty():
            return
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        marks = ", ".join("?" for _ in frame.columns)
        stage = f"_fast_{table.name}"
        sets = ", ".join(f'"{c}" = u."{c}"' for c in frame.columns if c not in keys)
        where = " AND ".join(f'"{table.name}"."{k}" = u."{k}"' for k in keys)
        self.raw.execute(f'DROP TABLE IF EXISTS temp."{stage}"')
        self.raw.execute(
            f'CREATE TEMP TABLE "{stage}" AS SELECT {cols} FROM "{table.name}" WHERE 0'
        )
        self.raw.executemany(f'INSERT INTO "{stage}" ({cols}) VALUES ({marks})', self._rows(frame))
        self.raw.execute(f'UPDATE "{table.name}" SET {sets} FROM "{stage}" AS u WHERE {where}')
        self.raw.execute(f'DROP TABLE temp."{stage}"')

    def select_in(
        self, sql: str, column: str, values: Sequence[Any], schema: dict[str, Any]
    ) -> pl.DataFrame:
        rows: list[tuple[Any, ...]] = []
        values = list(values)
        for i in range(0, len(values), _CHUNK):
            part = values[i : i + _CHUNK]
            query = sql.replace("IN_LIST", f"IN ({', '.join('?' for _ in part)})")
            rows.extend(self.raw.execute(query, part).fetchall())
        return pl.DataFrame(rows, schema=schema, orient="row")


def make_sink(session: Session) -> Sink:
    """The sink for the session's database."""
    name = session.connection().dialect.name
    if name == "postgresql":
        return PgSink(session)
    if name == "sqlite":
        return SqliteSink(session)
    raise NotImplementedError(f"fast intake does not support {name}")
