"""Tables of the 信用数据链: the log's identity, leaves, tree nodes, signed checkpoints, alarms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class LedgerLogRow(Base):
    """The log itself: origin, crypto suite and public key, fixed when the log is created."""

    __tablename__ = "ledger_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(200))
    suite: Mapped[str] = mapped_column(String(20), comment="sha256-ed25519 | sm3-sm2")
    vkey: Mapped[str] = mapped_column(String(300), comment="C2SP verifier key of the log")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LedgerLeafRow(Base):
    """One leaf: its index, hash, the canonical bytes it hashes and the salt behind its digests.

    The canonical bytes hold only salted digests of field values, never the values, so the
    leaf data can be shown to anyone and personal data never enters the log.
    """

    __tablename__ = "ledger_leaves"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_type: Mapped[str] = mapped_column(String(60))
    ref: Mapped[str] = mapped_column(String(120), unique=True, comment="what the leaf is about")
    subject_id: Mapped[str | None] = mapped_column(String(24))
    record_key: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[int] = mapped_column(
        BigInteger, unique=True, comment="outbox event it came from"
    )
    data: Mapped[bytes] = mapped_column(
        LargeBinary, comment="canonical leaf bytes (docs/ledger.md)"
    )
    salt: Mapped[bytes] = mapped_column(
        LargeBinary(16), comment="record salt: field salts derive from it"
    )
    integrated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_ledger_leaves_subject", LedgerLeafRow.subject_id, LedgerLeafRow.idx)
Index("ix_ledger_leaves_record_key", LedgerLeafRow.record_key)
Index("ix_ledger_leaves_type", LedgerLeafRow.entry_type, LedgerLeafRow.idx)


class LedgerNodeRow(Base):
    """The hash of a complete subtree: leaves [idx·2^level, (idx+1)·2^level)."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpointRow(Base):
    """A signed checkpoint (C2SP signed note) for one tree size."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LedgerAlarmRow(Base):
    """A tamper alarm raised by `ledger verify`, visible to the credit office until acknowledged."""

    __tablename__ = "ledger_alarms"

    id: Mapped[int] = mapped_column(primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))


class LedgerCosignatureRow(Base):
    """A witness's cosignature of one checkpoint (c2sp.org/tlog-cosignature), as received
    (ledger.witness_client; docs/ledger.md "Witnesses")."""

    __tablename__ = "ledger_cosignatures"
    __table_args__ = (UniqueConstraint("witness", "checkpoint_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger, index=True)
    witness: Mapped[str] = mapped_column(String(100), comment="settings.ledger_witnesses name")
    cosignature: Mapped[str] = mapped_column(Text, comment="the signed-note line, no newline")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
