"""The fan-out: every record change, once, into the feed of every subscription it concerns.

It keeps its own cursor (``sharing_fanout_state``: a high-water id and the gaps below it, read
with the kernel's gap-aware reader `kernel.outbox.read_unread`) rather than the kernel's
consumer cursor, because its cursor moves in the same transaction as the feed entries it writes
and `citycredit sharing sync` and the file writer run it outside the deliveries sweep.

The fan-out runs under a row lock on the state row (one fan-out at a time, across processes),
assigns each subscription's ``seq`` densely (``last_seq + 1``) and commits the entries with the
cursor, so a reader of a feed sees seq 1..n with no hole and no repeat. Entries are also unique
per (subscription, record, version, kind): a change delivered by the initial load is not
appended a second time by its event.

It is registered as the ``sharing`` outbox consumer (the deliveries sweep wakes it whenever
there are new events) and is run by `citycredit sharing sync` and before files are written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem, Openness
from citycredit.db.sql import one_of
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.withhold import WITHHELD_REASONS
from citycredit.kernel import outbox
from citycredit.kernel.outbox import Consumer, Event
from citycredit.privacy.access import Purpose, open_personal
from citycredit.privacy.records import version_aad
from citycredit.shared.calendar import last_day, local_date
from citycredit.sharing.db import (
    FanoutStateRow,
    FeedEntryRow,
    RecordBlockRow,
    SubscriptionRow,
    SubscriptionSubjectRow,
)
from citycredit.sharing.model import (
    CONTENT_KINDS,
    EVENT_KINDS,
    REDACTING_KINDS,
    WITH_DATA_KINDS,
    Access,
    Kind,
    PersonalMode,
    RecordFacts,
    Status,
    is_government,
    project,
)
from citycredit.subjects.db import SubjectRow

FANOUT_BATCH = 1000  # outbox events per fan-out transaction
GAP_GRACE_SECONDS = outbox.GAP_GRACE_SECONDS
CHUNK = 500  # keys per IN (...) (SQLite's variable limit)
STATE_ID = 1
PERSON_TYPES = ("natural_person", "farm_household")
WITHHELD_NOTE = "该记录的新版本不在本订阅的访问范围内，请停止使用此前收到的版本"
WITHHOLD_NOTE = "该记录依规定不予公示，不得继续公开使用"


# -- the cursor ------------------------------------------------------------------------------


def lock_state(s: Session, now: datetime) -> FanoutStateRow:
    """The fan-out's cursor row, locked for this transaction (created on first use)."""
    values = {"id": STATE_ID, "high_water": 0, "gaps": [], "updated_at": now}
    ins = (
        pg_insert(FanoutStateRow)
        if s.get_bind().dialect.name == "postgresql"
        else sqlite_insert(FanoutStateRow)
    )
    s.execute(ins.values(**values).on_conflict_do_nothing(index_elements=["id"]))
    state = s.get(FanoutStateRow, STATE_ID, with_for_update=True, populate_existing=True)
    assert state is not None
    return state


def _events(s: Session, where: Any, limit: int | None = None) -> list[Event]:
    # Every id is read (the gaps are computed from them) but payloads only of the events the
    # fan-out uses: other events (ledger-heavy intake payloads, jobs …) cost an id and a type.
    return outbox.fetch_events(s, where, limit, payload_of=list(EVENT_KINDS))


def read_changes(
    s: Session, state: FanoutStateRow, *, limit: int, grace: float
) -> tuple[list[Event], bool]:
    """Events not yet fanned out (late commits below the high water first, in id order).

    Updates the state (high water, gaps) in the session; returns (events, more may follow).
    """
    got = outbox.read_unread(
        s, state.high_water, state.gaps or [], limit=limit, grace=grace, fetch=_events
    )
    state.high_water = got.high_water
    state.gaps = got.gaps
    return got.events, got.more


def open_gaps(c: Container) -> list[dict[str, Any]]:
    """The gaps the fan-out is still watching (for `sharing status` and tests)."""
    with c.uow() as uow:
        state = uow.session.get(FanoutStateRow, STATE_ID)
        return list(state.gaps or []) if state else []


# -- building entries ----------------------------------------------------------------------


