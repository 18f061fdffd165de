"""Backup/restore drill (security goal G27), on both databases.

A small synthetic city is loaded, a writer keeps ingesting and sequencing while a backup is
taken (it commits at least once between the snapshot and the end of the backup), the backup is
restored into a fresh database and verified: row counts equal the manifest, the ledger root
recomputed from the restored leaves equals the signed checkpoint of the manifest, and every
sealed personal value opens. Then what must be refused is: a damaged backup, a non-empty
target without --force, a keyring that is not the database's.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.db.backup import (
    MANIFEST,
    BackupError,
    backup,
    count_rows,
    restore,
)
from citycredit.ingest.service import ingest_submission
from citycredit.ledger.service import checkpoint, integrate_now
from citycredit.settings import Settings
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError
from citycredit.shared.personal import Keyring, generate_keyring
from citycredit.synth.city import DEFAULT_AS_OF, generate_city
from citycredit.synth.load import load_city
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    sealed_kinds_rows,
    write_csv,
)

pytestmark = pytest.mark.db

SEALED = ("record_versions", "rejects", "unresolved")
DECIDED = "2026-10-20"  # before the synthetic city's as-of date (the clock)


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def city(container: Container, clock: FixedClock, tmp_path: Path) -> Container:
    """A small synthetic city, sequenced into the ledger, plus one row of each sealed kind."""
    clock.current = datetime.combine(DEFAULT_AS_OF, time(10), SHANGHAI).astimezone(UTC)
    generate_city(tmp_path / "city", subjects=60, seed=11)
    load_city(container, tmp_path / "city")
    write_round(container, tmp_path, 0)
    return container


def write_round(c: Container, tmp: Path, n: int) -> None:
    """One submission: a company, a natural person (sealed ID number), a row whose subject
    cannot be found (sealed in `unresolved`) and a bad row (sealed in `rejects`); sequenced."""
    rows = sealed_kinds_rows(n, tag="备份", company="B", bad="X", decided=DECIDED)
    path = write_csv(tmp / f"w{n}.csv", PENALTY_COLUMNS_WITH_ID, rows)
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    integrate_now(c)


def counts(c: Container) -> dict[str, int]:
    with c.engine.connect() as conn:
        return count_rows(conn)


@pytest.fixture
def fresh_url(container: Container, tmp_path: Path) -> Iterator[str]:
    """A database URL that does not exist yet, of the container's kind (dropped afterwards)."""
    url = make_url(container.settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'citycredit.sqlite3'}"
        return
    name = f"cc_restore_{uuid.uuid4().hex[:10]}"
    yield url.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def restore_settings(c: Container, **update: object) -> Settings:
    """The restored deployment's settings: the same secret and keyring, kept outside backups."""
    keys = SecretStr(str(Path(c.settings.data_dir) / "personal.keys"))
    return c.settings.model_copy(update={"personal_keys": keys, **update})


# -- the drill ---------------------------------------------------------------------------------


def test_backup_during_writes_restores_exactly_the_snapshot(
    city: Container, fresh_url: str, tmp_path: Path
) -> None:
    c = city
    started, committed_after_snapshot, stop = (threading.Event() for _ in range(3))
    snapshot_taken = threading.Event()
    errors: list[BaseException] = []
    rounds = {"after_snapshot": 0}

    def writer() -> None:
        n = 1
        try:
            while not stop.is_set():
                write_round(c, tmp_path, n)
                n += 1
                started.set()
                if snapshot_taken.is_set():
                    rounds["after_snapshot"] += 1
                    committed_after_snapshot.set()
        except BaseException as e:  # reported by the test thread
            errors.append(e)
            started.set()
            committed_after_snapshot.set()

    def on_snapshot() -> None:
        # the backup is in progress: let the writer commit at least once more before it ends
        snapshot_taken.set()
        assert committed_after_snapshot.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(60)
        manifest = backup(c, tmp_path / "backup", on_snapshot=on_snapshot)
        committed_after_snapshot.clear()
        assert committed_after_snapshot.wait(60)  # and writes go on after it
    finally:
        stop.set()
        thread.join(120)
    assert not errors, errors
    assert rounds["after_snapshot"] >= 2

    # the source moved on: what was committed after the snapshot is not in the backup (RPO)
    final = counts(c)
    assert final["record_versions"] > manifest["tables"]["record_versions"]
    assert checkpoint(c)["size"] > manifest["ledger"]["checkpoint"]["size"]
    for table in SEALED:
        assert manifest["tables"][table] > 0, table
    assert manifest["alembic_revision"]
    assert sorted(manifest["keys"]["personal_data_key_ids"]) == sorted(
        k.kid for k in Keyring.load(Path(c.settings.data_dir) / "personal.keys").keys
    )

    report = restore(tmp_path / "backup", restore_settings(c), to=fresh_url, clock=c.clock)
    data = report.as_dict()
    assert report.ok, json.dumps(data, ensure_ascii=False)
    assert report.counts_ok and not report.count_mismatches
    assert report.rows == manifest["rows"] == sum(manifest["tables"].values())
    assert report.revision == {
        "manifest": manifest["alembic_revision"],
        "restored": manifest["alembic_revision"],
        "ok": True,
    }
    cp = manifest["ledger"]["checkpoint"]
    assert report.ledger["restored_checkpoint"] == {"size": cp["size"], "root": cp["root"]}
    assert report.ledger["verify"]["ok"] and report.ledger["verify"]["root_ok"]
    assert report.ledger["verify"]["leaves"] == cp["size"]
    for table in SEALED:  # every sealed value of every row opened, none failed
        t = report.personal["tables"][table]
        assert t["failed"] == 0 and t["plaintext"] == 0, table
        assert t["opened"] + t["empty"] == manifest["tables"][table] > 0, table
    assert report.restore_seconds > 0 and report.rto_seconds >= report.restore_seconds

    # the restored database holds exactly the manifest's rows, not the source's later ones
    restored = Container(settings=restore_settings(c, database_url=fresh_url))
    try:
        assert counts(restored) == manifest["tables"] != final
    finally:
        restored.dispose()


