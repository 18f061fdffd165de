"""Where the rate limiter (web/ratelimit.py) counts its fixed windows.

`LocalCounts`: a dict in the process — one server process. `SharedCounts`: a table shared by
the worker processes of `citycredit serve --workers N` (web/serve.py creates it and names it in
each worker's environment) — a 2 MiB anonymous memory file (memfd) that every worker maps,
read and written under ``flock`` on it. ``flock`` rather than a semaphore: the kernel releases
it when a worker dies holding it, so a killed worker cannot wedge the others. Hand-written
rather than a library (ADR 0010): the maintained limiters count in memory per process or in an
external store (Redis, memcached), which a closed government network's single host would have
to run only for this.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
from pathlib import Path
from typing import Protocol

__all__ = ["TABLE_ENV", "Counts", "LocalCounts", "SharedCounts", "create_table", "shared_counts"]

log = logging.getLogger(__name__)

_PRUNE_EVERY = 1000


class Counts(Protocol):
    """Where the windows are counted."""

    def add(self, key: str, start: int, window: int, n: int, now: float) -> int:
        """Add ``n`` (0 or 1) to ``key``'s window beginning at ``start`` (``window`` seconds
        long; an older window of the key starts again at 0); the window's count after it."""
        ...


class LocalCounts:
    """The windows of one process, in a dict."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[int, int, int]] = {}  # key → (start, end, count)
        self.seen = 0

    def add(self, key: str, start: int, window: int, n: int, now: float) -> int:
        began, end, used = self.windows.get(key, (start, start + window, 0))
        if began != start:
            began, end, used = start, start + window, 0
        if n:
            used += n
            self.windows[key] = (began, end, used)
            self.seen += 1
            if self.seen % _PRUNE_EVERY == 0:
                for k, (_, e, _) in list(self.windows.items()):
                    if e <= now:
                        del self.windows[k]
        return used


# A shared table: SLOTS slots of four signed 64-bit cells — key hash (0 = never used), window
# start, window end, count — found by linear probing from the key's hash, at most PROBES deep.
SLOTS = 1 << 16
PROBES = 64
_CELLS = 4
TABLE_BYTES = SLOTS * _CELLS * 8  # 2 MiB
TABLE_ENV = "CITYCREDIT_RATE_TABLE"


def _hash(key: str) -> int:
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little", signed=True)
    return h or 1


def create_table() -> tuple[int, str]:
    """A new zeroed table for the workers of one server: its descriptor, which the creator keeps
    open while the server runs, and the path other processes open it by.

    An anonymous memory file (``memfd_create``): nothing is left on disk or in /dev/shm when
    the server stops, however it stops; the workers open it through /proc/<creator>/fd/<fd>.
    """
    fd = os.memfd_create("citycredit-rate-windows", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, TABLE_BYTES)
    except OSError:
        os.close(fd)
        raise
    return fd, f"/proc/{os.getpid()}/fd/{fd}"


class SharedCounts:
    """The windows of every worker of one server, in a table file each worker maps.

    A table full along a key's probe sequence (more than ``PROBES`` clients with live windows
    hashing together — tens of thousands of clients a minute) counts that key in the process,
    as one server does.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.fd = os.open(self.path, os.O_RDWR)
        if os.fstat(self.fd).st_size != TABLE_BYTES:
            os.close(self.fd)
            raise ValueError(f"{self.path}: not a rate-limit table ({TABLE_BYTES} bytes)")
        self.map = mmap.mmap(self.fd, TABLE_BYTES)
        self.cells = memoryview(self.map).cast("q")
        self.local = LocalCounts()
        self.overflowed = False

    def add(self, key: str, start: int, window: int, n: int, now: float) -> int:
        h = _hash(key)
        cells = self.cells
        base = h % SLOTS
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            free = -1
            for probe in range(PROBES):
                i = ((base + probe) % SLOTS) * _CELLS
                k = cells[i]
                if k == h:
                    if cells[i + 1] != start:
                        cells[i + 1], cells[i + 2], cells[i + 3] = start, start + window, 0
                    cells[i + 3] += n
                    return int(cells[i + 3])
                if free < 0 and (k == 0 or cells[i + 2] <= now):
                    free = i
                if k == 0:  # the end of the key's chain: it has no slot
                    break
            if not n:
                return 0
            if free >= 0:
                cells[free + 1], cells[free + 2], cells[free + 3] = start, start + window, n
                cells[free] = h
                return n
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        if not self.overflowed:
            self.overflowed = True
            log.warning("rate-limit table full along a probe sequence: counting in the process")
        return self.local.add(key, start, window, n, now)

    def close(self) -> None:
        self.cells.release()
        self.map.close()
        os.close(self.fd)


def shared_counts() -> SharedCounts | None:
    """The table of this server's workers (`web.serve` names it in the environment), if any."""
    path = os.environ.get(TABLE_ENV)
    return SharedCounts(path) if path else None
