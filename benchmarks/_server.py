"""The platform's HTTP server and Debian wrk for the benchmarks (checks, archive).

The server is the application `citycredit serve` runs (web.app.create_app over build_container
from CITYCREDIT_* settings), on W worker processes as `citycredit serve --workers W` runs them
(citycredit.web.serve: each worker listens on its own SO_REUSEPORT socket, so the kernel spreads
wrk's connections over the workers — uvicorn's shared socket let one worker take most of them),
with the job scheduler off (CITYCREDIT_JOB_INTERVAL_SECONDS=0).

    python -m citycredit.web.serve --factory _server:app --workers W
        (cwd benchmarks/, env from _bulk.server_env)

wrk has no pacing of its own: the paced script gives every wrk thread one connection and a
fixed schedule (send times t0 + k·interval, thread phases spread over one interval); delay()
waits for the next slot, and the latency of each request is taken from its *scheduled* send
time to its response (LuaJIT ffi clock_gettime). A slow response therefore delays the
connection's next requests and their latency includes that wait — the coordinated-omission
correction of wrk2. done() prints the percentiles of those latencies; wrk's own latency object
(measured from the actual send) is printed next to them for comparison.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citycredit.web.serve import ServerStartError, started

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def app() -> Any:
    """The server's factory (--factory _server:app): the platform's app, settings from the
    environment."""
    from citycredit.bootstrap import build_container
    from citycredit.web.app import create_app

    return create_app(build_container(), scheduler=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Running:
    """A started server: its base URL and the id of its process group (master + workers)."""

    base: str
    pgid: int


@contextmanager
def server(
    env: dict[str, str], *, workers: int, log: Path, factory: str = "_server:app"
) -> Iterator[Running]:
    """Start the server with `workers` processes (citycredit.web.serve: one listening socket
    each, as `citycredit serve --workers`); yield it; stop it (its own process group)."""
    port = free_port()
    cmd = [
        PYTHON,
        "-m",
        "citycredit.web.serve",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    pythonpath = {"PYTHONPATH": str(HERE)}
    try:
        with started(cmd, port=port, log=log, env={**env, **pythonpath}, cwd=HERE) as proc:
            yield Running(f"http://127.0.0.1:{port}", proc.pid)
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from None


def ensure_wrk() -> str:
    """Debian's wrk, installed with apt-get when missing (root or sudo)."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], env=env).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update"], env=env, check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].strip()


# --- Lua -----------------------------------------------------------------------------------------

# Requests file: one request per line, tab-separated: METHOD, path, bearer token (empty: the
# anonymous public), body (JSON or empty). Each thread starts at its own offset and cycles
# through the file.
_COMMON = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local pos = 1
non2xx = 0
statuses = {}

local function load_requests(path)
  local f = assert(io.open(path, "r"))
  for line in f:lines() do
    local method, p, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    if token ~= "" then
      headers["Authorization"] = "Bearer " .. token
    end
    if body == "" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    table.insert(reqs, wrk.format(method, p, headers, body))
  end
  f:close()
end

local function count_status(status)
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

local function merged_statuses()
  local total, bad, out = 0, 0, {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    local st = t:get("statuses")
    for k, v in pairs(st) do
      out[k] = (out[k] or 0) + v
      total = total + v
    end
  end
  local parts = {}
  for k, v in pairs(out) do
    table.insert(parts, k .. ":" .. v)
  end
  table.sort(parts)
  return total, bad, table.concat(parts, ",")
end

local function errors_line(summary)
  local e = summary.errors
  return string.format("connect=%d read=%d write=%d status=%d timeout=%d",
    e.connect, e.read, e.write, e.status, e.timeout)
end
"""

PACED_LUA = (
    _COMMON
    + r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } cc_timespec;
int clock_gettime(int clk_id, cc_timespec *tp);
]]
local ts = ffi.new("cc_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000.0 + tonumber(ts.tv_nsec) / 1.0e6
end

local interval, start, nthreads = nil, nil, 1
k = 0
local intended = {}
local head, tail = 1, 0
lat = {}

function init(args)
  load_requests(args[1])
  local rate = tonumber(args[2])
  nthreads = tonumber(args[3])
  interval = 1000.0 * nthreads / rate
  pos = (tid * 7919) % #reqs + 1
end

function delay()
  local now = now_ms()
  if start == nil then
    start = now + interval * tid / nthreads  -- thread phases spread over one interval
  end
  local slot = start + k * interval
  k = k + 1
  tail = tail + 1
  intended[tail] = slot
  local wait = slot - now
  if wait < 0 then wait = 0 end
  return math.floor(wait)
end

function request()
  local r = reqs[pos]
  pos = pos % #reqs + 1
  return r
end

function response(status, headers, body)
  local t = now_ms()
  local slot = intended[head]
  intended[head] = nil
  head = head + 1
  if slot ~= nil then
    table.insert(lat, t - slot)
  end
  count_status(status)
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local l = t:get("lat")
    for i = 1, #l do
      table.insert(all, l[i])
    end
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return 0 end
    local i = math.ceil(p / 100.0 * #all)
    if i < 1 then i = 1 end
    return all[i]
  end
  local total, bad, st = merged_statuses()
  local slots = {}
  for _, t in ipairs(threads) do
    table.insert(slots, tostring(t:get("k")))
  end
  io.write("PACED_SLOTS " .. table.concat(slots, ",") .. "\n")
  io.write(string.format(
    "PACED n=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f wrk_p99_ms=%.3f " ..
    "wrk_max_ms=%.3f requests=%d duration_s=%.3f non2xx=%d statuses=%s %s\n",
    #all, pct(50), pct(90), pct(99), all[#all] or 0, latency:percentile(99) / 1000.0,
    latency.max / 1000.0, summary.requests, summary.duration / 1.0e6, bad, st,
    errors_line(summary)))
end
"""
)

