"""Objection rules, pure: transitions, outcomes per target, deadlines data, legal clocks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from citycredit.catalog.yaml_node import CatalogError
from citycredit.rights.model import (
    OUTCOMES,
    TRANSITIONS,
    ObjectionStatus,
    Outcome,
    TargetType,
    check_outcome,
    check_transition,
    default_deadlines,
    is_overdue,
    load_deadlines,
)
from citycredit.shared.calendar import LegalCalendar
from citycredit.shared.errors import FieldError, InvalidTransition

S = ObjectionStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.submitted, S.accepted), (S.submitted, S.rejected), (S.accepted, S.decided)],
)
def test_allowed_transitions(current: ObjectionStatus, target: ObjectionStatus) -> None:
    check_transition(current, target)


def test_every_other_transition_raises() -> None:
    allowed = {(S.submitted, S.accepted), (S.submitted, S.rejected), (S.accepted, S.decided)}
    for current in S:
        for target in S:
            if (current, target) in allowed:
                continue
            with pytest.raises(InvalidTransition):
                check_transition(current, target)
    assert not TRANSITIONS[S.rejected] and not TRANSITIONS[S.decided]


def test_outcomes_per_target() -> None:
    check_outcome(TargetType.record, Outcome.corrected)
    check_outcome(TargetType.membership, Outcome.withdrawn)
    with pytest.raises(FieldError) as err:
        check_outcome(TargetType.evaluation, Outcome.withdrawn)
    assert err.value.field == "outcome" and err.value.value == "withdrawn"
    with pytest.raises(FieldError):
        check_outcome(TargetType.membership, Outcome.corrected)
    assert OUTCOMES[TargetType.record] == frozenset(Outcome)


def test_default_deadlines_carry_basis_and_uncertainty() -> None:
    d = default_deadlines()
    for code in ("accept_within", "verify_within"):
        lim = d.limit("objection", code)
        assert lim.working_days and lim.working_days > 0
        assert lim.basis and lim.uncertain is True  # not confirmed against official text
    assert d.limit("objection", "statement_max_chars").value == 200


def test_deadlines_file_refuses_missing_basis(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(
        "objection:\n  accept_within:\n    working_days: 2\n    label: 受理\n", encoding="utf-8"
    )
    with pytest.raises(CatalogError, match="basis"):
        load_deadlines(f)
    f.write_text(
        "objection:\n  accept_within:\n    working_days: -1\n    label: 受理\n    basis: x\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match="非负整数"):
        load_deadlines(f)


def test_overdue_is_the_day_after_the_last_day() -> None:
    assert not is_overdue(date(2026, 3, 9), date(2026, 3, 9))
    assert is_overdue(date(2026, 3, 9), date(2026, 3, 10))
    assert not is_overdue(None, date(2026, 3, 10))


# The clocks across the 2026 Spring Festival (2-15..2-23 off; Sat 2-14 and Sat 2-28 worked) and
# National Day + Mid-Autumn (10-1..10-7 off; Sun 9-20 and Sat 10-10 worked), per the State
# Council notice (国办发明电〔2025〕7号).
@pytest.mark.parametrize(
    ("filed", "accept_due", "accepted", "verify_due"),
    [
        # Fri 2-13 + 2 wd: Sat 2-14 (worked), then Tue 2-24 after the holiday.
        (date(2026, 2, 13), date(2026, 2, 24), date(2026, 2, 24), date(2026, 3, 9)),
        # Wed 9-30 + 2 wd: Thu 10-8, Fri 10-9; then 10 wd counting Sat 10-10.
        (date(2026, 9, 30), date(2026, 10, 9), date(2026, 10, 9), date(2026, 10, 22)),
    ],
)
def test_objection_clocks_across_holidays(
    filed: date, accept_due: date, accepted: date, verify_due: date
) -> None:
    cal = LegalCalendar()
    d = default_deadlines()
    accept = d.limit("objection", "accept_within").working_days
    verify = d.limit("objection", "verify_within").working_days
    assert accept == 2 and verify == 10  # the dates below assume the shipped defaults
    assert cal.add_working_days(filed, accept).due == accept_due
    assert cal.add_working_days(accepted, verify).due == verify_due
