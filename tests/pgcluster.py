"""A private PostgreSQL 15 cluster for the drills (security goals G26, G27).

The shared server on 127.0.0.1:5432 is never restarted or reconfigured: a drill that restarts
PostgreSQL or recovers it to a point in time runs its own cluster, made here with the server's
binaries (``/usr/lib/postgresql/15/bin`` or ``CITYCREDIT_PG_BIN``):

* `private_cluster()` creates a temporary directory owned by the OS user ``postgres`` (the
  binaries refuse to run as root: as root every command runs through ``runuser -u postgres``),
  ``initdb`` (trust authentication, UTF-8), a configuration for the drills — TCP on 127.0.0.1
  on a free port, the unix socket in the directory, ``wal_level = replica``, ``archive_mode =
  on`` with an ``archive_command`` copying each WAL segment into ``archive/``, small
  ``shared_buffers``, ``fsync``, ``synchronous_commit`` and ``full_page_writes`` on — and
  starts it; at the end every cluster started from the directory is stopped and the directory
  removed, even when the drill failed.
* `PgCluster`: start, stop, ``pg_ctl restart``, ``pg_basebackup``, a WAL switch waited for
  until the archiver has copied it, what the archiver reports (`archived`).
* `PgCluster.recover_to`: point-in-time recovery — the base backup copied into a new data
  directory, ``restore_command`` reading ``archive/``, ``recovery_target_time``,
  ``recovery_target_action = promote``, ``recovery.signal``; started and waited for until the
  recovery is over (promoted); the phases timed (`Recovery`).

The drills themselves, run alike by the tests (small data) and the benchmark (large):

* `pitr_drill` (G27): base backup during writes, batch A, T, batch B, stop, recovery to T,
  then what the recovered database holds (`PitrResult`: rows, ledger, sealed values, timings).
* `serving` (``citycredit serve --workers N`` as a process tree), `Load` (a reader and a
  writer over HTTP), `restart_drill` (G26: ``pg_ctl restart`` under that load) with
  `restart_figures` and `acknowledged_lost` (`RestartResult`).

Used by tests/integration/test_pitr_drill.py, tests/e2e/test_pg_restart_drill.py and
benchmarks/pg_drills.py (which puts tests/ on sys.path): one implementation.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from citycredit.web.serve import ServerStartError, started

if TYPE_CHECKING:
    from citycredit.bootstrap import Container
    from citycredit.settings import Settings

PG_BIN = Path(os.environ.get("CITYCREDIT_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"  # the OS user the server runs as (when the drill runs as root)
DB_USER = "postgres"  # the cluster's superuser (trust authentication on 127.0.0.1)

# The drills' server configuration (postgresql.conf, appended after initdb).
CONFIG = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "replica",
    "archive_mode": "on",
    "shared_buffers": "'32MB'",
    "max_wal_size": "'256MB'",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_connections": "100",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
}


class ClusterError(RuntimeError):
    """A cluster command failed; the message holds the command, its output and the log's tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres() -> list[str]:
    """The prefix that runs a command as the OS user `postgres` (nothing when not root)."""
    return ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []


def _owner() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(OS_USER)
    return pw.pw_uid, pw.pw_gid


@dataclass
class Recovery:
    """A point-in-time recovery, timed: copying the base backup and writing the recovery
    settings (`restore_s`), ``pg_ctl start`` until connections are accepted (`start_s`), then
    until the recovery ended and the server was promoted (`recover_s`)."""

    cluster: PgCluster
    target_time: str
    restore_s: float
    start_s: float
    recover_s: float

    @property
    def rto_s(self) -> float:
        return self.restore_s + self.start_s + self.recover_s


