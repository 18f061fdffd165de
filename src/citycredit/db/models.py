"""Imports every area's tables so the metadata is complete (Alembic, tests)."""

from citycredit.accounts import db as accounts_db
from citycredit.checks import db as checks_db
from citycredit.commitments import db as commitments_db
from citycredit.db import alarms as alarms_db
from citycredit.db.base import Base
from citycredit.evaluation import db as evaluation_db
from citycredit.exports import db as exports_db
from citycredit.ingest import db as ingest_db
from citycredit.kernel import db as kernel_db
from citycredit.ledger import db as ledger_db
from citycredit.lists import db as lists_db
from citycredit.privacy import db as privacy_db
from citycredit.reports import db as reports_db
from citycredit.rights import db as rights_db
from citycredit.sharing import db as sharing_db
from citycredit.subjects import db as subjects_db

metadata = Base.metadata

__all__ = [
    "Base",
    "accounts_db",
    "alarms_db",
    "checks_db",
    "commitments_db",
    "evaluation_db",
    "exports_db",
    "ingest_db",
    "kernel_db",
    "ledger_db",
    "lists_db",
    "metadata",
    "privacy_db",
    "reports_db",
    "rights_db",
    "sharing_db",
    "subjects_db",
]
