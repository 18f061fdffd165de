"""exports.manifest_hash: the manifest digest an export's ledger leaf commits to

Every completed 双公示 export adds an ``export.completed`` ledger leaf committing to its id,
kind, period, counts and the digest of its manifest (`ledger.bundle.manifest_digest`). The row
now keeps that digest too, written in the export's own transaction, so `ledger verify` can
compare the row with its leaf both ways: a row that no longer matches its leaf, and a row that
carries a digest but has no leaf. The manifest itself cannot be rebuilt from the row (generation
time, catalog fields, personal-data counts are not in it); its outbox event keeps it.

Exports completed since the leaves were introduced are filled in from their outbox event: the
digest of the event's manifest is taken when, with the leaf's own salt, it gives the digest the
leaf commits to (under either suite: the log's suite need not be known, and an event whose
manifest was altered is left NULL for `ledger verify` to name). Older exports, and failed ones,
have no event and stay NULL: no leaf is expected for them.

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-27 23:40:00
"""

from __future__ import annotations

import base64
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

import citycredit.db.base

# The leaf's digests are the log's format, fixed as long as the log lives (every existing leaf
# depends on them): the platform's own functions compute them as they did when it was written.
from citycredit.ledger.bundle import manifest_digest
from citycredit.ledger.entries import field_digest
from citycredit.ledger.suites import Suite, hash_suite

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

TABLE = "exports"
COMMENT = (
    "digest of the manifest as committed in its export.completed ledger leaf "
    "(ledger.bundle.manifest_digest); NULL = no leaf: not completed, or completed "
    "before exports were committed to the ledger"
)
EXPORT_ENTRY = "export.completed"


def _committed_digest(payload: Any) -> str | None:
    """The manifest digest the event's leaf commits to, or None (no manifest, or none that
    matches the leaf under either suite)."""
    if not isinstance(payload, dict):
        return None
    manifest, entry = payload.get("manifest"), payload.get("ledger")
    if not isinstance(manifest, dict) or not isinstance(entry, dict):
        return None
    try:
        leaf = json.loads(base64.b64decode(entry["data"]))
        salt = bytes.fromhex(entry["salt"])
        committed = leaf["fields"]["manifest_hash"]
    except (KeyError, TypeError, ValueError):
        return None
    for suite in Suite:
        digest = manifest_digest(suite, manifest)
        if field_digest(hash_suite(suite), salt, "manifest_hash", digest) == committed:
            return digest
    return None


def _backfill(bind: sa.Connection) -> None:
    outbox = sa.table(
        "outbox",
        sa.column("event_type", sa.String),
        sa.column("aggregate_type", sa.String),
        sa.column("aggregate_id", sa.String),
        sa.column("payload", citycredit.db.base.JsonType),
    )
    exports = sa.table(
        TABLE,
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("manifest_hash", sa.String),
    )
    events = bind.execute(
        sa.select(outbox.c.aggregate_id, outbox.c.payload).where(
            outbox.c.event_type == EXPORT_ENTRY, outbox.c.aggregate_type == "export"
        )
    ).all()
    for export_id, payload in events:
        digest = _committed_digest(payload)
        if digest is not None:
            bind.execute(
                exports.update()
                .where(exports.c.id == export_id, exports.c.status == "completed")
                .values(manifest_hash=digest)
            )


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("manifest_hash", sa.String(length=64), nullable=True, comment=COMMENT)
        )
    _backfill(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite >= 3.35): batch mode copies the table and drops the old one, which
        # export_records' enforced foreign key refuses once an export has sent anything.
        op.execute(sa.text(f"ALTER TABLE {TABLE} DROP COLUMN manifest_hash"))
        return
    op.drop_column(TABLE, "manifest_hash")
