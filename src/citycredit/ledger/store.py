"""Storage of the log and the sequencer that integrates pending entries from the outbox.

Writers only add outbox events carrying a pending leaf (payload["ledger"]); the sequencer — the
`ledger` consumer of the deliveries sweep, one at a time because it advances one cursor —
assigns indexes in event order, stores leaves and the new complete subtree nodes, and signs a
checkpoint for the new size, all in one transaction (the Tessera/Trillian model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.orm import Session

from citycredit.ledger.db import LedgerCheckpointRow, LedgerLeafRow, LedgerNodeRow
from citycredit.ledger.entries import LedgerEntry
from citycredit.ledger.merkle import Appender, leaf_hash, peaks
from citycredit.ledger.note import Checkpoint, checkpoint_text, sign_note
from citycredit.ledger.signers import NoteSigner
from citycredit.ledger.suites import HashSuite, Suite, hash_suite

CHUNK = 500  # keys per IN (...) query


class DbNodeReader:
    """Complete-subtree hashes from ledger_nodes, fetched in one query per call."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        out: dict[tuple[int, int], bytes] = {}
        wanted = list(dict.fromkeys(keys))
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


def integrate(
    s: Session,
    entries: Sequence[tuple[int, LedgerEntry]],
    *,
    suite: Suite,
    origin: str,
    signer: NoteSigner,
    now: datetime,
) -> int:
    """Append pending entries (event id, entry) in order and sign the new checkpoint."""
    if not entries:
        return 0
    done = set(
        s.scalars(
            select(LedgerLeafRow.event_id).where(
                LedgerLeafRow.event_id.in_([eid for eid, _ in entries])
            )
        )
    )
    todo = [(eid, e) for eid, e in entries if eid not in done]  # at-least-once delivery
    if not todo:
        return 0
    h = hash_suite(suite)
    app = appender_at(h, s, tree_size(s))
    leaves: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for eid, e in todo:
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
    s.add(
        LedgerCheckpointRow(
            size=cp.size,
            root=cp.root,
            note=sign_note(checkpoint_text(cp), [signer]),
            created_at=now,
        )
    )
    s.flush()
    return len(todo)


def suite_extension(suite: Suite) -> tuple[str, ...]:
    """The checkpoint extension line naming the crypto suite."""
    from citycredit.ledger.note import suite_extension_line

    return (suite_extension_line(suite),)


def make_consumer(container: Any) -> Callable[[Session, Sequence[Any]], None]:
    """The `ledger` outbox consumer (the sequencer) bound to a container."""
    from citycredit.ledger.keys import ensure_log

    def consume(s: Session, events: Sequence[Any]) -> None:
        entries = [
            (e.id, LedgerEntry.from_payload(e.payload["ledger"]))
            for e in events
            if isinstance(e.payload, dict) and "ledger" in e.payload
        ]
        if not entries:
            return
        settings = container.settings
        signer = container.ledger_signer
        ensure_log(s, settings, signer, now=container.clock.now())
        integrate(
            s,
            entries,
            suite=Suite(settings.ledger_suite),
            origin=settings.ledger_origin,
            signer=signer,
            now=container.clock.now(),
        )

    return consume
