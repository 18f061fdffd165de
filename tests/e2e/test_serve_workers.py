"""`citycredit serve --workers N` (web/serve.py): one listening socket per worker process.

The server runs as a real process tree (python -m citycredit.web.serve) on a free port, with a
tiny app (tests/e2e/_pid_app.py) that answers with the process serving the request.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citycredit.cli.main import app as cli
from conftest import _truncate_pg

HERE = Path(__file__).resolve().parent
WITH_PG = "postgresql" in os.environ.get("CITYCREDIT_TEST_DATABASES", "sqlite,postgresql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ask(port: int, conn: http.client.HTTPConnection | None = None) -> dict[str, object]:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        assert r.status == 200
        return dict(json.loads(r.read()))
    finally:
        if conn is None:
            c.close()


def _start(port: int, *extra: str, factory: str = "_pid_app:app") -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "citycredit.web.serve", "--factory", factory]
    cmd += ["--port", str(port), "--log-level", "warning", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_up(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            _ask(port)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer within 60 s")


@contextmanager
def serving(workers: int, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    proc = _start(port, "--workers", str(workers), *extra)
    try:
        _wait_up(proc, port)
        yield proc, port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _all_workers_up(port: int, workers: int) -> set[int]:
    """Fresh connections until every worker has answered once (each started at its own pace)."""
    pids: set[int] = set()
    deadline = time.monotonic() + 60
    while len(pids) < workers and time.monotonic() < deadline:
        pids.add(int(str(_ask(port)["pid"])))
    assert len(pids) == workers, pids
    return pids


def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers() -> None:
    with serving(2) as (_, port):
        _all_workers_up(port, 2)
        # A reverse proxy or load generator opens its pool at once and keeps it: with one
        # shared accept socket one worker took most of such a burst; here the kernel spreads
        # it (the chance that 32 connections all land on one of two sockets is 2 × 2^-32).
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(32)]
        for c in conns:
            c.connect()
        try:
            served = Counter(int(str(_ask(port, c)["pid"])) for c in conns)
            assert len(served) == 2, served
            assert min(served.values()) >= 4, served  # 32 connections, fair coin: P(<4) ≈ 1e-6
            # A kept connection stays with its worker.
            assert all(_ask(port, c)["pid"] == _ask(port, c)["pid"] for c in conns[:4])
        finally:
            for c in conns:
                c.close()


def test_each_worker_knows_its_index() -> None:
    with serving(2) as (_, port):
        _all_workers_up(port, 2)
        seen = {str(_ask(port)["worker"]) for _ in range(40)}
        assert seen == {"0", "1"}


def test_a_worker_that_dies_is_replaced() -> None:
    with serving(2, "--startup-grace", "1") as (proc, port):
        pids = _all_workers_up(port, 2)
        time.sleep(1.2)  # past the start-up grace: a death now is a crash, not a bad config
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        now: set[int] = set()
        while time.monotonic() < deadline:
            try:  # connections queued at the dead worker's socket are reset with it
                now = {int(str(_ask(port)["pid"])) for _ in range(20)}
            except OSError:
                continue
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert victim not in now and len(now) == 2, (pids, now)
        assert proc.poll() is None


def test_sigterm_stops_the_parent_and_every_worker() -> None:
    with serving(2) as (proc, port):
        pids = _all_workers_up(port, 2)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        with pytest.raises(ConnectionRefusedError):
            _ask(port)


def test_a_worker_failing_at_start_up_stops_the_server() -> None:
    proc = _start(_free_port(), "--workers", "2", factory="_pid_app:broken")
    try:
        assert proc.wait(timeout=60) == 1
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert "exited at start-up" in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_an_address_taken_by_another_program_is_refused_at_once() -> None:
    with socket.socket() as other:  # a listener without SO_REUSEPORT owns the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc = _start(port, "--workers", "2")
        try:
            assert proc.wait(timeout=30) == 2
            out = proc.stdout.read().decode() if proc.stdout else ""
            assert f"cannot listen on 127.0.0.1:{port}" in out
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    env = {
        "CITYCREDIT_DATA_DIR": str(tmp_path),
        "CITYCREDIT_SEED_SYNTHETIC_CITY": "false",
        "CITYCREDIT_ENVIRONMENT": "test",
    }
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"], env=env)
    assert result.exit_code == 2
    assert "--workers" in result.output and "PostgreSQL" in result.output


@pytest.mark.skipif(not WITH_PG, reason="PostgreSQL is not among the test databases")
def test_citycredit_serve_with_two_workers_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    # An emptied database: earlier tests' personal data, sealed under their own key rings, would
    # (rightly) make the server refuse this data directory's new ring.
    _truncate_pg(pg_url)
    port = _free_port()
    env = {
        **os.environ,
        "CITYCREDIT_DATABASE_URL": pg_url,
        "CITYCREDIT_DATA_DIR": str(tmp_path),
        "CITYCREDIT_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "CITYCREDIT_ENVIRONMENT": "test",
        "CITYCREDIT_SEED_SYNTHETIC_CITY": "false",
        "CITYCREDIT_JOB_INTERVAL_SECONDS": "0",
        "CITYCREDIT_SECURITY": json.dumps({"public_rate_per_minute": 6}),
    }
    exe = Path(sys.executable).with_name("citycredit")
    proc = subprocess.Popen(
        [str(exe), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                r = c.getresponse()
                assert r.status == 200 and json.loads(r.read())["status"] == "ok"
                c.close()
                break
            except OSError:
                assert time.monotonic() < deadline, "citycredit serve did not answer in 90 s"
                time.sleep(0.3)
        # Two workers, each on its own connections, answering from the database; the public
        # limit (6 a minute) holds across them: the workers count in one shared table.
        if time.time() % 60 > 50:  # not across a window's end
            time.sleep(61 - time.time() % 60)
        statuses = []
        for _ in range(16):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/v1/lists")
            r = c.getresponse()
            r.read()
            statuses.append(r.status)
            c.close()
        assert Counter(statuses) == {200: 6, 429: 10}
        # The workers are forked by the fork server the command started (web/preload.py).
        (forkserver,) = [
            int(p.name)
            for p in _children(proc.pid)
            if b"multiprocessing.forkserver" in (p / "cmdline").read_bytes()
        ]
        assert len(_children(forkserver)) == 2
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _children(pid: int) -> list[Path]:
    return [p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == pid]


def _parent(proc_dir: Path) -> int | None:
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_started_names_a_server_that_exits_and_stops_one_that_never_answers(
    tmp_path: Path,
) -> None:
    """web/serve.started (the drills' and benchmarks' way to run a server): a command that
    exits gives its log's tail; one that never answers /healthz is given up after the timeout
    and its whole process group is stopped."""
    from citycredit.web.serve import ServerStartError, started

    log = tmp_path / "server.log"
    exits = [sys.executable, "-c", "print('bad setting: CITYCREDIT_X'); raise SystemExit(3)"]
    with (
        pytest.raises(ServerStartError, match="bad setting: CITYCREDIT_X"),
        started(exits, port=_free_port(), log=log),
    ):
        raise AssertionError("never served")
    child = tmp_path / "child.pid"
    # A parent that starts a child in its group and then listens on nothing.
    silent = [
        sys.executable,
        "-c",
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f"open({str(child)!r}, 'w').write(str(p.pid)); time.sleep(600)",
    ]
    with (
        pytest.raises(ServerStartError, match="within 1 s"),
        started(silent, port=_free_port(), log=log, timeout=1),
    ):
        raise AssertionError("never served")
    pid = int(child.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the child {pid} outlived its server's process group")


def _shared_kb(pid: int) -> int:
    """Memory of the process that other processes map too (copy-on-write pages not yet copied
    and shared files): /proc/PID/smaps_rollup Shared_Clean + Shared_Dirty."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    )
    return sum(int(fields[k].split()[0]) for k in ("Shared_Clean", "Shared_Dirty"))


def _parent_cmdline(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
    return Path(f"/proc/{ppid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_workers_share_the_modules_and_the_name_recogniser_loaded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """web/preload.py: the workers fork from a server that has imported the platform and loaded
    the name recogniser's dictionary (~200 MB) once, so each worker maps those pages instead of
    holding its own copy; CITYCREDIT_SERVE_PRELOAD=0 spawns each worker from scratch."""
    with serving(2) as (_, port):
        pids = _all_workers_up(port, 2)
        for pid in pids:
            parent = _parent_cmdline(pid)
            assert "multiprocessing.forkserver" in parent and "citycredit.web.preload" in parent
            assert _shared_kb(pid) > 100_000, _shared_kb(pid)  # measured ~155 MB
    monkeypatch.setenv("CITYCREDIT_SERVE_PRELOAD", "0")
    with serving(2) as (_, port):
        for pid in _all_workers_up(port, 2):
            assert "multiprocessing.forkserver" not in _parent_cmdline(pid)
            assert _shared_kb(pid) < 60_000, _shared_kb(pid)  # shared libraries only (~30 MB)
