"""Serving the app on several processes, each with its own listening socket (SO_REUSEPORT).

uvicorn's own `--workers` binds one socket in the parent and shares it: every worker's event
loop waits on it, the first one woken accepts every connection that is waiting (asyncio's
accept loop drains the queue), so a burst of new connections — a reverse proxy opening its
keep-alive pool, a load generator starting — lands mostly on one worker. Measured with 16
keep-alive connections on 2 workers (benchmarks/checks.py): splits of 16/0, 14/2 and 12/4 were
common, and a round where one worker held every connection served half the requests of an
even one, the other core idle. Here each worker binds the address itself with SO_REUSEPORT and
the kernel spreads new connections over the workers' sockets by their addresses (Linux ≥ 3.9).

The parent binds the address too, without listening: an address already taken fails at once,
and the kernel hands no connection to a socket that does not listen. It starts the workers
(forked from multiprocessing's fork server, which has imported the platform and loaded the name
recogniser once — web/preload.py, ~200 MB the workers share copy-on-write; each worker then builds
its own container, engine and app from the same settings),
restarts one that dies, and stops them all on SIGINT / SIGTERM. A worker that dies within
`STARTUP_GRACE_S` of its start stops the server (a configuration error would only loop).
The workers count rate-limit windows in one table the parent creates (web/ratewindows.py), so
a client's limit holds across the workers; it lives as long as the parent.

Linux only (SO_REUSEPORT with load balancing); one process is served by uvicorn.run as before.

    python -m citycredit.web.serve --factory module:callable --workers 2 [--host] [--port]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import subprocess  # nosec B404 - `started` runs the server command it is given
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from citycredit.web import logfilter, logformat
from citycredit.web.ratewindows import TABLE_ENV, create_table

STARTUP_GRACE_S = 10.0
STOP_TIMEOUT_S = 30.0
WORKER_INDEX_ENV = "CITYCREDIT_WORKER_INDEX"

log = logging.getLogger("citycredit.serve")


def reuseport_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT; listening unless told not to."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("several worker processes need SO_REUSEPORT (Linux)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def app() -> Any:
    """The platform's app in a worker of `citycredit serve --workers N`: settings from the
    environment (the parent's); the job scheduler runs in worker 0 only."""
    from citycredit.bootstrap import build_container
    from citycredit.web.app import create_app

    return create_app(build_container(), scheduler=os.environ.get(WORKER_INDEX_ENV, "0") == "0")


def _worker(
    factory: str, host: str, port: int, index: int, options: dict[str, Any], table: str
) -> None:
    """One worker process: its own socket, uvicorn on it until SIGTERM."""
    import uvicorn

    logfilter.install()  # from the worker's first log line on (uvicorn's included)
    os.environ[WORKER_INDEX_ENV] = str(index)
    os.environ[TABLE_ENV] = table  # the rate limiter's shared windows
    sock = reuseport_socket(host, port)
    config = uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        log_config=logformat.uvicorn_log_config(),  # G39: UTC times with offset on every line
        **options,
    )
    uvicorn.Server(config).run(sockets=[sock])


PRELOAD_ENV = "CITYCREDIT_SERVE_PRELOAD"  # "0": start each worker from scratch (spawn)


def _context() -> Any:
    """Workers fork from multiprocessing's fork server, which has loaded `web.preload` once
    (modules and the name recogniser, ~200 MB shared copy-on-write); with PRELOAD_ENV=0 each
    worker is spawned and loads everything itself."""
    if os.environ.get(PRELOAD_ENV, "1") == "0":
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["citycredit.web.preload"])
    return ctx


def run(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
    access_log: bool = True,
    startup_grace: float = STARTUP_GRACE_S,
) -> int:
    """Serve `factory` ("module:callable" returning the ASGI app) on `workers` processes.

    Returns the exit status: 0 after a signal stopped the server, 1 when a worker failed
    at start-up.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    options = {"log_level": log_level, "access_log": access_log}
    claim = reuseport_socket(host, port, listen=False)  # the address is free (or ours)
    table_fd, table = create_table()
    ctx = _context()
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def start(index: int) -> tuple[BaseProcess, float]:
        p = ctx.Process(
            target=_worker,
            args=(factory, host, port, index, options, table),
            name=f"worker-{index}",
        )
        p.start()
        log.info("worker %d started (pid %s)", index, p.pid)
        return p, time.monotonic()

    status = 0
    procs = [start(i) for i in range(workers)]
    try:
        while not stop.wait(0.5):
            for i, (p, started) in enumerate(procs):
                if p.is_alive():
                    continue
                if time.monotonic() - started < startup_grace:
                    log.error("worker %d exited at start-up (code %s): stopping", i, p.exitcode)
                    status = 1
                    stop.set()
                    break
                log.warning("worker %d (pid %s) exited (code %s): restarting", i, p.pid, p.exitcode)
                procs[i] = start(i)
    finally:
        for p, _ in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for p, _ in procs:
            p.join(max(deadline - time.monotonic(), 0.1))
            if p.is_alive():
                p.kill()
                p.join()
        claim.close()
        os.close(table_fd)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status


class ServerStartError(RuntimeError):
    """A server `started` ran exited or did not answer /healthz in time (the log's tail)."""


@contextmanager
def started(
    cmd: list[str],
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server command (`citycredit serve …`, `python -m citycredit.web.serve …`) as a
    process group of its own, its output in `log`; yield the process once
    ``http://127.0.0.1:{port}/healthz`` answers 200; afterwards stop the group (SIGTERM, then
    SIGKILL after STOP_TIMEOUT_S). For the drills, benchmarks and operators' scripts."""
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # nosec B603 - the caller's own command, no shell
            cmd,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise ServerStartError(f"server exited: {tail}")
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:  # nosec B310
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"the server did not answer /healthz within {timeout:g} s"
                    )
                time.sleep(0.2)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--factory", required=True, help="module:callable returning the ASGI app")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--no-access-log", action="store_true")
    ap.add_argument(
        "--startup-grace",
        type=float,
        default=STARTUP_GRACE_S,
        help="seconds: a worker dying sooner after its start stops the server",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), handlers=[logformat.stream_handler()])
    logfilter.install()  # no ID or phone number in any log line of the parent
    try:
        status = run(
            args.factory,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=not args.no_access_log,
            startup_grace=args.startup_grace,
        )
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(status)


if __name__ == "__main__":
    main()
