"""Disk-full drill on PostgreSQL (security goal G25): a write refused for lack of space answers
507, saves nothing, raises the storage alert once and stores it as a system alarm, and the
platform works again once space is freed — with a real full disk under the database, not a
simulated error. The same scenario (`drill`) is the CI test tests/e2e/test_disk_full_pg.py.

How: a tmpfs of ``--size-mb`` is mounted (root is needed — or ``sudo -n``) and becomes a
PostgreSQL tablespace; the drill's own database (random name, dropped at the end, even on
failure, with the tablespace and the mount) lives in it. The platform runs in-process (the
FastAPI app over HTTP through TestClient, the API a department uses) on that database.

1. Penalty files of ``--rows`` new records each are submitted until one answers anything but
   200 (at most ``--max-files``). That answer must be 507 ``storage_full`` saying nothing was
   saved; PostgreSQL refused to extend a table file (SQLSTATE 53100, ENOSPC).
2. The same file again: 507 again; the CRITICAL alert was logged once for the incident;
   ``/healthz`` reports ``storage_full``; the records are exactly those of the files stored
   before (nothing partial). The alarm row is stored now if the database takes it (the full
   tablespace holds ``system_alarms`` too, so usually it waits in the process).
3. Space is freed (the tmpfs is grown with ``remount``); the same file is submitted again and
   stored in full, once; the alarm is stored by then — one row, both failures, resolved — and
   ``/healthz`` no longer reports the disk full.

The last line holds the figures:

    files_stored=… records_before=… status_full=… status_again=… alerts=… records_after_full=…
    alarm_rows_while_full=… status_after_freeing=… records_after=… alarm_rows=… ok=true|false

    sudo .venv/bin/python benchmarks/disk_full.py [--size-mb 48] [--rows 2000]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bulk import SERVER, make_container, say, sqlalchemy_url


class DrillSetupError(RuntimeError):
    """The drill could not build its full disk (no root, no sudo, mount refused)."""


def uscc(prefix: str, division: str, body8: str) -> str:
    """A valid USCC: prefix + division + body + org check + mod-31 check."""
    from citycredit.shared.ids import org_code_check_char, uscc_check_char

    first17 = prefix + division + body8 + org_code_check_char(body8)
    return first17 + uscc_check_char(first17)


def _body(first: int, n: int, samr: str, auth: str) -> bytes:
    header = (
        "CF_XDR_MC,CF_XDR_LB,CF_XDR_SHXYM,CF_WSH,CF_WFXW,CF_SY,CF_YJ,CF_CFLB,CF_NR,CF_NR_FK,"
        "CF_JDRQ,CF_CFJG,CF_CFJGDM,CF_SJLY,CF_SJLYDM"
    )
    rows = [header]
    for i in range(first, first + n):
        co = uscc("91", "610802", f"MA{i:06d}")
        rows.append(
            f"榆阳区某{i}号商贸有限公司,法人及非法人组织,{co},榆市监罚〔2026〕{i}号,"
            f"{'违法事实' * 40},x,x,罚款,罚款2万元,2,2026-11-01,{samr},{auth},{samr},{auth}"
        )
    return "\n".join(rows).encode("utf-8")


class _Criticals(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.CRITICAL)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def privileged(args: list[str]) -> None:
    """Run a command that needs root: directly as root, else through ``sudo -n``; a refusal
    raises DrillSetupError saying why (never a silent skip)."""
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise DrillSetupError(
                f"{' '.join(args)}: needs root (the drill mounts a tmpfs); not root and no sudo"
            )
        args = ["sudo", "-n", *args]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DrillSetupError(
            f"{' '.join(args)} failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[:300]}"
        )


def drill(
    *,
    size_mb: int = 48,
    rows: int = 2000,
    max_files: int = 200,
    server: str | None = None,
    log: Callable[[str], None] = say,
) -> dict[str, Any]:
    """The whole scenario; the figures (``ok`` says whether every property held). Cleans up
    (database, tablespace, mount, directories) whatever happens."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, func, select, text

    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department
    from citycredit.db import storage
    from citycredit.db.alarms import SystemAlarmRow
    from citycredit.db.migrate import upgrade
    from citycredit.ingest.db import RecordRow
    from citycredit.web.app import create_app

    server = server or sqlalchemy_url(SERVER)
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:10]
    name, space = f"cc_bench_diskfull_{tag}", f"cc_diskfull_{tag}"
    mount = Path(tempfile.mkdtemp(prefix="cc-diskfull-"))
    data_dir = Path(tempfile.mkdtemp(prefix="cc-diskfull-data-"))
    pg = pwd.getpwnam("postgres")
    mounted = created = False
    results: dict[str, Any] = {"ok": False}
    criticals = _Criticals()
    storage_log = logging.getLogger("citycredit.storage")
    storage_log.addHandler(criticals)
    c = None
    started = time.monotonic()
    try:
        privileged(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(mount)]
        )
        mounted = True
        privileged(["chown", f"{pg.pw_uid}:{pg.pw_gid}", str(mount)])
        with admin.connect() as conn:
            conn.execute(text(f"CREATE TABLESPACE \"{space}\" LOCATION '{mount}'"))
            conn.execute(text(f'CREATE DATABASE "{name}" TABLESPACE "{space}"'))
        created = True
        log(f"database {name} in tablespace {space} on a {size_mb} MB tmpfs at {mount}")
        url = f"{server}/{name}"
        schema = create_engine(url)
        upgrade(schema)
        schema.dispose()
        c = make_container(url, data_dir)
        storage.reset()
        samr, auth = "榆林市市场监督管理局", uscc("11", "610800", "MA0CAMR1")
        token = add_department(c, SYSTEM, name=samr, code=auth).token
        client = TestClient(create_app(c, scheduler=False))

        def submit(body: bytes) -> Any:
            return client.post(
                "/api/v1/submissions",
                headers={"Authorization": f"Bearer {token}"},
                data={"item": "penalty"},
                files={"file": ("p.csv", io.BytesIO(body), "text/csv")},
            )

        def count(table: Any) -> int:
            assert c is not None
            with c.engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        def alarm_rows() -> list[Any]:
            assert c is not None
            with c.engine.connect() as conn:
                return list(conn.execute(select(SystemAlarmRow.__table__)).mappings())

        stored, first, last = 0, 1, None
        for _ in range(max_files):
            body = _body(first, rows, samr, auth)
            resp = submit(body)
            if resp.status_code != 200:
                last = (resp, body)
                break
            stored += 1
            first += rows
        results["files_stored"] = stored
        if last is None:
            log(f"disk_full: {max_files} files stored without filling {size_mb} MB")
            return results
        resp, body = last
        results["records_before"] = stored * rows
        results["status_full"] = resp.status_code
        log(f"full: {resp.status_code} {resp.text[:300]}")
        results["error"] = resp.json().get("error") if resp.status_code == 507 else None
        results["status_again"] = submit(body).status_code
        results["alerts"] = sum("storage_full" in m for m in criticals.messages)
        health = client.get("/healthz").json().get("storage", {})
        results["healthz_storage_full"] = bool(health.get("storage_full"))
        results["records_after_full"] = count(RecordRow)
        results["alarm_rows_while_full"] = len(alarm_rows())
        privileged(["mount", "-o", f"remount,size={size_mb * 4}m", str(mount)])
        ok = submit(body)
        results["status_after_freeing"] = ok.status_code
        results["new_after_freeing"] = ok.json().get("new") if ok.status_code == 200 else None
        results["records_after"] = count(RecordRow)
        alarms = alarm_rows()
        results["alarm_rows"] = len(alarms)
        alarm = alarms[0] if len(alarms) == 1 else None
        results["alarm_kind"] = alarm["kind"] if alarm else None
        results["alarm_failures"] = alarm["detail"].get("failures") if alarm else None
        results["alarm_where"] = alarm["detail"].get("where") if alarm else None
        results["alarm_resolved"] = bool(alarm and alarm["resolved_at"] is not None)
        after = client.get("/healthz").json().get("storage", {})
        results["healthz_after_freeing"] = bool(after.get("storage_full"))
        results["ok"] = (
            results["status_full"] == 507
            and results["error"] == "storage_full"
            and results["status_again"] == 507
            and results["alerts"] == 1
            and results["healthz_storage_full"]
            and results["records_after_full"] == results["records_before"]
            and results["status_after_freeing"] == 200
            and results["new_after_freeing"] == rows
            and results["records_after"] == results["records_before"] + rows
            and results["alarm_rows"] == 1
            and results["alarm_kind"] == "storage_full"
            and results["alarm_failures"] == 2
            and results["alarm_resolved"]
            and not results["healthz_after_freeing"]
        )
        return results
    finally:
        storage_log.removeHandler(criticals)
        if c is not None:
            c.dispose()
        storage.reset()
        try:
            if created:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log(f"database {name} dropped")
            with admin.connect() as conn:  # also when CREATE DATABASE failed after the space
                conn.execute(text(f'DROP TABLESPACE IF EXISTS "{space}"'))
        finally:
            admin.dispose()
            if mounted:
                sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
                gone = subprocess.run([*sudo, "umount", str(mount)], check=False)
                if gone.returncode != 0:  # still busy: detach it, never leave it mounted
                    subprocess.run([*sudo, "umount", "--lazy", str(mount)], check=False)
            shutil.rmtree(mount, ignore_errors=True)
            shutil.rmtree(data_dir, ignore_errors=True)
        results["seconds"] = round(time.monotonic() - started, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=48)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--max-files", type=int, default=200)
    args = ap.parse_args()
    try:
        results = drill(size_mb=args.size_mb, rows=args.rows, max_files=args.max_files)
    except DrillSetupError as exc:
        say(f"disk_full: {exc}; nothing was done")
        return 2
    say(" ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in results.items()))
    return 0 if results.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
