"""no ID number tail at rest: subjects.id_masked and sharing feed masks keep the first 4 only

`subjects.id_masked` was `6108**********5474`: its last 4 (3 sequence digits + the check
character), the birth date and the county in clear on the same row gave back natural persons'
ID numbers from a dump (docs/adr/0014). Authorised sharing feeds stored the same masked form in
`sharing_feed_entries.payload` (the subject's `id_number_masked` and masked ID fields), tied to
the subject by `subject_id`. Both are rewritten to `6108**************`; the views now take the
last 4 from the subject's sealed record values when they show them. Nothing here needs the
personal-data key, so `db upgrade` alone closes the gap.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

OLD_COMMENT = "for the subject's own view"
NEW_COMMENT = "first 4 characters only; views add the last 4 from sealed records"
BATCH = 1000
# A masked ID number that shows characters after the first 4 (mask_id_number: 4 + 4).
_SHOWS_TAIL = re.compile(r"^[0-9]{4}\*+[0-9*]*[0-9Xx]$")


def _at_rest(value: str) -> str:
    """shared.ids.mask_id_number_at_rest as of this revision."""
    v = value.strip()
    return "*" * len(v) if len(v) <= 8 else v[:4] + "*" * (len(v) - 4)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _rewrite(value: Any) -> tuple[Any, bool]:
    """(value with every masked ID number cut to its first 4, whether anything changed)."""
    if isinstance(value, str):
        if len(value) in (15, 18) and _SHOWS_TAIL.match(value):
            return _at_rest(value), True
        return value, False
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            out[k], c = _rewrite(v)
            changed = changed or c
        return out, changed
    if isinstance(value, list):
        pairs = [_rewrite(v) for v in value]
        return [v for v, _ in pairs], any(c for _, c in pairs)
    return value, False


def _subjects(bind: sa.Connection) -> None:
    subjects = sa.table(
        "subjects", sa.column("subject_id", sa.String), sa.column("id_masked", sa.String)
    )
    col = subjects.c.id_masked
    bind.execute(
        subjects.update()
        .where(sa.func.length(col) == 18)
        .where(sa.func.substr(col, 5, 14) != "*" * 14)
        .values(id_masked=sa.func.substr(col, 1, 4, type_=sa.String()) + "*" * 14)
    )
    # Any other length (none is written by the platform): one by one.
    others = bind.execute(
        sa.select(subjects.c.subject_id, col).where(col.is_not(None), sa.func.length(col) != 18)
    ).all()
    for sid, masked in others:
        if _at_rest(masked) != masked:
            bind.execute(
                subjects.update()
                .where(subjects.c.subject_id == sid)
                .values(id_masked=_at_rest(masked))
            )


def _feed_entries(bind: sa.Connection) -> None:
    feed = sa.table(
        "sharing_feed_entries",
        sa.column("subscription_id", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("payload", _json()),
    )
    # 7 stars: what every masked ID number of 15 or 18 characters contains (4 + 4 leaves 7 or 10).
    candidates = sa.cast(feed.c.payload, sa.Text).like("%" + "*" * 7 + "%")
    after: tuple[str, int] = ("", -1)
    while True:
        rows = bind.execute(
            sa.select(feed.c.subscription_id, feed.c.seq, feed.c.payload)
            .where(candidates)
            .where(sa.tuple_(feed.c.subscription_id, feed.c.seq) > sa.tuple_(*after))
            .order_by(feed.c.subscription_id, feed.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for sub, seq, payload in rows:
            new, changed = _rewrite(payload)
            if changed:
                bind.execute(
                    feed.update()
                    .where(feed.c.subscription_id == sub, feed.c.seq == seq)
                    .values(payload=new)
                )
        after = (rows[-1][0], rows[-1][1])


def upgrade() -> None:
    bind = op.get_bind()
    _subjects(bind)
    _feed_entries(bind)
    if bind.dialect.name == "postgresql":
        op.alter_column(
            "subjects",
            "id_masked",
            existing_type=sa.String(length=18),
            existing_nullable=True,
            comment=NEW_COMMENT,
            existing_comment=OLD_COMMENT,
        )


def downgrade() -> None:
    # The last 4 characters are gone for good (the key-less migration cannot bring them back);
    # older code shows the stored first-4 form, which is still a valid masked number.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "subjects",
            "id_masked",
            existing_type=sa.String(length=18),
            existing_nullable=True,
            comment=OLD_COMMENT,
            existing_comment=NEW_COMMENT,
        )
