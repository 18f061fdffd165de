"""Imports every area's tables so the metadata is complete (Alembic, tests)."""

from citycredit.accounts import db as accounts_db
from citycredit.checks import db as checks_db
from citycredit.commitments import db as commitments_db
from citycredit.db.base import Base
from citycredit.ingest import db as ingest_db
from citycredit.kernel import db as kernel_db
from citycredit.ledger import db as ledger_db
from citycredit.lists import db as lists_db
from citycredit.subjects import db as subjects_db

metadata = Base.metadata

__all__ = [
    "Base",
    "accounts_db",
    "checks_db",
    "commitments_db",
    "ingest_db",
    "kernel_db",
    "ledger_db",
    "lists_db",
    "metadata",
    "subjects_db",
]
