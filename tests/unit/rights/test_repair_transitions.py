"""Repair application states: every allowed transition, and every other one raises."""

from __future__ import annotations

import pytest

from citycredit.rights.repairs import STATUS_LABELS, TRANSITIONS, check_transition
from citycredit.shared.errors import InvalidTransition

ALLOWED = {
    ("submitted", "accepted"),
    ("submitted", "rejected"),
    ("accepted", "approved"),
    ("accepted", "denied"),
    ("approved", "revoked"),
}


def test_transition_table_is_exactly_the_documented_one() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(TRANSITIONS) == set(STATUS_LABELS)


@pytest.mark.parametrize("current", sorted(STATUS_LABELS))
@pytest.mark.parametrize("target", sorted(STATUS_LABELS))
def test_every_pair(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition) as err:
            check_transition(current, target)
        assert STATUS_LABELS[current] in err.value.message