@dataclass
class PgCluster:
    """One data directory of the private cluster directory `root`, served on `port`."""

    root: Path
    name: str
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / self.name

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def sockets(self) -> Path:
        return self.root / "sock"

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{DB_USER}@127.0.0.1:{self.port}/{database}"

    # -- commands -----------------------------------------------------------------------------

    def run(self, *cmd: str, timeout: float = 300) -> str:
        """Run one of the server's programs (as `postgres`); its output; ClusterError if it
        fails."""
        argv = [*_as_postgres(), str(PG_BIN / cmd[0]), *cmd[1:]]
        try:
            done = subprocess.run(
                argv,
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"},
            )
        except subprocess.TimeoutExpired as e:
            raise ClusterError(f"{cmd[0]} took more than {timeout:g} s{self._log_tail()}") from e
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(cmd)} exited {done.returncode}: {done.stdout}{done.stderr}"
                f"{self._log_tail()}"
            )
        return done.stdout + done.stderr

    def _log_tail(self) -> str:
        try:
            return "\n-- server log --\n" + self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def initdb(self, extra: dict[str, str]) -> None:
        self.run("initdb", "-D", str(self.data), "-U", DB_USER, "--auth=trust", "-E", "UTF8")
        settings = {
            **CONFIG,
            "archive_command": f"'test ! -f {self.archive}/%f && cp %p {self.archive}/%f'",
            "unix_socket_directories": f"'{self.sockets}'",
            **extra,
        }
        conf = "".join(f"{k} = {v}\n" for k, v in settings.items())
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write("\n# citycredit drill (tests/pgcluster.py)\n" + conf)

    def start(self, *, timeout: float = 120) -> None:
        self.run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            f"-c port={self.port}",
            timeout=timeout + 10,
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "120")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m MODE``: stops (fast: active sessions ended, a shutdown
        checkpoint; immediate: no checkpoint, crash recovery from the WAL at start) and starts
        with the same options; returns when connections are accepted again."""
        self.run(  # -l as at start: else the new postmaster writes into our pipe
            "pg_ctl",
            "restart",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-m",
            mode,
            "-w",
            "-t",
            "120",
        )

    def running(self) -> bool:
        try:
            self.run("pg_ctl", "status", "-D", str(self.data), timeout=30)
        except ClusterError:
            return False
        return True

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    # -- SQL ----------------------------------------------------------------------------------

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """One statement in autocommit on a fresh connection; its rows."""
        import psycopg

        with psycopg.connect(
            self.url(database, driver="postgresql"), autocommit=True, connect_timeout=10
        ) as conn:
            cur = conn.execute(statement)  # type: ignore[call-overload]
            return list(cur.fetchall()) if cur.description else []

    def create_database(self, name: str) -> str:
        """A new database on this cluster; its SQLAlchemy URL."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def now(self) -> datetime:
        """The server's clock (commit timestamps in the WAL are taken from it)."""
        value = self.sql("SELECT clock_timestamp()")[0][0]
        assert isinstance(value, datetime)
        return value

    # -- WAL archive, base backup, recovery ----------------------------------------------------

    def archived(self) -> dict[str, Any]:
        """pg_stat_archiver: the last archived segment and when; failures."""
        row = self.sql(
            "SELECT archived_count, last_archived_wal, last_archived_time, failed_count, "
            "last_failed_wal FROM pg_stat_archiver"
        )[0]
        keys = ("archived_count", "last_archived_wal", "last_archived_time", "failed_count")
        return {**dict(zip(keys, row[:4], strict=True)), "last_failed_wal": row[4]}

    def switch_wal(self, timeout: float = 60) -> str:
        """Close the current WAL segment (pg_switch_wal) and wait until the archiver copied it
        into the archive; the segment's name."""
        segment = self.sql("SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        deadline = time.monotonic() + timeout
        while not (self.archive / segment).is_file():
            if time.monotonic() > deadline:
                raise ClusterError(f"WAL segment {segment} not archived in {timeout:g} s")
            time.sleep(0.05)
        return str(segment)

    def base_backup(self, name: str, *, max_rate: str | None = None) -> Path:
        """``pg_basebackup`` (plain format, WAL streamed alongside, fast checkpoint) into
        `root/name`, as any replication client takes it while the server keeps working."""
        dest = self.root / name
        cmd = ["pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER]
        cmd += ["-D", str(dest), "-Fp", "-Xs", "-c", "fast", "--no-password"]
        if max_rate:
            cmd += ["-r", max_rate]
        self.run(*cmd)
        return dest

    def recover_to(self, base: Path, target_time: datetime, name: str) -> Recovery:
        """Point-in-time recovery of `base` (a base backup of this cluster) with this cluster's
        WAL archive, to `target_time` (an aware datetime), into a new data directory `name` on
        a new port; started, recovered and promoted. Archiving is off on the recovered cluster
        (the drill does not go on writing)."""
        if target_time.tzinfo is None:
            raise ValueError("target_time must carry its time zone")
        t0 = time.perf_counter()
        new = PgCluster(self.root, name)
        self._copy(base, new.data)
        target = target_time.isoformat(sep=" ")
        settings = {
            "port": str(new.port),
            "archive_mode": "off",
            "restore_command": f"'cp {self.archive}/%f \"%p\"'",
            "recovery_target_time": f"'{target}'",
            "recovery_target_action": "'promote'",
        }
        conf = "".join(f"{k} = {v}\n" for k, v in settings.items())
        with (new.data / "postgresql.auto.conf").open("a", encoding="utf-8") as fh:
            fh.write("# point-in-time recovery (tests/pgcluster.py)\n" + conf)
        (new.data / "recovery.signal").touch()
        self._own(new.data)
        restore_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        new.start()
        start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        deadline = time.monotonic() + 600
        while new.sql("SELECT pg_is_in_recovery()")[0][0]:
            if time.monotonic() > deadline:
                raise ClusterError(f"recovery to {target} did not end in 600 s{new._log_tail()}")
            time.sleep(0.02)
        recover_s = time.perf_counter() - t0
        return Recovery(new, target, restore_s, start_s, recover_s)

    def _copy(self, src: Path, dest: Path) -> None:
        subprocess.run([*_as_postgres(), "cp", "-a", str(src), str(dest)], check=True)

    def _own(self, path: Path) -> None:
        owner = _owner()
        for p in [path, *path.rglob("*")]:
            if owner:
                os.chown(p, *owner)
        path.chmod(0o700)


# -- the drills (the tests and benchmarks/pg_drills.py run the same code) -----------------------

WAL_SEGMENT = 16 * 1024 * 1024  # initdb's default segment size


def segment_end(name: str | None) -> int | None:
    """The LSN (a number) where the WAL segment of file `name` ends (also for a ``.backup``
    history file, named after its segment); None for other names (``.history``)."""
    if not name or len(name) < 24 or not name.startswith("0"):
        return None
    try:
        log, seg = int(name[8:16], 16), int(name[16:24], 16)
    except ValueError:
        return None
    return (log << 32) + (seg + 1) * WAL_SEGMENT


def unarchived(cluster: PgCluster) -> tuple[float, int]:
    """The exposure of this moment: seconds since the archiver last copied a segment, and the
    bytes of WAL written since the end of that segment — what lives only in the primary's
    pg_wal and a loss of its disk would take with it."""
    arch = cluster.archived()
    lsn, now = cluster.sql(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'), clock_timestamp()"
    )[0]
    last = arch["last_archived_time"]
    seconds = (now - last).total_seconds() if last is not None else float("nan")
    end = segment_end(arch["last_archived_wal"])
    return seconds, max(0, int(lsn) - end) if end is not None else int(lsn)


@dataclass
class PitrResult:
    """What a point-in-time recovery drill saw (`pitr_drill`)."""

    target: datetime  # T, the server's clock after batch A
    base_backup_s: float
    during_backup: list[str]  # submissions whose write (and sequencing) committed while
    # pg_basebackup ran
    before: list[str]  # every submission committed before T (in the order committed)
    after: list[str]  # batch B: committed after T
    at_target: dict[str, Any]  # db.backup.describe() of the source at T
    final: dict[str, Any]  # ... when the source stopped
    rpo_s: float  # at T: seconds since the last WAL segment was archived
    rpo_bytes: int  # at T: WAL bytes written after the last archived segment
    recovery: Recovery
    restored: dict[str, Any]  # describe() of the recovered database
    present: set[str]  # of before + after, the submissions found in the recovered database
    ledger: dict[str, Any]  # db.backup.check_ledger against the checkpoint at T
    personal: dict[str, Any]  # db.backup.check_personal on the recovered database
    verify_s: float

    def figures(self) -> dict[str, float]:
        return {
            "pitr_rto_s": self.recovery.rto_s,
            "pitr_restore_s": self.recovery.restore_s,
            "pitr_start_s": self.recovery.start_s,
            "pitr_recover_s": self.recovery.recover_s,
            "pitr_verify_s": self.verify_s,
            "pitr_rpo_s": self.rpo_s,
            "pitr_rpo_bytes": float(self.rpo_bytes),
            "base_backup_s": self.base_backup_s,
        }


class _Writer(threading.Thread):
    """`write(n)` again and again until stopped; (start, end, submission id) of each."""

    def __init__(self, write: Callable[[int], str], first: int) -> None:
        super().__init__(daemon=True)
        self.write, self.n = write, first
        self.stop = threading.Event()
        self.done: list[tuple[float, float, str]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                sid = self.write(self.n)
                self.done.append((t0, time.monotonic(), sid))
                self.n += 1
        except BaseException as e:  # re-raised by the drill
            self.error = e


def pitr_drill(
    cluster: PgCluster,
    c: Container,
    write: Callable[[int], str],
    restored_settings: Callable[[str], Settings],
    *,
    database: str,
    batch_a: int,
    batch_b: int,
    max_rate: str | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> PitrResult:
    """G27's point-in-time recovery, on `cluster` (database `database`, served to `c`).

    `write(n)` stores submission n through the platform's intake, sequences it into the ledger
    (a signed checkpoint) and returns its submission id. Steps: a writer runs while
    ``pg_basebackup`` takes the base backup (`max_rate` slows the copy so that writes commit
    during it); batch A (`batch_a` writes); ``ledger verify`` (the verified head kept in
    data_dir); T = the server's clock, with the source's row counts and latest checkpoint
    (`describe`) and the archive's exposure at T; batch B; the last WAL segment switched out
    and archived; the source stopped (`c` disposed). Then the base backup is recovered to T
    from the WAL archive into a new data directory and promoted, and a container on it
    (`restored_settings(url)`) reads its rows and checks the ledger against the checkpoint at
    T and opens every sealed value."""
    from citycredit.bootstrap import build_container
    from citycredit.db.backup import check_ledger, check_personal, describe
    from citycredit.ledger.verify import verify_log

    writer = _Writer(write, 1)
    writer.start()
    try:
        while not writer.done and writer.error is None and writer.is_alive():
            time.sleep(0.01)
        t0 = time.monotonic()
        base = cluster.base_backup("base", max_rate=max_rate)
        t1 = time.monotonic()
    finally:
        writer.stop.set()
        writer.join(300)
    if writer.error is not None:
        raise writer.error
    during = [sid for _, e, sid in writer.done if t0 < e <= t1]
    before = [sid for _, _, sid in writer.done]
    base_backup_s = t1 - t0
    say(f"base backup {base_backup_s:.2f} s, {len(during)} submissions committed during it")
    n = writer.n
    for _ in range(batch_a):
        before.append(write(n))
        n += 1
    head = verify_log(c)
    if not head.ok:
        raise AssertionError(f"the source's ledger does not verify before T: {head.as_dict()}")
    with c.engine.connect() as conn:
        at_target = describe(conn)
        conn.rollback()
    rpo_s, rpo_bytes = unarchived(cluster)
    target = cluster.now()
    say(f"T = {target.isoformat()} rows={at_target['rows']} exposure {rpo_s:.2f} s")
    after = []
    for _ in range(batch_b):
        after.append(write(n))
        n += 1
    with c.engine.connect() as conn:
        final = describe(conn)
        conn.rollback()
    c.dispose()
    cluster.switch_wal()  # batch B's commits in the archive: recovery must pass T, not end at it
    cluster.stop()
    recovery = cluster.recover_to(base, target, "recovered")
    say(
        f"recovered to T: restore {recovery.restore_s:.2f} s start {recovery.start_s:.2f} s "
        f"recovery {recovery.recover_s:.2f} s"
    )
    t0 = time.monotonic()
    rc = build_container(restored_settings(recovery.cluster.url(database)), clock=c.clock)
    try:
        with rc.engine.connect() as conn:
            restored = describe(conn)
            ids = before + after
            present = {
                str(r[0])
                for r in conn.execute(
                    text("SELECT id FROM submissions WHERE id = ANY(:ids)"), {"ids": ids}
                )
            }
            conn.rollback()
        ledger = check_ledger(rc, {"ledger": at_target["ledger"]})
        personal = check_personal(rc)
    finally:
        rc.dispose()
    verify_s = time.monotonic() - t0
    return PitrResult(
        target=target,
        base_backup_s=base_backup_s,
        during_backup=during,
        before=before,
        after=after,
        at_target=at_target,
        final=final,
        rpo_s=rpo_s,
        rpo_bytes=rpo_bytes,
        recovery=recovery,
        restored=restored,
        present=present,
        ledger=ledger,
        personal=personal,
        verify_s=verify_s,
    )


# -- G26: the platform served over HTTP while the cluster restarts ------------------------------

RECOVERY_WINDOW_S = 30.0  # G26: serving again within 30 s of the database being back
SECRET = "test-secret-key-0123456789abcdef"  # the tests' CITYCREDIT_SECRET_KEY (support.py)


def server_env(url: str, data_dir: Path, secret: str = SECRET) -> dict[str, str]:
    """`citycredit serve`'s environment on the drill's database: a test deployment (`secret`:
    the key the tokens were issued under), no job scheduler, no per-client public limit (the
    drill's one client stands for many readers)."""
    return {
        "CITYCREDIT_DATABASE_URL": url,
        "CITYCREDIT_DATA_DIR": str(data_dir),
        "CITYCREDIT_SECRET_KEY": secret,
        "CITYCREDIT_ENVIRONMENT": "test",
        "CITYCREDIT_SEED_SYNTHETIC_CITY": "false",
        "CITYCREDIT_JOB_INTERVAL_SECONDS": "0",
        "CITYCREDIT_SECURITY": json.dumps({"public_rate_per_minute": 0}),
    }


@contextmanager
def serving(env: dict[str, str], *, workers: int, log: Path) -> Iterator[str]:
    """``citycredit serve --workers N`` (the production command) as a process tree of its own
    on a free port; yields its base URL once /healthz answers 200; stopped (SIGTERM, then
    SIGKILL of its process group) afterwards."""
    port = free_port()
    exe = Path(sys.executable).with_name("citycredit")
    cmd = [str(exe), "serve", "--workers", str(workers), "--host", "127.0.0.1"]
    cmd += ["--port", str(port)]
    try:
        with started(cmd, port=port, log=log, env=env):
            yield f"http://127.0.0.1:{port}"
    except ServerStartError as exc:
        raise ClusterError(str(exc)) from None


@dataclass(frozen=True)
class Answer:
    """One request of the load: when it was sent and answered (time.monotonic()), its status
    (0: no answer within the timeout, or the connection failed) and, for a write answered 2xx,
    the receipt's submission id and count of new records."""

    kind: str  # "read" | "write"
    sent: float
    answered: float
    status: int
    submission_id: str | None = None
    new: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def submission_csv(n: int) -> bytes:
    """A small department file (行政处罚): one company and one natural person (a sealed ID
    number), decision numbers unique to `n`."""
    from support import PENALTY_COLUMNS_WITH_ID, id_number, penalty_row, uscc

    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=f"榆阳区第{n}重启商贸有限公司",
            CF_XDR_SHXYM=uscc("91", "610802", f"MA8D{n % 10000:04d}"),
            CF_WSH=f"榆市监罚〔2026〕启{n}号",
            CF_JDRQ="2026-10-20",
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=f"自然人重启{n}",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=id_number("610802", "19800101", f"{n % 1000:03d}"),
            CF_WSH=f"榆市监罚〔2026〕启人{n}号",
            CF_JDRQ="2026-10-20",
        ),
    ]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(PENALTY_COLUMNS_WITH_ID)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


class Load:
    """A reader and a writer thread, each sending one request every `interval` seconds (the
    next one at once when an answer came late): the reader the public subject search
    (``GET /api/v1/subjects?q=榆林``), the writer a small submission (``POST
    /api/v1/submissions``, a department's token). Every answer is kept (`answers`); a request
    not answered within `timeout` seconds counts as no answer (status 0)."""

    def __init__(self, base: str, token: str, *, interval: float, timeout: float = 10.0) -> None:
        self.base, self.token, self.interval, self.timeout = base, token, interval, timeout
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(kind,), daemon=True)
            for kind in ("read", "write")
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)

    def _loop(self, kind: str) -> None:
        import httpx

        n = 0
        with httpx.Client(base_url=self.base, timeout=self.timeout) as client:
            nxt = time.monotonic()
            while not self.stop.is_set():
                n += 1
                answer = self._one(client, kind, n)
                with self._lock:
                    self.answers.append(answer)
                nxt = max(nxt + self.interval, time.monotonic())
                self.stop.wait(max(0.0, nxt - time.monotonic()))

    def _one(self, client: Any, kind: str, n: int) -> Answer:
        import httpx

        sent = time.monotonic()
        try:
            if kind == "read":
                r = client.get("/api/v1/subjects", params={"q": "榆林"})
            else:
                r = client.post(
                    "/api/v1/submissions",
                    headers={"Authorization": f"Bearer {self.token}"},
                    data={"item": "penalty"},
                    files={"file": (f"restart-{n}.csv", submission_csv(n), "text/csv")},
                )
        except httpx.HTTPError as e:
            return Answer(kind, sent, time.monotonic(), 0, error=f"{type(e).__name__}: {e}")
        answered = time.monotonic()
        if kind == "write" and 200 <= r.status_code < 300:
            body = r.json()
            return Answer(
                kind, sent, answered, r.status_code, str(body["submission_id"]), int(body["new"])
            )
        return Answer(kind, sent, answered, r.status_code, error=r.text[:200])

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return sorted(self.answers, key=lambda a: a.answered)


