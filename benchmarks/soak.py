"""G28 availability soak: the public read endpoints under a steady paced load for N minutes.

Data (benchmarks/_bulk.py, untimed, a PostgreSQL database of its own, dropped afterwards):
100,000 subjects and 1,000,000 records by default (--subjects / --records), the archive
benchmark's generator (a synthetic Yulin city through the real intake, cloned with Arrow).

Server: `citycredit serve --workers 2` as production runs it (citycredit.web.serve:app through
_server.server: one SO_REUSEPORT socket per worker) with the job scheduler ON in worker 0
(CITYCREDIT_JOB_INTERVAL_SECONDS=60, the production default): the sweeps that come due run
while the soak reads (see Jobs below). The per-client public rate limit is off (wrk's one
address stands for the city's many readers, as in the other benchmarks).

Load: Debian wrk with the paced script of _server.py (open loop: one connection per wrk thread,
a fixed send schedule, latency from each request's *scheduled* send time, so a slow answer
delays the connection's next requests and their latency includes the wait). The script is
extended here (SOAK_LUA) to keep every request — scheduled send time (wall clock), latency,
status, which line of the requests file — and to notice requests that got no answer at all (a
socket error: the connection's next request finds the earlier slot still queued), so errors
can be counted by class, by minute, by kind of request and against the outage window. The
request mix (one file, each wrk thread cycling through it from its own offset; subjects drawn
from a Zipf(1.0) distribution over a random ranking of all subjects):

    30 %  GET /api/v1/subjects/{id}/archive      public archive API
    25 %  GET /subjects/{id}                     public archive page (archive + lists)
    15 %  GET /api/v1/subjects?q=                search: an organisation's USCC or 4 characters
                                                 of its name (LIKE over every subject)
    10 %  GET /publicity/{licence|penalty}       a 双公示 page (pages 1-5, page 1 most)
    10 %  GET /lists, /lists/{type}              public list pages
    10 %  GET /api/v1/ledger/checkpoint          the ledger's signed checkpoint

A warm-up (--warmup-s, 30 s) at the same rate comes first in the same wrk run and is not
counted. Beside wrk, a prober GETs /healthz (the platform's health endpoint; it reads the
database) once a second and keeps status and latency, and the server's worker processes'
RSS (/proc, the master excluded) is sampled every 10 s: rss_growth = mean RSS of the soak's
last minute ÷ mean RSS of its first minute (the minute after the warm-up).

--inject-db-restart: in the middle of the soak the benchmark database is cut for --outage-s
(10) seconds WITHOUT touching the shared PostgreSQL server: `ALTER DATABASE … ALLOW_CONNECTIONS
false` and pg_terminate_backend() of every connection to it, then `ALLOW_CONNECTIONS true`.
For the application this is what a restart looks like: its pooled connections are dead (the
first use fails — tests/e2e/test_db_outage.py::test_a_connection_the_server_dropped_fails_one_
request_with_503) and every new connection is refused (`database … is not currently accepting
connections`, the refusal that test's Outage injects with a do_connect hook). G26 requires 503
and recovery without a restart within 30 s, so every failed request (wrk) or probe (/healthz)
answered from the cut to 30 s after connections are allowed again must be a 503:
outage_errors_non503 counts those that were not (socket errors included) and every failure
answered later than that window, and recovery_s is the time from re-allowing connections to
the last failed answer (0: the first request after was already served).

Rate: 50 requests/s by default. What one request of the mix costs decides it, not the wall
time of a shared machine: a quick run (2 minutes, 100/s, the machine's load average 13-16 from
other work) measured the server at 8.7 ms and PostgreSQL at 10.4 ms of CPU per request (the
`cpu` line), ≈ 19 ms, so 100/s asks for 1.9 of the 2 cores — no headroom, the queue grows
without bound (that run's p95 was 37 s). The public list page used to be the most expensive
kind (`alone list_page` p50 ≈ 76 ms, p90 ≈ 250 ms: every page counted and sorted the whole list);
since lists.paging (session 14) it is p50 ≈ 15 ms. 50/s uses ≈ 1 core for the platform and
leaves the other for wrk, the prober, the jobs and PostgreSQL's own work. The `alone` lines
(each kind timed on its own before the load) and the `cpu` line are printed on every run, so the
rate can be re-justified on the machine the soak runs on.

Jobs: a freshly loaded city has never been swept. Before the server starts (untimed) the
records whose publication period has ended are marked as the hourly sweep would have (no
events: ~150,000 of them kept the scheduler re-evaluating for the whole of a quick run, a
backlog no running server has), then every due job runs once in-process (`catch-up` lines:
the first 双公示 export of all records and the first monthly evaluation take ≈ 4-5 minutes),
so the soak sees the scheduler of a platform that has been running: the 30-second and hourly
sweeps that come due while it reads (listed per minute). --no-catch-up starts on the
never-swept city.

Output: the city; the catch-up; each kind of request alone; the jobs that ran; one line per
minute of the soak; one per kind of request (which endpoint holds the tail); the outage's figures
(with --inject-db-restart); then a line of ratios to the targets (success ≥ 0.999, p95 ≤ 300
ms, RSS growth ≤ 1.10) and last a line with exactly the keys success_ratio p95_ms p99_ms
rss_growth health_fail errors_5xx errors_other rate minutes (+ outage_errors_non503 recovery_s
with --inject-db-restart). errors_other: non-2xx answers that are not 5xx, and requests without
an answer (socket errors).

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--rate 50] [--inject-db-restart]
        [--subjects 100000] [--records 1000000] [--workers 2] [--threads 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk
import _server

TARGET_SUCCESS = 0.999
TARGET_P95_MS = 300.0
TARGET_RSS_GROWTH = 1.10
RECOVERY_WINDOW_S = 30.0  # G26: the service is back within 30 s of the database
ZIPF_S = 1.0
JOB_INTERVAL_S = 60  # settings.job_interval_seconds' default: the production scheduler
FACTORY = "citycredit.web.serve:app"  # `citycredit serve`'s app: scheduler in worker 0
MIX = (
    ("archive_api", 30),
    ("archive_page", 25),
    ("search", 15),
    ("publicity_page", 10),
    ("list_page", 10),
    ("checkpoint", 10),
)


def say(line: str) -> None:
    print(line, flush=True)


# --- the wrk script: _server's paced script, keeping every request -------------------------------

# Appended to _server.PACED_LUA (the same chunk: its locals — the slot queue, reqs, pos,
# now_ms, ts, count_status, merged_statuses, errors_line — are in scope) and replacing its
# request(), response() and done(); delay() and its schedule stay. wrk calls delay() before
# request() for every request, so request() files the line it sends under the slot delay()
# queued. One connection per thread and no pipelining: when a response arrives, the queue holds
# this request's slot and, before it, the slots of requests that got no answer (the connection
# broke and wrk reconnected); those are recorded with status 0.
SOAK_LUA = (
    _server.PACED_LUA
    + r"""
