"""Storage of the log and the sequencer that integrates pending entries from the outbox.

Writers only add outbox events carrying a pending leaf (payload["ledger"]); the sequencer — the
`ledger` consumer of the deliveries sweep, one at a time because it advances one cursor —
assigns indexes in event order, stores leaves and the new complete subtree nodes, and signs a
checkpoint for the new size, all in one transaction (the Tessera/Trillian model).

Before appending, the sequencer folds the stored peaks it builds on and compares the root with
the latest signed checkpoint: if a stored peak (or the checkpoint) was changed behind its back it
refuses to append (`LedgerHeadError`, and an alarm) — the log stops rather than signing a fork.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.orm import Session

from citycredit.db.base import UtcDateTime
from citycredit.ledger.db import (
    LedgerAlarmRow,
    LedgerCheckpointRow,
    LedgerLeafRow,
    LedgerNodeRow,
)
from citycredit.ledger.entries import LedgerEntry
from citycredit.ledger.merkle import Appender, leaf_hash, peaks
from citycredit.ledger.note import (
    Checkpoint,
    NoteError,
    checkpoint_text,
    open_note,
    parse_checkpoint,
    sign_note,
)
from citycredit.ledger.signers import NoteSigner
from citycredit.ledger.suites import HashSuite, Suite, hash_suite
from citycredit.shared.errors import CityCreditError

log = logging.getLogger(__name__)

CHUNK = 500  # keys per IN (...) query (SQLite)
# Outbox events per sequencer batch: one transaction and one signed checkpoint each. Larger
# batches amortise the commit, the signature and the per-statement round trips; 5,000 leaves
# still commit in well under a second (docs/benchmarks.md, benchmarks/ledger.py).
LEDGER_BATCH = 5000

# PostgreSQL: every wanted key in one statement of constant text (psycopg prepares it after a
# few calls), joined to the primary key of ledger_nodes instead of an OR of row comparisons, and
# run on the session's own psycopg connection: a proof is one short round trip.
_PG_NODES = (
    "SELECT n.level, n.idx, n.hash"
    " FROM unnest(%s::smallint[], %s::bigint[]) AS k(level, idx)"
    " JOIN ledger_nodes AS n ON n.level = k.level AND n.idx = k.idx"
)
# (column, PostgreSQL type) of a leaf, in COPY order
_LEAF_COPY_COLUMNS = (
    ("idx", "int8"),
    ("leaf_hash", "bytea"),
    ("entry_type", "varchar"),
    ("ref", "varchar"),
    ("subject_id", "varchar"),
    ("record_key", "varchar"),
    ("event_id", "int8"),
    ("data", "bytea"),
    ("salt", "bytea"),
    ("integrated_at", "timestamptz"),
)
_PG_LEAF_COPY = (
    f"COPY ledger_leaves ({', '.join(c for c, _ in _LEAF_COPY_COLUMNS)})"
    " FROM STDIN (FORMAT BINARY)",
    [t for _, t in _LEAF_COPY_COLUMNS],
)
_PG_NODE_COPY = (
    "COPY ledger_nodes (level, idx, hash) FROM STDIN (FORMAT BINARY)",
    ["int2", "int8", "bytea"],
)


def _is_postgresql(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


class DbNodeReader:
    """Complete-subtree hashes from ledger_nodes, fetched in one query per call."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self._pg = _is_postgresql(session)

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        out: dict[tuple[int, int], bytes] = {}
        wanted = list(dict.fromkeys(keys))
        if self._pg and wanted:
            conn = self.s.connection().connection.driver_connection
            assert conn is not None
            with conn.cursor() as cur:
                cur.execute(_PG_NODES, ([k[0] for k in wanted], [k[1] for k in wanted]))
                for level, idx, h in cur:
                    out[(level, idx)] = bytes(h)
        else:
            for i in range(0, len(wanted), CHUNK):
                part = wanted[i : i + CHUNK]
                rows = self.s.execute(
                    select(LedgerNodeRow.level, LedgerNodeRow.idx, LedgerNodeRow.hash).where(
                        tuple_(LedgerNodeRow.level, LedgerNodeRow.idx).in_(part)
                    )
                )
                for level, idx, h in rows:
                    out[(level, idx)] = bytes(h)
        missing = [k for k in wanted if k not in out]
        if missing:
            raise LookupError(f"ledger nodes missing: {missing[:5]}")
        return out


class LedgerHeadError(CityCreditError):
    """The stored tree does not lead to the latest signed checkpoint: the sequencer will not
    append (appending would sign a root built on changed nodes — a fork)."""

    default_code = "ledger_head_mismatch"


