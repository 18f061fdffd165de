"""periods counted as 民法典 201/202 say: stored ends move one day later

Until now a period of N months from a decision ended (exclusive) on the corresponding day,
so the corresponding day itself was already off publication, off the list, or not yet open
for repair. 民法典第二百零一条 does not count the decision day, and 第二百零二条 makes the
corresponding day the period's last day: every computed end is one day later. This moves the
ends stored before the change (see shared/calendar.statutory_period_end):

- records of items whose publication is computed from the decision date (catalog kinds
  `severity` and `fixed`): `publication_end` and `repair_from` + 1 day, except 轻微 records
  that are not published (their end and repair date are the decision date itself);
- list memberships decided on the platform with a period (`origin = 'local'`,
  `period_months` set): `expires_on` + 1 day.

A record whose publication already ended *today* by the old rule keeps its end: its end was
announced to consumers (sharing, exports) and republishing it for its one remaining day would
send a second notice. Records that ended earlier move (they stay ended; their 公示截止 now
shows the right day), as do all records still published.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-27 10:40:00
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# The packaged catalog's items whose publication end is computed from the decision date.
_COMPUTED_ITEMS = ("penalty", "social_insurance_arrears", "tax_credit_grade", "utility_arrears")


def _computed_items() -> tuple[str, ...]:
    """Items of kind severity/fixed in the packaged catalog (falls back to today's list)."""
    try:
        from citycredit.catalog.loader import load_catalog
        from citycredit.catalog.model import PublicationKind

        catalog = load_catalog()
        kinds = (PublicationKind.severity, PublicationKind.fixed)
        found = tuple(
            sorted(code for code, item in catalog.items.items() if item.publication.kind in kinds)
        )
        return found or _COMPUTED_ITEMS
    except Exception:  # a migration must not depend on the catalog loading
        return _COMPUTED_ITEMS


def _shift(days: int) -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    items = _computed_items()

    def plus(column: str) -> str:
        if sqlite:
            return f"date({column}, '{days:+d} day')"
        return f"{column} + {days}"

    in_items: sa.BindParameter[list[str]] = sa.bindparam("items", value=list(items), expanding=True)
    old_end = "publication_end" if days > 0 else plus("publication_end")
    bind.execute(
        sa.text(
            f"UPDATE records SET publication_end = {plus('publication_end')} "
            "WHERE item_code IN :items AND publication_end IS NOT NULL "
            "AND (decision_date IS NULL OR publication_end <> decision_date) "
            f"AND (publication_ended_at IS NULL OR {old_end} < :today)"
        ).bindparams(in_items, sa.bindparam("today", value=today, type_=sa.Date()))
    )
    bind.execute(
        sa.text(
            f"UPDATE records SET repair_from = {plus('repair_from')} "
            "WHERE item_code IN :items AND repair_from IS NOT NULL "
            "AND (decision_date IS NULL OR repair_from <> decision_date)"
        ).bindparams(sa.bindparam("items", value=list(items), expanding=True))
    )
    bind.execute(
        sa.text(
            f"UPDATE memberships SET expires_on = {plus('expires_on')} "
            "WHERE origin = 'local' AND period_months IS NOT NULL AND expires_on IS NOT NULL"
        )
    )


def upgrade() -> None:
    _shift(+1)


def downgrade() -> None:
    _shift(-1)