local function realtime_ms()
  ffi.C.clock_gettime(0, ts)  -- CLOCK_REALTIME
  return tonumber(ts.tv_sec) * 1000.0 + tonumber(ts.tv_nsec) / 1.0e6
end
local rt_off = nil
local line_of = {}
s_slot, s_lat, s_status, s_line = {}, {}, {}, {}
lost = 0

function request()
  line_of[tail] = pos
  local r = reqs[pos]
  pos = pos % #reqs + 1
  return r
end

function response(status, headers, body)
  local t = now_ms()
  if rt_off == nil then rt_off = realtime_ms() - t end
  while head < tail do
    local gone, gone_line = intended[head], line_of[head]
    intended[head], line_of[head] = nil, nil
    head = head + 1
    if gone ~= nil then
      table.insert(s_slot, gone + rt_off)
      table.insert(s_lat, -1)
      table.insert(s_status, 0)
      table.insert(s_line, gone_line or 0)
      lost = lost + 1
    end
  end
  local slot, line = intended[head], line_of[head]
  intended[head], line_of[head] = nil, nil
  head = head + 1
  if slot ~= nil then
    table.insert(s_slot, slot + rt_off)
    table.insert(s_lat, t - slot)
    table.insert(s_status, status)
    table.insert(s_line, line or 0)
  end
  count_status(status)
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("SOAK_OUT"), "w"))
  local n, gone = 0, 0
  for _, t in ipairs(threads) do
    local sl, la, st, li = t:get("s_slot"), t:get("s_lat"), t:get("s_status"), t:get("s_line")
    for i = 1, #sl do
      out:write(string.format("%.3f %.3f %d %d\n", sl[i], la[i], st[i], li[i]))
    end
    n = n + #sl
    gone = gone + t:get("lost")
  end
  out:close()
  local total, bad, st = merged_statuses()
  io.write(string.format("SOAK n=%d lost=%d requests=%d duration_s=%.3f statuses=%s %s\n",
    n, gone, summary.requests, summary.duration / 1.0e6, st, errors_line(summary)))
