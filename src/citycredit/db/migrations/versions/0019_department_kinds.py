"""departments.kind: the catalog's department kinds

`departments.kind` was free text: the CLI's default was "department" and the synthetic city wrote
subject types ("government_body", "enterprise"). The platform now reads it — only government
bodies receive 仅政务共享 records through sharing, and self-disclosures go to the department of
kind "credit_office" — so every value becomes one of catalog.model.DEPARTMENT_KINDS:
government | court | public_institution | utility | credit_office. Values already in that set
are kept; the court and the credit office of the catalog's department list get their own kind
when they were stored with an unchecked value.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

KINDS = ("government", "court", "public_institution", "utility", "credit_office")
BY_NAME = {"榆林市中级人民法院": "court", "榆林市发展和改革委员会": "credit_office"}
ALIASES = {"department": "government", "government_body": "government", "enterprise": "utility"}


def upgrade() -> None:
    bind = op.get_bind()
    departments = sa.table(
        "departments", sa.column("id", sa.Integer), sa.column("name"), sa.column("kind")
    )
    for id_, name, kind in bind.execute(sa.select(departments)).all():
        if kind in KINDS:
            continue
        new = BY_NAME.get(name) or ALIASES.get(str(kind or "").strip().lower(), "government")
        bind.execute(departments.update().where(departments.c.id == id_).values(kind=new))


def downgrade() -> None:
    pass  # the old values carried no meaning the new ones lose
