"""The rate limiter's shared windows (web/ratewindows.py): one count per client across the
worker processes of a server, a lock the kernel frees when a worker dies."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citycredit.web import ratewindows
from citycredit.web.ratewindows import PROBES, SLOTS, LocalCounts, SharedCounts, create_table

W = 60  # window seconds


@pytest.fixture
def table() -> Iterator[str]:
    fd, path = create_table()
    yield path
    os.close(fd)


def test_workers_mapping_one_table_share_each_window(table: str) -> None:
    one, two = SharedCounts(table), SharedCounts(table)
    assert [one.add("public\x00a", 120, W, 1, 121.0) for _ in range(3)] == [1, 2, 3]
    assert two.add("public\x00a", 120, W, 1, 122.0) == 4  # the other worker sees the same count
    assert two.add("public\x00a", 120, W, 0, 122.0) == 4  # looking does not count
    assert one.add("public\x00b", 120, W, 1, 122.0) == 1  # another client, its own window
    assert one.add("public\x00a", 180, W, 1, 181.0) == 1  # the next window starts again at 0
    assert one.add("public\x00c", 120, W, 0, 122.0) == 0  # an unknown client takes no slot
    one.close()
    two.close()


def test_colliding_keys_keep_their_own_counts_and_expired_slots_are_reused(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratewindows, "_hash", lambda key: 1000 + int(key[-1]))  # same base slot
    counts = SharedCounts(table)
    for key in ("k1", "k2", "k3"):
        counts.add(key, 0, W, 1, 1.0)
    assert counts.add("k2", 0, W, 1, 2.0) == 2
    assert counts.add("k3", 0, W, 0, 2.0) == 1
    # k1's window has ended: a new key takes its slot, k2 and k3 keep theirs
    monkeypatch.setattr(
        ratewindows, "_hash", lambda key: 1000 if key == "k4" else 1000 + int(key[-1])
    )
    assert counts.add("k4", 60, W, 1, 61.0) == 1
    assert counts.add("k2", 0, W, 0, 2.0) == 2
    assert counts.add("k3", 0, W, 1, 2.0) == 2
    counts.close()


def test_a_full_probe_sequence_counts_in_the_process(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratewindows, "_hash", lambda key: 7 + int(key))  # neighbours, one chain
    counts = SharedCounts(table)
    for i in range(PROBES):
        assert counts.add(str(i), 0, W, 1, 1.0) == 1
    # the chain from slot 7 is full of live windows: key 0 again still finds its slot …
    assert counts.add("0", 0, W, 1, 1.0) == 2
    # … a key whose probe sequence is all taken is counted in the process, not lost
    late = 7 + SLOTS  # another hash with the same first slot
    monkeypatch.setattr(ratewindows, "_hash", lambda key: late if key == "late" else 7 + int(key))
    assert [counts.add("late", 0, W, 1, 1.0) for _ in range(3)] == [1, 2, 3]
    assert counts.overflowed
    counts.close()


def test_a_file_of_another_size_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a rate-limit table"):
        SharedCounts(other)


def _hammer(table: str, n: int, go: Any) -> None:
    counts = SharedCounts(table)
    go.wait(60)  # every process counts at the same time
    for _ in range(n):
        counts.add("auth\x00203.0.113.9", 0, W, 1, 1.0)


def _die_holding_the_lock(table: str) -> None:
    fd = os.open(table, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os._exit(9)  # killed inside the critical section


def test_processes_counting_at_once_lose_no_request(table: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_hammer, args=(table, 20_000, go)) for _ in range(3)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let them map the table
    go.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert SharedCounts(table).add("auth\x00203.0.113.9", 0, W, 0, 1.0) == 60_000


def test_a_worker_dying_with_the_lock_does_not_wedge_the_others(table: str) -> None:
    p = multiprocessing.get_context("spawn").Process(target=_die_holding_the_lock, args=(table,))
    p.start()
    p.join(60)
    assert p.exitcode == 9
    fd = os.open(table, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again, without waiting
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    assert SharedCounts(table).add("public\x00a", 0, W, 1, 1.0) == 1


def test_local_counts_forget_ended_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratewindows, "_PRUNE_EVERY", 3)
    counts = LocalCounts()
    counts.add("a", 0, W, 1, 1.0)
    counts.add("b", 60, W, 1, 61.0)
    counts.add("b", 60, W, 1, 62.0)  # the third count prunes: a's window ended at 60
    assert set(counts.windows) == {"b"}
    assert counts.add("b", 60, W, 0, 62.0) == 2
