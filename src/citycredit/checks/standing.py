"""A subject's standing for a credit check, read in one statement.

A check needs, for one subject: the subject itself, its list memberships in force, its recent
commitment breaches, its current evaluation grade and its open objections and repairs. Each area
has its own function for its part (lists.service.active_memberships,
commitments.service.recent_breaches, evaluation.views.current_grade, rights.pending.pending_cases)
and those functions remain what the answer means; this module asks the same questions of the
same tables in one UNION ALL statement, because a check runs per approval and five round trips
cost more than the reads themselves. Rows are turned into answers by the areas' own helpers
(lists.service.to_model, evaluation.views.grade_view, rights.pending.objection_entry /
repair_entry). tests/integration/test_check_standing.py holds both to the same answers on SQLite
and PostgreSQL.

Row kinds (column `kind`): 0 the subject, LEFT JOINed to each membership with an active status
and to its evaluation_current row (one row when it has no membership); 1 a breach day; 2 an open
objection; 3 an open repair. Every branch has the same columns; the ones a kind does not use are
NULL. The first branch casts its NULLs to the column's type (PostgreSQL resolves UNION column
types branch by branch, left to right, so an untyped NULL there could meet a date as text); the
later branches leave them plain, which keeps the statement text under psycopg's 4,096-character
limit for caching its conversion.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, cast

from psycopg.rows import tuple_row
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Connection,
    Dialect,
    Integer,
    Select,
    bindparam,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from citycredit.commitments.db import CommitmentRow
from citycredit.commitments.service import CommitmentStatus, breach_window
from citycredit.evaluation.db import EvaluationCurrentRow
from citycredit.evaluation.views import grade_view
from citycredit.lists import ACTIVE_STATUSES, Membership
from citycredit.lists.db import MembershipRow
from citycredit.lists.service import MODEL_COLUMNS, SubjectHead, to_model
from citycredit.rights.db import ObjectionRow, RepairRow
from citycredit.rights.pending import (
    OPEN_OBJECTION_STATUSES,
    OPEN_REPAIR_STATUSES,
    objection_entry,
    repair_entry,
)
from citycredit.subjects.db import SubjectRow

__all__ = ["Standing", "subject_standing"]

SUBJECT, BREACH, OBJECTION, REPAIR = 0, 1, 2, 3


@dataclass(frozen=True)
class Standing:
    """What a credit check reads of one subject (each part as its area answers it)."""

    subject: SubjectHead
    memberships: tuple[Membership, ...]  # in force today (lists.service.active_memberships)
    breaches: tuple[date, ...]  # commitments.service.recent_breaches
    grade: dict[str, Any] | None  # evaluation.views.current_grade
    pending: dict[str, Any]  # rights.pending.pending_cases


def _columns() -> list[tuple[str, Any]]:
    """(label, SQL type) of every output column, in order."""
    m = MembershipRow.__table__.c
    e = EvaluationCurrentRow.__table__.c
    o = ObjectionRow.__table__.c
    out: list[tuple[str, Any]] = [
        ("kind", Integer()),
        ("head_id", SubjectRow.__table__.c.subject_id.type),
        ("head_type", SubjectRow.__table__.c.subject_type.type),
        ("head_name", SubjectRow.__table__.c.name.type),
    ]
    out += [(name, m[name].type) for name in MODEL_COLUMNS]
    out += [("m_created_at", m.created_at.type)]
    out += [
        ("grade", e.grade.type),
        ("score", e.score.type),
        ("as_of", e.as_of.type),
        ("model_code", e.model_code.type),
        ("model_version", e.model_version.type),
    ]
    out += [
        ("x_id", o.id.type),
        ("target_type", o.target_type.type),
        ("target_id", o.target_id.type),
        ("x_status", o.status.type),
        ("x_day", o.filed_on.type),
    ]
    return out


def _branch(kind: int, given: dict[str, ColumnElement[Any]]) -> Select[Any]:
    """One SELECT of the union: the given columns, typed NULLs for the others."""
    cols: list[ColumnElement[Any]] = []
    for label, type_ in _columns():
        if label == "kind":
            cols.append(literal_column(str(kind), Integer()).label(label))
        elif label in given:
            cols.append(given[label].label(label))
        elif kind == SUBJECT:  # the first branch types every column of the union
            cols.append(sql_cast(null(), type_).label(label))
        else:  # the union already has the column's type: a plain NULL, shorter statement text
            cols.append(literal_column("NULL"))
    return select(*cols)


ACTIVE_STATUS_VALUES = tuple(sorted(st.value for st in ACTIVE_STATUSES))


def _one_of(column: ColumnElement[Any], values: tuple[str, ...]) -> ColumnElement[bool]:
    """`column IN (values)` as ORs of plain parameters: an expanding IN is rendered again at
    every execution, this statement text is rendered once."""
    return or_(*(column == v for v in values))


@cache
def _statement(with_breaches: bool) -> CompoundSelect[Any]:
    """Built once per shape (building it costs more than running it)."""
    sid: BindParameter[str] = bindparam("subject_id")
    m = MembershipRow.__table__.c
    e = EvaluationCurrentRow.__table__.c
    s = SubjectRow.__table__.c
    subject = (
        _branch(
            SUBJECT,
            {
                "head_id": s.subject_id,
                "head_type": s.subject_type,
                "head_name": s.name,
                **{name: m[name] for name in MODEL_COLUMNS},
                "m_created_at": m.created_at,
                "grade": e.grade,
                "score": e.score,
                "as_of": e.as_of,
                "model_code": e.model_code,
                "model_version": e.model_version,
            },
        )
        .select_from(SubjectRow.__table__)
        .outerjoin(
            MembershipRow.__table__,
            (m.subject_id == s.subject_id) & _one_of(m.status, ACTIVE_STATUS_VALUES),
        )
        .outerjoin(EvaluationCurrentRow.__table__, e.subject_id == s.subject_id)
        .where(s.subject_id == sid)
    )
    branches: list[Select[Any]] = [subject]
    if with_breaches:  # the same conditions as commitments.service.recent_breaches
        c = CommitmentRow.__table__.c
        branches.append(
            _branch(BREACH, {"x_day": c.checked_on}).where(
                c.subject_id == sid,
                c.status == CommitmentStatus.breached.value,
                c.checked_on.is_not(None),
                c.checked_on <= bindparam("until", type_=c.checked_on.type),
                c.checked_on >= bindparam("since", type_=c.checked_on.type),
            )
        )
    for kind, table, statuses in (
        (OBJECTION, ObjectionRow.__table__, OPEN_OBJECTION_STATUSES),
        (REPAIR, RepairRow.__table__, OPEN_REPAIR_STATUSES),
    ):
        t = table.c
        branches.append(
            _branch(
                kind,
                {
                    "x_id": t.id,
                    "target_type": t.target_type,
                    "target_id": t.target_id,
                    "x_status": t.status,
                    "x_day": t.filed_on,
                },
            ).where(t.subject_id == sid, _one_of(t.status, statuses))
        )
    # Memberships in (created_at, id) order as active_memberships; objections in (filed_on, id)
    # order as subject_objections; breaches by day. Columns a kind does not use are NULL.
    return union_all(*branches).order_by(
        literal_column("kind"),
        literal_column("m_created_at"),
        literal_column("id"),
        literal_column("x_day"),
        literal_column("x_id"),
    )


def subject_standing(session: Session, subject_id: str, today: date) -> Standing | None:
    """The subject's standing on ``today`` in one statement; None if there is no such subject."""
    window = breach_window(today)
    params: dict[str, Any] = {"subject_id": subject_id}
    if window is not None:
        params["since"], params["until"] = window
    conn = session.connection()
    rows: Sequence[Any]
    if conn.dialect.name == "postgresql":
        rows = _pg_rows(conn, window is not None, params)
    else:
        rows = conn.execute(_statement(window is not None), params).all()
    if not rows or rows[0].kind != SUBJECT:
        return None
    head = rows[0]
    memberships: list[Membership] = []
    breaches: list[date] = []
    objections: list[dict[str, Any]] = []
    repairs: list[Any] = []
    for r in rows:
        if r.kind == SUBJECT:
            if r.id is not None:
                memberships.append(to_model(cast(MembershipRow, r)))
        elif r.kind == BREACH:
            breaches.append(r.x_day)
        elif r.kind == OBJECTION:
            objections.append(objection_entry(_Case(r)))
        else:
            repairs.append(_Case(r))
    repairs.sort(key=lambda x: (x.filed_on, x.id))  # as rights.pending.pending_cases
    return Standing(
        subject=SubjectHead(head.head_id, head.head_type, head.head_name),
        memberships=tuple(x for x in memberships if x.is_active(today)),
        breaches=tuple(sorted(breaches)),
        grade=grade_view(head) if head.grade is not None else None,
        pending={
            "objections": objections,
            "repairs": [repair_entry(x) for x in repairs],
            "tracked": True,
        },
    )


