"""The portal's search by part of a name: served by indexes on PostgreSQL (the trigram index,
migration 0036; the result's order and the characters of a name, 0037), in the same order on
both databases (shortest names first, then by name), and the models and migrations agree on
both (SQLite has none of these indexes)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import func, insert, inspect, select, text

from citycredit.accounts.model import ANONYMOUS
from citycredit.bootstrap import Container
from citycredit.db.explain import explain_call
from citycredit.db.migrate import drift
from citycredit.shared.text import normalise_name
from citycredit.subjects.archive import search_subjects
from citycredit.subjects.db import SubjectRow
from citycredit.synth import names as nm
from support import uscc

pytestmark = pytest.mark.db

PERSONS = ("natural_person", "farm_household")
SEARCH_INDEXES = {"ix_subjects_name_trgm", "ix_subjects_name_order", "ix_subjects_name_chars"}


def _subjects(c: Container) -> None:
    names = ["榆林煌锦商贸有限公司", "神木市聚晟能源有限公司", "府谷县亨信煤业有限公司"]
    with c.uow() as uow:
        for n, name in enumerate(names):
            uow.session.add(
                SubjectRow(
                    subject_id=f"sbj{n}",
                    subject_type="enterprise",
                    name=name,
                    name_norm=name,
                    uscc=uscc("91", "610802", f"MA6TRG0{n}"),
                    origin="registration",
                    created_at=c.clock.now(),
                    updated_at=c.clock.now(),
                )
            )
        uow.commit()


def _city(c: Container, n: int = 3000) -> list[dict[str, Any]]:
    """n subjects with the synthetic city's names (unique): enterprises ("…有限公司", some
    "榆林市…"), shorter shop names, persons' two- and three-character names, and a few names
    holding 有 and 限 apart (not "有限"), as a city's registry has them."""
    rng = random.Random(20261128)
    counties = list(nm.COUNTY_NAMES)
    made: dict[str, str] = {
        "府谷县有泰无限商行": "enterprise",
        "榆阳区有恒限量商贸部": "enterprise",
    }
    while len(made) < n:
        roll, county = rng.random(), rng.choice(counties)
        industry = rng.choice(nm.INDUSTRIES)
        if roll < 0.5:
            made.setdefault(
                nm.enterprise_name(rng, industry, county, rng.random() < 0.2), "enterprise"
            )
        elif roll < 0.8:
            made.setdefault(nm.shop_name(rng, industry, county), "individual_business")
        else:
            made.setdefault(nm.person_name(rng, rng.random() < 0.5), rng.choice(PERSONS))
    now = c.clock.now()
    rows = [
        {
            "subject_id": f"s{i:06d}",
            "subject_type": kind,
            "name": name,
            "name_norm": normalise_name(name),
            "origin": "registration",
            "created_at": now,
            "updated_at": now,
        }
        for i, (name, kind) in enumerate(made.items())
    ]
    with c.uow() as uow:
        uow.session.execute(insert(SubjectRow), rows)
        uow.commit()
    return rows


def _rare(rows: list[dict[str, Any]]) -> str:
    """Four characters of one organisation's name that no other name holds."""
    names = [r["name_norm"] for r in rows]
    return next(
        part
        for r in rows
        if r["subject_type"] == "enterprise" and len(r["name_norm"]) >= 8
        for part in [r["name_norm"][3:7]]
        if sum(part in n for n in names) == 1
    )


def test_the_trigram_index_serves_the_search_by_part_of_a_name(container: Container) -> None:
    _subjects(container)
    assert [d for d in drift(container.engine) if "subjects" in repr(d)] == []
    indexes = {i["name"] for i in inspect(container.engine).get_indexes("subjects")}
    found = search_subjects(container, ANONYMOUS, "聚晟能源")
    assert [s["subject_id"] for s in found] == ["sbj1"]
    if container.engine.dialect.name != "postgresql":
        assert not indexes & SEARCH_INDEXES
        return
    assert indexes >= SEARCH_INDEXES
    with container.engine.connect() as conn:
        # three rows: the planner would scan them; what matters is that the index can answer
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(
                text("EXPLAIN SELECT subject_id FROM subjects WHERE name_norm LIKE :q"),
                {"q": "%聚晟能源%"},
            ).scalars()
        )
        trigrams = conn.execute(text("SELECT show_trgm('聚晟能源')")).scalar_one()
    assert "ix_subjects_name_trgm" in plan, plan
    assert len(trigrams) >= 3  # Chinese characters are word characters: they have trigrams


@pytest.mark.parametrize("limit", [20, 5, 100])
def test_the_search_returns_the_shortest_matching_names_first(
    container: Container, limit: int
) -> None:
    rows = _city(container)
    rare = _rare(rows)
    for q in ("有限公司", "榆林市", "煤业", "有限", "榆", rare, "无限商", "不存在的"):
        found = search_subjects(container, ANONYMOUS, q, limit=limit)
        # every organisation whose normalised name holds q, shortest first, then by name (code
        # points: C.UTF-8 on PostgreSQL, BINARY on SQLite)
        expected = sorted(
            (len(r["name"]), r["name"], r["subject_id"])
            for r in rows
            if q in r["name_norm"] and r["subject_type"] not in PERSONS
        )[:limit]
        assert [s["subject_id"] for s in found] == [e[2] for e in expected], q
        # and the same rows, in the same order, as the one-statement search before 0037
        with container.uow() as uow:
            before = uow.session.scalars(
                select(SubjectRow.subject_id)
                .where(SubjectRow.name_norm.like(f"%{q}%"), SubjectRow.subject_type.not_in(PERSONS))
                .order_by(func.length(SubjectRow.name), SubjectRow.name)
                .limit(limit)
            ).all()
        assert [s["subject_id"] for s in found] == before, q
    assert len(search_subjects(container, ANONYMOUS, "有限公司", limit=limit)) == limit
    # 有 and 限 apart do not match "有限" (the characters' index only narrows the names down)
    assert not {"府谷县有泰无限商行", "榆阳区有恒限量商贸部"} & {
        s["name"] for s in search_subjects(container, ANONYMOUS, "有限", limit=100)
    }


def _plan(c: Container, q: str) -> str:
    """EXPLAIN of the statement search_subjects sends for q, with sequential scans off (a few
    thousand rows fit in a page or two: a scan would win; what is checked is which index the
    planner takes for the kind of query)."""
    return explain_call(
        c.engine,
        lambda: search_subjects(c, ANONYMOUS, q),
        table="subjects",
        settings=["enable_seqscan = off"],
    )


def test_common_words_walk_the_order_index_and_rare_ones_use_their_index(
    pg_container: Container,
) -> None:
    """PostgreSQL only (SQLite has none of these indexes: the test above checks they are
    absent there)."""
    container = pg_container
    rows = _city(container)
    with container.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) subjects"))
    rare4 = _rare(rows)
    # a word half the organisations hold, and one character: walk the names in the result's
    # order, reading the index alone, and stop after 20 matches
    for q in ("有限公司", "榆"):
        plan = _plan(container, q)
        assert "Index Only Scan using ix_subjects_name_order" in plan, plan
    # rare words: the matching names from the trigram or characters' index, then sorted
    assert "ix_subjects_name_trgm" in _plan(container, rare4)
    assert "ix_subjects_name_chars" in _plan(container, "泰无")
