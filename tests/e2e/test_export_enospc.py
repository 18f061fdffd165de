"""G25 for files: a 双公示 export whose directory is on a disk that fills up (a tiny tmpfs,
ENOSPC from the kernel, no simulated error) fails as storage full — 507 on the API, exit code 2
on the command line — leaves no file under a final name (nor a temporary one), records no
completed export, stores the storage alarm, and succeeds once space is freed (the tmpfs grown),
which ends the alarm's incident."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.db import storage
from citycredit.db.alarms import SystemAlarmRow
from citycredit.exports.db import ExportRow
from citycredit.exports.files import write_json_atomically
from citycredit.ingest.service import ingest_submission
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, penalty_row, uscc, write_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from disk_full import DrillSetupError, privileged

pytestmark = pytest.mark.db
AUTH = uscc("11", "610800", "MA0CAMR1")
ROWS = 120  # ≈ 100 KB of CSV and JSON: more than the tmpfs holds
SMALL, LARGE = "48k", "8m"


class Tmpfs:
    """A tmpfs of `size` at `path` (root, or ``sudo -n``; failing says why), unmounted at the end."""

    def __init__(self, path: Path, size: str, *, inodes: int | None = None) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        options = f"size={size},mode=0700" + (f",nr_inodes={inodes}" if inodes else "")
        try:
            privileged(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)])
        except DrillSetupError as exc:
            pytest.fail(f"the ENOSPC test needs to mount a tmpfs (root or sudo -n): {exc}")

    def grow(self, size: str) -> None:
        privileged(["mount", "-o", f"remount,size={size}", str(self.path)])

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file())

    def close(self) -> None:
        try:
            privileged(["umount", str(self.path)])
        except DrillSetupError:  # a file still open (a failed test): detach it all the same
            privileged(["umount", "--lazy", str(self.path)])
            raise


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    c = container
    storage.reset()
    add_department(c, SYSTEM, name=SAMR, code=AUTH)
    rows = [
        penalty_row(
            CF_XDR_MC=f"榆阳区某{i}号商贸有限公司",
            CF_XDR_SHXYM=uscc("91", "610802", f"MA{i:06d}"),
            CF_WSH=f"榆市监罚〔2026〕{i}号",
            CF_WFXW="违法事实" * 30,
        )
        for i in range(1, ROWS + 1)
    ]
    path = write_csv(c.settings.data_dir / "p.csv", PENALTY_COLUMNS, rows)
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    ).token
    disk = Tmpfs(c.settings.data_dir / "exports", SMALL)
    try:
        yield {"office": office, "disk": disk}
    finally:
        disk.close()
        storage.reset()


def _exports(c: Container) -> list[ExportRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(ExportRow)))


def _alarms(c: Container) -> list[SystemAlarmRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(SystemAlarmRow)))


def test_an_export_onto_a_full_disk_answers_507_leaves_nothing_and_works_once_freed(
    container: Container, world: dict[str, Any]
) -> None:
    c, disk = container, world["disk"]
    client = TestClient(create_app(c, scheduler=False))
    auth = {"Authorization": f"Bearer {world['office']}"}
    url = "/api/v1/exports/dual-publicity"
    full = client.post(url, json={"formats": ["csv", "json"]}, headers=auth)
    assert full.status_code == 507, full.text
    assert full.json()["error"] == "storage_full" and "未保存任何内容" in full.json()["message"]
    # nothing under a final name, no temporary file either: the directory is as it was
    assert disk.files() == []
    # no completed export (the failure is recorded as failed, with why)
    rows = _exports(c)
    assert [r.status for r in rows] == ["failed"] and "No space left" in (rows[0].error or "")
    # the alarm: stored (the database is not on the full disk), one row, the operation
    (alarm,) = _alarms(c)
    assert alarm.kind == "storage_full" and alarm.resolved_at is None
    assert alarm.detail["where"] == f"POST {url}" and alarm.detail["error"] == "OSError"
    assert "No space left" in alarm.detail["first_line"]
    assert client.get("/healthz").json()["storage"]["storage_full"] is True

    disk.grow(LARGE)
    ok = client.post(url, json={"formats": ["csv", "json"]}, headers=auth)
    assert ok.status_code == 201, ok.text
    done = ok.json()
    assert done["status"] == "completed" and done["counts"]["penalty"]["新增"] == ROWS
    directory = Path(done["directory"])
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        data = (directory / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    assert not [f for f in disk.files() if f.endswith(".tmp")]
    assert [r.status for r in _exports(c)].count("completed") == 1
    (alarm,) = _alarms(c)
    assert alarm.resolved_at is not None and alarm.detail["ended_by"] == "operation_succeeded"
    assert client.get("/healthz").json()["storage"]["storage_full"] is False


def test_the_export_command_on_a_full_disk_exits_2_and_works_once_freed(
    container: Container, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, disk = container, world["disk"]
    s = c.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    from citycredit.cli.main import app

    out = disk.path / "upload"
    args = ["export", "dual-publicity", "--since", "2000-01-01", "--out", str(out)]
    failed = CliRunner().invoke(app, args)
    assert failed.exit_code == 2, failed.output
    assert "存储空间不足" in failed.output and "Traceback" not in failed.output
    assert disk.files() == []  # the directory the command created is gone too
    assert [r.status for r in _exports(c)] == ["failed"]
    (alarm,) = _alarms(c)
    assert alarm.detail["where"] == "export dual-publicity" and alarm.resolved_at is None

    disk.grow(LARGE)
    storage.reset()  # each command is a process of its own: the next knows nothing of this one
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["status"] == "completed"
    assert sorted(p.name for p in out.iterdir())[-1] == "manifest.json"
    assert [r.status for r in _exports(c)].count("completed") == 1
    (alarm,) = _alarms(c)  # the run that worked ended the incident the failed run stored
    assert alarm.resolved_at is not None and alarm.detail["ended_by"] == "operation_succeeded"


def test_no_room_for_the_export_directory_is_storage_full_not_a_bad_directory(
    container: Container, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk with no inode left refuses even the export's directory (ENOSPC from mkdir): the
    command says storage is full and exits 2 — it used to call the directory invalid."""
    c = container
    s = c.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    from citycredit.cli.main import app

    no_inodes = Tmpfs(s.data_dir / "no-inodes", LARGE, inodes=1)  # the root takes the only one
    try:
        out = no_inodes.path / "upload"
        args = ["export", "dual-publicity", "--since", "2000-01-01", "--out", str(out)]
        failed = CliRunner().invoke(app, args)
        assert failed.exit_code == 2, failed.output
        assert "存储空间不足" in failed.output and "无法创建或写入" not in failed.output
        assert no_inodes.files() == [] and not out.exists()
        (alarm,) = _alarms(c)
        assert alarm.detail["where"] == "export dual-publicity"
    finally:
        no_inodes.close()


def test_a_manifest_that_cannot_be_written_leaves_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_json_atomically(tmp_path / "manifest.json", {"x": object()})
    assert list(tmp_path.iterdir()) == []