CLOSED_LUA = (
    _COMMON
    + r"""
function init(args)
  load_requests(args[1])
  pos = (tid * 7919) % #reqs + 1
end

function request()
  local r = reqs[pos]
  pos = pos % #reqs + 1
  return r
end

function response(status, headers, body)
  count_status(status)
end

function done(summary, latency, requests)
  local total, bad, st = merged_statuses()
  io.write(string.format(
    "CLOSED requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "non2xx=%d statuses=%s %s\n",
    summary.requests, summary.duration / 1.0e6, summary.requests / (summary.duration / 1.0e6),
    latency:percentile(50) / 1000.0, latency:percentile(99) / 1000.0, latency.max / 1000.0,
    bad, st, errors_line(summary)))
end
"""
)


def write_requests(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Requests file for the Lua scripts (method, path, token, body)."""
    with path.open("w", encoding="utf-8") as f:
        for method, p, token, body in rows:
            if "\t" in body or "\n" in body:
                raise ValueError("request bodies must be single-line JSON")
            f.write(f"{method}\t{p}\t{token}\t{body}\n")
    return path


def _parse(line: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in re.findall(r"(\w+)=(\S+)", line):
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def _run(cmd: list[str], timeout: float) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr}\n{proc.stdout}")
    return proc.stdout


def paced(
    wrk: str,
    base: str,
    requests: Path,
    work: Path,
    *,
    rate: float,
    seconds: int,
    threads: int,
) -> dict[str, Any]:
    """Open-loop schedule at `rate` req/s: `threads` wrk threads, one connection each."""
    script = work / "paced.lua"
    script.write_text(PACED_LUA, encoding="utf-8")
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{threads}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
        "--",
        str(requests),
        str(rate),
        str(threads),
    ]
    out = _run(cmd, seconds + 120)
    line = next(x for x in out.splitlines() if x.startswith("PACED "))
    got = _parse(line)
    got["line"] = line
    got["achieved_rps"] = got["requests"] / got["duration_s"]
    got["errors"] = int(got["non2xx"]) + _socket_errors(got)
    return got


def closed(
    wrk: str,
    base: str,
    requests: Path,
    work: Path,
    *,
    seconds: int,
    threads: int,
    connections: int,
) -> dict[str, Any]:
    """Closed loop: each connection sends its next request when the response arrives."""
    script = work / "closed.lua"
    script.write_text(CLOSED_LUA, encoding="utf-8")
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
        "--",
        str(requests),
    ]
    out = _run(cmd, seconds + 120)
    line = next(x for x in out.splitlines() if x.startswith("CLOSED "))
    got = _parse(line)
    got["line"] = line
    got["errors"] = int(got["non2xx"]) + _socket_errors(got)
    return got


def _socket_errors(got: dict[str, Any]) -> int:
    # `status` counts non-2xx/3xx responses, already in non2xx.
    return int(sum(got.get(k, 0) for k in ("connect", "read", "write", "timeout")))


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: set[int] | None, pgid: int | None) -> float:
    """CPU seconds (user + system) of the given processes or of a process group."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pids is not None and pid not in pids:
            continue
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if pgid is not None and int(fields[2]) != pgid:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


class CpuMeter:
    """CPU seconds used by the server's processes and by the database's backends (this
    database only) between two snapshots: what a request costs whatever else the machine runs.
    """

    def __init__(self, pgid: int | None, database_url: str) -> None:
        self.pgid = pgid
        self.dbname = database_url.rsplit("/", 1)[1]
        self.url = database_url

    def _backends(self) -> set[int]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = :d "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"d": self.dbname},
                )
                return {int(r[0]) for r in rows}
        finally:
            engine.dispose()

    def snapshot(self) -> tuple[float, dict[int, float]]:
        backends = self._backends()
        own = _cpu_of(None, self.pgid) if self.pgid is not None else 0.0
        return own, {p: _cpu_of({p}, None) for p in backends}

    @staticmethod
    def used(
        before: tuple[float, dict[int, float]], after: tuple[float, dict[int, float]]
    ) -> tuple[float, float]:
        """(server CPU s, database CPU s) between two snapshots."""
        pg = sum(v - before[1].get(p, 0.0) for p, v in after[1].items())
        return after[0] - before[0], pg


def nearest_rank(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