@cache
def _pg_shape(
    with_breaches: bool, dialect: Dialect
) -> tuple[str, dict[str, Any], Any, tuple[Any, ...]]:
    """The statement as psycopg's SQL, its constant parameters, a row class and processors.

    Read through the driver's cursor (tuple rows), not SQLAlchemy's result: the statement has
    33 columns, and building their description and the result's metadata cost about twice
    the read itself per check. The column types' own result processors still apply.
    """
    compiled = _statement(with_breaches).compile(dialect=dialect)
    given = {"subject_id", "since", "until"}
    constants = {k: v for k, v in compiled.params.items() if k not in given}
    labels = [label for label, _ in _columns()]
    processors = tuple(
        type_.dialect_impl(dialect).result_processor(dialect, None) for _, type_ in _columns()
    )
    return compiled.string, constants, namedtuple("StandingRow", labels), processors


def _pg_rows(conn: Connection, with_breaches: bool, params: dict[str, Any]) -> list[Any]:
    sql, constants, row, processors = _pg_shape(with_breaches, conn.dialect)
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor(row_factory=tuple_row) as cur:
        cur.execute(sql, {**constants, **params})
        got = cur.fetchall()
    return [
        row._make(v if f is None or v is None else f(v) for f, v in zip(processors, t, strict=True))
        for t in got
    ]


class _Case:
    """An objection or repair row under the attribute names the rights helpers read."""

    __slots__ = ("filed_on", "id", "status", "target_id", "target_type")

    def __init__(self, r: Any) -> None:
        self.id = r.x_id
        self.target_type = r.target_type
        self.target_id = r.target_id
        self.status = r.x_status
        self.filed_on = r.x_day
