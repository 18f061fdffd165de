"""公共信用综合评价: bad news takes effect the next day, no future as_of, snapshots never replace
newer results, subjects without a model are not evaluated, grade objections re-evaluate, the
public view hides what the public archive does not show, models take effect on their day
(both databases; the audit's probes A–G, /work/audit/evaluation.md)."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.analytics.export import export_parquet
from citycredit.bootstrap import Container
from citycredit.checks.service import run_check
from citycredit.evaluation import runs, service, views
from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationResultRow, EvaluationRunRow
from citycredit.evaluation.model import ModelSet, load_models
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.kernel.jobs import run_due
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipRow
from citycredit.rights import objections as obj
from citycredit.rights.db import NoticeRow
from citycredit.shared.calendar import day_start
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError
from citycredit.subjects.archive import public_archive
from citycredit.subjects.db import SubjectRow
from evaluation_support import COMPANY, OTHER, TODAY, deliver, licence, subject_id
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, write_csv

pytestmark = pytest.mark.db

NAME = "榆阳区评价商贸有限公司"
JOB = "evaluation_next_day"


def at_local(day: date, hour: int = 10) -> datetime:
    return (day_start(day) + timedelta(hours=hour)).astimezone(UTC)


def authorised(c: Container, sid: str) -> dict[str, Any]:
    return views.current_evaluation(c, SYSTEM, sid, view="authorised", purpose="评价修正核对")


def current(c: Container, sid: str) -> dict[str, Any]:
    found = authorised(c, sid)["current"]
    assert found is not None
    return found


def n_results(c: Container, sid: str) -> int:
    with c.uow() as uow:
        return int(
            uow.session.scalar(
                select(func.count())
                .select_from(EvaluationResultRow)
                .where(EvaluationResultRow.subject_id == sid)
            )
            or 0
        )


def company(c: Container, tmp: Path, code: str = COMPANY, name: str = NAME) -> str:
    """A company holding a licence, evaluated: 605 points, B."""
    licence(c, tmp, code, name)
    deliver(c)
    sid = subject_id(c, code)
    assert (current(c, sid)["grade"], current(c, sid)["score"]) == ("B", 605)
    return sid


def penalties(c: Container, tmp: Path, rows: list[list[Any]], name: str) -> None:
    path = write_csv(tmp / name, PENALTY_COLUMNS, rows)
    r = ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    assert r.as_dict()["new"] == len(rows), r.as_dict()


def revocation(no: str, **values: Any) -> list[Any]:
    """吊销许可证件: a 严重 (serious) penalty."""
    return penalty_row(
        CF_XDR_MC=NAME,
        CF_XDR_SHXYM=COMPANY,
        CF_WSH=no,
        CF_CFLB="吊销许可证件",
        CF_NR="吊销食品经营许可证",
        **values,
    )


@pytest.fixture
def samr(container: Container) -> Principal:
    return department(container)


# -- 1. bad news decided today counts from the next day -------------------------------------------


def test_listing_decided_today_lowers_the_grade_the_next_day(
    container: Container, clock: FixedClock, samr: Principal, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    other = company(c, tmp_path, OTHER, "榆阳区另一有限公司")
    mid = lists.propose(
        c,
        samr,
        list_type="market_supervision_serious",
        subject_id=sid,
        document_no="榆市监罚〔2026〕7号",
        reasons="销售不合格食品，情节严重",
    )
    lists.notify(c, samr, mid)
    with c.uow() as uow:
        row = uow.session.get(MembershipRow, mid)
        assert row is not None and row.objection_due is not None
        decided = row.objection_due + timedelta(days=1)
    clock.current = at_local(decided)
    (first,) = run_due(c, only=JOB)  # both changed on their last as_of (the licences): again
    assert first.detail["subjects"] == 2 and first.detail["as_of"] == decided.isoformat()
    lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕7号")
    deliver(c)
    same_day = current(c, sid)  # the decision is dated today: it counts from tomorrow
    assert (same_day["grade"], same_day["as_of"]) == ("B", decided.isoformat())
    others = n_results(c, other)

    clock.advance(days=1)
    (job,) = run_due(c, only=JOB)
    assert job.status == "ok", job.detail
    assert job.detail["subjects"] == 1 and job.detail["grades_changed"] == 1
    now = current(c, sid)
    assert (now["grade"], now["as_of"], now["trigger"]) == (
        "D",
        (decided + timedelta(days=1)).isoformat(),
        service.NEXT_DAY_TRIGGER,
    )
    assert [cap["rule"] for cap in now["caps"]] == ["serious_list_d"]
    assert n_results(c, other) == others  # nothing new for a subject without new facts
    # Decided, not yet published: the public view does not disclose the listing.
    public = views.current_evaluation(c, ANONYMOUS, sid)["current"]
    assert "serious_listing" not in {i["code"] for i in public["indicators"]}
    assert public["caps"][0]["text"] == "依据非公开信息的硬性规则限制了等级"
    lists.publish(c, samr, mid)
    public = views.current_evaluation(c, ANONYMOUS, sid)["current"]
    assert "serious_listing" in {i["code"] for i in public["indicators"]}
    # Once per Shanghai day: checked hourly, the second check that day does nothing.
    clock.advance(hours=1)
    (again,) = run_due(c, only=JOB)
    assert again.detail.get("skipped") == "already done today"


def test_penalty_decided_today_counts_the_next_day(
    container: Container, clock: FixedClock, samr: Principal, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    penalties(c, tmp_path, [revocation("榆市监罚〔2026〕77号", CF_JDRQ=TODAY.isoformat())], "t.csv")
    deliver(c)
    assert current(c, sid)["grade"] == "B"  # reported on its decision day
    clock.advance(days=1)
    (job,) = run_due(c, only=JOB)
    assert job.detail["subjects"] == 1
    now = current(c, sid)
    assert (now["grade"], now["as_of"]) == ("C", (TODAY + timedelta(days=1)).isoformat())
    assert now["trigger"] == service.NEXT_DAY_TRIGGER


def test_commitment_breach_found_today_counts_the_next_day(
    container: Container, clock: FixedClock, samr: Principal, tmp_path: Path
) -> None:
    """The breach's own date may be what the evaluation windows (a payload date): a subject
    whose information changed on its last as_of is evaluated again the next day."""
    from citycredit.commitments.service import create_commitment, record_outcome

    c = container
    sid = company(c, tmp_path)
    made = create_commitment(
        c,
        samr,
        subject_id=sid,
        kind="approval_substitute",
        matter="food_business_licence",
        text="承诺三年内完成整改并持续符合许可条件",
        made_on=date(2026, 9, 1),
    )
    deliver(c)
    record_outcome(
        c, samr, made["commitment_id"], result="breached", checked_on=TODAY, note="未履行"
    )
    deliver(c)
    clock.advance(days=1)
    (job,) = run_due(c, only=JOB)
    assert job.detail["subjects"] == 1
    now = current(c, sid)
    broken = next(i for i in now["indicators"] if i["code"] == "commitments_broken_3y")
    assert broken["value"] == 1 and now["trigger"] == service.NEXT_DAY_TRIGGER
    assert now["as_of"] == (TODAY + timedelta(days=1)).isoformat()


# -- 2. no as_of later than today ------------------------------------------------------------------


def test_future_as_of_is_refused(
    container: Container, samr: Principal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    sid = company(c, tmp_path)
    for engine in ("db", "duckdb"):
        with pytest.raises(FieldError) as refused:
            runs.run_evaluation(c, SYSTEM, engine=engine, as_of=TODAY + timedelta(days=1))
        assert refused.value.field == "as_of" and refused.value.code == "future_date"
    with pytest.raises(FieldError) as manual:
        service.reevaluate_subjects(c, SYSTEM, [sid], as_of=TODAY + timedelta(days=400))
    assert manual.value.field == "as_of"
    with c.uow() as uow:
        assert uow.session.scalars(select(EvaluationRunRow)).all() == []
    assert current(c, sid)["as_of"] == TODAY.isoformat()
    assert runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)["status"] == "completed"
    # The command names the field (its container runs on the system clock).
    s = c.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    from citycredit.cli.main import app

    out = CliRunner().invoke(app, ["evaluate", "--engine", "db", "--as-of", "2999-01-01"])
    assert out.exit_code == 2 and "as_of" in out.output and "2999-01-01" in out.output


# -- 3. a batch over an older snapshot ------------------------------------------------------------


@pytest.mark.parametrize("stamp", ["manifest", "mtime"])
def test_batch_over_older_snapshot_keeps_the_newer_result(
    container: Container, clock: FixedClock, samr: Principal, tmp_path: Path, stamp: str
) -> None:
    c = container
    sid = company(c, tmp_path)
    snap = tmp_path / "snap"
    taken = clock.now()
    export_parquet(c, snap)  # e.g. the monthly job's export, or an operator's --parquet DIR
    manifest = json.loads((snap / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["exported_at"] == taken.isoformat()  # the export records when it read
    if stamp == "mtime":  # an older export without the time: when the files were written
        del manifest["exported_at"]
        (snap / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        for f in snap.iterdir():
            os.utime(f, (taken.timestamp(), taken.timestamp()))
    clock.advance(minutes=1)
    penalties(c, tmp_path, [revocation("榆市监罚〔2026〕99号")], "s.csv")
    deliver(c)
    after_event = current(c, sid)
    assert after_event["grade"] == "C" and after_event["run_id"] is None

    clock.advance(minutes=1)
    run = runs.run_evaluation(c, SYSTEM, engine="duckdb", as_of=TODAY, parquet_dir=snap)
    assert run["source"]["snapshot_at"] == taken.isoformat()
    assert run["source"]["current_kept"] == 1 and run["evaluated"] == 1
    now = current(c, sid)
    assert now["result_id"] == after_event["result_id"] and now["grade"] == "C"
    history = authorised(c, sid)["history"]
    assert (history[0]["run_id"], history[0]["grade"]) == (run["run_id"], "B")  # kept, not current

    # A run over a snapshot taken after the event (its own export) moves the pointer.
    clock.advance(minutes=1)
    fresh = runs.run_evaluation(c, SYSTEM, engine="duckdb", as_of=TODAY)
    assert fresh["source"]["current_kept"] == 0
    now = current(c, sid)
    assert (now["run_id"], now["grade"]) == (fresh["run_id"], "C")


def test_store_results_respects_the_snapshot(
    container: Container, clock: FixedClock, samr: Principal, tmp_path: Path
) -> None:
    """The pointer rule itself: a result computed after the snapshot stays current."""
    c = container
    sid = company(c, tmp_path)
    before = clock.now() - timedelta(seconds=1)
    with c.uow() as uow:
        (again,) = service.reevaluate(c, uow.session, [sid], trigger="x")  # nothing stored
        done = service.store_results(
            uow.session, [again], engine="duckdb", trigger="run", at=clock.now(), snapshot=before
        )
        uow.commit()
    assert (done.stored, done.moved, done.kept) == (1, 0, 1)
    with c.uow() as uow:
        pointer = uow.session.get(EvaluationCurrentRow, sid)
        assert pointer is not None
        first = pointer.result_id
        done = service.store_results(
            uow.session,
            [again],
            engine="duckdb",
            trigger="run",
            at=clock.now(),
            snapshot=clock.now(),
        )
        uow.commit()
    assert (done.stored, done.moved, done.kept) == (1, 1, 0)
    with c.uow() as uow:
        pointer = uow.session.get(EvaluationCurrentRow, sid)
        assert pointer is not None and pointer.result_id != first


# -- 4. a subject no model evaluates ---------------------------------------------------------------


def test_subject_without_a_model_is_not_evaluated(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    other = company(c, tmp_path, OTHER, "榆阳区另一有限公司")
    kept = n_results(c, sid)
    with c.uow() as uow:  # what SubjectService.register does when the registry reclassifies it
        uow.session.execute(
            update(SubjectRow)
            .where(SubjectRow.subject_id.in_([sid, other]))
            .values(subject_type="other_organisation")
        )
        assert service.reevaluate(c, uow.session, [sid], trigger="subject.updated") == []
        uow.commit()
    with c.uow() as uow:
        assert uow.session.get(EvaluationCurrentRow, sid) is None
        event = uow.session.scalars(
            select(OutboxEventRow).where(
                OutboxEventRow.event_type == "evaluation.grade_changed",
                OutboxEventRow.subject_id == sid,
            )
        ).one()
        assert (event.payload["from"], event.payload["to"]) == ("B", None)
    public = views.current_evaluation(c, ANONYMOUS, sid)
    assert public["evaluated"] is False and public["current"] is None
    assert public["note"] == views.NOT_EVALUATED_NOTE and len(public["history"]) == kept
    archive = public_archive(c, ANONYMOUS, sid)["evaluation"]
    assert archive == {"shown": False, "note": views.NOT_EVALUATED_NOTE}
    check = run_check(c, samr, subject_id=sid, matter="food_business_licence")
    assert check["grade"] is None and check["evaluation"] is None
    # A run removes the pointer of every subject outside its models (no event reached `other`).
    assert current(c, other)["grade"] == "B"
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)
    assert run["source"]["cleared"] == 1 and run["evaluated"] == 0
    assert authorised(c, other)["current"] is None


# -- 5. an objection against the grade ------------------------------------------------------------


def office() -> Principal:
    return Principal(role=Role.credit_office_admin, label="大厅窗口")


def object_to_grade(c: Container, sid: str) -> dict[str, Any]:
    """The window files a 自动化决策 objection against the subject's grade."""
    return obj.file_objection(
        c,
        office(),
        target_type="evaluation",
        target_id=sid,
        ground="automated_decision",
        reasons="要求人工复核评价结果",
    )