def _in(s: Session, column: Any, values: Iterable[Any]) -> Any:
    return one_of(s.get_bind().dialect.name, column, values)


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(values)
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def load_versions(
    s: Session, pairs: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], RecordVersionRow]:
    """The record versions named by (record id, version), looked up by record id through the
    index on (record_id, version), the versions picked here. (A row-value IN list of 500 pairs
    is an OR of 500 index conditions to PostgreSQL's planner: 50–200 ms to plan, against
    0.35 ms by record id — a third of the fan-out's time in benchmarks/sharing.py.)"""
    wanted = set(pairs)
    out: dict[tuple[str, int], RecordVersionRow] = {}
    for part in _chunks({rid for rid, _ in wanted}):
        ids = set(part)
        numbers = {ver for rid, ver in wanted if rid in ids}
        for v in s.scalars(
            select(RecordVersionRow).where(
                _in(s, RecordVersionRow.record_id, part), _in(s, RecordVersionRow.version, numbers)
            )
        ):
            if (v.record_id, v.version) in wanted:
                out[(v.record_id, v.version)] = v
    return out


def is_public_now(r: RecordRow, today: date) -> bool:
    """The record is on the public view today (the same rule as subjects.archive)."""
    return (
        r.status == "active"
        and r.openness == Openness.public.value
        and r.published
        and (r.decision_date is None or r.decision_date <= today)
        and (r.publication_end is None or r.publication_end > today)
        and getattr(r, "repaired_at", None) is None  # 信用修复 ends publication (rights area)
    )


def subject_view(subject: SubjectRow | None, access: Access) -> dict[str, Any]:
    """Who the record is about, as the subscription may see it."""
    if subject is None:
        return {}
    from citycredit.shared.masking import display_person_name

    person = subject.subject_type in PERSON_TYPES
    out: dict[str, Any] = {"subject_type": subject.subject_type}
    if person:
        out["name"] = (
            display_person_name(subject.name, "surname_masked")
            if access is Access.public
            else subject.name
        )
        if access is Access.authorised:
            out["id_number_masked"] = subject.id_masked
    else:
        out["name"] = subject.name
        out["uscc"] = subject.uscc
    out["division_code"] = subject.division_code
    return out


