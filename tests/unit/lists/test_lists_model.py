"""Membership state machine and list rules: notice before publication, periods, exits."""

from __future__ import annotations

from datetime import date, datetime
from itertools import product
from typing import TypeAlias

import pytest

from citycredit.lists import (
    FINAL_STATUSES,
    TRANSITIONS,
    ExitCode,
    ListCatalog,
    Membership,
    MembershipStatus,
    Origin,
    advance,
    apply,
    can_decide,
    can_publish,
    default_lists,
    exit_allowed,
    expires_on,
    notice_deadline,
)
from citycredit.shared.calendar import SHANGHAI, LegalCalendar
from citycredit.shared.errors import FieldError, InvalidTransition, NotFound

S: TypeAlias = MembershipStatus
# The allowed steps, written out independently of TRANSITIONS.
ALLOWED = {
    (S.proposed, S.noticed),
    (S.proposed, S.withdrawn),
    (S.noticed, S.decided),
    (S.noticed, S.withdrawn),
    (S.decided, S.published),
    (S.decided, S.withdrawn),
    (S.published, S.expired),
    (S.published, S.exited),
}


@pytest.fixture(scope="module")
def lists() -> ListCatalog:
    return default_lists()


@pytest.fixture(scope="module")
def calendar() -> LegalCalendar:
    return LegalCalendar()


def local(status: S = S.decided, **kw: object) -> Membership:
    """A local market-supervision membership noticed 2024-03-01 and decided 2024-03-15."""
    values: dict[str, object] = {
        "list_type": "market_supervision_serious",
        "subject_id": "s-1",
        "origin": Origin.local,
        "status": status,
        "reasons": "销售不合格食品，情节严重",
        "decision_no": "榆市监严〔2024〕3号",
        "proposing_department": "榆林市市场监督管理局",
        "proposed_on": date(2024, 2, 20),
        "noticed_on": date(2024, 3, 1),
        "decided_on": date(2024, 3, 15),
    }
    values.update(kw)
    return Membership(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("current", "target"), list(product(S, S)))
def test_transition_matrix(current: S, target: S) -> None:
    if (current, target) in ALLOWED:
        assert apply(current, target) is target
    else:
        with pytest.raises(InvalidTransition) as err:
            apply(current, target)
        assert err.value.code == "invalid_transition"


def test_table_matches_and_final_statuses() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(TRANSITIONS) == set(S)
    assert {S.expired, S.exited, S.withdrawn} == FINAL_STATUSES


def test_membership_origin_must_be_one_side() -> None:
    with pytest.raises(FieldError):
        local(origin=Origin.both)
    with pytest.raises(FieldError):
        Membership("judgment_defaulter", "s-2", Origin.external, S.proposed)
    assert Membership("judgment_defaulter", "s-2", Origin.external, S.published).is_active()


def test_no_publication_without_prior_notice() -> None:
    verdict = can_publish(local(noticed_on=None))
    assert not verdict and "告知" in verdict.reason
    with pytest.raises(InvalidTransition, match="告知"):
        advance(local(noticed_on=None), S.published, date(2024, 3, 16))


def test_publication_after_notice_and_decision() -> None:
    assert can_publish(local())
    assert not can_publish(local(decision_no=None))
    assert not can_publish(local(decided_on=date(2024, 2, 28)))  # decision before notice
    assert not can_publish(local(S.noticed, decided_on=None))


def test_external_publication_needs_only_the_document() -> None:
    ext = Membership("judgment_defaulter", "s-3", Origin.external, S.published, decision_no="x")
    assert can_publish(ext)
    assert not can_publish(Membership("judgment_defaulter", "s-3", Origin.external, S.published))


def test_advance_records_each_step() -> None:
    m = local(S.proposed, noticed_on=None, decided_on=None, decision_no=None)
    m = advance(m, S.noticed, date(2024, 3, 1))
    m = advance(m, S.decided, date(2024, 3, 15), decision_no="榆市监严〔2024〕3号")
    m = advance(m, S.published, date(2024, 3, 18))
    assert (m.noticed_on, m.decided_on, m.published_on) == (
        date(2024, 3, 1),
        date(2024, 3, 15),
        date(2024, 3, 18),
    )
    assert m.status is S.published and m.decision_no == "榆市监严〔2024〕3号"
    with pytest.raises(InvalidTransition, match="exit_code"):
        advance(m, S.exited, date(2025, 4, 1))
    done = advance(m, S.exited, date(2025, 4, 1), exit_code=ExitCode.repair, exit_reason="修复")
    assert done.ended_on == date(2025, 4, 1) and done.exit_code is ExitCode.repair
    with pytest.raises(InvalidTransition):
        advance(done, S.published, date(2025, 4, 2))