def restart_figures(answers: list[Answer], cut: float, back: float) -> dict[str, float]:
    """G26's figures for a restart that began at `cut` and ended (connections accepted again)
    at `back` (time.monotonic()):

    * `errors_5xx_non_503`: 5xx answers other than 503 (none allowed);
    * `no_answer`: requests without an answer within the timeout, or whose connection failed;
    * `outside_window`: failed answers (any non-2xx) before the cut or later than 30 s after the
      database was back;
    * `restart_recovery_s`: from the database being back until the service answered again and
      failed no more: max(the last failed answer, the first 2xx answer to a request sent after
      `back`) − `back`;
    * `first_success_s`: from `back` to the first 2xx answer to a request sent after it."""
    failed = [a for a in answers if not a.ok]
    after = [a.answered for a in answers if a.ok and a.sent >= back]
    first = min(after) if after else float("inf")
    last_failure = max((a.answered for a in failed), default=back)
    return {
        "requests": float(len(answers)),
        "writes_acknowledged": float(sum(1 for a in answers if a.kind == "write" and a.ok)),
        "answers_503": float(sum(1 for a in failed if a.status == 503)),
        "errors_5xx_non_503": float(sum(1 for a in failed if a.status >= 500 and a.status != 503)),
        "errors_4xx": float(sum(1 for a in failed if 400 <= a.status < 500)),
        "no_answer": float(sum(1 for a in failed if a.status == 0)),
        "outside_window": float(
            sum(1 for a in failed if not cut <= a.answered <= back + RECOVERY_WINDOW_S)
        ),
        "restart_s": back - cut,
        "first_success_s": first - back,
        "restart_recovery_s": max(0.0, max(last_failure, first) - back),
    }


