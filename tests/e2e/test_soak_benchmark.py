"""The G28 soak benchmark's own logic (benchmarks/soak.py): how requests are counted by class
and against the outage window, which processes are the server's workers, and that its database
cut really takes the database away from the application and gives it back (G26's 503)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citycredit.bootstrap import Container
from citycredit.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import soak

SEARCH, Q = "/api/v1/subjects", {"q": "榆林"}


def test_requests_are_read_as_wrk_wrote_them(tmp_path: Path) -> None:
    out = tmp_path / "requests.txt"
    out.write_text("2000.000 -1.000 0 3\n1000.000 12.500 200 1\n1500.000 30.000 503 2\n", "ascii")
    got = soak.read_requests(out)
    assert [(r.sent, r.lat_ms, r.status, r.line) for r in got] == [
        (1.0, 12.5, 200, 1),
        (1.5, 30.0, 503, 2),
        (2.0, -1.0, 0, 3),
    ]
    assert got[1].answered == pytest.approx(1.53)
    assert got[2].answered == 2.0  # no answer: counted at its send time


def test_errors_are_counted_by_class() -> None:
    reqs = [
        soak.Req(10.0, 5.0, 200),
        soak.Req(10.1, 7.0, 204),
        soak.Req(10.2, 9.0, 503),
        soak.Req(10.3, 11.0, 500),
        soak.Req(10.4, 4.0, 404),
        soak.Req(10.5, -1.0, 0),  # socket error
        soak.Req(99.0, 1.0, 500),  # outside the window
    ]
    probes = [soak.Probe(10.0, 200, 3.0), soak.Probe(11.0, 503, 2.0), soak.Probe(12.0, 0, 5000)]
    w = soak.window(reqs, probes, [], 10.0, 20.0)
    assert (w.n, w.ok, w.errors_5xx, w.errors_other, w.health_fail) == (6, 2, 2, 2, 2)
    assert sorted(w.lat()) == [4.0, 5.0, 7.0, 9.0, 11.0]  # the unanswered one has no latency


def test_latency_and_failures_are_told_per_kind_of_request() -> None:
    kinds = ["archive_api", "list_page", "archive_api"]  # lines 1, 2, 3 of the requests file
    reqs = [
        soak.Req(1.0, 10.0, 200, 1),
        soak.Req(1.1, 30.0, 200, 3),
        soak.Req(1.2, 900.0, 200, 2),
        soak.Req(1.3, -1.0, 0, 2),
        soak.Req(1.4, 5.0, 200, 0),  # line unknown
    ]
    lines = soak.kind_lines(reqs, kinds)
    assert lines == [
        "kind archive_api requests=2 failed=0 p50_ms=10.0 p95_ms=30.0 p99_ms=30.0",
        "kind list_page requests=2 failed=1 p50_ms=900.0 p95_ms=900.0 p99_ms=900.0",
        "kind unknown requests=1 failed=0 p50_ms=5.0 p95_ms=5.0 p99_ms=5.0",
    ]


def test_outage_errors_must_be_503_inside_the_g26_window() -> None:
    o = soak.Outage(cut=100.0, back=110.0)
    reqs = [
        soak.Req(95.0, 5.0, 500),  # before the cut: not the outage's
        soak.Req(101.0, 2.0, 503),
        soak.Req(105.0, -1.0, 0),  # a socket error during the outage: not a 503
        soak.Req(112.0, 3.0, 503),  # back + 2 s, inside the window
        soak.Req(113.0, 3.0, 200),
        soak.Req(150.0, 1.0, 503),  # back + 40 s: after the 30 s window
    ]
    probes = [soak.Probe(104.0, 503, 1.0), soak.Probe(106.0, 500, 1.0)]
    f = soak.outage_figures(reqs, probes, o)
    assert f["failed_from_cut"] == 6
    assert f["inside_window"] == 5
    assert f["non503_inside"] == 2  # the socket error and the probe's 500
    assert f["after_window"] == 1
    assert f["recovery_s"] == pytest.approx(40.001)
    assert (f["wrk_503"], f["probe_503"]) == (3, 1)


def test_recovery_is_zero_when_the_first_request_after_is_served() -> None:
    o = soak.Outage(cut=100.0, back=110.0)
    f = soak.outage_figures([soak.Req(101.0, 2.0, 503), soak.Req(110.5, 2.0, 200)], [], o)
    assert (f["non503_inside"], f["after_window"], f["recovery_s"]) == (0, 0, 0.0)


def test_worker_pids_are_the_masters_children_without_multiprocessing_helpers() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    worker = subprocess.Popen(sleeper)
    helper = subprocess.Popen([*sleeper, "resource_tracker"])
    try:
        time.sleep(0.2)
        pids = soak.worker_pids(__import__("os").getpid())
        assert worker.pid in pids and helper.pid not in pids
        assert soak.rss_mb(worker.pid) > 1.0 and 0.0 < soak.pss_mb(worker.pid) <= soak.rss_mb(
            worker.pid
        )
    finally:
        for p in (worker, helper):
            p.kill()
            p.wait()


def test_worker_pids_are_the_fork_servers_children_when_there_is_one() -> None:
    """`citycredit serve --workers N` forks its workers from a fork server (web/preload.py)."""
    # Like multiprocessing's fork server, whose forked workers keep its command line.
    code = (
        "import subprocess, sys, time;"
        "ps = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)',"
        " 'multiprocessing.forkserver']) for _ in range(2)];"
        "print(' '.join(str(p.pid) for p in ps), flush=True); time.sleep(30)"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code, "multiprocessing.forkserver"], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        forked = sorted(int(x) for x in server.stdout.readline().split())
        pids = soak.worker_pids(__import__("os").getpid())
        assert pids == forked and server.pid not in pids
    finally:
        server.kill()
        server.wait()
        for pid in forked:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_bad_flags_name_the_flag_and_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["soak.py", "--minutes", "2", "--outage-s", "90"])
    with pytest.raises(SystemExit) as exit_:
        soak.main()
    assert exit_.value.code == 2
    assert "--outage-s=90.0 取值无效" in capsys.readouterr().err


def test_the_soak_script_extends_the_paced_script() -> None:
    """The paced schedule is _server's; the soak replaces only what a response keeps."""
    assert soak.SOAK_LUA.startswith(soak._server.PACED_LUA)
    tail = soak.SOAK_LUA[len(soak._server.PACED_LUA) :]
    assert "function response(" in tail and "function done(" in tail
    assert "function delay(" not in tail and "function init(" not in tail


