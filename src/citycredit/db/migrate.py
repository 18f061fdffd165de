"""Apply and check Alembic migrations programmatically (on start, `citycredit db upgrade`, CI)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from citycredit.db.models import metadata

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to the given revision."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def drift(engine: Engine) -> list[object]:
    """Differences between the models and the migrated database (empty when they agree):
    Alembic's comparison, and the shape of the indexes both have (`index_shape_drift`)."""
    dialect = engine.dialect.name

    def on_this_database(obj: Any, _name: Any, _type: str, _reflected: bool, _to: Any) -> bool:
        # A model object declared for other databases only (`Index(...).ddl_if(dialect=…)`:
        # PostgreSQL's trigram index) is not expected here; Alembic's comparison ignores ddl_if.
        only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return only is None or dialect in ((only,) if isinstance(only, str) else only)

    elsewhere = [
        ix.name
        for table in metadata.tables.values()
        for ix in table.indexes
        if ix.name and not on_this_database(ix, ix.name, "index", False, None)
    ]
    with engine.connect() as conn, warnings.catch_warnings():
        # Alembic warns that it cannot reflect expression indexes on SQLite before
        # include_object is asked; for indexes not meant for this database that says nothing.
        for name in elsewhere:
            warnings.filterwarnings(
                "ignore", message=f".*expression-based index {re.escape(repr(name))}"
            )
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "render_as_batch": True,
                "include_object": on_this_database,
            },
        )
        return [*compare_metadata(ctx, metadata), *index_shape_drift(conn, on_this_database)]


@dataclass(frozen=True)
class IndexShapeDiff:
    """An index both sides have, built differently: what Alembic's comparison does not look at
    (a partial index's WHERE, PostgreSQL's INCLUDE columns and access method)."""

    index: str
    aspect: str  # partial | include | using
    model: object
    database: object

    def __str__(self) -> str:
        return (
            f"索引 {self.index} 的 {self.aspect} 不一致："
            f"模型 {self.model!r}，数据库 {self.database!r}"
        )


def _model_shape(ix: Any, dialect: str) -> dict[str, object]:
    opts = ix.dialect_options[dialect] if dialect in ("postgresql", "sqlite") else {}
    shape: dict[str, object] = {"partial": opts.get("where") is not None}
    if dialect == "postgresql":
        include = opts.get("include") or ()
        shape["include"] = tuple(getattr(col, "name", col) for col in include)
        shape["using"] = opts.get("using") or "btree"
    return shape


def _database_shapes(conn: Any, dialect: str) -> dict[str, dict[str, object]]:
    """Index name → its shape, from the database's own DDL of it."""
    shapes: dict[str, dict[str, object]] = {}
    if dialect == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        )
        for name, ddl in rows:
            include = re.search(r"\) INCLUDE \(([^)]*)\)", ddl)
            using = re.search(r" USING (\w+) ", ddl)
            shapes[name] = {
                "partial": " WHERE " in ddl,
                "include": tuple(c.strip().strip('"') for c in include[1].split(","))
                if include
                else (),
                "using": using[1] if using else "btree",
            }
    elif dialect == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
        for name, ddl in rows:
            shapes[name] = {"partial": re.search(r"\bWHERE\b", ddl, re.IGNORECASE) is not None}
    return shapes


def index_shape_drift(conn: Any, wanted: Callable[..., bool] | None = None) -> list[IndexShapeDiff]:
    """Indexes of the models and the database that differ in shape (partial or not, INCLUDE
    columns, access method). Missing or extra indexes are Alembic's to report; ``wanted`` is
    `drift`'s include_object (indexes meant for other databases are left out)."""
    dialect = conn.dialect.name
    found = _database_shapes(conn, dialect)
    out: list[IndexShapeDiff] = []
    for table in metadata.sorted_tables:
        for ix in sorted(table.indexes, key=lambda i: str(i.name)):
            if not ix.name or ix.name not in found:
                continue
            if wanted is not None and not wanted(ix, ix.name, "index", False, None):
                continue
            model = _model_shape(ix, dialect)
            for aspect, value in model.items():
                if found[ix.name].get(aspect) != value:
                    out.append(IndexShapeDiff(ix.name, aspect, value, found[ix.name].get(aspect)))
    return out
