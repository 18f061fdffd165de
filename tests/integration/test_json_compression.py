"""PostgreSQL stores the large JSON columns with lz4 (migration 0014)."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

LARGE = (
    ("outbox", "payload"),
    ("record_versions", "payload"),
    ("record_versions", "personal"),
    ("rejects", "raw"),
    ("credit_checks", "result"),
)


def test_large_json_columns_use_lz4(pg_url: str) -> None:
    """pg_url is migrated to head by its fixture."""
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            got = {
                (t, c): conn.execute(
                    text(
                        "SELECT attcompression FROM pg_attribute"
                        " WHERE attrelid = CAST(:t AS regclass) AND attname = :c"
                    ),
                    {"t": t, "c": c},
                ).scalar_one()
                for t, c in LARGE
            }
            assert got == dict.fromkeys(LARGE, "l")
            # A value over the TOAST threshold is stored compressed with lz4 and reads back.
            big = {"fields": {f"CF_{i}": f"{i:064x}" for i in range(60)}}
            conn.execute(
                text(
                    "INSERT INTO outbox (event_type, aggregate_type, aggregate_id, payload,"
                    " created_at) VALUES ('t', 't', 'x', CAST(:p AS jsonb), now())"
                ),
                {"p": json.dumps(big)},
            )
            method, back = conn.execute(
                text(
                    "SELECT pg_column_compression(payload), payload FROM outbox"
                    " WHERE aggregate_id = 'x'"
                )
            ).one()
            assert method == "lz4"
            assert back == big
            conn.execute(text("DELETE FROM outbox WHERE aggregate_id = 'x'"))
    finally:
        engine.dispose()
