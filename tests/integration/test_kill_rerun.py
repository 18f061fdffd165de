"""An interrupted submission leaves the database as before it; re-running completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from citycredit.bootstrap import Container
from citycredit.db.models import metadata
from support import PENALTY_COLUMNS, SAMR, department, uscc, write_csv

pytestmark = pytest.mark.db

HEADER = PENALTY_COLUMNS


def table_counts(c: Container) -> dict[str, int]:
    with c.uow() as uow:
        return {
            t.name: int(uow.session.scalar(select(func.count()).select_from(t)) or 0)
            for t in metadata.sorted_tables
        }


def run_cli(c: Container, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "CITYCREDIT_DATABASE_URL": c.settings.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(c.settings.data_dir),
        "CITYCREDIT_SECRET_KEY": c.settings.secret_key.get_secret_value(),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "citycredit.cli.main", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_killed_submission_leaves_nothing_and_rerun_completes(
    container: Container, tmp_path: Path
) -> None:
    department(container)
    auth = uscc("11", "610800", "MA0CAMR1")
    rows = []
    for i in range(300):
        code = uscc("91", "610802", f"MA{i:06d}")
        rows.append(
            [
                f"榆阳区第{i}号商贸有限公司",
                "法人及非法人组织",
                code,
                f"榆市监罚〔2026〕{i}号",
                "x",
                "x",
                "x",
                "罚款",
                "罚款1万元",
                "1",
                "2026-10-10",
                "榆林市市场监督管理局",
                auth,
                SAMR,
                auth,
            ]
        )
    path = write_csv(tmp_path / "big.csv", HEADER, rows)
    before = table_counts(container)

    killed = run_cli(
        container,
        ["ingest", str(path), "--item", "penalty", "--department", SAMR, "--json"],
        CITYCREDIT_FAULT_KILL_AFTER_ROWS="150",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert table_counts(container) == before

    done = run_cli(
        container, ["ingest", str(path), "--item", "penalty", "--department", SAMR, "--json"]
    )
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert (receipt["received"], receipt["new"], receipt["rejected"]) == (300, 300, 0)
    after = table_counts(container)
    assert after["records"] == 300 and after["subjects"] == 300 and after["submissions"] == 1
