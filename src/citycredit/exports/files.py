"""Export files: CSV (UTF-8 with BOM) and JSON, written atomically with owner-only permissions.

Each file is written under a temporary name, fsynced and renamed into place; the manifest is
written last, so a reader (or an upload script) that sees manifest.json sees complete files.
The files carry ID numbers for the provincial platform: they are created 0600.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from citycredit.shared.files import fsync_dir, sha256_file

FILE_MODE = 0o600
DIR_MODE = 0o700


def _open_private(path: Path, encoding: str) -> IO[str]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    return os.fdopen(fd, "w", encoding=encoding, newline="")


def _tmp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")


class ExportFile:
    """One output file being written: rows streamed in, renamed into place on finish."""

    def __init__(self, final: Path, *, item: str, fmt: str) -> None:
        self.final, self.item, self.format = final, item, fmt
        self.tmp = _tmp_name(final)
        self.rows = 0
        self.done = False

    def finish(self) -> dict[str, Any]:
        """Close, fsync, rename into place; return the manifest entry of the file."""
        fh = self._handle()
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(self.tmp, self.final)
        self.done = True
        return {
            "name": self.final.name,
            "item": self.item,
            "format": self.format,
            "encoding": "UTF-8 with BOM" if self.format == "csv" else "UTF-8",
            "rows": self.rows,
            "bytes": self.final.stat().st_size,
            "sha256": sha256_file(self.final),
        }

    def discard(self) -> None:
        """Remove whatever this file left behind (after a failure)."""
        with contextlib.suppress(OSError, ValueError):
            self._handle().close()
        for path in (self.tmp, self.final if self.done else None):
            if path is not None:
                path.unlink(missing_ok=True)

    def write(self, row: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _handle(self) -> IO[str]:
        raise NotImplementedError


class CsvFile(ExportFile):
    """National codes as the header row, then one row per record; UTF-8 with BOM (Excel)."""

    def __init__(self, final: Path, *, item: str, columns: Sequence[str]) -> None:
        super().__init__(final, item=item, fmt="csv")
        self.columns = tuple(columns)
        self.fh = _open_private(self.tmp, "utf-8-sig")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(self.columns)

    def write(self, row: Mapping[str, Any]) -> None:
        self.writer.writerow(["" if row.get(c) is None else row[c] for c in self.columns])
        self.rows += 1

    def _handle(self) -> IO[str]:
        return self.fh


class JsonFile(ExportFile):
    """{…header…, "data": [rows]} — streamed, so memory stays flat on a full export."""

    def __init__(
        self, final: Path, *, item: str, columns: Sequence[str], header: Mapping[str, Any]
    ) -> None:
        super().__init__(final, item=item, fmt="json")
        self.columns = tuple(columns)
        self.fh = _open_private(self.tmp, "utf-8")
        head = json.dumps(dict(header), ensure_ascii=False, indent=1)
        self.fh.write(head[: head.rindex("}")].rstrip() + ',\n "data": [')

    def write(self, row: Mapping[str, Any]) -> None:
        record = {c: row.get(c) for c in self.columns}
        sep = "\n  " if self.rows == 0 else ",\n  "
        self.fh.write(sep + json.dumps(record, ensure_ascii=False))
        self.rows += 1

    def finish(self) -> dict[str, Any]:
        self.fh.write("\n ]\n}\n")
        return super().finish()

    def _handle(self) -> IO[str]:
        return self.fh


def write_json_atomically(path: Path, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Write a small JSON document (the manifest) atomically; return its name, size, sha256."""
    tmp = _tmp_name(path)
    try:
        with _open_private(tmp, "utf-8") as fh:
            fh.write(json.dumps(dict(doc), ensure_ascii=False, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk (or anything else) leaves no half manifest
        raise
    fsync_dir(path.parent)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def prepare_directory(directory: Path) -> bool:
    """Create the output directory (0700) if needed; True when this call created it."""
    if directory.exists():
        if not directory.is_dir():
            raise NotADirectoryError(str(directory))
        return False
    directory.mkdir(parents=True, mode=DIR_MODE)
    return True


# -- watermarked copies (G35) ------------------------------------------------------------------

WATERMARK_COLUMN = "WATERMARK"
WATERMARK_LABEL = "水印：受控副本的下载申请编号、申请人、审批人和批准时间（本平台扩展列）"


def _source_rows_csv(source: Path) -> tuple[list[str], Iterator[list[str]], IO[str]]:
    fh = source.open(encoding="utf-8-sig", newline="")
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None:
        fh.close()
        raise ValueError(f"{source.name}: no header row")
    return header, reader, fh


def json_parts(source: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]], IO[str]]:
    """The header object and a row iterator of a JSON file as `JsonFile` writes it (one row
    per line after the ``"data": [`` line), read line by line: memory stays flat."""
    fh = source.open(encoding="utf-8")
    head: list[str] = []
    for line in fh:
        if line.rstrip("\r\n") == ' "data": [':
            break
        head.append(line)
    else:
        fh.close()
        raise ValueError(f"{source.name}: not a file written by the export (no data array)")
    text = "".join(head).rstrip()
    header = json.loads(text.rstrip(",") + "\n}") if text.endswith(",") else json.loads(text)

    def rows() -> Iterator[dict[str, Any]]:
        for line in fh:
            body = line.strip().rstrip(",")
            if body.startswith("{"):
                row = json.loads(body)
                if not isinstance(row, dict):
                    raise ValueError(f"{source.name}: a row is not an object")
                yield row

    return header, rows(), fh


def write_watermarked_copy(
    source: Path,
    final: Path,
    *,
    item: str,
    fmt: str,
    watermark: Mapping[str, Any],
) -> dict[str, Any]:
    """Copy one export data file to ``final`` with the watermark in it; the manifest entry
    of the copy (name, rows, bytes, sha256).

    The copy stays a file our intake (and the province's) reads as it reads the original: CSV
    gets one more column, ``WATERMARK``, with ``watermark["text"]`` on every row (an unknown
    column is noted and ignored by an intake); JSON gets the same column on every row and the
    whole ``watermark`` object in its header, beside ``layout`` and ``period``. Written like
    the export's own files: owner-only, under a temporary name, fsynced, renamed.
    """
    text = str(watermark["text"])
    out: ExportFile
    if fmt == "csv":
        header, rows, fh = _source_rows_csv(source)
        try:
            columns = [*header, WATERMARK_COLUMN]
            out = CsvFile(final, item=item, columns=columns)
            try:
                for values in rows:
                    out.write({**dict(zip(header, values, strict=False)), WATERMARK_COLUMN: text})
                return out.finish()
            except BaseException:
                out.discard()
                raise
        finally:
            fh.close()
    if fmt == "json":
        doc, records, fh = json_parts(source)
        try:
            columns = [*(f["code"] for f in doc.get("fields", [])), WATERMARK_COLUMN]
            doc["fields"] = [
                *doc.get("fields", []),
                {"code": WATERMARK_COLUMN, "label": WATERMARK_LABEL, "national": False},
            ]
            doc["watermark"] = dict(watermark)
            out = JsonFile(final, item=item, columns=columns, header=doc)
            try:
                for record in records:
                    out.write({**record, WATERMARK_COLUMN: text})
                return out.finish()
            except BaseException:
                out.discard()
                raise
        finally:
            fh.close()
    raise ValueError(f"unknown export file format {fmt!r}")
