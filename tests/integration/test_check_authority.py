"""Which departments may run a 信用核查 for which matter (matters.yaml `checked_by`).

Service level on both databases: a department checks the matters it may check, a refused check
stores, logs and emits nothing, the credit office acts only for a department that may check the
matter, and only the checking department answers for a check. The loader's rules for
`checked_by` are tested on a copy of the shipped data (no database).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.checks import service as checks
from citycredit.checks.db import CheckFeedbackRow, CreditCheckRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel import outbox
from citycredit.kernel.db import DisclosureRow, OutboxEventRow
from citycredit.lists import DEFAULT_DIRECTORY, default_lists, load_lists
from citycredit.lists.loader import CatalogError
from citycredit.shared.errors import HiddenDenial, PermissionDenied
from citycredit.subjects.db import SubjectRow
from support import SAMR, department, uscc, write_csv

COURT = "榆林市中级人民法院"
TRANSPORT = "榆林市交通运输局"
EDUCATION = "榆林市教育局"
HRSS = "榆林市人力资源和社会保障局"
LISTED = uscc("91", "610802", "MA6AUT01")
DEFAULTER = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_AH", "SX_ZXFY", "SX_FBRQ", "SX_SXQX"]
OFFICE = Principal(role=Role.credit_office_admin, label="信用办核查员", user_id=None)
FOOD = "food_business_licence"  # 市场监管局 only (no checked_by)
SCHOOL = "private_school_licence"  # checked_by: [教育局, 人社局]
BIDDING = "public_bidding_check"  # checked_by: any_department
COAL = "coal_mine_safety_licence"  # 应急管理局, not registered in these tests


# ---- the shipped data ---------------------------------------------------------------------


def test_the_shipped_matters_state_who_checks_them() -> None:
    matters = default_lists().matters
    assert matters[FOOD].checkers == (SAMR,) and not matters[FOOD].any_department
    assert matters[SCHOOL].checkers == (EDUCATION, HRSS)
    assert matters[BIDDING].any_department and matters[BIDDING].checkers == ()
    assert matters[BIDDING].may_be_checked_by(COURT) and matters[BIDDING].may_be_checked_by(SAMR)
    assert matters[SCHOOL].may_be_checked_by(HRSS) and not matters[SCHOOL].may_be_checked_by(SAMR)
    assert not matters[FOOD].may_be_checked_by(TRANSPORT)
    # Without `checked_by`, each matter is its own department's only.
    for m in matters.values():
        if m.code not in (SCHOOL, BIDDING):
            assert m.checkers == (m.department,), m.code


# ---- the loader ---------------------------------------------------------------------------


def _load_with(tmp_path: Path, code: str, checked_by: object) -> Any:
    folder = tmp_path / "data"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    path = folder / "matters.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry = next(e for e in data["matters"] if e["code"] == code)
    entry["checked_by"] = checked_by
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_lists(folder)


def test_loader_refuses_an_unknown_department_in_checked_by(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as err:
        _load_with(tmp_path, FOOD, [SAMR, "榆林市不存在局"])
    # The matter and the value are named: file, key path with the matter's code, the name.
    assert err.value.file == "matters.yaml"
    assert err.value.key == f"matters[{FOOD}].checked_by[1]"
    assert "榆林市不存在局" in err.value.problem and "信源单位" in err.value.problem
    assert FOOD in str(err.value) and "榆林市不存在局" in str(err.value)


@pytest.mark.parametrize(
    ("checked_by", "key", "words"),
    [
        ("anydepartment", "checked_by", "any_department"),  # a typo of the keyword
        (SAMR, "checked_by", "any_department"),  # a bare name: write a list
        ([], "checked_by", "非空"),
        ([SAMR, SAMR], "checked_by[1]", "重复"),
        ([TRANSPORT], "checked_by", SAMR),  # the matter's own department is left out
        ([SAMR, 3], "checked_by[1]", "信源单位名称"),
    ],
    ids=["typo", "bare-name", "empty", "duplicate", "without-own-department", "not-a-name"],
)
def test_loader_refuses_a_malformed_checked_by(
    tmp_path: Path, checked_by: object, key: str, words: str
) -> None:
    with pytest.raises(CatalogError) as err:
        _load_with(tmp_path, FOOD, checked_by)
    assert err.value.key == f"matters[{FOOD}].{key}"
    assert words in err.value.problem


def test_loader_reads_a_list_and_any_department(tmp_path: Path) -> None:
    listed = _load_with(tmp_path, FOOD, [TRANSPORT, SAMR]).matters[FOOD]
    assert listed.checkers == (TRANSPORT, SAMR) and listed.may_be_checked_by(TRANSPORT)
    shutil.rmtree(tmp_path / "data")
    anyone = _load_with(tmp_path, FOOD, "any_department").matters[FOOD]
    assert anyone.any_department and anyone.may_be_checked_by("榆林市财政局")


# ---- checks (both databases) --------------------------------------------------------------


def listed_company(c: Container, tmp: Path) -> str:
    """A company on the 失信被执行人 list (so a check has measures and discloses a membership)."""
    court = department(c, COURT, "MA0CRT01")
    row = [
        "榆阳区核查权限商贸有限公司",
        "法人及非法人组织",
        LISTED,
        "（2026）陕0802执300号",
        COURT,
        "2026-10-01",
        "有履行能力而拒不履行生效法律文书确定义务",
    ]
    ingest_submission(
        c, court, path=write_csv(tmp / "sx.csv", DEFAULTER, [row]), item_code="judgment_defaulter"
    )
    outbox.deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == LISTED))
    assert sid is not None
    return sid


@pytest.fixture
def world(container: Container, tmp_path: Path) -> dict[str, Any]:
    sid = listed_company(container, tmp_path)
    staff = {
        "samr": department(container),
        "transport": department(container, TRANSPORT, "MA0TRN01"),
        "education": department(container, EDUCATION, "MA0EDU01"),
        "hrss": department(container, HRSS, "MA0HRM01"),
        "court": department_principal(container, COURT),
    }
    return {"c": container, "sid": sid, "staff": staff}


def counts(c: Container) -> tuple[int, ...]:
    """Stored checks, disclosure-log rows, outbox events and feedback."""
    with c.uow() as uow:
        s = uow.session
        return tuple(
            int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (CreditCheckRow, DisclosureRow, OutboxEventRow, CheckFeedbackRow)
        )


def dept_id(c: Container, name: str) -> int:
    with c.uow() as uow:
        found = uow.session.scalar(select(DepartmentRow.id).where(DepartmentRow.name == name))
    assert found is not None
    return int(found)


def run(w: dict[str, Any], actor: Principal, matter: str, **kw: Any) -> dict[str, Any]:
    return checks.run_check(w["c"], actor, subject_id=w["sid"], matter=matter, **kw)


def refused(w: dict[str, Any], actor: Principal, matter: str, **kw: Any) -> PermissionDenied:
    """The check is refused and nothing of it is stored, logged or emitted."""
    before = counts(w["c"])
    with pytest.raises(PermissionDenied) as err:
        run(w, actor, matter, **kw)
    assert err.value.code == "matter_not_for_department"
    assert counts(w["c"]) == before
    return err.value


@pytest.mark.db
def test_a_department_checks_its_own_matter(world: dict[str, Any]) -> None:
    c = world["c"]
    res = run(world, world["staff"]["samr"], FOOD)
    assert res["department"] == SAMR and res["memberships"]
    with c.uow() as uow:
        row = uow.session.get(CreditCheckRow, res["check_id"])
        assert row is not None and row.department_id == dept_id(c, SAMR)


@pytest.mark.db
def test_a_foreign_matter_is_refused_and_nothing_is_stored(world: dict[str, Any]) -> None:
    transport = world["staff"]["transport"]
    at_start = counts(world["c"])
    err = refused(world, transport, FOOD)
    # The message names the matter, the refused department and who may check it.
    assert "食品经营许可" in err.message and FOOD in err.message
    assert f"部门「{TRANSPORT}」不能" in err.message and SAMR in err.message
    # Naming one's own department, or the matter's, changes nothing.
    refused(world, transport, FOOD, department=TRANSPORT)
    with pytest.raises(PermissionDenied) as other:
        run(world, transport, FOOD, department=SAMR)
    assert other.value.code == "other_department"
    assert counts(world["c"]) == at_start and at_start[:2] == (0, 0)  # no check, no disclosure
    # The same staff check their own matter.
    assert run(world, transport, "road_transport_licence")["department"] == TRANSPORT


@pytest.mark.db
def test_a_listed_department_may_check(world: dict[str, Any]) -> None:
    staff = world["staff"]
    assert run(world, staff["education"], SCHOOL)["department"] == EDUCATION
    assert run(world, staff["hrss"], SCHOOL)["department"] == HRSS
    err = refused(world, staff["samr"], SCHOOL)
    assert f"{EDUCATION}、{HRSS}" in err.message
    refused(world, staff["hrss"], FOOD)  # listed for one matter, not for the others


@pytest.mark.db
def test_any_department_may_check_a_bidding_matter(world: dict[str, Any]) -> None:
    c = world["c"]
    for name, actor in world["staff"].items():
        res = run(world, actor, BIDDING)
        assert res["department"] == actor.department_name, name
    with c.uow() as uow:
        stored = set(
            uow.session.scalars(
                select(CreditCheckRow.department_id).where(CreditCheckRow.matter == BIDDING)
            )
        )
    assert stored == {dept_id(c, a.department_name or "") for a in world["staff"].values()}


@pytest.mark.db
def test_the_credit_office_acts_only_for_a_department_that_may_check(
    world: dict[str, Any],
) -> None:
    c = world["c"]
    assert run(world, OFFICE, FOOD, department=SAMR)["department"] == SAMR
    assert run(world, OFFICE, SCHOOL, department=HRSS)["department"] == HRSS
    assert run(world, OFFICE, BIDDING, department=COURT)["department"] == COURT
    # Without a name: the matter's own department, or the office itself when it is not registered.
    assert run(world, OFFICE, FOOD)["department"] == SAMR
    coal = run(world, OFFICE, COAL)
    assert coal["department"] == checks.CREDIT_OFFICE
    with c.uow() as uow:
        row = uow.session.get(CreditCheckRow, coal["check_id"])
        assert row is not None and row.department_id is None
    err = refused(world, OFFICE, FOOD, department=TRANSPORT)
    assert f"信用办不能以部门「{TRANSPORT}」的名义" in err.message and "食品经营许可" in err.message
    refused(world, SYSTEM, SCHOOL, department=SAMR)  # the console is held to the same rule


@pytest.mark.db
def test_only_the_checking_department_answers_for_a_check(world: dict[str, Any]) -> None:
    c = world["c"]
    staff = world["staff"]
    food = run(world, staff["samr"], FOOD)
    measure = food["measures"][0]["code"]
    before = counts(c)
    for other in ("transport", "court"):  # court: a department of a check of its own below
        with pytest.raises(HiddenDenial) as err:  # answered like a missing check (G8)
            checks.record_feedback(
                c, staff[other], food["check_id"], measure_code=measure, applied=True
            )
        assert (err.value.code, err.value.reason.code) == ("check_not_found", "other_department")
        with pytest.raises(HiddenDenial):
            checks.get_check(c, staff[other], food["check_id"])
    assert counts(c) == before
    checks.record_feedback(c, staff["samr"], food["check_id"], measure_code=measure, applied=True)
    assert checks.get_check(c, staff["samr"], food["check_id"])["feedback"][0]["applied"] is True

    # A check the office made for SAMR is SAMR's to answer; one it made for itself is nobody's
    # department's.
    for_samr = run(world, OFFICE, FOOD, department=SAMR)
    checks.record_feedback(
        c, staff["samr"], for_samr["check_id"], measure_code=measure, applied=True
    )
    own = run(world, OFFICE, COAL)
    coal_measure = own["measures"][0]["code"]
    with pytest.raises(HiddenDenial):
        checks.record_feedback(
            c, staff["samr"], own["check_id"], measure_code=coal_measure, applied=True
        )
    checks.record_feedback(c, OFFICE, own["check_id"], measure_code=coal_measure, applied=True)
    # Checking a matter (bidding) gives no department a say on another department's check.
    court_check = run(world, staff["court"], BIDDING)
    with pytest.raises(HiddenDenial):
        checks.record_feedback(
            c,
            staff["transport"],
            court_check["check_id"],
            measure_code=court_check["measures"][0]["code"],
            applied=True,
        )
