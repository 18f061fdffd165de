"""G27 on PostgreSQL: base backup + WAL archive + point-in-time recovery to a timestamp.

On a private cluster (tests/pgcluster.py: its own data directory, port and WAL archive; the
shared server is not touched) the platform's schema is created by its migrations, a writer
stores submissions through the intake while ``pg_basebackup`` runs, batch A and a signed ledger
checkpoint follow, T is noted, batch B follows, the cluster stops. The base backup is recovered
with ``restore_command`` and ``recovery_target_time = T`` (promote) into a new data directory,
and the recovered database must be the source as it was at T: batch A (and every write made
during the base backup) present, batch B absent, every table's row count equal to T's, the
ledger recomputed to the checkpoint signed last before T, every sealed personal value opened
with the key ring. RTO and the archive's exposure at T (RPO) are printed, not asserted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from citycredit.bootstrap import build_container
from citycredit.db.migrate import upgrade
from citycredit.ingest.service import ingest_submission
from citycredit.ledger.service import integrate_now
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from pgcluster import PgCluster, pitr_drill, private_cluster
from support import (
    PENALTY_COLUMNS_WITH_ID,
    department,
    sealed_kinds_rows,
    settings_for,
    write_csv,
)

WITH_PG = "postgresql" in os.environ.get("CITYCREDIT_TEST_DATABASES", "sqlite,postgresql")
pytestmark = [
    pytest.mark.db,
    pytest.mark.slow,
    pytest.mark.skipif(not WITH_PG, reason="PostgreSQL is not among the test databases"),
]

SEALED = ("record_versions", "rejects", "unresolved")
DECIDED = "2026-10-20"


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    with private_cluster() as c:
        yield c


def round_file(tmp: Path, n: int) -> Path:
    """Submission n: a company, a natural person (sealed ID number), a row whose subject cannot
    be found (sealed in `unresolved`) and a bad row (sealed in `rejects`)."""
    rows = sealed_kinds_rows(n, tag="恢复", company="P", bad="Q", decided=DECIDED)
    return write_csv(tmp / f"pitr-{n}.csv", PENALTY_COLUMNS_WITH_ID, rows)


def test_point_in_time_recovery_to_a_timestamp(
    cluster: PgCluster, tmp_path: Path, clock: FixedClock
) -> None:
    url = cluster.create_database("citycredit")
    engine = create_engine(url)
    upgrade(engine)  # the schema as `citycredit db upgrade` makes it
    engine.dispose()
    settings = settings_for(url, tmp_path)
    c = build_container(settings, clock=clock)
    actor = department(c)

    def write(n: int) -> str:
        receipt = ingest_submission(c, actor, path=round_file(tmp_path, n), item_code="penalty")
        assert receipt.counts.new == 2 and receipt.counts.rejected == 2, receipt.as_dict()
        integrate_now(c)  # sequenced: leaves and a signed checkpoint
        return receipt.submission_id

    def restored(recovered_url: str) -> Settings:
        # the same deployment (data_dir: its key ring and verified ledger head) on the
        # recovered database: PITR brings back the database, not data_dir
        return settings.model_copy(update={"database_url": recovered_url})

    result = pitr_drill(
        cluster,
        c,
        write,
        restored,
        database="citycredit",
        batch_a=3,
        batch_b=3,
        max_rate="16M",  # ≈ 3 s for the fresh cluster's ≈ 45 MB: writes commit during it
        say=print,
    )
    at_t, final, back = result.at_target, result.final, result.restored

    # the drill really had writes during the base backup, before T and after it
    assert result.during_backup, "no submission committed while pg_basebackup ran"
    assert len(result.after) == 3 and final["rows"] > at_t["rows"]
    assert final["ledger"]["checkpoint"]["size"] > at_t["ledger"]["checkpoint"]["size"]

    # recovered and promoted, to T exactly: before/after rows, every table's count
    assert back["alembic_revision"] == at_t["alembic_revision"]
    assert result.present == set(result.before), "a submission committed before T is missing"
    assert not result.present & set(result.after), "a submission committed after T came back"
    assert back["tables"] == at_t["tables"] != final["tables"]
    assert back["tables"]["record_versions"] == 2 * len(result.before)

    # the ledger: recomputed from the recovered leaves, its latest checkpoint is the one signed
    # last before T, and the verified head kept in data_dir (at T) is extended by it
    cp = at_t["ledger"]["checkpoint"]
    assert result.ledger["restored_checkpoint"] == {"size": cp["size"], "root": cp["root"]}
    assert result.ledger["checkpoint_matches"] and result.ledger["ok"], result.ledger
    assert result.ledger["verify"]["root_ok"] and result.ledger["verify"]["signature_ok"]
    assert result.ledger["verify"]["leaves"] == cp["size"]
    assert result.ledger["verify"]["rollback"] is None

    # every sealed personal value of every recovered row opens with the key ring
    personal = result.personal
    assert personal["ok"] and personal["failed"] == 0, personal
    for table in SEALED:
        t = personal["tables"][table]
        assert t["failed"] == 0 and t["plaintext"] == 0, (table, t)
        assert t["opened"] + t["empty"] == at_t["tables"][table], (table, t)
    assert personal["tables"]["record_versions"]["opened"] == len(result.before)
    assert personal["tables"]["unresolved"]["opened"] == len(result.before)
    assert personal["tables"]["rejects"]["opened"] == 2 * len(result.before)  # bad + unresolved

    rec = result.recovery
    print(
        f"pitr_rto_s={rec.rto_s:.2f} (restore {rec.restore_s:.2f} start {rec.start_s:.2f} "
        f"recovery {rec.recover_s:.2f}) verify_s={result.verify_s:.2f} "
        f"pitr_rpo_s={result.rpo_s:.2f} pitr_rpo_bytes={result.rpo_bytes}"
    )
    assert rec.rto_s > 0
