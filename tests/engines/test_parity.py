"""One model, every engine: identical values, points, scores, grades, reasons for every subject.

The platform database engine runs on SQLite and PostgreSQL (the `container` fixture), DuckDB
reads the de-identified Parquet export of the same database, and the pure-Python reference
scorer reads the same export. The city is a small generated one plus the edge cases of
`evaluation_city.EDGE`, whose values are also checked against what the rules say they must be.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from evaluation_city import AS_OF, EXPECTED, build_city, edge_ids

from citycredit.analytics.export import export_parquet
from citycredit.bootstrap import Container
from citycredit.evaluation import (
    SubjectResult,
    evaluate_all_db,
    evaluate_db,
    evaluate_duckdb,
    load_models,
)
from citycredit.evaluation.reference import evaluate_reference, read_parquet_facts
from citycredit.shared.clock import FixedClock

pytestmark = pytest.mark.db

DAYS = (AS_OF - timedelta(days=1), AS_OF, AS_OF + timedelta(days=1), date(2026, 11, 1))


def by_subject(results: list[SubjectResult]) -> dict[str, SubjectResult]:
    out = {r.subject_id: r for r in results}
    assert len(out) == len(results)
    return out


def test_engines_agree_on_every_subject(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    build_city(c, clock, tmp_path)
    models = load_models()
    export_parquet(c, tmp_path / "parquet")
    facts = read_parquet_facts(tmp_path / "parquet")
    edges = edge_ids(c)
    for day in DAYS:
        with c.uow() as uow:
            db = by_subject(list(evaluate_all_db(uow.session, models, day, batch=97)))
        duck = by_subject(list(evaluate_duckdb(tmp_path / "parquet", models, day)))
        ref = by_subject(evaluate_reference(models, *facts, day))
        assert len(db) > 150
        assert set(db) == set(duck) == set(ref), day
        for sid, expected in ref.items():
            assert db[sid] == expected, (day, sid)
            assert duck[sid] == expected, (day, sid)
        types = {r.subject_type for r in db.values()}
        assert "natural_person" not in types and len(types) == 8, types
        assert set(edges.values()) <= set(db)
    # The edge cases mean what the rules say.
    with c.uow() as uow:
        at = by_subject(evaluate_db(uow.session, models, list(edges.values()), AS_OF))
        before = by_subject(
            evaluate_db(uow.session, models, [edges["repaired"]], AS_OF - timedelta(days=1))
        )
    for key, expected in EXPECTED.items():
        result = at[edges[key]]
        for name, want in expected.items():
            got = result.grade if name == "grade" else result.value(name)
            assert got == want, (key, name, got, want)
    repaired = before[edges["repaired"]]
    assert repaired.value("penalty_serious_in_force") == 1 and repaired.value("penalties_3y") == 1
    capped = at[edges["capped"]]
    assert [cap.rule for cap in capped.caps] == ["serious_penalty_c"]
    assert capped.caps[0].uncapped_grade == "A"  # 安全生产 A overrides the score's grade …
    assert capped.industry and capped.industry["override"] == {"industry": "安全生产", "grade": "A"}
    override = at[edges["override"]]
    assert override.score >= 600 and override.caps == ()  # … and D overrides a B score
    assert override.industry is not None
    modes = {e["industry"]: e["mode"] for e in override.industry["evaluations"]}
    assert modes == {"安全生产": "override", "工程建设": "reference"}


def test_single_subject_equals_batch(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    build_city(c, clock, tmp_path, subjects=80)
    models = load_models()
    with c.uow() as uow:
        batch = by_subject(list(evaluate_all_db(uow.session, models, AS_OF)))
        some = list(batch)[:25]
        for sid in some:
            assert evaluate_db(uow.session, models, [sid], AS_OF) == [batch[sid]]
        assert evaluate_db(uow.session, models, [*some, "s-unknown"], AS_OF) == [
            batch[s] for s in some
        ]
