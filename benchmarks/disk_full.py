"""Disk-full drill on PostgreSQL (security goal G25): a write refused for lack of space answers
507, saves nothing, raises the storage alert once, and the platform works again once space is
freed — with a real full disk under the database, not a simulated error.

How: a tmpfs of ``--size-mb`` is mounted (root is needed: it is a drill, not a test) and
becomes a PostgreSQL tablespace; the drill's own database (random name, dropped at the end,
even on failure, with the tablespace and the mount) lives in it. The platform runs in-process
(the FastAPI app over HTTP through TestClient, the API a department uses) on that database.

1. Penalty files of ``--rows`` new records each are submitted until one answers anything but
   200 (at most ``--max-files``). That answer must be 507 ``storage_full`` saying nothing was
   saved; PostgreSQL refused to extend a table file (SQLSTATE 53100, ENOSPC).
2. The same file again: 507 again; the CRITICAL alert was logged once for the incident;
   ``/healthz`` reports ``storage_full``; the records are exactly those of the files stored
   before (nothing partial).
3. Space is freed (the tmpfs is grown with ``remount``); the same file is submitted again and
   stored in full, once.

The last line holds the figures:

    files_stored=… records_before=… status_full=… status_again=… alerts=… records_after_full=…
    status_after_freeing=… records_after=… ok=true|false

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
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bulk import SERVER, make_container, say, sqlalchemy_url


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=48)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--max-files", type=int, default=200)
    args = ap.parse_args()
    if os.geteuid() != 0:
        say("disk_full: needs root (it mounts a tmpfs for the tablespace); nothing was done")
        return 2
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, func, select, text

    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department
    from citycredit.db import storage
    from citycredit.db.migrate import upgrade
    from citycredit.ingest.db import RecordRow
    from citycredit.web.app import create_app

    server = sqlalchemy_url(SERVER)
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:10]
    name, space = f"cc_bench_diskfull_{tag}", f"cc_diskfull_{tag}"
    mount = Path(tempfile.mkdtemp(prefix="cc-diskfull-"))
    data_dir = Path(tempfile.mkdtemp(prefix="cc-diskfull-data-"))
    pg = pwd.getpwnam("postgres")
    mounted = created = False
    results: dict[str, Any] = {}
    criticals = _Criticals()
    logging.getLogger("citycredit.storage").addHandler(criticals)
    c = None
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={args.size_mb}m,mode=0700", "tmpfs", str(mount)],
            check=True,
        )
        mounted = True
        os.chown(mount, pg.pw_uid, pg.pw_gid)
        with admin.connect() as conn:
            conn.execute(text(f"CREATE TABLESPACE \"{space}\" LOCATION '{mount}'"))
            conn.execute(text(f'CREATE DATABASE "{name}" TABLESPACE "{space}"'))
        created = True
        say(f"database {name} in tablespace {space} on a {args.size_mb} MB tmpfs at {mount}")
        url = f"{server}/{name}"
        schema = create_engine(url)
        upgrade(schema)
        schema.dispose()
        c = make_container(url, data_dir)
        storage.reset()
        samr, auth = "榆林市市场监督管理局", _auth()
        token = add_department(c, SYSTEM, name=samr, code=auth).token
        client = TestClient(create_app(c, scheduler=False))

        def submit(body: bytes) -> Any:
            return client.post(
                "/api/v1/submissions",
                headers={"Authorization": f"Bearer {token}"},
                data={"item": "penalty"},
                files={"file": ("p.csv", io.BytesIO(body), "text/csv")},
            )

        def records() -> int:
            with c.engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(RecordRow)).scalar_one())

        stored, first, last = 0, 1, None
        for _ in range(args.max_files):
            body = _body(first, args.rows, samr, auth)
            resp = submit(body)
            if resp.status_code != 200:
                last = (resp, body)
                break
            stored += 1
            first += args.rows
        if last is None:
            say(f"disk_full: {args.max_files} files stored without filling {args.size_mb} MB")
            return 1
        resp, body = last
        results["files_stored"] = stored
        results["records_before"] = stored * args.rows
        results["status_full"] = resp.status_code
        say(f"full: {resp.status_code} {resp.text[:300]}")
        results["error"] = resp.json().get("error") if resp.status_code == 507 else None
        results["status_again"] = submit(body).status_code
        results["alerts"] = sum("storage_full" in m for m in criticals.messages)
        health = client.get("/healthz").json().get("storage", {})
        results["healthz_storage_full"] = bool(health.get("storage_full"))
        results["records_after_full"] = records()
        subprocess.run(["mount", "-o", f"remount,size={args.size_mb * 4}m", str(mount)], check=True)
        ok = submit(body)
        results["status_after_freeing"] = ok.status_code
        results["new_after_freeing"] = ok.json().get("new") if ok.status_code == 200 else None
        results["records_after"] = records()
        results["ok"] = (
            results["status_full"] == 507
            and results["error"] == "storage_full"
            and results["status_again"] == 507
            and results["alerts"] == 1
            and results["healthz_storage_full"]
            and results["records_after_full"] == results["records_before"]
            and results["status_after_freeing"] == 200
            and results["records_after"] == results["records_before"] + args.rows
        )
    finally:
        if c is not None:
            c.dispose()
        if created:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'DROP TABLESPACE IF EXISTS "{space}"'))
            say(f"database {name} and tablespace {space} dropped")
        admin.dispose()
        if mounted:
            subprocess.run(["umount", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    say(" ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in results.items()))
    return 0 if results.get("ok") else 1


def _auth() -> str:
    return uscc("11", "610800", "MA0CAMR1")


if __name__ == "__main__":
    raise SystemExit(main())