end
"""
)


@dataclass
class Req:
    """One request as wrk kept it: scheduled send (wall clock, s), latency (ms), status (0: no
    answer), line of the requests file (1-based; 0: unknown)."""

    sent: float
    lat_ms: float
    status: int
    line: int = 0

    @property
    def answered(self) -> float:
        return self.sent + max(self.lat_ms, 0.0) / 1000.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


def read_requests(path: Path) -> list[Req]:
    out = []
    with path.open(encoding="ascii") as f:
        for line in f:
            sent, lat, status, number = line.split()
            out.append(Req(float(sent) / 1000.0, float(lat), int(status), int(number)))
    out.sort(key=lambda r: r.sent)
    return out


# --- the request mix -----------------------------------------------------------------------------


def _q(path: str, **params: Any) -> str:
    return path + ("?" + urllib.parse.urlencode(params) if params else "")


def request_mix(url: str, n: int, seed: int) -> list[tuple[str, str]]:
    """`n` public GET requests (kind, path) in MIX proportions (see the module docstring)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            subjects = conn.execute(
                text("SELECT subject_id, subject_type, name, uscc FROM subjects ORDER BY 1")
            ).all()
            list_types = [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT DISTINCT list_type FROM memberships "
                        "WHERE status = 'published' ORDER BY 1"
                    )
                )
            ]
    finally:
        engine.dispose()
    if not subjects:
        raise SystemExit("the benchmark database has no subjects")
    rng = np.random.default_rng(seed)
    orgs = [s for s in subjects if s[3] and s[1] not in _bulk.PERSON_TYPES]
    kinds = [k for k, _ in MIX]
    weights = np.array([w for _, w in MIX], dtype=np.float64)
    drawn = rng.choice(len(kinds), size=n, p=weights / weights.sum())
    subj = _bulk.zipf_sample(len(subjects), n, rng, ZIPF_S)
    org = _bulk.zipf_sample(len(orgs), n, rng, ZIPF_S) if orgs else np.zeros(n, dtype=int)
    rows: list[tuple[str, str]] = []
    for i in range(n):
        kind = kinds[int(drawn[i])]
        sid = subjects[int(subj[i])][0]
        if kind == "archive_api":
            path = f"/api/v1/subjects/{sid}/archive"
        elif kind == "archive_page":
            path = f"/subjects/{sid}"
        elif kind == "search":
            if not orgs:
                continue
            _id, _type, name, uscc = orgs[int(org[i])]
            if rng.random() < 0.5 or len(name) < 4:
                path = _q("/api/v1/subjects", q=uscc)
            else:
                at = int(rng.integers(0, len(name) - 3))
                path = _q("/api/v1/subjects", q=name[at : at + 4])
        elif kind == "publicity_page":
            item = ("licence", "penalty")[int(rng.integers(0, 2))]
            page = min(5, int(rng.geometric(0.5)))
            path = _q(f"/publicity/{item}", page=page) if page > 1 else f"/publicity/{item}"
        elif kind == "list_page":
            if not list_types or rng.random() < 0.2:
                path = "/lists"
            else:
                path = f"/lists/{list_types[int(rng.integers(0, len(list_types)))]}"
        else:
            path = "/api/v1/ledger/checkpoint"
        rows.append((kind, path))
    return rows


def precheck(base: str, rows: list[tuple[str, str]]) -> None:
    """The first request of each kind before the load: a non-2xx here is a set-up problem."""
    first: dict[str, str] = {}
    for kind, path in rows:
        first.setdefault(kind, path)
    bad = []
    for path in first.values():
        try:
            with urllib.request.urlopen(base + path, timeout=30) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        if not 200 <= status <= 299:
            bad.append(f"{path} -> {status}")
    if bad:
        raise SystemExit("public reads fail before the soak: " + "; ".join(bad))


