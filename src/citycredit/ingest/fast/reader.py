"""Batches of rows for the fast intake, read exactly as `ingest.readers` reads them.

CSV is parsed by the same `csv` module, dialect, delimiter sniffing and header rule as the row
path, so a file means the same cells on both paths (no second CSV grammar to keep in step).
What changes is how rows become columns: a batch of records is taken with ``islice`` and
transposed with ``zip(*rows)`` (C loops), and each column crosses into Polars as one
NUL-joined string split there. NUL characters inside cells (legacy exports pad fixed-width
fields with them; the csv module accepts them) are removed by both readers
(`readers.clean_cell`): PostgreSQL cannot store them in text, and they carry nothing.
Records that are not plain (blank lines, short or long rows) are built by the readers' own
`_build_values`, and any CSV error re-runs the row reader so its error is raised verbatim.
XLSX and JSON rows come from the row readers and are batched.

Each batch is a DataFrame: ``rn`` (the row number of `SourceRow.number`), ``h<i>`` for the
i-th header (stripped text, null when empty) and ``__extra__`` (cells past the header width).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from citycredit.ingest.fast.textops import strip_cells
from citycredit.ingest.readers import (
    EXTRA_KEY,
    FileFormat,
    FileInfo,
    SourceRow,
    _build_values,
    _sniff_delimiter,
    clean_cell,
    open_source,
)

__all__ = ["header_column", "read_batches"]

BATCH_ROWS = 10_000


def header_column(index: int) -> str:
    return f"h{index}"


def read_batches(path: Path, info: FileInfo, *, rows: int | None = None) -> Iterator[pl.DataFrame]:
    """Yield batches of non-blank rows in file order (BATCH_ROWS records each by default)."""
    rows = rows or BATCH_ROWS
    if info.format is FileFormat.csv:
        yield from _csv_batches(path, info, rows)
    else:
        yield from _row_batches(path, info, rows)


def _frame(
    headers: tuple[str, ...],
    numbers: list[int],
    columns: list[pl.Series],
    extra: list[str | None] | None,
    *,
    skip_blank: bool = True,
) -> pl.DataFrame:
    data: dict[str, pl.Series] = {"rn": pl.Series("rn", numbers, dtype=pl.Int64)}
    for i, col in enumerate(columns):
        data[header_column(i)] = pl.Series(header_column(i), col, dtype=pl.String)
    data[EXTRA_KEY] = pl.Series(EXTRA_KEY, extra or [None] * len(numbers), dtype=pl.String)
    frame = pl.DataFrame(data)
    cells = [header_column(i) for i in range(len(headers))]
    frame = frame.with_columns(strip_cells(pl.col(c)).alias(c) for c in cells)
    if not skip_blank:
        return frame
    # A CSV record whose cells are all empty is skipped (its number is still consumed).
    return frame.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in cells))


def _columns(values: list[tuple[str, ...]], rows: int) -> list[pl.Series]:
    """Columns of Python strings into Polars, each as one NUL-joined string split there.

    A cell holding NUL itself splits into too many parts: those columns are cleaned first.
    """
    joined = pl.DataFrame({f"c{i}": ["\0".join(col)] for i, col in enumerate(values)})
    split = joined.select(pl.all().str.split("\0"))
    out = []
    for i, c in enumerate(split.columns):
        parts = split[c][0]
        if len(parts) != rows:
            parts = pl.Series([clean_cell(x) for x in values[i]], dtype=pl.String)
        out.append(parts.alias(c))
    return out


def _csv_batches(path: Path, info: FileInfo, size: int) -> Iterator[pl.DataFrame]:
    headers = info.headers
    width = len(headers)
    assert info.encoding is not None
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=info.encoding, newline="") as text:
        delimiter = _sniff_delimiter(text, path.suffix.lower())
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        number = 0
        try:
            for record in reader:  # the header is the first non-blank record (readers.py)
                if any(c.strip() for c in record):
                    break
            while True:
                records = list(itertools.islice(reader, size))
                if not records:
                    return
                if set(map(len, records)) == {width}:
                    numbers = list(range(number + 1, number + len(records) + 1))
                    columns = _columns(list(zip(*records, strict=True)), len(records))
                    yield _frame(headers, numbers, columns, None)
                else:
                    yield _irregular(headers, number, records)
                number += len(records)
        except csv.Error:
            pass
    # Re-read with the row reader: it raises the same ReadError the row path would.
    _, rows = open_source(path)
    for _ in rows:
        pass
    raise AssertionError("the csv module failed where the row reader did not")  # pragma: no cover


def _irregular(headers: tuple[str, ...], number: int, records: list[list[str]]) -> pl.DataFrame:
    """Rows that are blank, short or long: built one by one, as readers._csv_rows does."""
    width = len(headers)
    numbers: list[int] = []
    cols: list[list[str | None]] = [[] for _ in headers]
    extra: list[str | None] = []
    for offset, record in enumerate(records, start=1):
        cells = [clean_cell(c).strip() or None for c in record]
        if not any(cells):
            continue
        values = _build_values(headers, cells[:width], cells[width:])
        numbers.append(number + offset)
        for i, h in enumerate(headers):
            cols[i].append(values.get(h))
        extra.append(values.get(EXTRA_KEY))
    # Blank records are left out above, exactly as the row reader does; a record whose only
    # cells lie past the header width is not blank (the row path quarantines it).
    series = [pl.Series(c, dtype=pl.String) for c in cols]
    return _frame(headers, numbers, series, extra, skip_blank=False)


def _row_batches(path: Path, info: FileInfo, size: int) -> Iterator[pl.DataFrame]:
    """XLSX and JSON: the row readers' rows, gathered into batches."""
    _, rows = open_source(path, fmt=info.format)
    headers = info.headers
    while True:
        chunk: list[SourceRow] = list(itertools.islice(rows, size))
        if not chunk:
            return
        cols = [[r.values.get(h) for r in chunk] for h in headers]
        extra = [r.values.get(EXTRA_KEY) for r in chunk]
        series = [pl.Series(c, dtype=pl.String) for c in cols]
        # The row readers decide which rows exist (a JSON object with only empty values does).
        yield _frame(headers, [r.number for r in chunk], series, extra, skip_blank=False)
