"""A kept 信用修复型 commitment earns no performance points from 2027-01-01 (both databases).

A 信用修复 is granted on a public credit commitment (NDRC Order No. 36, rules.md §5.3), which the
platform records as a commitment of type 信用修复型 (rights/repairs.py). Up to enterprise 2026.2
`commitments_kept_3y` (+5 per kept commitment) counted every type, and a repaired record stops
counting from the day of repair: a subject penalised and then repaired ended with the clean
score plus 5 and out-scored a subject never penalised. The versions in force from 2027-01-01
(2026.3, or 2026.2 for the models without a licence version) count kept commitments of every
type but 信用修复型; a broken repair commitment still counts against the subject
(`commitments_broken_3y`), and the earlier versions still count 信用修复型, so results computed
under them reproduce.

Checked on the platform database (evaluate_db, and the batch run for the end-to-end case), on
DuckDB over the Parquet export and on the reference scorer: the same results.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.commitments.service import create_commitment, record_outcome
from citycredit.evaluation import (
    SubjectResult,
    evaluate_db,
    load_models,
    runs,
    views,
)
from citycredit.evaluation.model import ModelSet
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.rights import repairs
from citycredit.shared.clock import FixedClock
from evaluation_support import TODAY, engines_agree, licence, subject_id
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

MODELS = load_models()
OLD = MODELS.get("enterprise", "2026.2")  # effective 2026-12-01: every commitment type counts
NEW = MODELS.get("enterprise", "2026.3")  # effective 2027-01-01: 信用修复型 does not
NEW_DAY = date(2027, 1, 4)  # NEW is in force
OLD_DAY = date(2026, 12, 31)  # OLD is in force (the last day before NEW)
KEPT = "commitments_kept_3y"
BROKEN = "commitments_broken_3y"

REPAIR = uscc("91", "610802", "MA6RC001")  # only commitment: a kept 信用修复型 one
APPROVAL = uscc("91", "610802", "MA6RC002")  # only commitment: a kept 审批替代型 one
BREACH = uscc("91", "610802", "MA6RC003")  # only commitment: a broken 信用修复型 one
CLEAN = uscc("91", "610802", "MA6RC004")  # never penalised
REPAIRED = uscc("91", "610802", "MA6RC005")  # penalised, repaired, repair commitment kept
NAMES = {
    REPAIR: "榆阳区修复承诺商贸有限公司",
    APPROVAL: "榆阳区告知承诺商贸有限公司",
    BREACH: "榆阳区违诺商贸有限公司",
    CLEAN: "榆阳区守法商贸有限公司",
    REPAIRED: "榆阳区已修复商贸有限公司",
}
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")
MATERIALS = [
    {"code": "performance_proof", "name": "罚款缴纳凭证.pdf", "sha256": "b" * 64},
    {"code": "commitment", "name": "信用修复承诺书.pdf", "sha256": "c" * 64},
]
PROMISE = "本企业承诺所提交材料真实有效，如有虚假愿承担相应法律责任。"


def _commitment(c: Container, sid: str, kind: str, result: str, **kw: Any) -> None:
    """A commitment made on 2026-11-02 and checked today with `result`."""
    samr = department_principal(c, SAMR)
    made = create_commitment(
        c, samr, subject_id=sid, kind=kind, text="依法诚信经营", made_on=date(2026, 11, 2), **kw
    )
    note = "核查未履行" if result == "breached" else None
    record_outcome(c, samr, made["commitment_id"], result=result, checked_on=TODAY, note=note)


def _texts(r: SubjectResult) -> list[str]:
    return [x.text for x in r.reasons]


def test_a_kept_repair_commitment_earns_no_points(container: Container, tmp_path: Path) -> None:
    c = container
    department(c)
    for code in (REPAIR, APPROVAL, BREACH):
        licence(c, tmp_path, code, NAMES[code])
    ids = {code: subject_id(c, code) for code in (REPAIR, APPROVAL, BREACH)}
    _commitment(c, ids[REPAIR], "repair", "fulfilled")
    _commitment(
        c, ids[APPROVAL], "approval_substitute", "fulfilled", matter="food_business_licence"
    )
    _commitment(c, ids[BREACH], "repair", "breached")

    new = engines_agree(c, tmp_path, ids, NEW_DAY, MODELS)
    assert {r.model_version for r in new.values()} == {"2026.3"}
    # The kept 信用修复型 commitment counts for nothing; a kept 审批替代型 one still earns 5.
    assert new[REPAIR].value(KEPT) == 0 and new[REPAIR].points(KEPT) == 0
    assert KEPT not in [x.code for x in new[REPAIR].reasons]
    assert new[APPROVAL].value(KEPT) == 1 and new[APPROVAL].points(KEPT) == 5
    assert "近三年已履行信用承诺（不含信用修复承诺）1 项（+5分）" in _texts(new[APPROVAL])
    assert new[APPROVAL].score == new[REPAIR].score + 5
    # A broken repair commitment still counts against the subject.
    assert new[BREACH].value(BROKEN) == 1 and new[BREACH].points(BROKEN) == -40
    assert "近三年有 1 项信用承诺未履行（-40分）" in _texts(new[BREACH])

    # The same facts and day under the previous version: 信用修复型 counted (the defect).
    old = engines_agree(c, tmp_path, ids, NEW_DAY, ModelSet((OLD,)))
    assert old[REPAIR].model_version == "2026.2"
    assert old[REPAIR].value(KEPT) == 1 and old[REPAIR].points(KEPT) == 5
    assert old[REPAIR].score == old[APPROVAL].score == new[REPAIR].score + 5
    assert old[BREACH].points(BROKEN) == -40


def test_earlier_versions_still_count_repair_commitments(
    container: Container, tmp_path: Path
) -> None:
    """History reproduces: a back-dated evaluation uses the version in force then, unchanged."""
    c = container
    department(c)
    licence(c, tmp_path, REPAIR, NAMES[REPAIR])
    ids = {REPAIR: subject_id(c, REPAIR)}
    _commitment(c, ids[REPAIR], "repair", "fulfilled")
    for day, version in ((TODAY + timedelta(days=1), "2026.1"), (OLD_DAY, "2026.2")):
        r = engines_agree(c, tmp_path, ids, day, MODELS)[REPAIR]
        assert r.model_version == version
        assert r.value(KEPT) == 1 and r.points(KEPT) == 5, version
        assert "近三年已履行信用承诺 1 项（+5分）" in _texts(r)
    assert engines_agree(c, tmp_path, ids, NEW_DAY, MODELS)[REPAIR].points(KEPT) == 0


def _current(c: Container, sid: str) -> dict[str, Any]:
    view = views.current_evaluation(c, SYSTEM, sid, view="authorised", purpose="评价核对")
    current = view["current"]
    assert current is not None
    return dict(current)


def test_a_repaired_subject_does_not_out_score_a_clean_one(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    department(c)
    samr = department_principal(c, SAMR)
    for code in (CLEAN, REPAIRED):
        licence(c, tmp_path, code, NAMES[code])
    clean, repaired = subject_id(c, CLEAN), subject_id(c, REPAIRED)
    # A 一般 penalty (2万元) of 2026-06-01: published for a year, repairable after three months.
    row = penalty_row(CF_XDR_MC=NAMES[REPAIRED], CF_XDR_SHXYM=REPAIRED, CF_JDRQ="2026-06-01")
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, [row])
    receipt = ingest_submission(c, samr, path=path, item_code="penalty")
    assert receipt.as_dict()["new"] == 1, receipt.as_dict()
    with c.uow() as uow:
        before = {
            r.subject_id: r for r in evaluate_db(uow.session, MODELS, [clean, repaired], TODAY)
        }
    assert before[repaired].score < before[clean].score  # the penalty counts until repaired
    with c.uow() as uow:
        record = uow.session.scalars(
            select(RecordRow.id).where(
                RecordRow.subject_id == repaired, RecordRow.item_code == "penalty"
            )
        ).one()
    filed = repairs.file_repair(
        c,
        CLERK,
        target_type="record",
        target_id=record,
        reasons="罚款已全额缴纳，违法行为已整改",
        commitment_text=PROMISE,
        materials=MATERIALS,
        channel="window",
    )
    repairs.accept(c, CLERK, filed["id"])
    decided = repairs.decide(c, samr, filed["id"], approve=True, reason="已履行法定义务，同意修复")
    assert decided["status"]["code"] == "approved" and decided["commitment_id"]
    clock.advance(days=25)  # 2026-12-20: the repair commitment is found kept
    record_outcome(
        c, samr, decided["commitment_id"], result="fulfilled", checked_on=date(2026, 12, 20)
    )
    clock.advance(days=15)  # 2027-01-04: the new versions are in force
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=NEW_DAY)
    assert run["status"] == "completed"
    a, b = _current(c, clean), _current(c, repaired)
    assert (a["model_version"], b["model_version"]) == ("2026.3", "2026.3")
    assert a["as_of"] == b["as_of"] == NEW_DAY.isoformat()
    codes = [r["code"] for r in b["reasons"]]
    assert "penalty_general_in_force" not in codes and "penalties_3y" not in codes  # repaired
    assert KEPT not in codes
    assert b["score"] <= a["score"]

    # Under the previous version the repaired subject out-scores the clean one (the defect), on
    # the same day and, back-dated, on the last day that version was in force.
    with c.uow() as uow:
        same_day = {
            r.subject_id: r
            for r in evaluate_db(uow.session, ModelSet((OLD,)), [clean, repaired], NEW_DAY)
        }
        back = {
            r.subject_id: r for r in evaluate_db(uow.session, MODELS, [clean, repaired], OLD_DAY)
        }
    for results in (same_day, back):
        assert results[repaired].model_version == "2026.2"
        assert results[repaired].points(KEPT) == 5
        assert results[repaired].score > results[clean].score