def steady_state(url: str) -> int:
    """Mark the records whose publication period ended before today as the hourly
    publication_end sweep of a running platform would have (publication_ended_at), without its
    events: the bulk loader copies rows, and a never-swept 1,000,000-record city would make the
    first sweep emit ~150,000 events whose re-evaluations kept the scheduler busy for the
    whole of a quick run (not caught up after several minutes) — a backlog no running server
    has. Public reads do not read the column
    (subjects.archive.is_public_now checks publication_end itself)."""
    from sqlalchemy import create_engine, text

    from citycredit.shared.calendar import local_date

    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            done = conn.execute(
                text(
                    "UPDATE records SET publication_ended_at = :now "
                    "WHERE publication_end IS NOT NULL AND publication_end <= :today "
                    "AND publication_ended_at IS NULL"
                ),
                {"now": now, "today": local_date(now)},
            )
            return int(done.rowcount)
    finally:
        engine.dispose()


def catch_up(url: str, data_dir: Path) -> None:
    """Run every due job once in this process, untimed: a freshly loaded city has never been
    swept (every record whose publication period has ended, every subject's first evaluation,
    the first 双公示 export of every record …), which a server that has been running never
    meets at once. One line per job: how long it took (after steady_state)."""
    from citycredit.kernel.jobs import due_jobs, run_job

    c = _bulk.make_container(url, data_dir)
    try:
        for job in due_jobs(c):
            t = time.perf_counter()
            result = run_job(c, job)
            say(
                f"catch-up job {job.name} took_s={time.perf_counter() - t:.1f} "
                f"status={result.status}"
            )
    finally:
        c.dispose()


def costs(base: str, rows: list[tuple[str, str]], per_kind: int = 20) -> list[str]:
    """Each kind of request alone, one at a time (no load beside it): what one costs."""
    by_kind: dict[str, list[str]] = {}
    for kind, path in rows:
        got = by_kind.setdefault(kind, [])
        if len(got) < per_kind:
            got.append(path)
    lines = []
    for kind, _w in MIX:
        lat = []
        for path in by_kind.get(kind, []):
            t = time.perf_counter()
            with urllib.request.urlopen(base + path, timeout=60) as r:
                r.read()
            lat.append((time.perf_counter() - t) * 1000)
        if lat:
            lines.append(
                f"alone {kind} n={len(lat)} p50_ms={pct(lat, 50):.1f} "
                f"p90_ms={pct(lat, 90):.1f} max_ms={max(lat):.1f}"
            )
    return lines


# --- beside the load: health prober, RSS sampler, outage -----------------------------------------


@dataclass
class Probe:
    at: float  # sent, wall clock
    status: int  # 0: no answer
    lat_ms: float

    @property
    def answered(self) -> float:
        return self.at + self.lat_ms / 1000.0


def prober(base: str, stop: threading.Event, out: list[Probe]) -> None:
    """GET /healthz once a second (on the second's schedule, not after the previous answer)."""
    next_at = time.time()
    while not stop.is_set():
        t = time.time()
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = 0
        out.append(Probe(t, status, (time.time() - t) * 1000.0))
        next_at += 1.0
        stop.wait(max(0.0, next_at - time.time()))


