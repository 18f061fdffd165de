"""信易批 eligibility per rule branch, measure matching by matter/list/grade, public masking."""

from __future__ import annotations

from datetime import date
from typing import TypeAlias

import pytest

from citycredit.lists import (
    EligibilityRule,
    Facts,
    Grade,
    ListCatalog,
    Matter,
    Membership,
    MembershipStatus,
    Origin,
    applicable_measures,
    credit_check,
    default_lists,
    eligibility,
    public_entry,
    public_name,
)

TODAY = date(2026, 5, 20)
S: TypeAlias = MembershipStatus


@pytest.fixture(scope="module")
def lists() -> ListCatalog:
    return default_lists()


def member(list_type: str, status: S = S.published, expires: date | None = None) -> Membership:
    return Membership(
        list_type,
        "s-1",
        Origin.external,
        status,
        reasons="拒不履行生效判决，身份证 610802199001011234",
        decision_no="(2025)陕0802执123号",
        published_on=date(2025, 6, 1),
        expires_on=expires,
    )


def codes(found: list) -> set[str]:  # type: ignore[type-arg]
    return {m.code for m in found}


# ---- eligibility ---------------------------------------------------------------------------


def test_good_grade_is_eligible_with_modes(lists: ListCatalog) -> None:
    food = lists.matter("food_business_licence")
    decision = eligibility(food, Facts(TODAY, Grade.A))
    assert decision.eligible
    assert decision.rule_text == food.fast_approval.text
    assert decision.modes == ("notify_commit", "tolerant_acceptance")
    assert "信用等级 A 在 A、B 之内" in decision.reasons
    assert "无处理中的异议" in decision.reasons


def test_grade_outside_the_rule(lists: ListCatalog) -> None:
    decision = eligibility(lists.matter("food_business_licence"), Facts(TODAY, Grade.C))
    assert not decision.eligible
    assert decision.reasons == ["信用等级 C 不在 A、B 之内"]
    assert decision.modes == ()


def test_no_grade_follows_the_rule(lists: ListCatalog) -> None:
    allowed = eligibility(lists.matter("food_business_licence"), Facts(TODAY, None))
    assert allowed.eligible and "尚无公共信用综合评价结果" in allowed.reasons[0]
    refused = eligibility(lists.matter("coal_mine_safety_licence"), Facts(TODAY, None))
    assert not refused.eligible
    assert refused.reasons == ["尚无公共信用综合评价结果，按本事项规则视为不满足等级条件"]
    assert "尚无评价结果时视为不满足等级条件" in refused.rule_text


def test_active_serious_membership_excludes(lists: ListCatalog) -> None:
    facts = Facts(TODAY, Grade.A, (member("judgment_defaulter"),))
    decision = eligibility(lists.matter("food_business_licence"), facts)
    assert not decision.eligible
    assert decision.reasons == ["存在有效名单记录：失信被执行人"]


def test_ended_or_expired_membership_does_not_exclude(lists: ListCatalog) -> None:
    food = lists.matter("food_business_licence")
    exited = member("wage_arrears", S.exited)
    expired = member("market_supervision_serious", expires=TODAY)  # expires today
    assert eligibility(food, Facts(TODAY, Grade.B, (exited, expired))).eligible
    still = member("market_supervision_serious", expires=date(2026, 5, 21))
    assert not eligibility(food, Facts(TODAY, Grade.B, (still,))).eligible


def test_abnormal_operation_excludes_only_where_listed(lists: ListCatalog) -> None:
    facts = Facts(TODAY, Grade.A, (member("abnormal_operation"),))
    assert not eligibility(lists.matter("road_transport_licence"), facts).eligible
    assert eligibility(lists.matter("food_business_licence"), facts).eligible


def test_pending_objection_and_repair(lists: ListCatalog) -> None:
    coal = lists.matter("coal_mine_safety_licence")
    objection = eligibility(coal, Facts(TODAY, Grade.A, pending_objections=1))
    assert objection.reasons == ["有 1 件处理中的异议"]
    repair = eligibility(coal, Facts(TODAY, Grade.A, pending_repairs=2))
    assert repair.reasons == ["有 2 件处理中的信用修复申请"]
    # 社会团体成立登记 does not look at pending objections.
    social = lists.matter("social_group_registration")
    assert eligibility(social, Facts(TODAY, Grade.A, pending_objections=1)).eligible


@pytest.mark.parametrize(
    ("breach", "eligible"),
    # 民法典 201/202: a breach on 2025-05-20 excludes 05-21 … 2026-05-20 (TODAY, the last day).
    [
        (date(2025, 5, 21), False),
        (date(2025, 5, 20), False),
        (date(2025, 5, 19), True),
        (date(2024, 1, 1), True),
    ],
)
def test_commitment_breach_excludes_for_the_window(
    lists: ListCatalog, breach: date, eligible: bool
) -> None:
    food = lists.matter("food_business_licence")  # 12 months
    decision = eligibility(food, Facts(TODAY, Grade.A, breaches=(breach,)))
    assert decision.eligible is eligible
    if not eligible:
        assert decision.reasons == [f"{breach.isoformat()} 违反信用承诺，12 个月内不适用"]