def test_backup_holds_no_key_and_only_the_files_that_matter(
    city: Container, fresh_url: str, tmp_path: Path
) -> None:
    c = city
    data_dir = Path(c.settings.data_dir)
    evidence = data_dir / "evidence" / "ab" / ("ab" + "0" * 62)
    evidence.parent.mkdir(parents=True)
    evidence.write_bytes(b"%PDF-1.4 letter")
    (data_dir / "exports" / "dual_publicity").mkdir(parents=True)
    (data_dir / "exports" / "dual_publicity" / "cf.csv").write_text("clear id numbers")
    c.ledger_signer  # noqa: B018 - the dev signing key now exists in data_dir
    assert (data_dir / "ledger.skey").is_file() and (data_dir / "personal.keys").is_file()

    manifest = backup(c, tmp_path / "backup")
    names = {p.name for p in (tmp_path / "backup").rglob("*") if p.is_file()}
    assert "personal.keys" not in names and "ledger.skey" not in names
    assert "cf.csv" not in names
    assert set(manifest["files"]) >= {
        manifest["database_file"],
        f"files/{evidence.relative_to(data_dir)}",
    }
    ring = Keyring.load(data_dir / "personal.keys")
    everything = b"".join(p.read_bytes() for p in (tmp_path / "backup").rglob("*") if p.is_file())
    for secret in [k.key for k in ring.keys] + [ring.index_key]:
        for form in (
            secret,
            secret.hex().encode(),
            base64.b64encode(secret).rstrip(b"="),
            base64.urlsafe_b64encode(secret).rstrip(b"="),
        ):
            assert form not in everything
    assert c.settings.secret_key.get_secret_value().encode() not in everything
    assert "密钥" in manifest["keys"]["note"]
    assert manifest["keys"]["personal_index_key_ids"] == [ring.index_kid]

    # a second backup into the same directory is refused: backups are not overwritten
    with pytest.raises(FieldError) as e:
        backup(c, tmp_path / "backup")
    assert e.value.field == "DEST_DIR" and e.value.code == "backup_dest_not_empty"

    restored_dir = tmp_path / "restored-data"
    report = restore(
        tmp_path / "backup",
        restore_settings(c),
        to=fresh_url,
        data_dir=restored_dir,
        clock=c.clock,
    )
    assert report.ok, report.as_dict()
    assert (restored_dir / evidence.relative_to(data_dir)).read_bytes() == b"%PDF-1.4 letter"
    assert not (restored_dir / "exports").exists()
    assert (restored_dir / "ledger-verified-head.json").is_file()


# -- what is refused or reported ---------------------------------------------------------------