def worker_pids(master: int, *, fork_server: bool = True) -> list[int]:
    """The server's worker processes: the children of the master's fork server (web/preload.py)
    or, without one, of the master itself; not multiprocessing's helpers."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != master:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if fork_server and b"multiprocessing.forkserver" in cmd:
            # its children are the workers (their command lines are the fork server's too)
            return worker_pids(int(entry), fork_server=False)
        if b"resource_tracker" not in cmd:
            pids.append(int(entry))
    return sorted(pids)


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def pss_mb(pid: int) -> float:
    """The process's proportional set size: its own pages plus its share of the pages it
    shares (the fork server's, web/preload.py) — what the workers cost together."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


@dataclass
class RssSample:
    at: float
    mb: float  # the workers' RSS, summed
    pids: tuple[int, ...]
    pss: float = 0.0  # the workers' PSS, summed


def sampler(master: int, stop: threading.Event, out: list[RssSample], every: float = 10.0) -> None:
    while True:
        pids = worker_pids(master)
        rss, pss = sum(rss_mb(p) for p in pids), sum(pss_mb(p) for p in pids)
        out.append(RssSample(time.time(), rss, tuple(pids), pss))
        if stop.wait(every):
            return


@dataclass
class Outage:
    cut: float = 0.0  # connections refused and terminated (wall clock)
    back: float = 0.0  # connections allowed again
    terminated: int = 0
    error: str = ""


def _admin(url: str) -> Any:
    """An engine on the same server's `postgres` database (the benchmark database is cut)."""
    from sqlalchemy import create_engine

    return create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")


def cut_database(url: str, at: float, seconds: float, out: Outage) -> None:
    """At `at` (wall clock): refuse new connections to the benchmark database and end its
    sessions; allow connections again `seconds` later. The server itself keeps running."""
    from sqlalchemy import text

    name = url.rsplit("/", 1)[1]
    admin = _admin(url)
    try:
        time.sleep(max(0.0, at - time.time()))
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            out.cut = time.time()
            try:
                out.terminated = int(
                    conn.execute(
                        text(
                            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                            "FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                        ),
                        {"d": name},
                    ).scalar_one()
                )
                time.sleep(max(0.0, out.cut + seconds - time.time()))
            finally:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
                out.back = time.time()
    except Exception as exc:  # reported in the output; the soak's figures say the rest
        out.error = f"{type(exc).__name__}: {exc}"
    finally:
        admin.dispose()


def allow_connections(url: str) -> None:
    """Safety net: the database accepts connections again (so it can be dropped or reused)."""
    from sqlalchemy import text

    name = url.rsplit("/", 1)[1]
    admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()


# --- figures -------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    return _server.nearest_rank(values, p) if values else 0.0


@dataclass
class Window:
    """The soak's requests and probes between two wall-clock times."""

    reqs: list[Req]
    probes: list[Probe]
    rss: list[RssSample]
    statuses: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.statuses = Counter(r.status for r in self.reqs)

    @property
    def n(self) -> int:
        return len(self.reqs)

    @property
    def ok(self) -> int:
        return sum(1 for r in self.reqs if r.ok)

    @property
    def errors_5xx(self) -> int:
        return sum(v for k, v in self.statuses.items() if 500 <= k <= 599)

    @property
    def errors_other(self) -> int:
        return self.n - self.ok - self.errors_5xx

    def lat(self) -> list[float]:
        """Latencies of answered requests (a failed answer is counted, it was an answer)."""
        return [r.lat_ms for r in self.reqs if r.status != 0]

    @property
    def health_fail(self) -> int:
        return sum(1 for p in self.probes if p.status != 200)

    def rss_mean(self) -> float:
        return sum(s.mb for s in self.rss) / len(self.rss) if self.rss else 0.0

    def pss_mean(self) -> float:
        return sum(s.pss for s in self.rss) / len(self.rss) if self.rss else 0.0


def window(
    reqs: list[Req], probes: list[Probe], rss: list[RssSample], t0: float, t1: float
) -> Window:
    return Window(
        [r for r in reqs if t0 <= r.sent < t1],
        [p for p in probes if t0 <= p.at < t1],
        [s for s in rss if t0 <= s.at < t1],
    )


def status_text(c: Counter) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(c.items())) or "-"


def kind_lines(reqs: list[Req], kinds: list[str]) -> list[str]:
    """Per kind of request (kinds[i] is line i + 1 of the requests file): count, errors and
    latency percentiles — which endpoint holds the tail."""
    groups: dict[str, list[Req]] = {}
    for r in reqs:
        kind = kinds[r.line - 1] if 1 <= r.line <= len(kinds) else "unknown"
        groups.setdefault(kind, []).append(r)
    lines = []
    for kind in [k for k, _ in MIX] + ["unknown"]:
        got = groups.get(kind)
        if not got:
            continue
        lat = [r.lat_ms for r in got if r.status != 0]
        lines.append(
            f"kind {kind} requests={len(got)} failed={sum(1 for r in got if not r.ok)} "
            f"p50_ms={pct(lat, 50):.1f} p95_ms={pct(lat, 95):.1f} p99_ms={pct(lat, 99):.1f}"
        )
    return lines


def job_runs(url: str, since: float) -> list[tuple[str, datetime, datetime | None, str]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT job, started_at, finished_at, status FROM job_runs "
                    "WHERE started_at >= :t ORDER BY started_at"
                ),
                {"t": datetime.fromtimestamp(since, UTC)},
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def outage_figures(reqs: list[Req], probes: list[Probe], o: Outage) -> dict[str, float]:
    """Failures from the cut on: how many were not 503 inside the G26 window, how many fell
    outside it, and how long after the database came back the last one was answered."""
    end = o.back + RECOVERY_WINDOW_S
    failed: list[tuple[float, int]] = [
        (r.answered, r.status) for r in reqs if not r.ok and r.answered >= o.cut
    ]
    failed += [(p.answered, p.status) for p in probes if p.status != 200 and p.answered >= o.cut]
    inside = [(t, s) for t, s in failed if t <= end]
    last = max((t for t, _ in failed), default=o.back)
    return {
        "failed_from_cut": float(len(failed)),
        "inside_window": float(len(inside)),
        "non503_inside": float(sum(1 for _, s in inside if s != 503)),
        "after_window": float(len(failed) - len(inside)),
        "recovery_s": max(0.0, last - o.back),
        "wrk_503": float(sum(1 for r in reqs if r.status == 503 and r.answered >= o.cut)),
        "probe_503": float(sum(1 for p in probes if p.status == 503 and p.answered >= o.cut)),
    }


# --- the run -------------------------------------------------------------------------------------


def start_wrk(
    wrk: str,
    base: str,
    requests: Path,
    work: Path,
    *,
    rate: float,
    seconds: int,
    threads: int,
    out: Path,
) -> subprocess.Popen[str]:
    script = work / "soak.lua"
    script.write_text(SOAK_LUA, encoding="utf-8")
    cmd = [wrk, f"-t{threads}", f"-c{threads}", f"-d{seconds}s", "--timeout", "10s",
           "-s", str(script), base, "--", str(requests), str(rate), str(threads)]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SOAK_OUT": str(out)},
    )  # fmt: skip


