"""Repair eligibility, pure: minimum periods on the edge days, sector rules, repeated repair,
fraud bar, items that cannot be repaired, publication already ended (Order No. 36)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from citycredit.catalog.yaml_node import CatalogError
from citycredit.rights.repair_rules import (
    DATA_FILE,
    PastRepair,
    RecordFacts,
    default_repair_rules,
    eligibility,
    load_repair_rules,
)

RULES = default_repair_rules()
GENERAL = RecordFacts(
    record_id="r1",
    item="penalty",
    department="榆林市市场监督管理局",
    status="active",
    severity="general",
    decision_date=date(2026, 5, 1),
    published=True,
    publication_end=date(2027, 5, 1),
    repair_from=date(2026, 8, 1),  # the catalog's 3-month minimum for 一般
    repaired=False,
    adverse=True,
    shared=False,  # as if no longer shared after its publication end
)


def failed(e: object) -> set[str]:
    return {c.code for c in e.conditions if not c.met}  # type: ignore[attr-defined]


def test_minimum_period_edge_days() -> None:
    before = eligibility(RULES, GENERAL, [], date(2026, 7, 31))
    assert not before.eligible and before.repairable
    assert before.available_from == date(2026, 8, 1)
    assert before.message == "暂不可申请修复：自 2026-08-01 起可申请"
    assert failed(before) == {"min_period"}
    on = eligibility(RULES, GENERAL, [], date(2026, 8, 1))
    assert on.eligible and failed(on) == set()


def test_publication_ended_needs_no_repair() -> None:
    e = eligibility(RULES, GENERAL, [], date(2027, 5, 1))  # end is exclusive: over on 5-1
    assert not e.eligible and not e.repairable and "in_publication" in failed(e)
    # The message names the last day published, not the exclusive end.
    assert e.message == "无需修复：公示期已于 2027-04-30 届满，且已停止共享"
    assert eligibility(RULES, GENERAL, [], date(2027, 4, 30)).eligible


def test_sector_rule_extends_the_minimum_for_old_decisions() -> None:
    safety = replace(
        GENERAL,
        department="榆林市应急管理局",
        decision_date=date(2026, 3, 15),
        repair_from=date(2026, 6, 15),
        publication_end=date(2027, 3, 15),
    )
    e = eligibility(RULES, safety, [], date(2026, 11, 25))
    assert not e.eligible and e.available_from == date(2027, 3, 15)
    assert "原58号令" in next(c.detail for c in e.conditions if c.code == "min_period")
    # Decided on 2026-04-01 (Order No. 36 in force): the catalog's minimum applies.
    new = replace(safety, decision_date=date(2026, 4, 1), repair_from=date(2026, 7, 1))
    assert eligibility(RULES, new, [], date(2026, 7, 1)).eligible


def test_items_the_platform_cannot_repair() -> None:
    court = replace(GENERAL, item="judgment_defaulter")
    e = eligibility(RULES, court, [], date(2026, 11, 25))
    assert not e.eligible and not e.repairable and "repairable_item" in failed(e)
    assert "人民法院" in e.message


def test_withdrawn_repaired_and_not_adverse_records() -> None:
    for facts, code in (
        (replace(GENERAL, status="withdrawn"), "active"),
        (replace(GENERAL, repaired=True), "active"),
        (replace(GENERAL, adverse=False), "adverse"),
    ):
        e = eligibility(RULES, facts, [], date(2026, 11, 25))
        assert not e.repairable and code in failed(e)


def test_repeated_repair_limits() -> None:
    today = date(2026, 11, 25)
    last_year = [PastRepair(date(2026, 2, 1), "penalty")]
    e = eligibility(RULES, GENERAL, last_year, today)
    assert not e.eligible and e.repairable and failed(e) == {"since_last_repair"}
    assert e.available_from == date(2027, 2, 1)
    assert eligibility(RULES, GENERAL, last_year, date(2027, 2, 1)).eligible
    twice = [PastRepair(date(2023, 1, 1), "penalty"), PastRepair(date(2024, 6, 1), "penalty")]
    e = eligibility(RULES, GENERAL, twice, today)
    assert not e.eligible and not e.repairable and "repair_count" in failed(e)


def test_fraud_bar() -> None:
    fraud = [PastRepair(date(2025, 1, 10), "penalty", revoked_for_fraud=True)]
    serious = replace(GENERAL, severity="serious", publication_end=date(2029, 5, 1))
    e = eligibility(RULES, serious, fraud, date(2026, 11, 25))
    assert not e.eligible and "fraud_bar" in failed(e)
    assert e.available_from == date(2028, 1, 10)
    assert not eligibility(RULES, serious, fraud, date(2028, 1, 9)).eligible
    assert eligibility(RULES, serious, fraud, date(2028, 1, 10)).eligible


def test_rules_file_is_checked_against_the_catalog(tmp_path: Path) -> None:
    text = DATA_FILE.read_text(encoding="utf-8")
    bad = tmp_path / "repair.yaml"
    bad.write_text(text.replace("[榆林市应急管理局]", "[不存在的局]"), encoding="utf-8")
    with pytest.raises(CatalogError, match="不存在的局"):
        load_repair_rules(bad)
    bad.write_text(text.replace("working_days: 10", "working_days: -10"), encoding="utf-8")
    with pytest.raises(CatalogError, match="非负整数"):
        load_repair_rules(bad)
    assert all(lim.uncertain for lim in RULES.deadlines.values())
