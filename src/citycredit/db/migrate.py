"""Apply and check Alembic migrations programmatically (on start, `citycredit db upgrade`, CI)."""

from __future__ import annotations

import re
import warnings
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
    """Differences between the models and the migrated database (empty when they agree)."""
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
        return list(compare_metadata(ctx, metadata))