def run(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    city = _bulk.city_for(
        url,
        data_dir,
        reuse=bool(args.reuse),
        subjects=args.subjects,
        records=args.records,
        seed=args.seed,
    )
    say(city.line())
    rows = request_mix(url, args.requests, args.seed + 3)
    count = Counter(kind for kind, _ in rows)
    wrk = _server.ensure_wrk()
    work = data_dir / "wrk"  # removed with the data directory
    work.mkdir(exist_ok=True)
    file = _server.write_requests(work / "soak.tsv", [("GET", p, "", "") for _, p in rows])
    say(
        "mix " + " ".join(f"{k}={count[k]}" for k, _ in MIX) + f" ({len(rows)} requests, "
        f"{len({p for _, p in rows})} distinct paths)"
    )
    env = {
        **_bulk.server_env(url, data_dir),
        "CITYCREDIT_JOB_INTERVAL_SECONDS": str(args.job_interval),
    }
    soak_s = args.minutes * 60
    say(
        f"server citycredit serve ({FACTORY}) workers={args.workers}, job scheduler ON in "
        f"worker 0 every {args.job_interval} s (jobs run as in production); "
        f"{_server.wrk_version(wrk)}; paced threads=connections={args.threads} "
        f"rate={args.rate:g}/s warmup={args.warmup_s} s soak={args.minutes} min; "
        f"/healthz probed every 1 s; worker RSS every 10 s"
        + (f"; database cut for {args.outage_s:g} s mid-soak" if args.inject_db_restart else "")
    )
    out = work / "requests.txt"
    probes: list[Probe] = []
    rss: list[RssSample] = []
    outage = Outage()
    stop = threading.Event()
    if args.catch_up:
        t_cu = time.perf_counter()
        say(f"catch-up records_publication_ended={steady_state(url)} (marked, no events)")
        catch_up(url, data_dir)
        say(f"catch-up took_s={time.perf_counter() - t_cu:.0f} (before the server starts, untimed)")
    with _server.server(env, workers=args.workers, log=work / "server.log", factory=FACTORY) as srv:
        precheck(srv.base, rows)
        for line in costs(srv.base, rows):
            say(line)
        meter = _server.CpuMeter(srv.pgid, url)
        threads = [
            threading.Thread(target=prober, args=(srv.base, stop, probes), daemon=True),
            threading.Thread(target=sampler, args=(srv.pgid, stop, rss), daemon=True),
        ]
        for t in threads:
            t.start()
        t_start = time.time()
        proc = start_wrk(wrk, srv.base, file, work, rate=args.rate,
                         seconds=args.warmup_s + soak_s, threads=args.threads, out=out)  # fmt: skip
        t_soak = t_start + args.warmup_s
        t_end = t_soak + soak_s
        cutter = None
        if args.inject_db_restart:
            at = t_soak + soak_s / 2 - args.outage_s / 2
            cutter = threading.Thread(
                target=cut_database, args=(url, at, args.outage_s, outage), daemon=True
            )
            cutter.start()
        snap: tuple[float, dict[int, float]] | None = None
        minute = 0
        try:
            while proc.poll() is None:
                if snap is None and time.time() >= t_soak:
                    snap = meter.snapshot()
                if time.time() >= t_soak + (minute + 1) * 60:
                    w = window([], probes, rss, t_soak + minute * 60, t_soak + (minute + 1) * 60)
                    hl = [p.lat_ms for p in w.probes]
                    say(
                        f"  live minute={minute + 1} health_fail={w.health_fail} "
                        f"health_p95_ms={pct(hl, 95):.1f} worker_rss_mb={w.rss_mean():.1f} "
                        f"worker_pss_mb={w.pss_mean():.1f} "
                        f"load={os.getloadavg()[0]:.2f}"
                    )
                    minute += 1
                time.sleep(0.5)
            stdout, stderr = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"wrk failed ({proc.returncode}): {stderr}\n{stdout}")
            after = meter.snapshot()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stop.set()
            for t in threads:
                t.join(timeout=10)
            if cutter is not None:
                cutter.join(timeout=args.outage_s + 30)
                allow_connections(url)
        server_s, db_s = meter.used(snap or after, after)
    summary = next((x for x in stdout.splitlines() if x.startswith("SOAK ")), stdout.strip())
    say(f"wrk {summary}")
    reqs = read_requests(out)
    soak = window(reqs, probes, rss, t_soak, t_end)
    say(
        f"cpu server_ms_per_request={server_s * 1000 / max(soak.n, 1):.2f} "
        f"postgres_ms_per_request={db_s * 1000 / max(soak.n, 1):.2f} "
        "(postgres: backends alive at both snapshots)"
    )
    runs = job_runs(url, t_start - 120)
    for name, started, finished, status in runs:
        s = _aware(started).timestamp()
        took = (_aware(finished).timestamp() - s) if finished else float("nan")
        say(f"job {name} at_s={s - t_soak:+.0f} took_s={took:.1f} status={status}")
    say(f"jobs runs={len(runs)} failed={sum(1 for r in runs if r[3] != 'ok')}")
    pids = {p for s in rss for p in s.pids}
    say(f"workers={args.workers} worker_pids_seen={len(pids)} (more: a worker was restarted)")
    for m in range(args.minutes):
        a = t_soak + m * 60
        w = window(reqs, probes, rss, a, a + 60)
        lat = w.lat()
        job_names = sorted({r[0] for r in runs if a <= _aware(r[1]).timestamp() < a + 60})
        say(
            f"minute {m + 1} requests={w.n} ok={w.ok} errors_5xx={w.errors_5xx} "
            f"errors_other={w.errors_other} statuses={status_text(w.statuses)} "
            f"p50_ms={pct(lat, 50):.1f} p95_ms={pct(lat, 95):.1f} p99_ms={pct(lat, 99):.1f} "
            f"max_ms={max(lat, default=0.0):.1f} health_fail={w.health_fail} "
            f"worker_rss_mb={w.rss_mean():.1f} worker_pss_mb={w.pss_mean():.1f} "
            f"jobs={','.join(job_names) or '-'}"
        )
    for line in kind_lines(soak.reqs, [kind for kind, _ in rows]):
        say(line)
    first = window([], [], rss, t_soak, t_soak + 60).rss_mean()
    last = window([], [], rss, t_end - 60, t_end).rss_mean()
    lat = soak.lat()
    figures = {
        "success_ratio": soak.ok / soak.n if soak.n else 0.0,
        "p95_ms": pct(lat, 95),
        "p99_ms": pct(lat, 99),
        "rss_growth": last / first if first else float("nan"),
        "health_fail": float(soak.health_fail),
        "errors_5xx": float(soak.errors_5xx),
        "errors_other": float(soak.errors_other),
        "rate": float(args.rate),
        "minutes": float(args.minutes),
    }
    say(
        f"soak requests={soak.n} (scheduled {args.rate * soak_s:.0f}) "
        f"achieved_rps={soak.n / soak_s:.1f} "
        f"rate_held={'yes' if soak.n >= 0.95 * args.rate * soak_s else 'NO (overloaded)'} "
        f"statuses={status_text(soak.statuses)} "
        f"probes={len(soak.probes)} rss_first_minute_mb={first:.1f} rss_last_minute_mb={last:.1f}"
    )
    if args.inject_db_restart:
        if outage.error or not outage.cut:
            raise SystemExit(f"the database cut failed: {outage.error or 'it did not happen'}")
        o = outage_figures(reqs, probes, outage)
        say(
            f"outage cut_at_s={outage.cut - t_soak:.1f} back_at_s={outage.back - t_soak:.1f} "
            f"terminated={outage.terminated} failed_from_cut={o['failed_from_cut']:.0f} "
            f"(wrk 503={o['wrk_503']:.0f}, /healthz 503={o['probe_503']:.0f}) "
            f"inside_g26_window={o['inside_window']:.0f} after_window={o['after_window']:.0f} "
            f"non503_inside={o['non503_inside']:.0f} recovery_s={o['recovery_s']:.1f}"
        )
        figures["outage_errors_non503"] = o["non503_inside"] + o["after_window"]
        figures["recovery_s"] = o["recovery_s"]
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=50.0, help="requests/s (paced)")
    ap.add_argument("--minutes", type=int, default=30, help="soak length (2 for a quick run)")
    ap.add_argument("--warmup-s", type=int, default=30, help="seconds at the rate, not counted")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--threads", type=int, default=16, help="wrk threads (one connection each)")
    ap.add_argument("--requests", type=int, default=20_000, help="requests in the mix file")
    ap.add_argument("--job-interval", type=int, default=JOB_INTERVAL_S, help="scheduler, s")
    ap.add_argument(
        "--no-catch-up",
        dest="catch_up",
        action="store_false",
        help="start the server on a never-swept city (every job's first run during the soak)",
    )
    ap.add_argument("--inject-db-restart", action="store_true", help="cut the database mid-soak")
    ap.add_argument("--outage-s", type=float, default=10.0, help="length of the cut")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--keep", action="store_true", help="keep the database (development)")
    ap.add_argument("--reuse", help="an existing benchmark database (development)")
    args = ap.parse_args()
    checks = {
        "--minutes": args.minutes >= 1,
        "--rate": args.rate > 0,
        "--warmup-s": args.warmup_s >= 0,
        "--workers": args.workers >= 1,
        "--threads": args.threads >= 1,
        "--requests": args.requests >= 1,
        "--job-interval": args.job_interval >= 1,
        "--outage-s": 0 < args.outage_s < args.minutes * 30,
        "--subjects": args.subjects >= 1,
        "--records": args.records >= 0,
    }
    for flag, good in checks.items():
        if not good:
            value = getattr(args, flag[2:].replace("-", "_"))
            ap.error(f"{flag}={value} 取值无效")
    started = time.perf_counter()
    with _bulk.workspace("soak", keep=args.keep, reuse=args.reuse) as (url, data_dir):
        f = run(url, data_dir, args)
    say(f"runtime_s={time.perf_counter() - started:.0f}")
    growth = f["rss_growth"]
    print(
        f"ratios success_ratio/{TARGET_SUCCESS:g}={f['success_ratio'] / TARGET_SUCCESS:.4f} "
        f"(>=1 meets) p95_ms/{TARGET_P95_MS:g}={f['p95_ms'] / TARGET_P95_MS:.3f} (<=1 meets) "
        f"rss_growth/{TARGET_RSS_GROWTH:g}={growth / TARGET_RSS_GROWTH:.3f} (<=1 meets)"
        + (
            f" outage_errors_non503={f['outage_errors_non503']:.0f} (0 meets) "
            f"recovery_s/{RECOVERY_WINDOW_S:g}={f['recovery_s'] / RECOVERY_WINDOW_S:.3f} "
            "(<=1 meets)"
            if "recovery_s" in f
            else ""
        )
    )
    line = (
        f"success_ratio={f['success_ratio']:.5f} p95_ms={f['p95_ms']:.1f} "
        f"p99_ms={f['p99_ms']:.1f} rss_growth={growth:.3f} health_fail={f['health_fail']:.0f} "
        f"errors_5xx={f['errors_5xx']:.0f} errors_other={f['errors_other']:.0f} "
        f"rate={f['rate']:g} minutes={f['minutes']:.0f}"
    )
    if "recovery_s" in f:
        line += (
            f" outage_errors_non503={f['outage_errors_non503']:.0f} "
            f"recovery_s={f['recovery_s']:.1f}"
        )
    print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