# Notes this process signed or verified: (key id, note) -> (size, root). A note the sequencer
# signed itself needs no signature check on the next batch (SM2 verification costs ~30 ms).
_TRUSTED_NOTES: dict[tuple[bytes, str], tuple[int, bytes]] = {}
_TRUSTED_MAX = 8


def _trust(signer: NoteSigner, note: str, size: int, root: bytes) -> None:
    if len(_TRUSTED_NOTES) >= _TRUSTED_MAX:
        _TRUSTED_NOTES.pop(next(iter(_TRUSTED_NOTES)))
    _TRUSTED_NOTES[(signer.key_id, note)] = (size, root)


def check_head(app: Appender, cp: LedgerCheckpointRow, signer: NoteSigner) -> None:
    """The peaks `app` resumes from must fold to the root the latest checkpoint signs.

    One fold of at most 64 peaks, and a signature check only for a note this process has not
    signed or checked before. Raise LedgerHeadError otherwise."""
    signed = _TRUSTED_NOTES.get((signer.key_id, cp.note))
    if signed is None:
        try:
            opened = parse_checkpoint(open_note(cp.note, [signer.verifier()]).text)
        except NoteError as exc:
            raise LedgerHeadError(
                f"最新检查点（树大小 {cp.size}）的签名无法验证，拒绝追加：{exc}"
            ) from exc
        signed = (opened.size, opened.root)
        _trust(signer, cp.note, *signed)
    if signed != (app.size, app.root()):
        raise LedgerHeadError(
            f"已存储的树节点折叠出的树根与最新签名检查点（树大小 {cp.size}）不一致，"
            "数据链节点可能被绕过平台修改；拒绝追加，以免签出分叉的检查点。请运行 "
            "`citycredit ledger verify` 并联系信用办"
        )


def tree_size(s: Session) -> int:
    """Leaves integrated so far (every batch ends with a checkpoint of its size)."""
    return int(s.scalar(select(func.max(LedgerCheckpointRow.size))) or 0)


def latest_checkpoint(s: Session) -> LedgerCheckpointRow | None:
    """The newest signed checkpoint."""
    return s.scalar(select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.size.desc()).limit(1))


def appender_at(h: HashSuite, s: Session, size: int) -> Appender:
    """Resume appending at `size` from the stored peaks (the compact range)."""
    keys = peaks(size)
    nodes = DbNodeReader(s).get_nodes(keys) if keys else {}
    return Appender(h, size, [nodes[k] for k in keys])


PendingEntry = LedgerEntry | Mapping[str, Any]  # an entry, or its outbox form payload["ledger"]


def _entry(e: PendingEntry) -> LedgerEntry:
    return e if isinstance(e, LedgerEntry) else LedgerEntry.from_payload(e)


def integrate(
    s: Session,
    entries: Sequence[tuple[int, PendingEntry]],
    *,
    suite: Suite,
    origin: str,
    signer: NoteSigner,
    now: datetime,
) -> int:
    """Append pending entries (event id, entry) in order and sign the new checkpoint.

    An entry may be given in its outbox form (payload["ledger"]); it is then decoded as it is
    appended, so on PostgreSQL the decoding overlaps the server storing the previous leaves.
    """
    if not entries:
        return 0
    ids = [eid for eid, _ in entries]
    # At-least-once delivery: skip events that already have a leaf. One range scan of the
    # event_id index (a batch is a run of consecutive events) instead of a long IN list.
    done = set(
        s.scalars(
            select(LedgerLeafRow.event_id).where(LedgerLeafRow.event_id.between(min(ids), max(ids)))
        )
    )
    todo = [(eid, e) for eid, e in entries if eid not in done]
    if not todo:
        return 0
    h = hash_suite(suite)
    head = latest_checkpoint(s)
    try:
        app = appender_at(h, s, head.size if head is not None else 0)
    except (LookupError, ValueError) as exc:  # a stored peak is gone or not a hash
        raise LedgerHeadError(f"数据链的已存储节点缺失或损坏，拒绝追加：{exc}") from exc
    if head is not None:
        check_head(app, head, signer)
    elif s.scalar(select(LedgerLeafRow.idx).limit(1)) is not None:  # first batch only
        raise LedgerHeadError("数据链已有叶子却没有任何检查点（检查点被删除），拒绝追加")
    if _is_postgresql(s):
        _copy_batch(s, h, app, todo, now)
    else:
        leaves: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        for eid, pending in todo:
            e = _entry(pending)
            lh = leaf_hash(h, e.data)
            idx = app.size
            nodes.extend({"level": lv, "idx": ix, "hash": hv} for lv, ix, hv in app.append(lh))
            leaves.append(
                {
                    "idx": idx,
                    "leaf_hash": lh,
                    "entry_type": e.entry_type,
                    "ref": e.ref,
                    "subject_id": e.subject_id,
                    "record_key": e.record_key,
                    "event_id": eid,
                    "data": e.data,
                    "salt": e.salt,
                    "integrated_at": now,
                }
            )
        s.execute(insert(LedgerLeafRow), leaves)
        s.execute(insert(LedgerNodeRow), nodes)
    cp = Checkpoint(
        origin=origin, size=app.size, root=app.root(), extensions=suite_extension(suite)
    )
    note = sign_note(checkpoint_text(cp), [signer])
    s.add(LedgerCheckpointRow(size=cp.size, root=cp.root, note=note, created_at=now))
    s.flush()
    _trust(signer, note, cp.size, cp.root)
    return len(todo)