def test_every_failed_condition_is_a_reason(lists: ListCatalog) -> None:
    coal = lists.matter("coal_mine_safety_licence")
    facts = Facts(
        TODAY,
        Grade.B,
        (member("work_safety_serious"),),
        pending_objections=1,
        pending_repairs=1,
        breaches=(date(2026, 1, 1),),
    )
    decision = eligibility(coal, facts)
    assert not decision.eligible and len(decision.reasons) == 5
    assert decision.reasons[1] == "存在有效名单记录：安全生产严重失信主体"


def test_hand_made_rule_describes_itself() -> None:
    rule = EligibilityRule(grades=(Grade.A,), without_grade=False, no_pending_objection=False)
    matter = Matter("m", "事项", "榆林市民政局", False, False, rule)
    decision = eligibility(matter, Facts(TODAY, Grade.A))
    assert decision.eligible and decision.modes == ()
    assert decision.rule_text == "信用等级为A（尚无评价结果时视为不满足等级条件）"


# ---- measure matching ----------------------------------------------------------------------


def test_matching_by_list_and_matter(lists: ListCatalog) -> None:
    ms = lists.measures
    procurement = [member("government_procurement")]
    bidding = applicable_measures(ms, lists.matter("public_bidding_check"), procurement, Grade.B)
    assert codes(bidding) == {"procurement_ban", "key_supervision"}
    food = applicable_measures(ms, "food_business_licence", procurement, Grade.B)
    assert codes(food) == {"no_notify_commit", "no_tolerant_acceptance", "key_supervision"}


def test_matters_none_measures_only_in_overview(lists: ListCatalog) -> None:
    defaulter = [member("judgment_defaulter")]
    overview = codes(applicable_measures(lists.measures, None, defaulter, None))
    assert {"restrict_high_consumption", "no_honours", "market_credit_reference"} <= overview
    in_food = codes(applicable_measures(lists.measures, "food_business_licence", defaulter, None))
    assert "restrict_high_consumption" not in in_food
    assert "no_notify_commit" in in_food


def test_matching_by_grade(lists: ListCatalog) -> None:
    ms = lists.measures
    d = codes(applicable_measures(ms, "pollutant_discharge_permit", [], Grade.D))
    assert d == {"key_supervision", "no_tolerant_acceptance"}
    a = codes(applicable_measures(ms, "food_business_licence", [], Grade.A))
    assert a == {
        "green_channel",
        "tolerant_acceptance_priority",
        "notify_commit_priority",
        "fewer_inspections",
    }
    b = codes(applicable_measures(ms, "food_business_licence", [], Grade.B))
    assert b == {"notify_commit_priority"}
    assert applicable_measures(ms, "food_business_licence", [], Grade.C) == []
    assert applicable_measures(ms, "food_business_licence", [], None) == []


def test_red_list_incentives_stop_on_a_serious_list(lists: ListCatalog) -> None:
    ms = lists.measures
    red = member("red_list")
    both = [red, member("wage_arrears")]
    assert "green_channel" in codes(applicable_measures(ms, None, [red], None))
    found = codes(applicable_measures(ms, None, both, Grade.A))
    assert not found & {"green_channel", "credit_finance", "fewer_inspections"}
    assert "wage_arrears_restrictions" in found


def test_expired_membership_triggers_nothing_with_today(lists: ListCatalog) -> None:
    old = [member("judgment_defaulter", expires=date(2026, 1, 1))]
    assert applicable_measures(lists.measures, None, old, None, TODAY) == []
    assert applicable_measures(lists.measures, None, old, None)  # status alone without today
    proposed = [Membership("wage_arrears", "s", Origin.local, S.proposed)]
    assert applicable_measures(lists.measures, None, proposed, None) == []


def test_credit_check_combines_both(lists: ListCatalog) -> None:
    food = lists.matter("food_business_licence")
    check = credit_check(
        food, Facts(TODAY, Grade.A, (member("major_tax_violation"),)), lists.measures
    )
    assert check.matter == "food_business_licence"
    assert not check.decision.eligible
    assert {m.code for m in check.measures} == {
        "no_notify_commit",
        "no_tolerant_acceptance",
        "key_supervision",
    }


# ---- public list masking -------------------------------------------------------------------


def test_public_names(lists: ListCatalog) -> None:
    ms = lists.list_type("market_supervision_serious")
    assert public_name("张三丰", is_person=True, list_type=ms) == "张**"
    assert public_name("欧阳娜娜", is_person=True, list_type=ms) == "欧阳**"
    assert (
        public_name(" 榆林市某某煤业有限公司 ", is_person=False, list_type=ms)
        == "榆林市某某煤业有限公司"
    )
    court = lists.list_type("judgment_defaulter")
    assert public_name("张三丰", is_person=True, list_type=court) == "张三丰"


def test_public_entry(lists: ListCatalog) -> None:
    lt = lists.list_type("wage_arrears")
    m = member("wage_arrears", expires=date(2028, 6, 1))
    row = public_entry(m, lt, subject_name="李四", is_person=True, today=TODAY)
    assert row is not None
    assert row["name"] == "李*" and row["list_name"] == "拖欠农民工工资失信联合惩戒对象"
    assert row["expires_on"] == "2028-06-01" and row["decided_on"] is None
    assert row["reasons"] is not None and "610802199001011234" not in row["reasons"]
    assert public_entry(m, lt, subject_name="李四", is_person=True, today=date(2028, 6, 1)) is None
    decided = Membership("wage_arrears", "s", Origin.local, S.decided)
    assert public_entry(decided, lt, subject_name="李四", is_person=True, today=TODAY) is None
