"""信用核查 reads the current grade: 信易批 eligibility and grade-triggered measures (both databases)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Principal
from citycredit.bootstrap import Container
from citycredit.checks.service import GRADE_NOTE, run_check
from citycredit.commitments.service import create_commitment, record_outcome
from citycredit.evaluation import runs, service
from citycredit.evaluation.model import load_models
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import DisclosureRow
from evaluation_support import (
    COMPANY,
    COURT,
    DEFAULTER,
    TODAY,
    deliver,
    licence,
    model_dir,
    subject_id,
)
from support import department, write_csv

pytestmark = pytest.mark.db


@pytest.fixture
def samr(container: Container, tmp_path: Path) -> Principal:
    """榆林市市场监督管理局, and a company holding one of its licences (605 points: B)."""
    principal = department(container)
    licence(container, tmp_path, COMPANY)
    return principal


def emergency(c: Container) -> Principal:
    """榆林市应急管理局: the department that checks the high-risk matters (煤矿安全生产许可)."""
    return department(c, "榆林市应急管理局", "MA0EMG01")


def check(c: Container, actor: Principal, matter: str) -> dict[str, Any]:
    return run_check(c, actor, subject_id=subject_id(c, COMPANY), matter=matter)


def triggered(result: dict[str, Any]) -> dict[str, list[str]]:
    return {m["code"]: m["triggered_by"] for m in result["measures"]}


def test_without_an_evaluation_the_rule_decides(container: Container, samr: Principal) -> None:
    food = check(container, samr, "food_business_licence")
    assert food["grade"] is None and food["grade_note"] == GRADE_NOTE and food["evaluation"] is None
    assert food["fast_approval"]["eligible"] is True  # without_grade: eligible
    coal = check(container, emergency(container), "coal_mine_safety_licence")
    assert coal["fast_approval"]["eligible"] is False  # without_grade: not_eligible
    assert coal["fast_approval"]["reasons"] == [
        "尚无公共信用综合评价结果，按本事项规则视为不满足等级条件"
    ]


def test_check_reads_the_current_grade(container: Container, samr: Principal) -> None:
    c = container
    deliver(c)
    food = check(c, samr, "food_business_licence")
    assert food["grade"] == "B" and food["grade_note"] is None
    ev = food["evaluation"]
    assert (ev["grade"], ev["grade_label"], ev["score"]) == ("B", "良", 605)
    assert (ev["as_of"], ev["model_code"], ev["model_version"]) == (
        TODAY.isoformat(),
        "enterprise",
        "2026.1",
    )
    assert food["fast_approval"]["eligible"] is True
    assert "信用等级 B 在 A、B 之内" in food["fast_approval"]["reasons"]
    # notify_commit_priority is triggered by a red list or grade A/B.
    assert triggered(food)["notify_commit_priority"] == ["grade:B"]
    coal = check(c, emergency(c), "coal_mine_safety_licence")
    assert coal["fast_approval"]["eligible"] is False
    assert coal["fast_approval"]["reasons"] == ["信用等级 B 不在 A 之内"]
    with c.uow() as uow:  # the grade is part of what the check disclosed
        logged = uow.session.scalars(select(DisclosureRow)).all()
    assert logged and all("evaluation" in row.items for row in logged)


def test_grade_a_of_a_new_model_version_unlocks_strict_matters(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    deliver(c)
    directory = model_dir(tmp_path, b_min=600)
    v2 = directory / "enterprise.2026.2.yaml"
    lowered = v2.read_text(encoding="utf-8").replace(
        "{grade: A, label: 优, min: 700}", "{grade: A, label: 优, min: 605}"
    )
    v2.write_text(lowered, encoding="utf-8")
    service.use_models(c, load_models(directory))
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=TODAY)
    assert run["counts"]["A"] == 1
    coal = check(c, emergency(c), "coal_mine_safety_licence")
    assert coal["grade"] == "A" and coal["evaluation"]["model_version"] == "2026.2"
    assert coal["fast_approval"]["eligible"] is True
    assert "信用等级 A 在 A 之内" in coal["fast_approval"]["reasons"]
    measures = triggered(coal)
    assert measures["green_channel"] == ["grade:A"] and measures["fewer_inspections"] == ["grade:A"]


def test_breached_commitment_lowers_the_grade_and_excludes(
    container: Container, samr: Principal
) -> None:
    c = container
    cm = create_commitment(
        c,
        samr,
        subject_id=subject_id(c, COMPANY),
        kind="approval_substitute",
        matter="food_business_licence",
        text="承诺所报材料真实，三个月内补交健康证明",
        made_on=date(2026, 9, 1),
    )
    deliver(c)
    assert check(c, samr, "food_business_licence")["fast_approval"]["eligible"] is True
    record_outcome(
        c, samr, cm["commitment_id"], result="breached", checked_on=date(2026, 11, 20), note="逾期"
    )
    deliver(c)
    food = check(c, samr, "food_business_licence")
    assert food["grade"] == "C" and food["evaluation"]["score"] == 565
    assert food["fast_approval"]["eligible"] is False
    assert food["fast_approval"]["reasons"] == [
        "信用等级 C 不在 A、B 之内",
        "2026-11-20 违反信用承诺，12 个月内不适用",
    ]
    assert "notify_commit_priority" not in triggered(food)


def test_grade_d_of_a_listed_company_triggers_punishments(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    court = department(c, COURT, "MA0CRT01")
    row = [
        "榆阳区评价商贸有限公司",
        "法人及非法人组织",
        COMPANY,
        "（2026）陕0802执100号",
        COURT,
        "2026-10-01",
        "有履行能力而拒不履行生效法律文书确定义务",
    ]
    path = write_csv(tmp_path / "sx.csv", DEFAULTER, [row])
    ingest_submission(c, court, path=path, item_code="judgment_defaulter")
    deliver(c)  # lists mirrors the record as a membership, then evaluation sees both events
    food = check(c, samr, "food_business_licence")
    assert food["grade"] == "D"
    measures = triggered(food)
    assert "grade:D" in measures["key_supervision"]
    assert "grade:D" in measures["no_tolerant_acceptance"]
    assert food["fast_approval"]["eligible"] is False
    assert "信用等级 D 不在 A、B 之内" in food["fast_approval"]["reasons"]
