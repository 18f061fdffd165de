"""job_runs: an index for the scheduler's due check, in place of the one on the job's name

Every scheduler tick asks, for each of the ~25 jobs, when its newest successful run started
(`kernel.jobs._last_ok`: WHERE job = … AND status = 'ok' ORDER BY started_at DESC LIMIT 1).
With only `ix_job_runs_job` that read every run of the job and sorted them: the log grows by
~14,000 runs a day (deliveries, fan-out and the merge-delay check every 30 s), ~5 million a
year, so the check grew with the platform's age. The composite index answers it from one
entry and serves every query the job name alone served, so `ix_job_runs_job` goes. The log is
now also pruned (`job_runs_purge`, `job_run_retention_days`).

Revision ID: 0038
Revises: 0037
Create Date: 2026-11-28 03:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_job_runs_job_status_started", "job_runs", ["job", "status", "started_at"])
    op.drop_index("ix_job_runs_job", table_name="job_runs")


def downgrade() -> None:
    op.create_index("ix_job_runs_job", "job_runs", ["job"])
    op.drop_index("ix_job_runs_job_status_started", table_name="job_runs")
