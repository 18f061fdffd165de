"""`citycredit db check` (db.migrate.drift) also compares how an index both sides have is built:
a partial index's WHERE, and on PostgreSQL its INCLUDE columns and access method — what
Alembic's comparison does not look at. An index rebuilt by hand without its WHERE would make
the public archive's reads scan every record, and no check said so."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from citycredit.bootstrap import Container
from citycredit.db.migrate import IndexShapeDiff, drift, index_shape_drift

pytestmark = pytest.mark.db


def test_the_migrated_indexes_have_the_models_shape(container: Container) -> None:
    assert [d for d in drift(container.engine) if isinstance(d, IndexShapeDiff)] == []


def test_an_index_rebuilt_differently_is_named(container: Container) -> None:
    engine = container.engine
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        tx = conn.begin()  # PostgreSQL: DDL rolls back; SQLite: this test's own copy
        assert index_shape_drift(conn) == []
        conn.execute(text("DROP INDEX ix_records_subject_public"))
        conn.execute(text("CREATE INDEX ix_records_subject_public ON records (subject_id)"))
        if pg:
            conn.execute(text("DROP INDEX ix_subjects_name_order"))
            conn.execute(
                text(
                    "CREATE INDEX ix_subjects_name_order ON subjects (length(name), name) "
                    "INCLUDE (name_norm) WHERE subject_type <> 'natural_person'"
                )
            )
            conn.execute(text("DROP INDEX ix_subjects_name_chars"))
            conn.execute(
                text(
                    "CREATE INDEX ix_subjects_name_chars ON subjects "
                    "(string_to_array(name_norm, NULL))"
                )
            )
        found = {(d.index, d.aspect): (d.model, d.database) for d in index_shape_drift(conn)}
        tx.rollback()
    want: dict[tuple[str, str], tuple[object, object]] = {
        ("ix_records_subject_public", "partial"): (True, False)
    }
    if pg:
        want[("ix_subjects_name_order", "include")] = (("name_norm", "subject_id"), ("name_norm",))
        want[("ix_subjects_name_chars", "using")] = ("gin", "btree")
    assert found == want
    shown = str(IndexShapeDiff("ix_records_subject_public", "partial", True, False))
    assert "ix_records_subject_public" in shown and "partial" in shown
