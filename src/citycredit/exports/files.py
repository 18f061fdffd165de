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
from collections.abc import Mapping, Sequence
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
    with _open_private(tmp, "utf-8") as fh:
        fh.write(json.dumps(dict(doc), ensure_ascii=False, indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
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