def test_a_tampered_backup_is_refused_before_anything_is_restored(
    city: Container, fresh_url: str, tmp_path: Path
) -> None:
    manifest = backup(city, tmp_path / "backup")
    dump = tmp_path / "backup" / manifest["database_file"]
    original = dump.read_bytes()
    raw = bytearray(original)
    raw[len(raw) // 2] ^= 0x01  # one bit
    dump.write_bytes(bytes(raw))
    with pytest.raises(BackupError) as e:
        restore(tmp_path / "backup", restore_settings(city), to=fresh_url, clock=city.clock)
    assert e.value.code == "backup_checksum"
    assert manifest["database_file"] in e.value.message and "SHA-256" in e.value.message
    assert not _exists(fresh_url)

    # a manifest edited to match a changed row count is caught by the restore's own count
    dump.write_bytes(original)
    edited = json.loads((tmp_path / "backup" / MANIFEST).read_text(encoding="utf-8"))
    edited["tables"]["records"] += 1
    (tmp_path / "backup" / MANIFEST).write_text(json.dumps(edited), encoding="utf-8")
    report = restore(tmp_path / "backup", restore_settings(city), to=fresh_url, clock=city.clock)
    assert not report.ok and not report.counts_ok
    assert report.count_mismatches["records"]["manifest"] == edited["tables"]["records"]


def test_restore_over_a_non_empty_database_needs_force(
    city: Container, fresh_url: str, tmp_path: Path
) -> None:
    c = city
    backup(c, tmp_path / "backup")
    before = counts(c)
    # the running database itself: refused, untouched
    with pytest.raises(FieldError) as e:
        restore(tmp_path / "backup", restore_settings(c), clock=c.clock)
    assert e.value.field == "--to" and e.value.code == "backup_target_not_empty"
    assert "--force" in e.value.message
    assert counts(c) == before

    first = restore(tmp_path / "backup", restore_settings(c), to=fresh_url, clock=c.clock)
    assert first.ok
    with pytest.raises(FieldError) as e:
        restore(tmp_path / "backup", restore_settings(c), to=fresh_url, clock=c.clock)
    assert e.value.code == "backup_target_not_empty"
    # --force: the restored database is replaced by the backup again, and still verifies
    write_round(c, tmp_path, 99)  # (the source only; the target keeps the backup's rows)
    again = restore(
        tmp_path / "backup", restore_settings(c), to=fresh_url, force=True, clock=c.clock
    )
    assert again.ok, again.as_dict()
    assert again.rows == first.rows


def test_a_wrong_or_missing_keyring_is_reported(
    city: Container, fresh_url: str, tmp_path: Path
) -> None:
    c = city
    manifest = backup(c, tmp_path / "backup")
    other = tmp_path / "other.keys"
    generate_keyring("aes-256-gcm", now=c.clock.now()).save(other)
    report = restore(
        tmp_path / "backup",
        c.settings.model_copy(update={"personal_keys": SecretStr(str(other))}),
        to=fresh_url,
        data_dir=tmp_path / "restored-data",
        clock=c.clock,
    )
    assert report.counts_ok  # the data is all there ...
    assert not report.ok and not report.personal["ok"]  # ... but its personal fields are not
    sealed = sum(manifest["tables"][t] for t in SEALED)
    assert report.personal["failed"] == sealed - sum(
        report.personal["tables"][t]["empty"] for t in SEALED
    )
    assert report.personal["failed"] > 0
    assert any("personal_key_unknown" in f for f in report.personal["failures"])
    assert report.personal["problems"]  # the ring's key ids are not the database's
    assert not report.ledger["ok"]  # the leaves' digests need the ring too

    # no ring at all (the dev ring of the target data_dir does not exist): reported, and no
    # new ring is generated for a database that holds sealed values
    fresh_dir = tmp_path / "no-keys"
    report = restore(
        tmp_path / "backup",
        c.settings.model_copy(update={"personal_keys": None}),
        to=fresh_url,
        data_dir=fresh_dir,
        force=True,
        clock=c.clock,
    )
    assert not report.ok and not report.personal["ok"]
    assert "personal.keys" in " ".join(report.personal["problems"])
    assert not (fresh_dir / "personal.keys").exists()


def _exists(url: str) -> bool:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return Path(str(u.database)).exists()
    admin = create_engine(u.set(database="postgres"), poolclass=NullPool)
    try:
        with admin.connect() as conn:
            return (
                conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}
                ).first()
                is not None
            )
    finally:
        admin.dispose()


# -- PostgreSQL client tools -------------------------------------------------------------------


def test_missing_or_mismatched_pg_tools_are_named(
    pg_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BackupError) as e:
        backup(pg_container, tmp_path / "b1")
    assert e.value.code == "backup_tool_missing" and "pg_dump" in e.value.message
    assert not (tmp_path / "b1").exists()  # no half backup left behind

    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.9'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(BackupError) as e:
        backup(pg_container, tmp_path / "b2")
    assert e.value.code == "backup_tool_version"
    assert "14" in e.value.message and "15" in e.value.message
