"""`citycredit db backup` / `db restore` end to end (in process), on both databases."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from citycredit.bootstrap import Container
from citycredit.ingest.service import ingest_submission
from citycredit.ledger.service import checkpoint, integrate_now
from citycredit.ledger.verify import verify_log
from citycredit.shared.personal import generate_keyring
from support import (
    PENALTY_COLUMNS_WITH_ID,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)
from support import run_cli as run

pytestmark = pytest.mark.db


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A seeded database (a company and a natural person, sequenced) and its environment; the
    keyring is named explicitly, as a restored deployment must (it is never in a backup)."""
    c = container
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_SHXYM=uscc("91", "610802", "MA6BK001"),
            CF_WSH="榆市监罚〔2026〕11号",
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="王某某",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=id_number("610802", "19850202", "317"),
            CF_WSH="榆市监罚〔2026〕12号",
        ),
    ]
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, rows)
    ingest_submission(c, department(c), path=path, item_code="penalty")
    integrate_now(c)
    assert verify_log(c).ok  # writes data_dir/ledger-verified-head.json, which is backed up
    s = c.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    monkeypatch.setenv("CITYCREDIT_ENVIRONMENT", "test")
    monkeypatch.setenv("CITYCREDIT_PERSONAL_KEYS", str(Path(s.data_dir) / "personal.keys"))
    return CliRunner()


@pytest.fixture
def target(container: Container, tmp_path: Path) -> Iterator[str]:
    """A database URL that does not exist yet (PostgreSQL: dropped afterwards)."""
    url = make_url(container.settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'citycredit.sqlite3'}"
        return
    name = f"cc_cli_restore_{uuid.uuid4().hex[:10]}"
    yield url.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(
        url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_then_restore_into_a_new_database(
    cli: CliRunner, container: Container, target: str, tmp_path: Path
) -> None:
    out = run(cli, "db", "backup", str(tmp_path / "bk"))
    assert "已备份到" in out and "不在备份中" in out
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text(encoding="utf-8"))
    cp = checkpoint(container)
    assert manifest["ledger"]["checkpoint"]["size"] == cp["size"] > 0
    assert manifest["ledger"]["checkpoint"]["root"] == cp["root"]

    data2 = tmp_path / "data2"
    out = run(cli, "db", "restore", str(tmp_path / "bk"), "--to", target, "--data-dir", str(data2))
    assert "全部校验通过" in out and "RTO" in out

    # again, over what it just restored: refused without --force (exit 2, names --to)
    out = run(
        cli,
        "db",
        "restore",
        str(tmp_path / "bk"),
        "--to",
        target,
        "--data-dir",
        str(data2),
        code=2,
    )
    assert "不是空库" in out and "--to" in out and "--force" in out
    out = run(
        cli,
        "db",
        "restore",
        str(tmp_path / "bk"),
        "--to",
        target,
        "--data-dir",
        str(data2),
        "--force",
        "--json",
    )
    report = json.loads(out)
    assert report["ok"] and report["counts_ok"] and report["ledger"]["ok"]
    assert report["rows"] == manifest["rows"]
    assert report["personal"]["tables"]["record_versions"]["opened"] > 0
    assert report["rto_seconds"] >= report["restore_seconds"] > 0


def test_restore_refuses_damage_and_reports_a_wrong_keyring(
    cli: CliRunner,
    container: Container,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(cli, "db", "backup", str(tmp_path / "bk"))
    out = run(cli, "db", "backup", str(tmp_path / "bk"), code=2)  # never over a backup
    assert "DEST_DIR" in out

    head = tmp_path / "bk" / "files" / "ledger-verified-head.json"  # a data_dir file
    original = head.read_bytes()
    head.write_bytes(original + b" ")
    out = run(cli, "db", "restore", str(tmp_path / "bk"), "--to", target, code=2)
    assert "SHA-256 不符" in out and "拒绝恢复" in out
    head.write_bytes(original)

    out = run(cli, "db", "restore", str(tmp_path / "nothing-here"), "--to", target, code=2)
    assert "SRC_DIR" in out and "manifest.json" in out

    other = tmp_path / "other.keys"
    generate_keyring("aes-256-gcm", now=container.clock.now()).save(other)
    monkeypatch.setenv("CITYCREDIT_PERSONAL_KEYS", str(other))
    out = run(
        cli,
        "db",
        "restore",
        str(tmp_path / "bk"),
        "--to",
        target,
        "--data-dir",
        str(tmp_path / "data3"),
        code=1,
    )
    assert "不通过" in out and "personal_key_unknown" in out
