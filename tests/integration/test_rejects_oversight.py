"""The credit office reviews every department's quarantine without reading its people in clear.

A quarantined row is sealed at rest and opened for its own department in full (the clerk must
see what to fix). The credit office oversees data quality across departments: it sees the row
and its reasons, with natural persons' personal fields hidden and ID/phone numbers scrubbed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citycredit.accounts.model import Principal, Role
from citycredit.bootstrap import Container
from citycredit.ingest.service import ingest_submission, list_rejects, rejects_csv
from support import PENALTY_COLUMNS_WITH_ID, department, id_number, penalty_row, write_csv

pytestmark = pytest.mark.db

PERSON_ID = id_number("610802", "19800304", "123")
OFFICE = Principal(role=Role.credit_office_admin, label="信用办")


def test_the_office_sees_quarantine_without_personal_values(
    container: Container, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    bad = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="张三",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=PERSON_ID,
        CF_WSH="榆市监罚〔2026〕901号",
        CF_JDRQ="2026-02-30",  # impossible date: quarantined
        CF_SY=f"当事人（身份证 {PERSON_ID}，电话 15291837465）未按规定公示",
    )
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, [bad])
    receipt = ingest_submission(c, samr, path=path, item_code="penalty")
    assert receipt.counts.rejected == 1
    (own,) = list_rejects(c, samr, receipt.submission_id)
    assert own["raw"]["CF_XDR_ZJHM"] == PERSON_ID and "personal_hidden" not in own
    (seen,) = list_rejects(c, OFFICE, receipt.submission_id)
    text = json.dumps(seen, ensure_ascii=False)
    assert PERSON_ID not in text and "15291837465" not in text
    assert seen["raw"]["CF_XDR_ZJHM"] == "[已隐去]" and seen["personal_hidden"]
    assert seen["raw"]["CF_JDRQ"] == "2026-02-30"  # what is wrong stays visible
    assert any(r["value"] == "2026-02-30" for r in seen["reasons"])


def test_a_refused_personal_value_is_hidden_from_the_office_in_the_message_too(
    container: Container, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    wrong = PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1")  # a wrong check digit
    bad = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="张三",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=wrong,
        CF_WSH="榆市监罚〔2026〕902号",
    )
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, [bad])
    receipt = ingest_submission(c, samr, path=path, item_code="penalty")
    assert receipt.counts.rejected == 1
    (own,) = list_rejects(c, samr, receipt.submission_id)
    assert any(wrong in r["message"] for r in own["reasons"])  # the department's own value
    (seen,) = list_rejects(c, OFFICE, receipt.submission_id)
    assert wrong not in json.dumps(seen, ensure_ascii=False)
    (reason,) = [r for r in seen["reasons"] if r["field"] == "CF_XDR_ZJHM"]
    assert reason["value"] == "[已隐去]" and "[已隐去]" in reason["message"]
    # the CSV download carries what the reader's JSON carries: the department's value, not the
    # office's
    assert wrong in rejects_csv(c, samr, receipt.submission_id)[1].decode("utf-8-sig")
    assert wrong not in rejects_csv(c, OFFICE, receipt.submission_id)[1].decode("utf-8-sig")