def acknowledged_lost(url: str, answers: list[Answer]) -> list[str]:
    """The writes answered 2xx whose submission, or one of its new record versions, is not in
    the database at `url` (SQLAlchemy URL)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    acked = {a.submission_id: a.new for a in answers if a.submission_id}
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found: dict[str, int] = dict(
                conn.execute(
                    text(
                        "SELECT s.id, (SELECT count(*) FROM record_versions v "
                        "WHERE v.submission_id = s.id) FROM submissions s WHERE s.id = ANY(:ids)"
                    ),
                    {"ids": list(acked)},
                ).all()
            )
    finally:
        engine.dispose()
    return sorted(sid for sid, new in acked.items() if found.get(sid, -1) < new)


@dataclass
class RestartResult:
    """What a restart drill saw (`restart_drill`): every answer, G26's figures, and the
    acknowledged writes that are not in the database afterwards."""

    answers: list[Answer]
    figures: dict[str, float]
    lost: list[str]
    cut: float
    back: float


def restart_drill(
    cluster: PgCluster,
    base: str,
    token: str,
    database_url: str,
    *,
    warmup_s: float,
    after_s: float,
    interval: float,
    mode: str = "fast",
    say: Callable[[str], None] = lambda _line: None,
) -> RestartResult:
    """G26: the load runs against the server at `base` for `warmup_s` seconds, then
    ``pg_ctl restart -m MODE`` of `cluster`, then the load goes on until the service has
    answered 2xx after the restart and `after_s` seconds more (at most 30 s + `after_s`)."""
    pid = cluster.postmaster_pid()
    with Load(base, token, interval=interval) as load:
        time.sleep(warmup_s)
        cut = time.monotonic()
        cluster.restart(mode)
        back = time.monotonic()
        say(f"pg_ctl restart -m {mode}: {back - cut:.2f} s")
        deadline = back + RECOVERY_WINDOW_S
        while time.monotonic() < deadline and not any(
            a.ok and a.sent >= back for a in load.snapshot()
        ):
            time.sleep(0.05)
        time.sleep(after_s)
    if cluster.postmaster_pid() == pid:
        raise ClusterError("pg_ctl restart left the same postmaster running")
    answers = load.snapshot()
    figures = restart_figures(answers, cut, back)
    lost = acknowledged_lost(database_url, answers)
    figures["acknowledged_lost"] = float(len(lost))
    return RestartResult(answers, figures, lost, cut, back)


@contextmanager
def private_cluster(
    base_dir: str | None = None, settings: dict[str, str] | None = None
) -> Iterator[PgCluster]:
    """A private cluster (initdb, configured, started), owned by `postgres`, in a temporary
    directory; every cluster started in that directory is stopped and the directory removed
    afterwards, also when the drill failed. `settings`: more postgresql.conf lines (e.g.
    ``{"archive_timeout": "60"}``)."""
    if not (PG_BIN / "postgres").is_file():
        raise ClusterError(f"PostgreSQL server binaries not found in {PG_BIN} (CITYCREDIT_PG_BIN)")
    root = Path(tempfile.mkdtemp(prefix="cc-pgcluster-", dir=base_dir))
    owner = _owner()
    if owner:
        os.chown(root, *owner)
    root.chmod(0o700)
    primary = PgCluster(root, "data")
    try:
        for d in (primary.archive, primary.sockets):
            d.mkdir()
            if owner:
                os.chown(d, *owner)
        primary.initdb(settings or {})
        primary.start()
        yield primary
    finally:
        _stop_all(root)
        shutil.rmtree(root, ignore_errors=True)


def _stop_all(root: Path) -> None:
    """Stop every server whose data directory is in `root` (immediate: nothing is kept)."""
    for pidfile in root.glob("*/postmaster.pid"):
        data = pidfile.parent
        c = PgCluster(root, data.name, port=0)
        try:
            c.stop("immediate")
        except (ClusterError, OSError):
            _kill_postmaster(pidfile)


def _kill_postmaster(pidfile: Path) -> None:
    """SIGKILL the postmaster of `pidfile` — only when that process is a postgres server of
    this data directory (a stale file's pid may belong to someone else by now)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return
    if b"postgres" in cmdline and str(pidfile.parent).encode() in cmdline:
        os.kill(pid, signal.SIGKILL)


__all__ = [
    "Answer",
    "ClusterError",
    "Load",
    "PgCluster",
    "PitrResult",
    "Recovery",
    "RestartResult",
    "acknowledged_lost",
    "free_port",
    "pitr_drill",
    "private_cluster",
    "restart_drill",
    "restart_figures",
    "serving",
]
