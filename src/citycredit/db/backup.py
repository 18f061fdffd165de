"""Backup and restore (security goal G27), for the embedded SQLite database and PostgreSQL.

A backup is a directory:

* ``database.sqlite3`` (SQLite: the online backup API, one step, so the copy is the database as
  one read transaction saw it while the application keeps writing) or ``database.dump``
  (PostgreSQL: ``pg_dump -Fc`` run with ``--snapshot`` inside a REPEATABLE READ transaction
  that exported that snapshot, so the dump and the row counts of the manifest are the same
  moment of the database);
* ``files/``: the files of ``data_dir`` that the database needs and nothing can rebuild — the
  ledger's last verified head (``ledger-verified-head.json``, copied *before* the snapshot, so it
  is never ahead of the backed-up log) and the authorisation letters (``evidence/``) and sharing
  file channel (``feeds/``, no clear personal value), copied after it;
* ``manifest.json``, written last (a directory without it is not a backup): format version,
  dialect, Alembic revision, times, the row count of every table, the ledger's latest signed
  checkpoint (size, root, note), the key *ids* that the data needs, and the SHA-256 of every file.

Never in a backup: the personal-data keyring (``CITYCREDIT_PERSONAL_KEYS`` or
``data_dir/personal.keys``), the ledger's signing key (``CITYCREDIT_LEDGER_SKEY`` or
``data_dir/ledger.skey``) and ``CITYCREDIT_SECRET_KEY``. Sealed personal values stay sealed in
the dump; whoever holds a backup without the keys holds ciphertext. The keys are backed up
separately, by whoever keeps them (docs/operations.md). Also left out: ``exports/`` (双公示
files with ID numbers in clear, purged after their retention, re-sendable from the database),
``reports/`` (a PDF cache) and development files (``dev-tokens.json``, ``synthetic/``).

`restore` refuses a backup whose files do not match their SHA-256 and a target database that
is not empty (unless ``force``), restores (SQLite: the file copied into place; PostgreSQL:
``pg_restore`` into the target database, created when it does not exist), copies the files into
``data_dir`` and then verifies the result (`verify_restore`): row counts equal the manifest,
the Alembic revision, the ledger recomputed from the restored leaves (``ledger.verify``) equals
the signed checkpoint of the manifest, and every sealed value opens with the keyring configured
for the restored deployment. RTO = restore + verify seconds, in the report.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from citycredit.bootstrap import Container, build_container
from citycredit.settings import Settings
from citycredit.shared.clock import Clock, SystemClock
from citycredit.shared.errors import CityCreditError, FieldError
from citycredit.shared.files import fsync_dir, sha256_file

FORMAT = "citycredit-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.dump"
FILES = "files"
HEAD_FILE = "ledger-verified-head.json"  # ledger.verify.HEAD_FILE
DATA_DIRS = ("evidence", "feeds")  # data_dir folders the database refers to
PG_MAJOR = 15  # the server this deployment runs (docs/operations.md)
BATCH = 1000  # rows per read when every sealed value is opened
MAX_LISTED = 50  # failures listed per check in a report
KEYS_NOTE = (
    "备份中没有任何密钥：个人信息密钥环（CITYCREDIT_PERSONAL_KEYS 或 data_dir/personal.keys）、"
    "数据链签名私钥（CITYCREDIT_LEDGER_SKEY 或 data_dir/ledger.skey）和 CITYCREDIT_SECRET_KEY "
    "都不在备份中，须另行保管；这里只列出恢复后解密所需的密钥编号。"
)
NOT_INCLUDED = (
    "personal.keys / CITYCREDIT_PERSONAL_KEYS（个人信息密钥环）",
    "ledger.skey / CITYCREDIT_LEDGER_SKEY（数据链签名私钥）",
    "CITYCREDIT_SECRET_KEY（摘要与 TOTP 密封所用）",
    "exports/（双公示文件，含明文证件号码，按保留期删除，可由数据库重新导出）",
    "reports/（信用报告 PDF 缓存）",
    "dev-tokens.json、synthetic/（开发用）",
)


class BackupError(CityCreditError):
    """A backup or restore could not be made (a missing tool, a failing command)."""

    default_code = "backup_failed"


# -- small helpers -----------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write, fsync, rename: a complete file or none."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _normalise(url: str) -> str:
    """A libpq-style URL as the settings accept it (psycopg 3 as the driver)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _dialect(url: str, field_name: str = "--to") -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise FieldError(field_name, url, "backup_dialect", "只支持 SQLite 与 PostgreSQL 数据库")
    return name


