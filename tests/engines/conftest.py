"""The Spark suite's one shared session (marked `spark`, run on its own by scripts/test.sh)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] Spark session for every Spark test (about 5 s to start, 1.5 GB)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from citycredit.evaluation.engines import spark_session

    session = spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
