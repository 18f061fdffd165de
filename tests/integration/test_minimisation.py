"""G34 minimisation: a column the catalog item does not define is not stored — not in the
archive and not in quarantine, sealed or not — on the row path and the vectorised path alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordVersionRow, RejectRow
from citycredit.ingest.service import ingest_submission, list_rejects
from support import PENALTY_COLUMNS, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

PHONE = "13912345678"
EXTRA = "联系电话（经办人）"


@pytest.mark.parametrize("fast", [False, True], ids=["row-path", "fast-path"])
def test_an_undefined_column_is_kept_nowhere(
    container: Container, tmp_path: Path, fast: bool
) -> None:
    c = container
    dept = department(c)
    good = penalty_row(CF_XDR_SHXYM=uscc("91", "610802", "MA6MNA01"), CF_WSH="榆市监罚〔2026〕1号")
    bad = penalty_row(CF_XDR_SHXYM=uscc("91", "610802", "MA6MNA02"), CF_JDRQ="2026-13-40")
    path = write_csv(tmp_path / "p.csv", [*PENALTY_COLUMNS, EXTRA], [[*good, PHONE], [*bad, PHONE]])
    receipt = ingest_submission(c, dept, path=path, item_code="penalty", fast=fast)
    assert (receipt.counts.new, receipt.counts.rejected) == (1, 1)
    assert any(EXTRA in str(n) for n in receipt.notes)  # the department is told
    [reject] = list_rejects(c, dept, receipt.submission_id)
    assert EXTRA not in reject["raw"] and "CF_JDRQ" in reject["raw"]
    assert reject["raw"]["CF_JDRQ"] == "2026-13-40"
    with c.uow() as uow:
        stored = [
            json.dumps(v.payload, ensure_ascii=False) + json.dumps(v.personal, ensure_ascii=False)
            for v in uow.session.scalars(select(RecordVersionRow))
        ]
        sealed = [
            json.dumps(r.raw, ensure_ascii=False) for r in uow.session.scalars(select(RejectRow))
        ]
    assert all(PHONE not in s and EXTRA not in s for s in stored)
    # sealed rows are ciphertext; what they open to is checked above through list_rejects
    assert all(PHONE not in s for s in sealed)
