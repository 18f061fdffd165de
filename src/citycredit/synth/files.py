"""Writing the department files (CSV in UTF-8/BOM/GBK, one XLSX, one JSON) and manifest.json."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citycredit.synth.departments import DEPARTMENTS, Department
from citycredit.synth.schema import DATE_FIELDS, ROLES

if TYPE_CHECKING:
    from citycredit.synth.city import Subject

__all__ = ["FileEntry", "Manifest", "PlannedFile", "write_all"]


@dataclass
class PlannedFile:
    """A file before writing: rows as text, planted anomalies and expected counts."""

    dept: Department
    item: str
    kind: str  # "initial" or "correction"
    headers: tuple[str, ...]
    rows: list[dict[str, str]]
    anomalies: list[dict[str, object]]
    expected: dict[str, int]
    fmt: str = "csv"
    encoding: str | None = "utf-8"
    source: PlannedFile | None = None  # for a correction file: the file it corrects
    path: str = ""


@dataclass(frozen=True)
class FileEntry:
    """One written file as listed in the manifest."""

    path: str
    item: str
    department: str
    kind: str
    format: str
    encoding: str | None
    rows: int
    sha256: str
    expected: dict[str, int]
    anomalies: list[dict[str, object]]
    source: str = ""


@dataclass(frozen=True)
class Manifest:
    """What was generated: seed, size, departments, files with expectations, withdrawals."""

    seed: int
    subjects: int
    as_of: date
    bad_share: float
    departments: list[dict[str, str]]
    files: list[FileEntry]
    withdrawals: list[dict[str, Any]]
    counts: dict[str, int]
    extra: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ISO strings)."""
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        return out

    def file(self, path: str) -> FileEntry:
        """The entry of a file by its path (file name)."""
        return next(f for f in self.files if f.path == path)


def _csv_bytes(pf: PlannedFile) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(pf.headers)
    for row in pf.rows:
        writer.writerow([row.get(h, "") for h in pf.headers])
    text = buf.getvalue()
    if pf.encoding == "gbk":
        return text.encode("gbk")  # strict: every generated character is GBK-encodable
    return text.encode(pf.encoding or "utf-8")


def _json_bytes(pf: PlannedFile) -> bytes:
    rows = [{h: row.get(h, "") for h in pf.headers} for row in pf.rows]
    return (json.dumps(rows, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _cell(header: str, value: str) -> object:
    """XLSX cell value: ISO dates of date fields become real date cells."""
    if header in DATE_FIELDS and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _xlsx_bytes(pf: PlannedFile, stamp: datetime) -> bytes:
    """An XLSX workbook with fixed document properties and zip timestamps (reproducible)."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(pf.item)
    ws.append(list(pf.headers))
    for row in pf.rows:
        ws.append([_cell(h, row.get(h, "")) for h in pf.headers])
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = pf.dept.name
    raw = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            zout.writestr(fixed, zin.read(info.filename))
    return out.getvalue()


def _remove_previous(out_dir: Path) -> None:
    """Delete the files of an earlier generation listed in out_dir/manifest.json (only those)."""
    old = out_dir / "manifest.json"
    if not old.is_file():
        return
    try:
        listed = [f["path"] for f in json.loads(old.read_text(encoding="utf-8"))["files"]]
    except (ValueError, KeyError, TypeError):
        return
    for name in listed:
        path = out_dir / str(name)
        if "/" not in str(name) and "\\" not in str(name) and path.is_file():
            path.unlink()
    old.unlink()


def write_all(
    out_dir: Path,
    planned: list[PlannedFile],
    *,
    seed: int,
    subjects: list[Subject],
    as_of: date,
    bad_share: float,
) -> Manifest:
    """Write every planned file and manifest.json into out_dir; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_previous(out_dir)
    stamp = datetime(as_of.year, as_of.month, as_of.day, 8, 0, 0, tzinfo=UTC).replace(tzinfo=None)
    width = max(2, len(str(len(planned))))
    entries: list[FileEntry] = []
    withdrawals: list[dict[str, Any]] = []
    for seq, pf in enumerate(planned, start=1):
        suffix = "-correction" if pf.kind == "correction" else ""
        pf.path = f"{seq:0{width}d}-{pf.dept.slug}-{pf.item}{suffix}.{pf.fmt}"
        if pf.fmt == "xlsx":
            data = _xlsx_bytes(pf, stamp)
        elif pf.fmt == "json":
            data = _json_bytes(pf)
        else:
            data = _csv_bytes(pf)
        (out_dir / pf.path).write_bytes(data)
        source = pf.source.path if pf.source else ""
        entries.append(
            FileEntry(
                path=pf.path,
                item=pf.item,
                department=pf.dept.name,
                kind=pf.kind,
                format=pf.fmt,
                encoding=pf.encoding,
                rows=len(pf.rows),
                sha256=hashlib.sha256(data).hexdigest(),
                expected=pf.expected,
                anomalies=pf.anomalies,
                source=source,
            )
        )
        for a in pf.anomalies:
            if a["kind"] == "withdrawal":
                row = pf.rows[int(str(a["row"])) - 1]
                roles = ROLES[pf.item]
                subject = {f: row[f] for f in (roles.name, roles.uscc, roles.id_number) if f}
                withdrawals.append(
                    {
                        "item": pf.item,
                        "department": pf.dept.name,
                        "file": pf.path,
                        "row": a["row"],
                        "source_file": source,
                        "source_row": a["source_row"],
                        "key": {f: row[f] for f in roles.key},
                        "subject": subject,
                        "reason": a["reason"],
                    }
                )
    counts = Counter(s.type.value for s in subjects)
    manifest = Manifest(
        seed=seed,
        subjects=len(subjects),
        as_of=as_of,
        bad_share=bad_share,
        departments=[
            {"name": d.name, "slug": d.slug, "code": d.code, "kind": d.department_kind}
            for d in DEPARTMENTS
        ],
        files=entries,
        withdrawals=withdrawals,
        counts={t: counts[t] for t in sorted(counts)},
        extra={
            "minors": sum(s.minor for s in subjects),
            "registered": sum(bool(s.registrar) for s in subjects),
        },
    )
    text = json.dumps(manifest.to_dict(), ensure_ascii=False, indent=1) + "\n"
    (out_dir / "manifest.json").write_text(text, encoding="utf-8")
    return manifest