class Builder:
    """Builds feed entries for one transaction; caches personal values opened once."""

    def __init__(self, c: Container, s: Session, now: datetime) -> None:
        self.c, self.s, self.now = c, s, now
        self.today = local_date(now)
        self._personal: dict[tuple[str, int], dict[str, Any]] = {}
        self._government: dict[int, bool] = {}
        self._views: dict[tuple[Any, ...], tuple[dict[str, Any], bool, list[str]] | None] = {}
        self._entries: list[dict[str, Any]] = []

    def government(self, sub: SubscriptionRow) -> bool:
        """The subscribing department is a government body (sharing.model.is_government)."""
        if sub.department_id not in self._government:
            dept = self.s.get(DepartmentRow, sub.department_id)
            self._government[sub.department_id] = is_government(dept.kind if dept else None)
        return self._government[sub.department_id]

    def personal(self, v: RecordVersionRow) -> dict[str, Any]:
        key = (v.record_id, v.version)
        if key not in self._personal:
            self._personal[key] = (
                open_personal(
                    self.c,
                    SYSTEM,
                    v.personal,
                    aad=version_aad(v.record_id, v.version),
                    purpose=Purpose.processing,  # masked before it leaves; clear filled at pull
                )
                if v.personal
                else {}
            )
        return self._personal[key]

    def content(
        self,
        sub: SubscriptionRow,
        item: CatalogItem,
        r: RecordRow,
        v: RecordVersionRow,
        subject: SubjectRow | None,
    ) -> tuple[dict[str, Any], bool, list[str]] | None:
        """(payload, public, clear personal codes) of a version for a subscription, or None.

        Subscriptions that see a record alike (same access, personal mode, fields and kind of
        department) share one projection of each version: a city's departments mostly
        subscribe the same items the same way. The payload is written out, never changed."""
        wanted = tuple((sub.fields or {}).get(item.code, ()))
        key = (v.record_id, v.version, sub.access, sub.personal, self.government(sub), wanted)
        if key in self._views:
            return self._views[key]
        access, mode = Access(sub.access), PersonalMode(sub.personal)
        facts = RecordFacts(
            openness=r.openness,
            public_now=is_public_now(r, self.today),
            is_person=subject is not None and subject.subject_type in PERSON_TYPES,
            government=self.government(sub),
            mask_names=self.c.settings.mask_names_in_public_text,
        )
        personal = (
            self.personal(v)
            if access is Access.authorised and mode is not PersonalMode.none
            else {}
        )
        view = project(
            item,
            v.payload or {},
            personal,
            facts,
            access=access,
            personal_mode=mode,
            wanted=wanted,
        )
        if view is None:
            self._views[key] = None
            return None
        payload: dict[str, Any] = {
            "item_name": item.name,
            "subject": subject_view(subject, access),
            "decision_date": r.decision_date.isoformat() if r.decision_date else None,
            "fields": view.fields,
        }
        if item.is_adverse(v.payload or {}):
            payload["severity"] = r.severity
            payload["publication_end"] = (
                r.publication_end.isoformat() if r.publication_end else None
            )
        if access is Access.authorised:
            payload["openness"] = r.openness
            payload["published"] = r.published
            payload["department_id"] = r.department_id
        self._views[key] = built = (payload, view.public, list(view.clear_personal))
        return built

    def entry(
        self,
        sub: SubscriptionRow,
        r: RecordRow,
        *,
        version: int,
        kind: Kind,
        changed_at: datetime,
        event_id: int | None,
        payload: dict[str, Any] | None = None,
        public: bool = True,
        clear: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        """Append an entry with the subscription's next seq (written by `flush`)."""
        sub.last_seq += 1
        self._entries.append(
            {
                "subscription_id": sub.id,
                "seq": sub.last_seq,
                "record_id": r.id,
                "version": version,
                "kind": kind.value,
                "item_code": r.item_code,
                "subject_id": r.subject_id,
                "public": public,
                "payload": payload,
                "clear_personal": list(clear),
                "note": note,
                "source_event_id": event_id,
                "changed_at": changed_at,
                "created_at": self.now,
            }
        )

    def flush(self) -> None:
        """Write the entries appended so far — on PostgreSQL one COPY, on SQLite one multi-row
        INSERT; not an ORM object each (the unit of work cost more than the rest of the
        fan-out). Before anything reads or updates the feed in the same transaction
        (`redact`, `unpublish`, the next batch)."""
        if not self._entries:
            return
        if self.s.get_bind().dialect.name == "postgresql":
            _copy_entries(self.s, self._entries)
        else:
            self.s.execute(insert(FeedEntryRow), self._entries)
        _appended(self.s, len(self._entries))
        self._entries = []


_JSON_COLUMNS = frozenset({"payload", "clear_personal"})


def _copy_entries(s: Session, entries: list[dict[str, Any]]) -> None:
    """COPY the entries (the keys of `Builder.entry`'s dicts are the columns). The ORM's
    pending rows go first: the entries may refer to a subscription made in this transaction."""
    from psycopg.types.json import Jsonb

    s.flush()
    keys = list(entries[0])
    raw: Any = s.connection().connection.driver_connection
    columns = ", ".join(keys)
    with raw.cursor() as cur, cur.copy(f"COPY sharing_feed_entries ({columns}) FROM STDIN") as cp:
        for e in entries:
            cp.write_row(
                [Jsonb(e[k]) if k in _JSON_COLUMNS and e[k] is not None else e[k] for k in keys]
            )


# Entries this process appended since it last had PostgreSQL ANALYZE the feed table. A bulk load
# grows the feed faster than autovacuum refreshes its statistics, and with stale ones the
# planner reads the whole feed for each batch's "entries these records already have"
# (docs/benchmarks.md, 共享调度).
ANALYZE_EVERY = 50_000
_since_analyze = 0


def _appended(s: Session, n: int) -> None:
    global _since_analyze
    _since_analyze += n
    if _since_analyze >= ANALYZE_EVERY and s.get_bind().dialect.name == "postgresql":
        _since_analyze = 0
        s.execute(text("ANALYZE sharing_feed_entries"))


def matches(sub: SubscriptionRow, r: RecordRow, subject_subs: set[str]) -> bool:
    """The record falls under the subscription's items and subjects."""
    if sub.items and r.item_code not in sub.items:
        return False
    return not sub.by_subject or sub.id in subject_subs


def _version_of(e: Event, kind: Kind, r: RecordRow) -> int:
    v = e.payload.get("version")
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    return r.current_version


@dataclass
class _Batch:
    """Everything one batch of events needs, loaded in a few queries."""

    records: dict[str, RecordRow]
    versions: dict[tuple[str, int], RecordVersionRow]
    subjects: dict[str, SubjectRow]
    active: list[SubscriptionRow]  # active or suspended: new records still go into their feed
    subs: dict[str, SubscriptionRow]
    subject_subs: dict[str, set[str]]  # subject id → subscriptions limited to it
    holders: dict[str, set[str]]  # record id → subscriptions whose feed has it
    existing: set[tuple[str, str, int, str]]
    blocked: set[str]
    held: dict[tuple[str, str], int]  # (subscription, record) → newest version in its feed


def _load(s: Session, work: list[tuple[Event, Kind]]) -> _Batch:
    rids = {e.aggregate_id for e, _ in work}
    records: dict[str, RecordRow] = {}
    for part in _chunks(rids):
        records.update(
            {r.id: r for r in s.scalars(select(RecordRow).where(_in(s, RecordRow.id, part)))}
        )
    pairs = {
        (e.aggregate_id, _version_of(e, k, records[e.aggregate_id]))
        for e, k in work
        if k in WITH_DATA_KINDS and e.aggregate_id in records
    }
    versions = load_versions(s, pairs)
    sids = {r.subject_id for r in records.values()}
    subjects: dict[str, SubjectRow] = {}
    subject_subs: dict[str, set[str]] = defaultdict(set)
    for part in _chunks(sids):
        subjects.update(
            {
                x.subject_id: x
                for x in s.scalars(select(SubjectRow).where(_in(s, SubjectRow.subject_id, part)))
            }
        )
        for sub_id, subj in s.execute(
            select(SubscriptionSubjectRow.subscription_id, SubscriptionSubjectRow.subject_id).where(
                _in(s, SubscriptionSubjectRow.subject_id, part)
            )
        ):
            subject_subs[subj].add(sub_id)
    holders: dict[str, set[str]] = defaultdict(set)
    existing: set[tuple[str, str, int, str]] = set()
    blocked: set[str] = set()
    held: dict[tuple[str, str], int] = {}
    for part in _chunks(rids):
        for sub_id, rid, ver, kind in s.execute(
            select(
                FeedEntryRow.subscription_id,
                FeedEntryRow.record_id,
                FeedEntryRow.version,
                FeedEntryRow.kind,
            ).where(_in(s, FeedEntryRow.record_id, part))
        ):
            holders[rid].add(sub_id)
            existing.add((sub_id, rid, ver, kind))
            if Kind(kind) in CONTENT_KINDS:
                held[(sub_id, rid)] = max(ver, held.get((sub_id, rid), 0))
        blocked.update(
            s.scalars(
                select(RecordBlockRow.record_id).where(_in(s, RecordBlockRow.record_id, part))
            )
        )
    active = list(
        s.scalars(
            select(SubscriptionRow)
            # A suspended subscription cannot be pulled, but its feed keeps growing: when the
            # office resumes it the department finds every change made in between.
            .where(SubscriptionRow.status.in_([Status.active.value, Status.suspended.value]))
            .order_by(SubscriptionRow.id)
        )
    )
    subs = {x.id: x for x in active}
    wanted = {sid for hs in holders.values() for sid in hs} - set(subs)
    for part in _chunks(wanted):
        subs.update(
            {
                x.id: x
                for x in s.scalars(select(SubscriptionRow).where(_in(s, SubscriptionRow.id, part)))
            }
        )
    return _Batch(
        records, versions, subjects, active, subs, subject_subs, holders, existing, blocked, held
    )


def apply_events(c: Container, s: Session, events: Sequence[Event], now: datetime) -> int:
    """Append the entries these events call for; returns how many entries were appended."""
    work = [
        (e, EVENT_KINDS[e.event_type])
        for e in events
        if e.aggregate_type == "record" and e.event_type in EVENT_KINDS
    ]
    if not work:
        return 0
    if not s.scalar(select(exists().where(SubscriptionRow.id.is_not(None)))):
        _blocks_only(s, work, now)  # no feed yet; a repair must still stop later sharing
        return 0
    b = _load(s, work)
    builder = Builder(c, s, now)
    appended = 0
    for e, kind in work:
        r = b.records.get(e.aggregate_id)
        if r is None:
            continue
        version = _version_of(e, kind, r)
        holders = b.holders[r.id]
        had_entries = bool(holders)
        if kind is Kind.repair and r.id not in b.blocked:
            s.add(
                RecordBlockRow(
                    record_id=r.id,
                    reason="repair",
                    note=str(e.payload.get("reason") or "") or None,
                    event_id=e.id,
                    blocked_at=now,
                )
            )
            b.blocked.add(r.id)
        if kind is Kind.repair_revoked:
            s.execute(delete(RecordBlockRow).where(RecordBlockRow.record_id == r.id))
            b.blocked.discard(r.id)
            if r.status != "active":
                continue
        if kind in WITH_DATA_KINDS:
            if r.id in b.blocked:
                continue  # repaired: not shared again (unless the repair is revoked)
            matching = [x.id for x in b.active if matches(x, r, b.subject_subs[r.subject_id])]
            targets = sorted(set(matching) | holders)
        else:
            targets = sorted(holders)
        for sub_id in targets:
            sub = b.subs[sub_id]
            key = (sub.id, r.id, version, kind.value)
            if key in b.existing:
                continue
            if kind in CONTENT_KINDS:
                top = b.held.get((sub.id, r.id))
                if top is not None and version <= top:
                    continue  # a late event: the feed already has this version or a newer one
                if top is None and r.status != "active" and e.created_at < sub.created_at:
                    # Changed before the subscription existed, gone since: a department that
                    # never had it learns nothing about it. (A record created while the
                    # subscription existed is delivered even if withdrawn before the fan-out
                    # ran, then its withdrawal: what a prompt fan-out would have sent.)
                    continue
                b.held[(sub.id, r.id)] = version
            if kind in WITH_DATA_KINDS:
                v = b.versions.get((r.id, version))
                if v is None:
                    continue
                item = c.catalog.item(r.item_code)
                built = builder.content(sub, item, r, v, b.subjects.get(r.subject_id))
                if built is None:
                    if sub_id not in holders:
                        continue  # outside its access and it never had the record
                    builder.flush()
                    redact(s, r.id, "withheld", now, subscription_id=sub.id)
                    builder.entry(
                        sub,
                        r,
                        version=version,
                        kind=kind,
                        changed_at=e.created_at,
                        event_id=e.id,
                        note=WITHHELD_NOTE,
                    )
                else:
                    payload, public, clear = built
                    builder.entry(
                        sub,
                        r,
                        version=version,
                        kind=kind,
                        changed_at=e.created_at,
                        event_id=e.id,
                        payload=payload,
                        public=public,
                        clear=clear,
                    )
            else:
                builder.entry(
                    sub,
                    r,
                    version=version,
                    kind=kind,
                    changed_at=e.created_at,
                    event_id=e.id,
                    note=_notice_note(kind, e.payload),
                )
            b.existing.add(key)
            holders.add(sub.id)
            appended += 1
        if kind in REDACTING_KINDS:
            builder.flush()
            redact(s, r.id, kind.value, now)
        elif had_entries and (
            kind in (Kind.publication_ended, Kind.withheld)
            or (kind in WITH_DATA_KINDS and not is_public_now(r, builder.today))
        ):
            builder.flush()
            unpublish(s, r.id, now, reason=_unpublished_because(kind, r))
    builder.flush()
    return appended


def _unpublished_because(kind: Kind, r: RecordRow) -> str:
    """The redaction reason when a record leaves the public view: 不予公示 (the event, or a
    lagging fan-out reading an older event of a record withheld since), else 公示期满 / not
    public any more."""
    if kind is Kind.withheld or (
        kind is not Kind.publication_ended and r.unpublished_reason in WITHHELD_REASONS
    ):
        return Kind.withheld.value
    return Kind.publication_ended.value


def _blocks_only(s: Session, work: list[tuple[Event, Kind]], now: datetime) -> None:
    for e, kind in work:
        if kind is Kind.repair_revoked:
            s.execute(delete(RecordBlockRow).where(RecordBlockRow.record_id == e.aggregate_id))
        elif kind is Kind.repair and s.get(RecordBlockRow, e.aggregate_id) is None:
            s.add(
                RecordBlockRow(
                    record_id=e.aggregate_id,
                    reason="repair",
                    note=str(e.payload.get("reason") or "") or None,
                    event_id=e.id,
                    blocked_at=now,
                )
            )
            s.flush()


def _notice_note(kind: Kind, payload: dict[str, Any]) -> str | None:
    if kind is Kind.withheld:  # the reason stays with the authorised view, not in the notice
        return WITHHOLD_NOTE
    if kind is Kind.publication_ended:
        end = payload.get("publication_end")  # exclusive: the first day off publication
        if not end:
            return "公示期已届满，不得继续公示"
        return f"公示期已于 {last_day(date.fromisoformat(str(end)))} 届满，不得继续公示"
    reason = str(payload.get("reason") or "").strip()
    return reason or None


def redact(
    s: Session,
    record_id: str,
    reason: str,
    now: datetime,
    *,
    subscription_id: str | None = None,
    public_access_only: bool = False,
) -> None:
    """Earlier entries with the record's data lose their payload (model.REDACTION_MESSAGES).

    Withdrawn or repaired: in every feed. Withheld (the subscription may not see the record's
    new version): in that subscription's feed. 公示期满: in the feeds of public access.
    """
    s.flush()
    cond = [
        FeedEntryRow.record_id == record_id,
        FeedEntryRow.kind.in_([k.value for k in WITH_DATA_KINDS]),
        FeedEntryRow.redacted_at.is_(None),
    ]
    if subscription_id is not None:
        cond += [FeedEntryRow.subscription_id == subscription_id, FeedEntryRow.payload.is_not(None)]
    if public_access_only:
        cond += [
            FeedEntryRow.payload.is_not(None),
            FeedEntryRow.subscription_id.in_(
                select(SubscriptionRow.id).where(SubscriptionRow.access == Access.public.value)
            ),
        ]
    s.execute(
        update(FeedEntryRow)
        .where(and_(*cond))
        .values(payload=None, clear_personal=[], redacted_at=now, redacted_reason=reason)
        .execution_options(synchronize_session=False)
    )


def unpublish(
    s: Session, record_id: str, now: datetime, *, reason: str = Kind.publication_ended.value
) -> None:
    """The record left the public view (公示期满, 不予公示, or a correction made it non-public).

    Feeds of public access lose its earlier data; in the others its earlier entries stop
    counting as public, so delivering them again (a re-pull from an earlier cursor, a file
    rewritten) goes to the disclosure log like any non-public content.
    """
    redact(s, record_id, reason, now, public_access_only=True)
    s.execute(
        update(FeedEntryRow)
        .where(FeedEntryRow.record_id == record_id, FeedEntryRow.public.is_(True))
        .values(public=False)
        .execution_options(synchronize_session=False)
    )


# -- running it ----------------------------------------------------------------------------


def fan_out_batch(
    c: Container, s: Session, *, limit: int = FANOUT_BATCH, grace: float = GAP_GRACE_SECONDS
) -> tuple[int, bool]:
    """One batch inside the caller's transaction: (events handled, more may be pending)."""
    now = c.clock.now()
    state = lock_state(s, now)
    events, more = read_changes(s, state, limit=limit, grace=grace)
    apply_events(c, s, events, now)
    state.updated_at = now
    s.flush()
    return len(events), more


def fan_out(c: Container, *, grace: float = GAP_GRACE_SECONDS) -> int:
    """Fan out everything pending, one committed transaction per batch; returns events handled."""
    total = 0
    while True:
        with c.uow() as uow:
            n, more = fan_out_batch(c, uow.session, grace=grace)
            uow.commit()
        total += n
        if not more:
            return total


def make_consumer(c: Container) -> Consumer:
    """The `sharing` outbox consumer: the deliveries sweep wakes it when events arrive.

    It reads through its own gap-aware cursor instead of the events it is handed (see the
    module docstring), inside the sweep's transaction.
    """

    def consume(s: Session, events: Sequence[Event]) -> None:
        rounds = 0
        while True:
            _n, more = fan_out_batch(c, s)
            rounds += 1
            if not more or rounds >= 10:
                return

    return consume
