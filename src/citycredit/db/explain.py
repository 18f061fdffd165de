"""The plan PostgreSQL makes for the statement a service call sends (benchmarks and plan tests).

The statement is captured as the call sends it (SQLAlchemy's ``before_cursor_execute``), so what
is explained is the service's real SQL with its real parameters, not a hand-written copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, event


def explain_call(
    engine: Engine,
    call: Callable[[], object],
    *,
    table: str,
    options: str = "",
    settings: Sequence[str] = (),
) -> str:
    """EXPLAIN [options] of the last statement reading `table` that `call` sent, after
    ``SET LOCAL`` of each of `settings` (e.g. ``enable_seqscan = off``); rolled back after."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if f"FROM {table}" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    if not seen:
        raise LookupError(f"the call sent no statement reading {table}")
    statement, params = seen[-1]
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        try:
            for setting in settings:
                cur.execute(f"SET LOCAL {setting}")
            cur.execute(f"EXPLAIN {options} {statement}", params)
            return "\n".join(r[0] for r in cur.fetchall())
        finally:
            cur.close()
            dbapi.rollback()