@pytest.mark.db
def test_the_database_cut_makes_reads_503_and_they_recover(pg_container: Container) -> None:
    """What --inject-db-restart does to the application: pooled connections end, new ones are
    refused (503 + Retry-After, G26), and reads are served again once connections are allowed.
    PostgreSQL only: the cut is ALTER DATABASE … ALLOW_CONNECTIONS on the server."""
    url = pg_container.settings.database_url
    client = TestClient(create_app(pg_container, scheduler=False))
    assert client.get(SEARCH, params=Q).status_code == 200  # a pooled connection exists now
    out = soak.Outage()
    cutter = threading.Thread(target=soak.cut_database, args=(url, time.time(), 2.0, out))
    cutter.start()
    try:
        deadline = time.time() + 10
        while not out.cut and time.time() < deadline:
            time.sleep(0.05)
        assert out.cut and not out.error, out.error
        assert out.terminated >= 1  # the app's pooled connection
        during = [client.get(SEARCH, params=Q) for _ in range(3)]
        assert time.time() < out.cut + 2.0, "the cut ended before the requests were made"
        assert [r.status_code for r in during] == [503, 503, 503]
        assert during[0].headers["retry-after"]
    finally:
        cutter.join(timeout=30)
        soak.allow_connections(url)
    assert out.back >= out.cut + 2.0 and not out.error
    assert client.get(SEARCH, params=Q).status_code == 200
