"""The portal's search by part of a name is served by a trigram index on PostgreSQL (migration
0036), and the models and migrations agree on both databases (SQLite has no such index)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from citycredit.accounts.model import ANONYMOUS
from citycredit.bootstrap import Container
from citycredit.db.migrate import drift
from citycredit.subjects.archive import search_subjects
from citycredit.subjects.db import SubjectRow
from support import uscc

pytestmark = pytest.mark.db


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


def test_the_trigram_index_serves_the_search_by_part_of_a_name(container: Container) -> None:
    _subjects(container)
    assert [d for d in drift(container.engine) if "subjects" in repr(d)] == []
    indexes = {i["name"] for i in inspect(container.engine).get_indexes("subjects")}
    found = search_subjects(container, ANONYMOUS, "聚晟能源")
    assert [s["subject_id"] for s in found] == ["sbj1"]
    if container.engine.dialect.name != "postgresql":
        assert "ix_subjects_name_trgm" not in indexes
        return
    assert "ix_subjects_name_trgm" in indexes
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