def outcome_notice(c: Container, objection_id: str) -> str:
    with c.uow() as uow:
        row = uow.session.scalars(
            select(NoticeRow).where(
                NoticeRow.ref_id == objection_id, NoticeRow.title.startswith("异议处理结果")
            )
        ).one()
        return row.body


def test_grade_objection_corrected_reevaluates(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    v = object_to_grade(c, sid)
    archive = public_archive(c, ANONYMOUS, sid)["evaluation"]
    assert archive["shown"] is True and archive["objection_mark"]["mark"] == "异议处理中"
    assert views.current_evaluation(c, ANONYMOUS, sid)["objection_mark"]["mark"] == "异议处理中"
    obj.accept(c, office(), v["id"])
    # A penalty the evaluation has not seen yet (its event is not delivered to `evaluation`).
    penalties(c, tmp_path, [revocation("榆市监罚〔2026〕99号")], "s.csv")
    deliver(c, "lists")
    before = n_results(c, sid)
    done = obj.decide(c, office(), v["id"], outcome="corrected", reason="人工复核：应计入新处罚")
    assert done["outcome"]["label"] == "异议成立，已重新评价"
    assert n_results(c, sid) == before + 1
    now = current(c, sid)
    assert (now["grade"], now["trigger"]) == ("C", "objection.corrected")
    body = outcome_notice(c, v["id"])
    assert "由 B（良，605 分）调整为 C（中" in body and "信息已更正" not in body
    assert public_archive(c, ANONYMOUS, sid)["evaluation"]["objection_mark"] is None


def test_grade_objection_corrected_without_change_says_so(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    v = object_to_grade(c, sid)
    obj.accept(c, office(), v["id"])
    before = n_results(c, sid)
    obj.decide(c, office(), v["id"], outcome="corrected", reason="人工复核")
    assert n_results(c, sid) == before  # the same result: nothing new stored
    body = outcome_notice(c, v["id"])
    assert "评价结果未变（B（良，605 分））" in body and "信息已更正" not in body


# -- 6. the public view shows only what the public archive shows ----------------------------------


def test_public_view_hides_indicators_counting_records_not_public_now(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    shown = penalty_row(CF_XDR_MC=NAME, CF_XDR_SHXYM=COMPANY, CF_WSH="榆市监罚〔2026〕50号")
    penalties(c, tmp_path, [shown], "p1.csv")
    deliver(c)
    public = views.current_evaluation(c, ANONYMOUS, sid)["current"]
    by_code = {i["code"]: i for i in public["indicators"]}
    assert by_code["penalties_3y"]["value"] == 1  # one public penalty: shown
    rows = [
        penalty_row(  # 警告: 轻微, not published
            CF_XDR_MC=NAME,
            CF_XDR_SHXYM=COMPANY,
            CF_WSH="榆市监罚〔2026〕51号",
            CF_CFLB="警告",
            CF_NR="警告",
            CF_NR_FK="",
        ),
        penalty_row(  # publication ended 2026-06-01
            CF_XDR_MC=NAME,
            CF_XDR_SHXYM=COMPANY,
            CF_WSH="榆市监罚〔2025〕52号",
            CF_JDRQ="2025-06-01",
        ),
    ]
    penalties(c, tmp_path, rows, "p2.csv")
    deliver(c)
    full = current(c, sid)
    assert next(i for i in full["indicators"] if i["code"] == "penalties_3y")["value"] == 3
    public = views.current_evaluation(c, ANONYMOUS, sid)["current"]
    codes = {i["code"] for i in public["indicators"]}
    assert "penalties_3y" not in codes and views.NON_PUBLIC in codes
    assert not any("行政处罚 3 次" in r["text"] for r in public["reasons"])
    assert "penalty_general_in_force" in codes  # counts the public one only
    hidden = next(i for i in public["indicators"] if i["code"] == views.NON_PUBLIC)
    points = {i["code"]: i["points"] for i in full["indicators"]}
    assert sum(i["points"] for i in public["indicators"]) == sum(points.values())
    assert hidden["points"] == sum(p for k, p in points.items() if k not in codes)
    # The public archive shows one penalty, the evaluation does not say there are three.
    groups = public_archive(c, ANONYMOUS, sid)["groups"]
    assert sum(g["count"] for g in groups if g.get("item_code", g.get("item")) == "penalty") <= 1


# -- 7. a model takes effect on its day -----------------------------------------------------------


def test_a_model_version_takes_effect_on_its_day(
    container: Container, clock: FixedClock, samr: Principal, tmp_path: Path
) -> None:
    c = container
    packaged = [m for m in load_models() if m.version == "2026.1"]
    base = next(m for m in packaged if m.code == "enterprise")
    future = dataclasses.replace(base, version="2026.9", effective=TODAY + timedelta(days=1))
    service.use_models(c, ModelSet((*packaged, future)))
    sid = company(c, tmp_path)
    assert current(c, sid)["model_version"] == "2026.1"  # 2026.9 is not in force today
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)
    assert {"code": "enterprise", "version": "2026.1", "subject_types": ["enterprise"]} in run[
        "models"
    ]
    clock.advance(days=1)
    service.reevaluate_subjects(c, SYSTEM, [sid])
    assert current(c, sid)["model_version"] == "2026.9"
    back = runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)  # back-dated: then in force
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(EvaluationResultRow.model_version).where(
                EvaluationResultRow.run_id == back["run_id"]
            )
        ).all()
    assert rows == ["2026.1"]
    assert current(c, sid)["model_version"] == "2026.9"  # the back-dated run is history


def test_grade_objection_is_marked_on_the_archive_and_evaluation_pages(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from citycredit.web.app import create_app

    c = container
    sid = company(c, tmp_path)
    with TestClient(create_app(c, scheduler=False)) as client:
        assert "异议处理中" not in client.get(f"/subjects/{sid}").text
        object_to_grade(c, sid)
        archive = client.get(f"/subjects/{sid}").text
        grade_line = next(line for line in archive.splitlines() if "公共信用综合评价" in line)
        assert "异议处理中" in grade_line
        page = client.get(f"/subjects/{sid}/evaluation").text
        assert "异议处理中" in page and "{'mark'" not in page