def _copy_batch(
    s: Session,
    h: HashSuite,
    app: Appender,
    todo: Sequence[tuple[int, PendingEntry]],
    now: datetime,
) -> None:
    """PostgreSQL: COPY the batch's leaves and nodes through the session's own connection.

    Same transaction as the rest of the batch; column types and lengths, NOT NULL, every
    constraint and every index apply exactly as for INSERT. Leaves are hashed while they stream,
    so the server stores one part of the batch while the next is being hashed.
    """
    at = UtcDateTime().process_bind_param(now, s.get_bind().dialect)  # as the ORM binds it
    conn = s.connection().connection.driver_connection
    assert conn is not None
    nodes: list[tuple[int, int, bytes]] = []
    with conn.cursor() as cur:
        with cur.copy(_PG_LEAF_COPY[0]) as copy:
            copy.set_types(_PG_LEAF_COPY[1])
            for eid, pending in todo:
                e = _entry(pending)
                lh = leaf_hash(h, e.data)
                idx = app.size
                nodes.extend(app.append(lh))
                row = (idx, lh, e.entry_type, e.ref, e.subject_id, e.record_key, eid, e.data)
                copy.write_row((*row, e.salt, at))
        with cur.copy(_PG_NODE_COPY[0]) as copy:
            copy.set_types(_PG_NODE_COPY[1])
            for node in nodes:
                copy.write_row(node)


def suite_extension(suite: Suite) -> tuple[str, ...]:
    """The checkpoint extension line naming the crypto suite."""
    from citycredit.ledger.note import suite_extension_line

    return (suite_extension_line(suite),)


def make_consumer(container: Any) -> Callable[[Session, Sequence[Any]], None]:
    """The `ledger` outbox consumer (the sequencer) bound to a container."""
    from citycredit.ledger.keys import ensure_log

    def consume(s: Session, events: Sequence[Any]) -> None:
        entries: list[tuple[int, PendingEntry]] = [
            (e.id, e.payload["ledger"])  # decoded by integrate as it appends
            for e in events
            if isinstance(e.payload, dict) and "ledger" in e.payload
        ]
        if not entries:
            return
        settings = container.settings
        signer = container.ledger_signer
        ensure_log(s, settings, signer, now=container.clock.now())
        try:
            integrate(
                s,
                entries,
                suite=Suite(settings.ledger_suite),
                origin=settings.ledger_origin,
                signer=signer,
                now=container.clock.now(),
            )
        except LedgerHeadError as exc:
            _raise_alarm(container, exc)
            raise

    consume.batch_size = LEDGER_BATCH  # type: ignore[attr-defined]  # read by outbox.deliver
    return consume


def _raise_alarm(container: Any, exc: LedgerHeadError) -> None:
    """A tamper alarm for the credit office (ledger.service.alarms), in a transaction of its
    own: the batch's rolls back. One open alarm of this kind at a time (the sweep retries every
    30 s)."""
    from sqlalchemy import exists

    try:
        with container.uow() as uow:
            s = uow.session
            open_alarm = exists().where(
                LedgerAlarmRow.kind == "sequencer_halted", LedgerAlarmRow.acknowledged_at.is_(None)
            )
            if not s.scalar(select(open_alarm)):
                s.add(
                    LedgerAlarmRow(
                        raised_at=container.clock.now(),
                        kind="sequencer_halted",
                        detail={"code": exc.code, "message": exc.message},
                    )
                )
                uow.commit()
    except Exception:  # the refusal itself still propagates (the deliveries sweep records it)
        log.exception("could not record the sequencer's alarm")
