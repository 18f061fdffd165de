"""Paging of the public lists: the keyset cursor and the cached count (G28).

A public list is read newest first: ``published_on DESC, id`` — the index
``ix_memberships_public_order`` (list_type, status, published_on DESC, id; migration 0030)
holds the entries of one list in that order, so a page reads its own rows (and their subject
and source record) and stops, instead of joining every entry of the list and sorting them.

Cursor (``after``): the ``published_on`` and ``id`` of the last entry of a page, as
``2026-10-21~m…``. The next page is the entries after it in the order; an entry added or
removed meanwhile neither shifts nor repeats the entries of later pages (an offset does), and a
deep page costs what the first one does. ``offset`` pages are kept (the portal numbers its
pages); they read and skip ``offset`` entries.

Count (``total``): counting the entries a public list shows means evaluating the public view
(`service.public_view_filter`: the subject's age on the decision day, the source record
published, 公开 and active) for every entry in force — tens of milliseconds for a list of
20,000, on every request, which made the list pages the soak's tail. `PublicCounts` keeps
each list's count per day (an entry leaves a list on its expiry day: a new day is a new count)
together with a *stamp* read before the count in the same transaction: the highest
``membership_events.id`` and the highest ``record_withholdings.id`` (two reads of a primary-key
index). Every change of a membership is a step (`service.record_step`: added, published,
withdrawn, exited, expired, concealed and revealed when its source record leaves or rejoins
the public view, …) and every 不予公示 or its release is a withholding row, so a count is
reused only while neither changed: the count changes at once with the list. A change that
moves neither (a subject's birth date corrected in place, a record's flags rewritten outside
the intake and the lists consumer, or a step whose transaction committed after one with a
higher id) is reflected within `PUBLIC_COUNT_TTL_SECONDS` by the injected clock, after which
a count is always recomputed. The cache is per engine (per process and database); a worker
reads the stamp of the shared database, so another worker's change is seen at once as well.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from citycredit.ingest.db import RecordWithholdingRow
from citycredit.lists.db import MembershipEventRow
from citycredit.shared.errors import FieldError

# How long a count is reused when nothing the stamp sees changed (seconds, by the container's
# clock). Short: it only bounds changes the stamp cannot see.
PUBLIC_COUNT_TTL_SECONDS = 60.0
CURSOR_SEPARATOR = "~"
MAX_CURSOR_LENGTH = 80

Stamp = tuple[int | None, int | None]


@dataclass(frozen=True)
class Cursor:
    """The position after which the next page starts: the last entry's day and id."""

    published_on: date | None
    id: str

    def encode(self) -> str:
        day = self.published_on.isoformat() if self.published_on is not None else ""
        return f"{day}{CURSOR_SEPARATOR}{self.id}"

    @classmethod
    def parse(cls, value: str) -> Cursor:
        """The cursor a page returned as ``next_after``; anything else is a FieldError."""
        day, sep, ident = (value or "").partition(CURSOR_SEPARATOR)
        bad = FieldError(
            "after",
            value,
            "invalid_cursor",
            "须为上一页返回的 next_after",
        )
        if not sep or not ident or len(value) > MAX_CURSOR_LENGTH or not ident.isalnum():
            raise bad
        try:
            published_on = date.fromisoformat(day) if day else None
        except ValueError:
            raise bad from None
        return cls(published_on, ident)


def count_stamp(session: Session) -> Stamp:
    """What any change of a public list moves (see the module docstring): one statement."""
    row = session.execute(
        select(
            select(func.max(MembershipEventRow.id)).scalar_subquery(),
            select(func.max(RecordWithholdingRow.id)).scalar_subquery(),
        )
    ).one()
    return (row[0], row[1])


@dataclass(frozen=True)
class _Counted:
    value: int
    stamp: Stamp
    at: datetime


class PublicCounts:
    """Counts of the public lists, reused while their stamp holds and for at most ``ttl``."""

    def __init__(self, ttl_seconds: float = PUBLIC_COUNT_TTL_SECONDS) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self._counts: dict[tuple[str, date], _Counted] = {}
        self._lock = threading.Lock()

    def get(self, list_type: str, day: date, stamp: Stamp, now: datetime) -> int | None:
        """The count kept for this list and day, if its stamp is ``stamp`` and it is fresh."""
        with self._lock:
            kept = self._counts.get((list_type, day))
        if kept is None or kept.stamp != stamp or not (kept.at <= now < kept.at + self.ttl):
            return None
        return kept.value

    def put(self, list_type: str, day: date, stamp: Stamp, now: datetime, value: int) -> None:
        with self._lock:
            # other days' counts are of no further use
            stale = [k for k in self._counts if k[1] != day]
            for k in stale:
                del self._counts[k]
            self._counts[(list_type, day)] = _Counted(value, stamp, now)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, PublicCounts] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def public_counts(engine: Engine) -> PublicCounts:
    """The counts kept for this engine (one database in one process)."""
    with _BY_ENGINE_LOCK:
        counts = _BY_ENGINE.get(engine)
        if counts is None:
            counts = _BY_ENGINE[engine] = PublicCounts()
        return counts


__all__ = [
    "PUBLIC_COUNT_TTL_SECONDS",
    "Cursor",
    "PublicCounts",
    "count_stamp",
    "public_counts",
]
