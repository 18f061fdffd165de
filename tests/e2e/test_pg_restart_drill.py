"""G26 with a real restart: ``pg_ctl restart -m fast`` under load.

The platform runs as ``citycredit serve --workers 2`` (a process tree of its own) on a private
PostgreSQL cluster (tests/pgcluster.py; the shared server is not touched). A reader (the public
subject search) and a writer (small department submissions) each send a request every 0.1 s
with a 10 s client timeout; in the middle the cluster is restarted. Every answer must be 2xx or
503 — no 500, no 4xx, no request left unanswered — the 503s only between the restart and 30 s
after the database is back, the first success after the restart within 30 s, and every write
answered 2xx (a receipt) must be in the database afterwards with all its records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import add_department
from citycredit.bootstrap import build_container
from citycredit.db.migrate import upgrade
from citycredit.shared.clock import FixedClock
from pgcluster import (
    RECOVERY_WINDOW_S,
    PgCluster,
    private_cluster,
    restart_drill,
    server_env,
    serving,
)
from support import SAMR, settings_for, uscc

WITH_PG = "postgresql" in os.environ.get("CITYCREDIT_TEST_DATABASES", "sqlite,postgresql")
pytestmark = [
    pytest.mark.db,
    pytest.mark.slow,
    pytest.mark.skipif(not WITH_PG, reason="PostgreSQL is not among the test databases"),
]


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    with private_cluster() as c:
        yield c


def test_a_restart_under_load_answers_503_and_loses_no_acknowledged_write(
    cluster: PgCluster, tmp_path: Path, clock: FixedClock
) -> None:
    url = cluster.create_database("citycredit")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    c = build_container(settings_for(url, tmp_path), clock=clock)
    token = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token
    c.dispose()

    env = server_env(url, tmp_path / "data")
    with serving(env, workers=2, log=tmp_path / "server.log") as base:
        result = restart_drill(
            cluster, base, token, url, warmup_s=4, after_s=4, interval=0.1, say=print
        )
    f = result.figures
    print(" ".join(f"{k}={v:.2f}" for k, v in f.items()))
    statuses = sorted({a.status for a in result.answers})
    errors = [(a.kind, a.status, a.error) for a in result.answers if a.status not in (200, 503)]

    # every answer 2xx or 503: no 500, no refusal of the request, nothing left unanswered
    assert not errors and set(statuses) <= {200, 503}, errors[:5]
    assert f["errors_5xx_non_503"] == 0 and f["no_answer"] == 0 and f["errors_4xx"] == 0
    # the application saw the restart (its pooled connections died with the server) ...
    assert f["answers_503"] >= 1, "no request met the restart"
    # ... answered 503 only from the restart to 30 s after the database was back ...
    assert f["outside_window"] == 0
    # ... and served again by itself within 30 s
    assert f["first_success_s"] <= RECOVERY_WINDOW_S
    assert f["restart_recovery_s"] <= RECOVERY_WINDOW_S

    # writes were acknowledged before the restart and after it, and none of them was lost
    acked = [a for a in result.answers if a.kind == "write" and a.submission_id]
    assert any(a.answered < result.cut for a in acked)
    assert any(a.sent > result.back for a in acked)
    assert all(a.new == 2 for a in acked)
    assert result.lost == [], result.lost
