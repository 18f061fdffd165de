"""Checking a 双公示 export as received: the files against manifest.json, the manifest against
the ledger. Pure: no database, no network — what the provincial data team runs on the
directory they received (`citycredit export verify DIRECTORY [--bundle proof.json] [--vkey …]`).

Without a bundle it checks that every file manifest.json lists is there with the listed size,
SHA-256 and row count, and that the directory holds no other file. With the export's proof
bundle (`exports.service.export_proof`, written as proof.json by `citycredit export proof`) it
also verifies the bundle (`ledger.bundle.verify_bundle`: signed checkpoint, inclusion proof,
the bundle's manifest against the ``export.completed`` leaf) and that the directory's
manifest.json is exactly the one the leaf commits to — so every data file is bound, through
its SHA-256 in that manifest, to what the platform recorded in its ledger.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citycredit.exports.files import json_parts
from citycredit.ledger.bundle import BundleError, BundleReport, manifest_digest, verify_bundle
from citycredit.shared.canonical import canonical_bytes
from citycredit.shared.files import sha256_file

MANIFEST = "manifest.json"  # written last by exports.run
PROOF_FILE = "proof.json"  # `citycredit export proof` writes the bundle beside the files


@dataclass
class DirectoryCheck:
    """What `verify_export_directory` found: the checks that held and every problem, each
    naming the file and what differs."""

    directory: str
    export_id: str | None = None
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bundle: BundleReport | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _plain(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def count_rows(path: Path, fmt: str) -> int:
    """Data rows of an export file: a CSV's records after the header row, a JSON file's
    ``data`` entries (read as the export writes them: memory stays flat). ValueError when the
    file cannot be read so."""
    if fmt == "csv":
        try:
            with path.open(encoding="utf-8-sig", newline="") as text:
                rows = sum(1 for _ in csv.reader(text))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValueError(str(exc)) from exc
        return max(rows - 1, 0)
    if fmt == "json":
        try:
            _, records, fh = json_parts(path)
            try:
                return sum(1 for _ in records)
            finally:
                fh.close()
        except UnicodeDecodeError as exc:
            raise ValueError(str(exc)) from exc
    raise ValueError(f"未知的文件格式 {fmt!r}")


def _check_file(directory: Path, entry: Any, out: DirectoryCheck) -> str | None:
    """One file the manifest lists; its name when it is a plain name (else None)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        out.problems.append(f"manifest.json 的 files 中有一项不是文件条目：{entry!r}")
        return None
    name = entry["name"]
    if not _plain(name):
        out.problems.append(f"manifest.json 列出的文件名 {name!r} 不是本目录中的文件名")
        return None
    path = directory / name
    if not path.is_file():
        out.problems.append(f"文件 {name} 不存在（manifest.json 列出了它，目录中没有）")
        return name
    bad = len(out.problems)
    size = path.stat().st_size
    listed_size = entry.get("bytes")
    if listed_size is not None and size != listed_size:
        out.problems.append(
            f"文件 {name} 的大小为 {size} 字节，manifest.json 登记 {listed_size} 字节"
        )
    digest = sha256_file(path)
    listed_digest = entry.get("sha256")
    if not listed_digest:
        out.problems.append(f"文件 {name} 在 manifest.json 中没有 SHA-256")
    elif digest != str(listed_digest).lower():
        out.problems.append(
            f"文件 {name} 的 SHA-256 为 {digest}，manifest.json 登记 {listed_digest}（内容被改动）"
        )
    listed_rows = entry.get("rows")
    if listed_rows is not None:
        try:
            rows = count_rows(path, str(entry.get("format") or path.suffix.lstrip(".")))
        except (OSError, ValueError) as exc:
            out.problems.append(f"文件 {name} 无法按导出格式读取行数：{exc}")
        else:
            if rows != listed_rows:
                out.problems.append(
                    f"文件 {name} 有 {rows} 行数据，manifest.json 登记 {listed_rows} 行"
                )
    if len(out.problems) == bad:
        rows_text = f"，{listed_rows} 行" if listed_rows is not None else ""
        out.checks.append(
            f"文件 {name} 与 manifest.json 一致（{size} 字节{rows_text}，SHA-256 相同）"
        )
    return name


