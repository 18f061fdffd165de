"""公共信用综合评价, stored: triggered re-evaluation, history, model versions, runs (both databases)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from citycredit.accounts.model import SYSTEM, Principal
from citycredit.bootstrap import Container
from citycredit.commitments.service import create_commitment, record_outcome
from citycredit.evaluation import runs, service, views
from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationResultRow, EvaluationRunRow
from citycredit.evaluation.model import load_models
from citycredit.evaluation.result import SubjectResult
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.db import OutboxCursorRow, OutboxEventRow
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError, PermissionDenied
from citycredit.subjects.db import SubjectRow
from evaluation_support import (
    COMPANY,
    COURT,
    DEFAULTER,
    OTHER,
    PERSON,
    SHOP,
    TODAY,
    deliver,
    ingest,
    licence,
    model_dir,
    penalty,
    record_of,
    subject_id,
)
from support import department, write_csv

pytestmark = pytest.mark.db


@pytest.fixture
def samr(container: Container) -> Principal:
    """榆林市市场监督管理局, registered."""
    return department(container)


def evaluation(c: Container, sid: str, actor: Principal = SYSTEM) -> dict[str, Any]:
    return views.current_evaluation(c, actor, sid, view="authorised", purpose="评价测试核对")


def results(c: Container, sid: str) -> list[EvaluationResultRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(EvaluationResultRow)
                .where(EvaluationResultRow.subject_id == sid)
                .order_by(EvaluationResultRow.id)
            )
        )


def test_intake_correction_and_withdrawal_each_reevaluate(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    ingest(c, tmp_path, [penalty(COMPANY, "榆市监罚〔2026〕1号")])
    sid = subject_id(c, COMPANY)
    with c.uow() as uow:
        assert views.current_grade(uow.session, sid) is None  # nothing delivered yet
    deliver(c)
    first = evaluation(c, sid)["current"]
    # A 2万元 fine is 一般 (general): 600 − 30 (in publication) − 5 (penalties in 3 years).
    assert (first["score"], first["grade"], first["grade_label"]) == (565, "C", "中")
    assert first["trigger"] == "record.accepted" and first["engine"] == "db"
    assert first["as_of"] == TODAY.isoformat() and first["model_version"] == "2026.1"
    assert [r["code"] for r in first["reasons"]] == ["penalty_general_in_force", "penalties_3y"]
    assert first["reasons"][0]["text"] == "有 1 条一般失信行政处罚仍在公示期内（-30分）"
    points = {i["code"]: (i["value"], i["points"]) for i in first["indicators"]}
    assert points["penalty_general_in_force"] == (1, -30) and points["penalties_3y"] == (1, -5)

    # Correction (same 决定文书号, other content): a 警告 is not 一般失信 any more.
    ingest(c, tmp_path, [penalty(COMPANY, "榆市监罚〔2026〕1号", kind="警告")], "p2.csv")
    deliver(c)
    corrected = evaluation(c, sid)["current"]
    assert corrected["trigger"] == "record.corrected"
    assert "penalty_general_in_force" not in [r["code"] for r in corrected["reasons"]]
    assert corrected["score"] > first["score"]

    # Withdrawal: the record leaves the facts, the subject is back to the base score.
    withdraw_record(c, samr, record_of(c, sid), "报送错误，撤回")
    deliver(c)
    after = evaluation(c, sid)
    assert after["current"]["trigger"] == "record.withdrawn"
    assert (after["current"]["score"], after["current"]["grade"]) == (600, "B")
    assert after["current"]["reasons"] == []
    # History: every result kept, newest first, grade changes marked.
    hist = after["history"]
    assert [h["trigger"] for h in hist] == [
        "record.withdrawn",
        "record.corrected",
        "record.accepted",
    ]
    assert [h["score"] for h in hist] == [600, corrected["score"], 565]
    assert hist[-1]["grade_changed"] is False
    assert hist[0]["grade_changed"] == (hist[0]["grade"] != hist[1]["grade"])
    assert len(results(c, sid)) == 3
    # Each change of the current grade is an outbox event (a first grade is not).
    with c.uow() as uow:
        changes = uow.session.scalars(
            select(OutboxEventRow)
            .where(OutboxEventRow.event_type == "evaluation.grade_changed")
            .order_by(OutboxEventRow.id)
        ).all()
    assert [(e.subject_id, e.payload["from"], e.payload["to"]) for e in changes][-1] == (
        sid,
        "C",
        "B",
    )
    assert all(e.payload["from"] != e.payload["to"] for e in changes)


def test_batch_coalesces_per_subject_and_redelivery_adds_nothing(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    rows = [penalty(COMPANY, f"榆市监罚〔2026〕{n}号") for n in (1, 2, 3)]
    ingest(c, tmp_path, [*rows, penalty(OTHER, "榆市监罚〔2026〕9号", name="榆阳区另一有限公司")])
    delivered = deliver(c, "evaluation")
    assert delivered["evaluation"] >= 4
    sid, other = subject_id(c, COMPANY), subject_id(c, OTHER)
    (one,) = results(c, sid)  # three events of one subject in one batch: one evaluation
    assert one.trigger == "record.accepted" and one.as_of == TODAY
    assert one.result["indicators"] and one.score == 600 - 3 * 30 - 3 * 5
    assert len(results(c, other)) == 1
    # At-least-once delivery: the same events again store nothing new (same model, day, result).
    with c.uow() as uow:
        uow.session.execute(
            update(OutboxCursorRow)
            .where(OutboxCursorRow.consumer == "evaluation")
            .values(last_event_id=0)
        )
        uow.commit()
    deliver(c, "evaluation")
    assert len(results(c, sid)) == 1 and len(results(c, other)) == 1
    # A later day is a new result even when nothing else changed (as_of is part of it).
    assert isinstance(c.clock, FixedClock)
    c.clock.advance(days=1)
    ingest(c, tmp_path, [penalty(COMPANY, "榆市监罚〔2026〕4号")], "p4.csv")
    deliver(c, "evaluation")
    latest = results(c, sid)[-1]
    assert latest.as_of == date(2026, 11, 26) and latest.score == 600 - 4 * 30 - 4 * 5


def test_as_of_of_triggered_evaluation_is_the_shanghai_date(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    c.clock = FixedClock(datetime(2026, 11, 25, 17, 30, tzinfo=UTC))  # 01:30 on the 26th in 榆林
    ingest(c, tmp_path, [penalty(COMPANY, "榆市监罚〔2026〕1号")])
    deliver(c)
    (row,) = results(c, subject_id(c, COMPANY))
    assert row.as_of == date(2026, 11, 26) and row.result["as_of"] == "2026-11-26"


def test_membership_caps_the_grade_and_says_what_would_lift_it(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    court = department(c, COURT, "MA0CRT01")
    path = write_csv(
        tmp_path / "sx.csv",
        DEFAULTER,
        [
            [
                "榆阳区失信商贸有限公司",
                "法人及非法人组织",
                COMPANY,
                "（2026）陕0802执100号",
                COURT,
                "2026-10-01",
                "有履行能力而拒不履行生效法律文书确定义务",
            ]
        ],
    )
    ingest_submission(c, court, path=path, item_code="judgment_defaulter")
    sid = subject_id(c, COMPANY)
    # `evaluation` runs before `lists` has mirrored the record: no membership yet.
    deliver(c, "evaluation")
    assert evaluation(c, sid)["current"]["grade"] == "B"
    deliver(c, "lists", "evaluation")  # the membership's own event re-evaluates
    now = evaluation(c, sid)["current"]
    assert now["grade"] == "D" and now["trigger"].startswith("membership.")
    (cap,) = now["caps"]
    assert cap["rule"] == "judgment_defaulter_d" and cap["capped_grade"] == "D"
    assert "履行" in cap["lift"]  # what would change the grade, in plain Chinese
    assert now["reasons"][0]["code"] == "judgment_defaulter"  # reasons ordered by impact


def test_commitment_breach_becomes_a_record_and_lowers_the_grade(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    licence(c, tmp_path, COMPANY)
    sid = subject_id(c, COMPANY)
    cm = create_commitment(
        c,
        samr,
        subject_id=sid,
        kind="approval_substitute",
        matter="food_business_licence",
        text="承诺所报材料真实，三个月内补交健康证明",
        made_on=date(2026, 9, 1),
    )
    deliver(c)
    before = evaluation(c, sid)["current"]
    assert (before["score"], before["grade"]) == (605, "B")  # base 600 + one licence in force
    record_outcome(
        c, samr, cm["commitment_id"], result="breached", checked_on=date(2026, 11, 20), note="逾期"
    )
    deliver(c)
    after = evaluation(c, sid)["current"]
    assert after["score"] == before["score"] - 40
    broken = next(r for r in after["reasons"] if r["code"] == "commitments_broken_3y")
    assert broken["text"] == "近三年有 1 项信用承诺未履行（-40分）"
    # The breach is a correction of the commitment's catalog record (CN_LYZT 未履约).
    assert "record.corrected" in after["trigger"]
    assert (after["score"], after["grade"]) == (565, "C")
    hist = evaluation(c, sid)["history"]
    assert hist[0]["grade_changed"] is True and hist[1]["grade"] == "B"


def test_new_model_version_reevaluates_and_keeps_history(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    ingest(c, tmp_path, [penalty(COMPANY, "榆市监罚〔2026〕1号")])
    deliver(c)
    sid = subject_id(c, COMPANY)
    old = results(c, sid)
    assert [(r.model_version, r.grade) for r in old] == [("2026.1", "C")]
    first = runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)
    assert {"code": "enterprise", "version": "2026.1", "subject_types": ["enterprise"]} in first[
        "models"
    ]

    service.use_models(c, load_models(model_dir(tmp_path, b_min=560)))
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)
    assert run["status"] == "completed" and run["engine"] == "db" and run["as_of"] == "2026-11-25"
    versions = {m["code"]: m["version"] for m in run["models"]}
    assert versions["enterprise"] == "2026.2" and versions["social_group"] == "2026.1"
    assert run["counts"] == {"A": 0, "B": 1, "C": 0, "D": 0} and run["evaluated"] == 1
    now = evaluation(c, sid)
    assert (now["current"]["model_version"], now["current"]["grade"]) == ("2026.2", "B")
    assert now["current"]["run_id"] == run["run_id"] and now["current"]["trigger"] == "run"
    hist = now["history"]
    assert [(h["model_version"], h["grade"]) for h in hist] == [
        ("2026.2", "B"),
        ("2026.1", "C"),
        ("2026.1", "C"),
    ]
    assert hist[0]["grade_changed"] is True
    # The old results are untouched: same rows, same content.
    kept = {r.id: r.result for r in results(c, sid)}
    assert all(kept[r.id] == r.result for r in old)
    with c.uow() as uow:
        stored = uow.session.scalars(select(EvaluationRunRow).order_by(EvaluationRunRow.id)).all()
        assert {r.status for r in stored} == {"completed"} and len(stored) == 2
        per_run = dict(
            uow.session.execute(
                select(EvaluationResultRow.run_id, func.count())
                .where(EvaluationResultRow.run_id.is_not(None))
                .group_by(EvaluationResultRow.run_id)
            ).all()
        )
        assert per_run == {first["run_id"]: 1, run["run_id"]: 1}

    # A back-dated run is history only: the current pointer keeps the newest as_of. (Not
    # before 2026-04-01: no version of the models was in force then, see test_model_selection.)
    back = runs.run_evaluation(c, SYSTEM, engine="db", as_of=date(2026, 6, 1))
    assert back["evaluated"] == 1
    with c.uow() as uow:
        pointer = uow.session.get(EvaluationCurrentRow, sid)
        assert pointer is not None and pointer.as_of == TODAY and pointer.model_version == "2026.2"
    assert len(results(c, sid)) == 4


def test_run_validation_permissions_and_failure(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    with pytest.raises(FieldError) as bad:
        runs.run_evaluation(c, SYSTEM, engine="oracle", as_of=TODAY)
    assert bad.value.field == "engine" and bad.value.value == "oracle"
    with pytest.raises(PermissionDenied):
        runs.run_evaluation(c, samr, engine="db", as_of=TODAY)
    with pytest.raises(FieldError) as missing:
        runs.run_evaluation(c, SYSTEM, engine="duckdb", as_of=TODAY, parquet_dir=tmp_path / "x")
    assert missing.value.field == "parquet"
    with c.uow() as uow:  # the failed run is kept, with its error
        failed = uow.session.scalars(select(EvaluationRunRow)).all()
    assert [(r.engine, r.status) for r in failed] == [("duckdb", "failed")]
    assert failed[0].error is not None and "parquet" in failed[0].error
    assert runs.list_runs(c, SYSTEM)[0]["status"] == "failed"


def test_store_results_skips_subjects_not_in_the_registry(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    ingest(c, tmp_path, [penalty(COMPANY, "榆市监罚〔2026〕1号")])
    sid = subject_id(c, COMPANY)
    with c.uow() as uow:
        from citycredit.evaluation.engines import evaluate_db

        (real,) = evaluate_db(uow.session, service.models_for(c), [sid], TODAY)
        ghost = SubjectResult(**{**real.__dict__, "subject_id": "sghost0000000000000000"})
        done = service.store_results(
            uow.session, [real, ghost], engine="duckdb", trigger="run", at=c.clock.now()
        )
        uow.commit()
    assert (done.stored, done.skipped, done.moved) == (1, 1, 1)
    assert done.counts["C"] == 1


def test_people_are_not_evaluated_publicly(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    ingest(
        c,
        tmp_path,
        [
            penalty(PERSON, "榆市监罚〔2026〕7号"),
            penalty(SHOP, "榆市监罚〔2026〕8号", name="榆阳区王记小吃店"),
        ],
    )
    deliver(c)
    with c.uow() as uow:
        rows = {r.subject_type: r for r in uow.session.scalars(select(SubjectRow))}
    person = rows["natural_person"]
    shop = rows["individual_business"]
    for sid in (person.subject_id, shop.subject_id):
        with pytest.raises(PermissionDenied) as denied:
            views.current_evaluation(c, SYSTEM, sid)  # the public view, even for staff
        assert denied.value.code == "evaluation_not_public"
    # No model evaluates natural persons; a 个体工商户 is evaluated, shown to staff only.
    assert evaluation(c, person.subject_id)["current"] is None
    assert evaluation(c, shop.subject_id)["current"]["model_code"] == "individual_business"
    with c.uow() as uow:
        assert views.archive_grade(uow.session, person, public=True)["shown"] is False
        assert views.archive_grade(uow.session, shop, public=True)["shown"] is False