def test_notice_deadline_over_national_day(lists: ListCatalog, calendar: LegalCalendar) -> None:
    lt = lists.list_type("market_supervision_serious")
    assert lt.notice is not None and lt.notice.objection_working_days == 5
    # 2025-10-01..08 holidays, Saturday 2025-10-11 a make-up working day.
    deadline = notice_deadline(date(2025, 9, 30), lt, calendar)
    assert deadline.due == date(2025, 10, 14)
    assert deadline.ends_at == datetime(2025, 10, 15, tzinfo=SHANGHAI)  # end exclusive
    assert notice_deadline(date(2025, 3, 3), lt, calendar).due == date(2025, 3, 10)
    assert notice_deadline(date(2025, 3, 3), lt, calendar, working_days=10).due == date(2025, 3, 17)


def test_external_list_has_no_notice(lists: ListCatalog, calendar: LegalCalendar) -> None:
    with pytest.raises(NotFound):
        notice_deadline(date(2025, 3, 3), lists.list_type("judgment_defaulter"), calendar)


def test_decision_only_after_the_objection_window(
    lists: ListCatalog, calendar: LegalCalendar
) -> None:
    lt = lists.list_type("market_supervision_serious")
    m = local(S.noticed, noticed_on=date(2025, 3, 3), decided_on=None)
    assert not can_decide(m, lt, date(2025, 3, 7), calendar)
    assert not can_decide(m, lt, date(2025, 3, 10), calendar)  # last day of the window
    assert can_decide(m, lt, date(2025, 3, 11), calendar)
    pending = can_decide(
        local(S.noticed, noticed_on=date(2025, 3, 3), objection_pending=True),
        lt,
        date(2025, 3, 11),
        calendar,
    )
    assert not pending and "异议" in pending.reason
    assert not can_decide(local(S.proposed, noticed_on=None), lt, date(2025, 3, 11), calendar)


def test_expiry_on_the_exact_day(lists: ListCatalog) -> None:
    lt = lists.list_type("market_supervision_serious")
    # 民法典 201/202: decided 2024-03-15, three years run 03-16 … 2027-03-15 (the last day).
    end = expires_on(date(2024, 3, 15), lt)
    assert end == date(2027, 3, 16)
    m = local(S.published, published_on=date(2024, 3, 18), expires_on=end)
    assert m.is_active(date(2027, 3, 15))
    assert not m.is_active(date(2027, 3, 16))
    # No 2025-02-29: February's last day is the last day on the list.
    assert expires_on(date(2024, 2, 29), lists.list_type("overload_transport")) == date(2025, 3, 1)


def test_decided_period_within_range(lists: ListCatalog) -> None:
    lt = lists.list_type("government_procurement")  # 一至三年 set by the decision
    assert expires_on(date(2024, 5, 10), lt, 12) == date(2025, 5, 11)
    for months in (6, 40):
        with pytest.raises(FieldError):
            expires_on(date(2024, 5, 10), lt, months)
    assert expires_on(date(2024, 5, 10), lists.list_type("abnormal_operation")) is None
    with pytest.raises(FieldError):
        expires_on(date(2024, 5, 10), lists.list_type("abnormal_operation"), 12)


@pytest.mark.parametrize(
    ("today", "allowed"),
    [(date(2025, 3, 15), False), (date(2025, 3, 16), True), (date(2025, 3, 17), True)],
)
def test_repair_after_minimum_period(lists: ListCatalog, today: date, allowed: bool) -> None:
    lt = lists.list_type("market_supervision_serious")  # repair after 12 months
    m = local(S.published, published_on=date(2024, 3, 18))
    assert bool(exit_allowed(lt, ExitCode.repair, m, today)) is allowed


@pytest.mark.parametrize(
    ("today", "allowed"),
    [(date(2024, 9, 15), False), (date(2024, 9, 16), True), (date(2024, 10, 1), True)],
)
def test_wage_arrears_repair_after_six_months(
    lists: ListCatalog, today: date, allowed: bool
) -> None:
    lt = lists.list_type("wage_arrears")
    m = local(S.published, list_type="wage_arrears", published_on=date(2024, 3, 18))
    assert bool(exit_allowed(lt, ExitCode.repair, m, today)) is allowed


def test_exit_rules(lists: ListCatalog) -> None:
    ms = lists.list_type("market_supervision_serious")
    m = local(S.published, published_on=date(2024, 3, 18), expires_on=date(2027, 3, 15))
    assert exit_allowed(ms, ExitCode.objection_upheld, m, date(2024, 3, 20))  # no minimum
    assert not exit_allowed(ms, ExitCode.period_end, m, date(2027, 3, 14))
    assert exit_allowed(ms, ExitCode.period_end, m, date(2027, 3, 15))
    refused = exit_allowed(ms, ExitCode.court_release, m, date(2025, 1, 1))
    assert not refused and "不适用" in refused.reason
    gp = lists.list_type("government_procurement")  # statutory ban: no repair
    assert not exit_allowed(gp, ExitCode.repair, m, date(2027, 1, 1))
    assert not exit_allowed(ms, ExitCode.objection_upheld, local(S.decided), date(2024, 4, 1))
    no_start = local(S.published, decided_on=None, published_on=None)
    assert not exit_allowed(ms, ExitCode.repair, no_start, date(2030, 1, 1))