def _sqlite_path(url: str, field_name: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise FieldError(field_name, url, "backup_sqlite_path", "SQLite 数据库必须是一个文件")
    return Path(database)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _tables(conn: Connection) -> list[str]:
    names = inspect(conn).get_table_names()
    return sorted(n for n in names if not n.startswith("sqlite_"))


def count_rows(conn: Connection) -> dict[str, int]:
    """Rows of every table of the database (as the connection's transaction sees them)."""
    return {
        t: int(conn.execute(text(f"SELECT count(*) FROM {_quote(conn, t)}")).scalar_one())
        for t in _tables(conn)
    }


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _ledger(conn: Connection) -> dict[str, Any] | None:
    """The log's identity and its latest signed checkpoint, read from the ledger tables."""
    from citycredit.ledger.db import LedgerCheckpointRow, LedgerLogRow

    tables = set(_tables(conn))
    if not {"ledger_log", "ledger_checkpoints"} <= tables:
        return None
    log = conn.execute(
        select(LedgerLogRow.origin, LedgerLogRow.suite, LedgerLogRow.vkey).where(
            LedgerLogRow.id == 1
        )
    ).first()
    if log is None:
        return None
    cp = conn.execute(
        select(
            LedgerCheckpointRow.size,
            LedgerCheckpointRow.root,
            LedgerCheckpointRow.note,
            LedgerCheckpointRow.created_at,
        )
        .order_by(LedgerCheckpointRow.size.desc())
        .limit(1)
    ).first()
    return {
        "origin": log.origin,
        "suite": log.suite,
        "vkey": log.vkey,
        "checkpoint": None
        if cp is None
        else {
            "size": int(cp.size),
            "root": base64.b64encode(bytes(cp.root)).decode(),
            "note": cp.note,
            "created_at": cp.created_at.isoformat() if cp.created_at else None,
        },
    }


def _sealed_columns() -> list[tuple[str, Any, Any, tuple[Any, ...], Callable[[Any], str]]]:
    """(table, id column, sealed column, binding columns, the binding) of every sealed value:
    the tables `privacy.rotate` re-seals, bound as `privacy.records` binds them."""
    from citycredit.ingest.db import RecordVersionRow, RejectRow, UnresolvedRow
    from citycredit.privacy.records import reject_aad, unresolved_aad, version_aad

    return [
        (
            "record_versions",
            RecordVersionRow.id,
            RecordVersionRow.personal,
            (RecordVersionRow.record_id, RecordVersionRow.version),
            lambda r: version_aad(r.record_id, r.version),
        ),
        (
            "rejects",
            RejectRow.id,
            RejectRow.raw,
            (RejectRow.submission_id, RejectRow.row_number),
            lambda r: reject_aad(r.submission_id, r.row_number),
        ),
        (
            "unresolved",
            UnresolvedRow.id,
            UnresolvedRow.values,
            (UnresolvedRow.submission_id, UnresolvedRow.row_number),
            lambda r: unresolved_aad(r.submission_id, r.row_number),
        ),
    ]


def _key_ids(conn: Connection) -> dict[str, Any]:
    """Key ids (never keys) that the stored values need: data keys per table, index keys."""
    from citycredit.privacy.db import PersonalIndexRow

    tables = set(_tables(conn))
    data: dict[str, list[str]] = {}
    for name, _, column, _, _ in _sealed_columns():
        if name not in tables:
            continue
        kid = column["kid"].as_string()
        rows = conn.execute(
            select(kid).where(column["enc"].as_string().is_not(None), kid.is_not(None)).distinct()
        )
        data[name] = sorted(str(k) for (k,) in rows)
    index: list[str] = []
    if PersonalIndexRow.__tablename__ in tables:
        index = sorted(
            str(k)
            for (k,) in conn.execute(select(PersonalIndexRow.index_kid).distinct())
            if k is not None
        )
    users_totp = 0
    if "users" in tables:
        users_totp = int(
            conn.execute(
                text("SELECT count(*) FROM users WHERE totp_secret IS NOT NULL")
            ).scalar_one()
        )
    return {
        "personal_data_key_ids": sorted({k for ks in data.values() for k in ks}),
        "personal_data_key_ids_by_table": data,
        "personal_index_key_ids": index,
        "secret_key_sealed_totp_secrets": users_totp,
        "note": KEYS_NOTE,
    }


def describe(conn: Connection) -> dict[str, Any]:
    """What the manifest says about a database, read in the connection's transaction."""
    counts = count_rows(conn)
    return {
        "alembic_revision": _revision(conn),
        "tables": counts,
        "rows": sum(counts.values()),
        "ledger": _ledger(conn),
        "keys": _key_ids(conn),
    }


def _copy_file(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o600)


def _copy_data_files(data_dir: Path, out: Path, names: list[str]) -> None:
    for rel in names:
        src = data_dir / rel
        if src.is_file():
            _copy_file(src, out / FILES / rel)
        elif src.is_dir():
            for path in sorted(p for p in src.rglob("*") if p.is_file()):
                _copy_file(path, out / FILES / path.relative_to(data_dir))


def _file_entries(out: Path) -> dict[str, dict[str, Any]]:
    entries = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(out).as_posix()
        entries[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return entries


def _prepare_dest(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FieldError(
            "DEST_DIR",
            str(dest),
            "backup_dest_not_empty",
            "备份目录必须不存在或为空，不覆盖已有备份",
        )
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)


# -- PostgreSQL client tools -------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client binary on PATH, or a clear error."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"找不到 {name}：请安装与服务器同一主版本的 PostgreSQL 客户端（Debian：apt-get install "
            f"postgresql-client-{PG_MAJOR}），并确认它在 PATH 中",
            code="backup_tool_missing",
        )
    return path


def _tool_major(path: str) -> int:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if m is None:
        raise BackupError(f"无法识别 {path} 的版本：{out.strip()!r}", code="backup_tool_version")
    return int(m.group(1))


def _check_tool(name: str, server_major: int) -> str:
    path = pg_tool(name)
    major = _tool_major(path)
    if major != server_major:
        raise BackupError(
            f"{name} 的主版本是 {major}，数据库服务器是 {server_major}：请使用同一主版本的客户端"
            f"（PATH 中的 {path}）",
            code="backup_tool_version",
        )
    return path


def _server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment carrying it (not in argv)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise BackupError(f"{what} 失败（退出码 {proc.returncode}）：{tail}", code="backup_tool")


# -- backup ------------------------------------------------------------------------------------


def backup(
    c: Container, dest: Path, *, on_snapshot: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Back the database and its files up into `dest` (new or empty); returns the manifest.

    `on_snapshot` is called right after the database snapshot is taken (the drill measures its
    data-loss window from there)."""
    dest = Path(dest)
    url = c.settings.effective_database_url
    dialect = _dialect(url, "CITYCREDIT_DATABASE_URL")
    _prepare_dest(dest)
    data_dir = Path(c.settings.data_dir)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dialect": dialect,
        "source": make_url(url).render_as_string(hide_password=True),
        "created_at": _now(),
    }
    try:
        # the verified head first: never ahead of the log in the snapshot taken after it
        _copy_data_files(data_dir, dest, [HEAD_FILE])
        started = time.monotonic()
        if dialect == "sqlite":
            manifest.update(_backup_sqlite(c, dest))
        else:
            manifest.update(_backup_pg(c, dest, on_snapshot))
            on_snapshot = None
        if on_snapshot is not None:
            on_snapshot()
        _copy_data_files(data_dir, dest, list(DATA_DIRS))
        manifest["not_included"] = list(NOT_INCLUDED)
        manifest["files"] = _file_entries(dest)
        manifest["finished_at"] = _now()
        manifest["backup_seconds"] = round(time.monotonic() - started, 3)
        _write_json(dest / MANIFEST, manifest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # it was empty: no half backup is left behind
        raise
    return manifest


def _backup_sqlite(c: Container, dest: Path) -> dict[str, Any]:
    source = _sqlite_path(c.settings.effective_database_url, "CITYCREDIT_DATABASE_URL")
    if not source.is_file():
        raise FieldError(
            "CITYCREDIT_DATABASE_URL", str(source), "backup_source_missing", "数据库文件不存在"
        )
    target = dest / SQLITE_FILE
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst, pages=-1)  # one step: one read transaction, writers go on (WAL)
        snapshot_at = _now()
        # a self-contained file: no -wal beside it, whatever mode the source is in
        dst.execute("PRAGMA journal_mode=DELETE").fetchall()
        dst.commit()
    finally:
        dst.close()
        src.close()
    engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            described = describe(conn)
    finally:
        engine.dispose()
    return {
        "snapshot_at": snapshot_at,
        "sqlite_version": sqlite3.sqlite_version,
        "database_file": SQLITE_FILE,
        **described,
    }


def _backup_pg(c: Container, dest: Path, on_snapshot: Callable[[], None] | None) -> dict[str, Any]:
    url = c.engine.url
    with c.engine.connect() as probe:
        server = _server_major(probe)
        version = str(probe.execute(text("SHOW server_version")).scalar_one())
        probe.rollback()
    pg_dump = _check_tool("pg_dump", server)
    uri, env = _libpq(url)
    target = dest / PG_FILE
    with c.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        snapshot_at = _now()
        if on_snapshot is not None:
            on_snapshot()
        described = describe(conn)
        # the dump reads the snapshot this transaction exported: it must stay open meanwhile
        _run(
            [pg_dump, "-Fc", f"--snapshot={snapshot}", "--no-password", "-f", str(target), uri],
            env,
            "pg_dump",
        )
        conn.rollback()
    os.chmod(target, 0o600)
    return {
        "snapshot_at": snapshot_at,
        "snapshot": snapshot,
        "server_version": version,
        "pg_dump_major": server,
        "database_file": PG_FILE,
        **described,
    }


# -- restore -----------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    """What `restore` did and found; `ok` only when every check passed."""

    target: str
    dialect: str
    data_dir: str
    backup_created_at: str | None = None
    snapshot_at: str | None = None
    counts_ok: bool = False
    count_mismatches: dict[str, dict[str, int | None]] = field(default_factory=dict)
    rows: int = 0
    revision: dict[str, Any] = field(default_factory=dict)
    integrity: dict[str, Any] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)
    personal: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    restore_seconds: float = 0.0
    verify_seconds: float = 0.0

    @property
    def rto_seconds(self) -> float:
        return round(self.restore_seconds + self.verify_seconds, 3)

    @property
    def ok(self) -> bool:
        return bool(
            self.counts_ok
            and self.revision.get("ok")
            and self.integrity.get("ok", True)
            and self.ledger.get("ok")
            and self.personal.get("ok")
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "rto_seconds": self.rto_seconds}


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of a backup directory, refused when it is not one of ours."""
    path = Path(src) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FieldError(
            "SRC_DIR", str(src), "backup_no_manifest", f"不是完整的备份：缺少 {MANIFEST}"
        ) from None
    except ValueError as e:
        raise FieldError(
            "SRC_DIR", str(src), "backup_bad_manifest", f"{MANIFEST} 无法解析：{e}"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FieldError("SRC_DIR", str(src), "backup_bad_manifest", "不是 citycredit 备份")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise FieldError(
            "SRC_DIR",
            str(src),
            "backup_format_version",
            f"备份格式版本 {manifest.get('format_version')} 不受支持（支持 {FORMAT_VERSION}）",
        )
    return manifest


def check_files(src: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there with its SHA-256; else the backup is refused."""
    bad = []
    for rel, entry in sorted((manifest.get("files") or {}).items()):
        path = Path(src) / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            bad.append(f"{rel}（路径不合法）")
        elif not path.is_file():
            bad.append(f"{rel}（缺失）")
        elif sha256_file(path) != entry.get("sha256"):
            bad.append(f"{rel}（SHA-256 不符）")
    database = manifest.get("database_file")
    if database not in (manifest.get("files") or {}):
        bad.append(f"{database}（清单中没有数据库文件）")
    if bad:
        raise BackupError(
            f"备份 {src} 已损坏或被改动，拒绝恢复：{'；'.join(bad)}", code="backup_checksum"
        )


def restore(
    src: Path,
    settings: Settings,
    *,
    to: str | None = None,
    data_dir: Path | None = None,
    force: bool = False,
    clock: Clock | None = None,
) -> RestoreReport:
    """Restore the backup in `src` into `to` (default: the configured database) and its files
    into `data_dir` (default: the configured one), then verify. Refuses a damaged backup, a
    non-empty target database and different files in `data_dir` (unless `force`) before it
    changes anything."""
    src = Path(src)
    manifest = read_manifest(src)
    check_files(src, manifest)
    target = _normalise(to or settings.effective_database_url)
    dialect = _dialect(target)
    shown = make_url(target).render_as_string(hide_password=True)
    if dialect != manifest["dialect"]:
        raise FieldError(
            "--to",
            shown,
            "backup_dialect_mismatch",
            f"这是 {manifest['dialect']} 的备份，不能恢复到 {dialect} 数据库",
        )
    data_dir = Path(data_dir or settings.data_dir)
    if dialect == "sqlite":
        path = _sqlite_path(target, "--to")
        _check_sqlite_target(path, target, force)
    else:
        pg_restore, exists, relations = _check_pg_target(make_url(target), force)
    files = _plan_files(src, manifest, data_dir, force)
    report = RestoreReport(
        target=shown,
        dialect=dialect,
        data_dir=str(data_dir),
        backup_created_at=manifest.get("created_at"),
        snapshot_at=manifest.get("snapshot_at"),
    )
    started = time.monotonic()
    if dialect == "sqlite":
        _restore_sqlite(src / SQLITE_FILE, path)
    else:
        _restore_pg(src / PG_FILE, make_url(target), pg_restore, exists, relations)
    _restore_files(files, data_dir, report)
    report.restore_seconds = round(time.monotonic() - started, 3)
    restored = settings.model_copy(update={"database_url": target, "data_dir": data_dir})
    c = build_container(restored, clock=clock or SystemClock())
    try:
        verify_restore(c, manifest, report)
    finally:
        c.dispose()
    return report


def _plan_files(
    src: Path, manifest: dict[str, Any], data_dir: Path, force: bool
) -> list[tuple[Path, Path]]:
    """(backup file, data_dir file) pairs; refused when data_dir holds a different file."""
    prefix = FILES + "/"
    planned = [
        (src / rel, data_dir / rel[len(prefix) :])
        for rel in sorted(manifest.get("files") or {})
        if rel.startswith(prefix)
    ]
    clashes = [
        str(d)
        for s, d in planned
        if d.exists() and (not d.is_file() or sha256_file(d) != sha256_file(s))
    ]
    if clashes and not force:
        raise FieldError(
            "--data-dir",
            str(data_dir),
            "backup_target_files",
            f"数据目录中已有不同的文件（{'、'.join(clashes[:5])}）；确认覆盖请加 --force",
        )
    return planned


def _restore_files(files: list[tuple[Path, Path]], data_dir: Path, report: RestoreReport) -> None:
    for s, d in files:
        if d == data_dir / HEAD_FILE and d.is_file() and sha256_file(d) != sha256_file(s):
            report.notes.append(
                f"已用备份中的 {HEAD_FILE} 替换数据目录中原有的（原文件：{_head_text(d)}）；"
                "原文件记录的数据链若长于备份，备份之后入链的数据已丢失"
            )
        _copy_file(s, d)


def _head_text(path: Path) -> str:
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
        return f"大小 {head.get('size')}，树根 {head.get('root')}"
    except (OSError, ValueError, AttributeError):
        return "无法读取"


def _check_sqlite_target(path: Path, target: str, force: bool) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    tables = _sqlite_tables(path)
    if tables and not force:
        raise FieldError(
            "--to",
            target,
            "backup_target_not_empty",
            f"目标数据库不是空库（已有 {len(tables)} 张表）；确认覆盖请加 --force",
        )


def _restore_sqlite(dump: Path, path: Path) -> None:
    """Copy the backup file into place (a temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.restore-{os.getpid()}")
    shutil.copyfile(dump, tmp)
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    for suffix in ("-wal", "-shm", "-journal"):  # an old database's journal must not replay
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _sqlite_tables(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    except sqlite3.DatabaseError as e:
        raise FieldError(
            "--to", str(path), "backup_target_invalid", f"不是 SQLite 数据库：{e}"
        ) from None
    finally:
        conn.close()
    return [r[0] for r in rows]


@contextmanager
def _admin(url: URL) -> Iterator[Connection]:
    """An autocommit connection to the server's maintenance database."""
    engine = create_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


_RELATIONS = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
)


def _check_pg_target(url: URL, force: bool) -> tuple[str, bool, int]:
    """(pg_restore, whether the database exists, its relations); refused when not empty."""
    shown = url.render_as_string(hide_password=True)
    if not url.database:
        raise FieldError("--to", shown, "backup_target_invalid", "PostgreSQL URL 中没有数据库名")
    with _admin(url) as admin:
        server = _server_major(admin)
        exists = (
            admin.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
            ).first()
            is not None
        )
    pg_restore = _check_tool("pg_restore", server)
    relations = 0
    if exists:
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                relations = int(conn.execute(text(_RELATIONS)).scalar_one())
        finally:
            engine.dispose()
    if relations and not force:
        raise FieldError(
            "--to",
            shown,
            "backup_target_not_empty",
            f"目标数据库不是空库（已有 {relations} 个表、索引或序列）；确认覆盖请加 --force",
        )
    return pg_restore, exists, relations


def _restore_pg(dump: Path, url: URL, pg_restore: str, exists: bool, relations: int) -> None:
    """Create the database if needed, empty it when forced, and pg_restore into it."""
    if not exists:
        with _admin(url) as admin:
            admin.execute(text(f"CREATE DATABASE {_quote(admin, str(url.database))}"))
    if relations:  # --force: what was there goes
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
                conn.execute(text("ALTER SCHEMA public OWNER TO pg_database_owner"))
                conn.execute(text("GRANT ALL ON SCHEMA public TO PUBLIC"))
        finally:
            engine.dispose()
    uri, env = _libpq(url)
    _run(
        [
            pg_restore,
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            "-d",
            uri,
            str(dump),
        ],
        env,
        "pg_restore",
    )


# -- verification ------------------------------------------------------------------------------


def verify_restore(c: Container, manifest: dict[str, Any], report: RestoreReport) -> None:
    """Check a restored database against its manifest; fills `report` (and times it)."""
    started = time.monotonic()
    with c.engine.connect() as conn:
        if c.engine.dialect.name == "sqlite":
            result = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
            report.integrity = {"ok": result == "ok", "integrity_check": result}
        counts = count_rows(conn)
        revision = _revision(conn)
        conn.rollback()
    expected: dict[str, int] = manifest.get("tables") or {}
    report.rows = sum(counts.values())
    report.count_mismatches = {
        t: {"manifest": expected.get(t), "restored": counts.get(t)}
        for t in sorted(set(expected) | set(counts))
        if expected.get(t) != counts.get(t)
    }
    report.counts_ok = not report.count_mismatches
    report.revision = {
        "manifest": manifest.get("alembic_revision"),
        "restored": revision,
        "ok": revision == manifest.get("alembic_revision"),
    }
    report.personal = check_personal(c)
    report.ledger = check_ledger(c, manifest)
    report.verify_seconds = round(time.monotonic() - started, 3)


def check_personal(c: Container) -> dict[str, Any]:
    """Open every sealed personal value with the configured keyring (and every TOTP secret with
    the configured secret key); list what does not open."""
    from citycredit.accounts.auth import totp_key
    from citycredit.accounts.db import UserRow
    from citycredit.accounts.totp import unseal
    from citycredit.privacy.keycheck import check_keyring
    from citycredit.privacy.keys import keyring_source, load_keyring
    from citycredit.shared.personal import PersonalCodec, PersonalDataError, is_sealed

    out: dict[str, Any] = {"tables": {}, "failures": [], "problems": []}
    try:
        ring = load_keyring(c.settings, now=c.clock.now(), engine=c.engine)
    except PersonalDataError as e:
        out.update(ok=False, keyring=keyring_source(c.settings), problems=[e.message])
        return out
    out["keyring"] = keyring_source(c.settings)
    codec = PersonalCodec(ring)
    failures: list[str] = out["failures"]
    failed = 0
    with c.engine.connect() as conn:
        for name, pk, column, context, aad_of in _sealed_columns():
            counts = {"opened": 0, "plaintext": 0, "empty": 0, "failed": 0}
            last = 0
            while True:
                rows = conn.execute(
                    select(pk.label("pk"), column.label("sealed"), *context)
                    .where(pk > last)
                    .order_by(pk)
                    .limit(BATCH)
                ).all()
                for r in rows:
                    if not is_sealed(r.sealed):
                        counts["plaintext" if r.sealed else "empty"] += 1
                        continue
                    try:  # the marker of a row without personal values opens to {}
                        counts["opened" if codec.open(r.sealed, aad=aad_of(r)) else "empty"] += 1
                    except PersonalDataError as e:
                        counts["failed"] += 1
                        if len(failures) < MAX_LISTED:
                            failures.append(f"{e.code}: {e.message}")
                if len(rows) < BATCH:
                    break
                last = rows[-1].pk
            out["tables"][name] = counts
            failed += counts["failed"]
        totp = {"opened": 0, "failed": 0}
        secret = totp_key(c)
        for uid, sealed in conn.execute(
            select(UserRow.id, UserRow.totp_secret).where(UserRow.totp_secret.is_not(None))
        ):
            try:
                unseal(secret, uid, str(sealed))
                totp["opened"] += 1
            except ValueError:
                totp["failed"] += 1
                if len(failures) < MAX_LISTED:
                    failures.append(f"users.totp_secret:{uid}: CITYCREDIT_SECRET_KEY 打不开")
        out["tables"]["users.totp_secret"] = totp
        failed += totp["failed"]
        conn.rollback()
    check = check_keyring(c.engine, ring)
    out["problems"] = check.problems()
    out["failed"] = failed
    out["ok"] = failed == 0 and check.ok
    return out


def check_ledger(c: Container, manifest: dict[str, Any]) -> dict[str, Any]:
    """Recompute the restored log (ledger.verify) and compare its signed checkpoint with the
    manifest's."""
    from citycredit.ledger.verify import verify_log

    expected = (manifest.get("ledger") or {}).get("checkpoint")
    with c.engine.connect() as conn:
        restored = (_ledger(conn) or {}).get("checkpoint")
        conn.rollback()
    out: dict[str, Any] = {
        "manifest_checkpoint": None if expected is None else _short(expected),
        "restored_checkpoint": None if restored is None else _short(restored),
        "checkpoint_matches": _short(expected) == _short(restored),
    }
    try:
        vr = verify_log(c)
    except CityCreditError as e:  # e.g. a keyring that cannot open the leaves' values
        out.update(ok=False, error=e.message, code=e.code)
        return out
    out["verify"] = {
        "ok": vr.ok,
        "leaves": vr.leaves,
        "checkpoint_size": vr.checkpoint_size,
        "root_ok": vr.root_ok,
        "signature_ok": vr.signature_ok,
        "first_bad_index": vr.first_bad_index,
        "rollback": vr.rollback,
        "changed": len(vr.changed),
        "inserted": len(vr.inserted),
        "deleted": len(vr.deleted),
        "node_mismatch": len(vr.node_mismatch),
        "checkpoint_mismatch": len(vr.checkpoint_mismatch),
    }
    out["ok"] = bool(out["checkpoint_matches"] and vr.ok)
    return out


def _short(cp: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if cp is None else {"size": cp["size"], "root": cp["root"]}


__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "BackupError",
    "RestoreReport",
    "backup",
    "check_files",
    "check_ledger",
    "check_personal",
    "count_rows",
    "read_manifest",
    "restore",
    "verify_restore",
]
