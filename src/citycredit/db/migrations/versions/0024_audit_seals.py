"""audit seals: the operator audit trail sealed into hash-chained batches committed to the ledger

`audit_seals` (one row per sealing batch: its first/last event id, count, the digest of its
items, the previous seal's digest and its own — a hash chain of seals, each committed as an
``audit.seal`` ledger leaf), `audit_seal_items` (one row per sealed audit event: its id, time and
the hash of all its columns) and `audit_purges` (what each retention purge deleted: cutoff and
the exact id ranges, so `citycredit audit verify` accepts exactly those deletions). All three
are append-only: the database refuses UPDATE and DELETE of their rows, as for audit_events.

On PostgreSQL, `citycredit_audit_purge(cutoff, retention_days, at)` is a SECURITY DEFINER
function owned by the schema owner: it deletes audit events older than the cutoff (never younger
than the legal 180 days) and records the purge, so the application's role needs no DELETE on
audit_events (`citycredit db grant-app-role`). EXECUTE is revoked from PUBLIC.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import citycredit.db.base

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
SEAL_TABLES = ("audit_seals", "audit_seal_items", "audit_purges")

PG_FUNCTION = """
    CREATE FUNCTION audit_seal_tables_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
    END;
    $$ LANGUAGE plpgsql
"""
PG_TRIGGER = """
    CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION audit_seal_tables_append_only()
"""
SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END
    """,
]

# The retention purge, run with the owner's rights (the application role has no DELETE on
# audit_events). The cutoff is never later than the database's now() − 180 days (the trigger on
# audit_events refuses younger deletes too); it deletes, and records the cutoff applied and the
# exact ids deleted as ranges [lo, hi].
PG_PURGE = """
    CREATE FUNCTION citycredit_audit_purge(
        p_cutoff timestamptz, p_retention_days integer, p_at timestamptz
    ) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {schema} AS $$
    DECLARE
        v_cutoff timestamptz := least(p_cutoff, now() - interval '180 days');
        v_ids integer[];
        v_ranges jsonb;
        v_id integer;
    BEGIN
        IF p_cutoff IS NULL THEN
            RAISE EXCEPTION 'citycredit_audit_purge: no cutoff given';
        END IF;
        IF p_retention_days IS NULL OR p_retention_days < 180 THEN
            RAISE EXCEPTION 'citycredit_audit_purge: retention % days is below 180',
                p_retention_days;
        END IF;
        WITH gone AS (DELETE FROM {schema}.audit_events WHERE at < v_cutoff RETURNING id)
        SELECT coalesce(array_agg(id ORDER BY id), '{{}}') INTO v_ids FROM gone;
        SELECT coalesce(jsonb_agg(jsonb_build_array(lo, hi) ORDER BY lo), '[]'::jsonb)
        INTO v_ranges
        FROM (
            SELECT min(i) AS lo, max(i) AS hi
            FROM (SELECT i, i - row_number() OVER (ORDER BY i) AS g FROM unnest(v_ids) AS i) t
            GROUP BY g
        ) r;
        INSERT INTO {schema}.audit_purges (at, cutoff, retention_days, deleted, ranges)
        VALUES (coalesce(p_at, now()), v_cutoff, p_retention_days, cardinality(v_ids), v_ranges)
        RETURNING id INTO v_id;
        RETURN v_id;
    END;
    $$
"""
PURGE_SIGNATURE = "citycredit_audit_purge(timestamptz, integer, timestamptz)"


def upgrade() -> None:
    op.create_table(
        "audit_seals",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sealed_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "suite", sa.String(length=20), nullable=False, comment="hash of the ledger suite"
        ),
        sa.Column("first_event_id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False, comment="events sealed"),
        sa.Column(
            "items_digest",
            sa.String(length=64),
            nullable=False,
            comment="hash over the (event id, time, row hash) list",
        ),
        sa.Column(
            "prev_digest",
            sa.String(length=64),
            nullable=True,
            comment="the previous seal's digest (hash chain)",
        ),
        sa.Column("digest", sa.String(length=64), nullable=False, comment="committed to ledger"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seals")),
    )
    op.create_table(
        "audit_seal_items",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("event_at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "row_hash",
            sa.String(length=64),
            nullable=False,
            comment="hash of all columns of the audit event",
        ),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["audit_seals.id"], name=op.f("fk_audit_seal_items_seal_id_audit_seals")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_seal_items")),
    )
    with op.batch_alter_table("audit_seal_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_seal_items_seal_id"), ["seal_id"], unique=False)
    op.create_table(
        "audit_purges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cutoff", citycredit.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("ranges", JSON, nullable=False, comment="ids deleted, as [first, last] ranges"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_purges")),
    )

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in SEAL_TABLES:
            op.execute(PG_TRIGGER.format(table=table))
        schema = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
        quoted = bind.dialect.identifier_preparer.quote_identifier(schema)
        op.execute(PG_PURGE.format(schema=quoted))
        op.execute(f"REVOKE ALL ON FUNCTION {PURGE_SIGNATURE} FROM PUBLIC")
    else:
        for table in SEAL_TABLES:
            for ddl in SQLITE_TRIGGERS:
                op.execute(ddl.format(table=table))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PURGE_SIGNATURE}")
        for table in SEAL_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_seal_tables_append_only()")
    else:
        for table in SEAL_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_table("audit_purges")
    with op.batch_alter_table("audit_seal_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_seal_items_seal_id"))
    op.drop_table("audit_seal_items")
    op.drop_table("audit_seals")
