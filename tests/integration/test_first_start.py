"""First start: an empty database gets a synthetic Yulin city, loaded and in the ledger; once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from citycredit.bootstrap import Container
from citycredit.ledger import service as ledger
from citycredit.subjects.db import SubjectRow
from citycredit.synth.load import first_start

pytestmark = pytest.mark.db


def test_first_start_seeds_once(container: Container) -> None:
    container.settings.seed_synthetic_city = True
    container.settings.synthetic_subjects = 120
    announced: list[int] = []
    result = first_start(container, on_start=announced.append)
    assert result is not None and announced == [120]
    assert result.leaves > 0 and result.tokens_file is not None
    tokens = json.loads(result.tokens_file.read_text(encoding="utf-8"))
    assert tokens["信用办管理员"].startswith("cc_") and len(tokens) > 10
    with container.uow() as uow:
        subjects = uow.session.scalar(select(func.count()).select_from(SubjectRow))
    assert subjects and subjects >= 100
    assert ledger.checkpoint(container)["size"] > 0
    assert first_start(container) is None  # not twice
