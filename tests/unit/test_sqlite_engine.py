"""The embedded engine's pragmas: foreign keys enforced, WAL, and secure_delete (G36)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from citycredit.db.engine import make_engine


def test_sqlite_connections_zero_deleted_content(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
