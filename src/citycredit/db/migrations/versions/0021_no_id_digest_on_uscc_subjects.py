"""no ID digest on subjects with a USCC: a 个体工商户 is not its operator

A 个体工商户 row carrying both the shop's USCC and its operator's ID number (CF_XDR_ZJHM) gave
the shop's subject the number's keyed digest (with its masked form and birth date). As
`subjects.id_digest` is unique, a later natural-person row with the same ID number was filed
under the shop (no minors' protection, no sealing of a person's fields) or made the whole
submission fail; an identity provider's natural person was bound to the shop. Subjects with a
USCC now never hold an ID number (`SubjectRegistry.create`, the fast path's new subjects), and
this revision clears what older versions stored there. The number itself is still in the shop's
records, sealed, as a personal field. Nothing here needs the personal-data key.

Records of natural persons that older versions filed under such a shop stay where they are.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    subjects = sa.table(
        "subjects",
        sa.column("uscc", sa.String),
        sa.column("id_digest", sa.String),
        sa.column("id_masked", sa.String),
        sa.column("birth_date", sa.Date),
    )
    op.get_bind().execute(
        subjects.update()
        .where(subjects.c.uscc.is_not(None))
        .where(
            sa.or_(
                subjects.c.id_digest.is_not(None),
                subjects.c.id_masked.is_not(None),
                subjects.c.birth_date.is_not(None),
            )
        )
        .values(id_digest=None, id_masked=None, birth_date=None)
    )


def downgrade() -> None:
    # What was cleared was never the shop's own (and older code works without it).
    pass