def _differing_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(
        k for k in set(a) | set(b) if canonical_bytes(a.get(k)) != canonical_bytes(b.get(k))
    )


def _check_bundle(
    manifest: dict[str, Any],
    bundle: dict[str, Any],
    trusted_vkey: str | None,
    trusted_origin: str | None,
    out: DirectoryCheck,
) -> None:
    """The bundle proves an export, this export, and its manifest is the directory's."""
    theirs = bundle.get("manifest") if isinstance(bundle, dict) else None
    if not isinstance(theirs, dict):
        out.problems.append("凭证不是导出批次的凭证（其中没有清单 manifest）")
        return
    if theirs.get("export_id") != manifest.get("export_id"):
        out.problems.append(
            f"凭证是导出批次 {theirs.get('export_id')} 的，目录中的 manifest.json 是导出批次 "
            f"{manifest.get('export_id')} 的"
        )
        return
    try:
        report = verify_bundle(bundle, trusted_vkey=trusted_vkey, trusted_origin=trusted_origin)
    except BundleError as exc:
        out.problems.append(f"数据链凭证验证失败：{exc}")
        return
    out.bundle = report
    out.checks += report.checks
    committed = str(report.disclosed.get("manifest_hash"))
    actual = manifest_digest(report.suite, manifest)
    if actual != committed:
        keys = "、".join(_differing_keys(manifest, theirs)) or "（无法确定）"
        out.problems.append(
            f"目录中的 manifest.json 与数据链中登记的摘要不一致（摘要 {actual[:16]}…，"
            f"登记 {committed[:16]}…）；与凭证中的清单不同的项：{keys}"
        )
        return
    out.checks.append(
        f"目录中的 manifest.json 就是数据链第 {report.index} 号叶子登记的清单"
        f"（树大小 {report.size} 的签名检查点）"
    )


def verify_export_directory(
    directory: Path,
    bundle: dict[str, Any] | None = None,
    *,
    trusted_vkey: str | None = None,
    trusted_origin: str | None = None,
    ignore: Iterable[str] = (PROOF_FILE,),
) -> DirectoryCheck:
    """Check an export's directory as received, and with `bundle` its proof (see the module).

    Every file manifest.json lists must be there with the listed size, SHA-256 and rows; any
    other entry of the directory (but manifest.json and the names in `ignore`: the proof file)
    is named as not listed. `trusted_vkey` pins the platform's verifier key (as
    ``citycredit ledger verify-bundle --vkey``). All problems are collected, each naming the
    file and what differs; ``ok`` is True when there are none.
    """
    directory = Path(directory)
    out = DirectoryCheck(directory=str(directory))
    if not directory.is_dir():
        out.problems.append(f"{directory} 不是目录")
        return out
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        out.problems.append(f"目录中没有 {MANIFEST}")
        return out
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        out.problems.append(f"{MANIFEST} 无法读取：{exc}")
        return out
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        out.problems.append(f"{MANIFEST} 不是导出清单（没有 files 列表）")
        return out
    out.export_id = manifest.get("export_id")
    listed = {MANIFEST, *ignore}
    for entry in manifest["files"]:
        name = _check_file(directory, entry, out)
        if name is not None:
            listed.add(name)
    extras = sorted(p.name for p in directory.iterdir() if p.name not in listed)
    for extra in extras:
        kind = "目录" if (directory / extra).is_dir() else "文件"
        out.problems.append(f"目录中有 manifest.json 未列出的{kind} {extra}")
    if not extras:
        out.checks.append("目录中没有 manifest.json 未列出的文件")
    if bundle is not None:
        _check_bundle(manifest, bundle, trusted_vkey, trusted_origin, out)
    return out
