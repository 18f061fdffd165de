"""Statement pieces both databases share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def one_of(dialect: str, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values`; on PostgreSQL `column = ANY(array)`, one parameter: SQLAlchemy
    expands an IN list into a parameter per value, so psycopg parses and PostgreSQL plans a new
    statement of 500–1,000 parameters each time (~10 ms a query at 1,000 values)."""
    if dialect == "postgresql":
        array = bindparam(None, list(values), type_=ARRAY(column.type), unique=True)
        return column == any_(array)
    return column.in_(list(values))
