"""公共信用综合评价, the write side: re-evaluate subjects and store their results.

The models, the compiler and the engines are in model.py / engines.py; this module stores what
they return. Every stored result keeps its model code and version, as_of, engine, the run or
trigger that produced it, the score, the grade and the whole result (indicators, reasons, caps),
and is never updated: re-evaluating adds a row, so the rows of a subject are its grade history.
`evaluation_current` points at the result the platform acts on: the newest as_of, ties going to
the result stored last (so a new model version on the same day replaces the old one, and a
back-dated batch is kept in the history without moving the pointer); a batch over a snapshot
(a Parquet export, or the database as it was when the run started) never replaces a result
computed after that snapshot; a subject no model evaluates any more has no pointer (未评价).
No as_of is later than today (Asia/Shanghai). Facts dated on the as_of itself count from the
next day, so subjects with such facts are evaluated again the next day (`due_subjects`, the
`evaluation_next_day` job in scheduled.py). Batch runs: runs.py; read models (current result,
history, archive and check grades): views.py; docs/evaluation-surface.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, insert, or_, select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationResultRow
from citycredit.evaluation.engines import evaluate_db
from citycredit.evaluation.model import GRADE_LABELS
from citycredit.kernel import outbox
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import FieldError, NotFound
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType

if TYPE_CHECKING:
    from citycredit.evaluation.model import ModelSet
    from citycredit.evaluation.result import SubjectResult

__all__ = [
    "NEXT_DAY_TRIGGER",
    "Stored",
    "check_as_of",
    "clear_current",
    "due_subjects",
    "evaluation_as_of",
    "model_summary",
    "models_for",
    "reevaluate",
    "reevaluate_due",
    "reevaluate_subjects",
    "store_results",
    "use_models",
]

_MODELS_ATTR = "_evaluation_models"


# -- models ----------------------------------------------------------------------------------


def models_for(c: Container) -> ModelSet:
    """The evaluation models of this container, loaded once (the packaged YAML by default)."""
    cached = c.__dict__.get(_MODELS_ATTR)
    if cached is None:
        from citycredit.evaluation.model import load_models

        cached = load_models()
        c.__dict__[_MODELS_ATTR] = cached
    models: ModelSet = cached
    return models


def use_models(c: Container, models: ModelSet) -> None:
    """Evaluate with these models from now on (a new model version; tests)."""
    c.__dict__[_MODELS_ATTR] = models


def model_summary(models: ModelSet, as_of: date | None = None) -> list[dict[str, Any]]:
    """The model of each subject type in force on as_of, deduplicated: code, version, types."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for st in SubjectType:
        m = models.current_for(st.value, as_of)
        if m is None:
            continue
        entry = seen.setdefault(
            (m.code, m.version), {"code": m.code, "version": m.version, "subject_types": []}
        )
        entry["subject_types"].append(st.value)
    return list(seen.values())


def evaluation_as_of(c: Container) -> date:
    """The as_of of a triggered re-evaluation: today in Asia/Shanghai by the container's clock."""
    return local_date(c.clock.now())


def check_as_of(c: Container, as_of: object) -> date:
    """An as_of a run or a re-evaluation may use: a date, not later than today (Shanghai).

    A future as_of would become every subject's current result (the newest as_of wins) and
    hold it against every triggered re-evaluation until the calendar caught up.
    """
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        raise FieldError("as_of", str(as_of), "invalid_date", "评价基准日须为日期（YYYY-MM-DD）")
    today = evaluation_as_of(c)
    if as_of > today:
        raise FieldError(
            "as_of",
            as_of.isoformat(),
            "future_date",
            f"评价基准日（as_of）不能晚于今天 {today.isoformat()}（Asia/Shanghai）",
        )
    return as_of


# -- storing ---------------------------------------------------------------------------------


@dataclass
class Stored:
    """What store_results did."""

    stored: int = 0
    unchanged: int = 0  # triggered results equal to the current one (not stored again)
    skipped: int = 0  # subjects not in the registry (stale Parquet export)
    moved: int = 0  # current pointers set or moved
    kept: int = 0  # pointers left on a result computed after the batch's snapshot
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GRADE_LABELS, 0))

    def add(self, other: Stored) -> None:
        """Add another chunk's figures to these."""
        self.stored += other.stored
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.moved += other.moved
        self.kept += other.kept
        for grade, n in other.counts.items():
            self.counts[grade] = self.counts.get(grade, 0) + n


def _plain(result: SubjectResult) -> dict[str, Any]:
    """The result as stored: JSON-native (round-tripped, so comparisons see what is stored)."""
    plain: dict[str, Any] = json.loads(json.dumps(result.to_json(), ensure_ascii=False))
    return plain


def store_results(
    s: Session,
    results: Sequence[SubjectResult],
    *,
    engine: str,
    trigger: str | dict[str, str],
    at: datetime,
    run_id: str | None = None,
    skip_unchanged: bool = False,
    snapshot: datetime | None = None,
) -> Stored:
    """Add result rows and move current pointers; the caller commits.

    trigger: one value for all, or one per subject id. skip_unchanged (triggered runs): a
    result equal to the subject's current one (same model version, as_of and content) is not
    stored again, so a redelivered event adds nothing to the history. snapshot (batch runs):
    when the facts the results rest on were read; a current result computed after it (its
    pointer's updated_at) stays current, and the batch result goes to the history only.
    """
    out = Stored()
    latest: dict[str, tuple[SubjectResult, dict[str, Any]]] = {}
    for r in results:  # one result per subject: the last one given wins
        latest[r.subject_id] = (r, _plain(r))
    if not latest:
        return out
    ids = list(latest)
    known = set(s.scalars(select(SubjectRow.subject_id).where(SubjectRow.subject_id.in_(ids))))
    # Plain tuples, not ORM objects: the pointers are moved below by an upsert.
    current: dict[str, tuple[int, str, str, date, str, datetime]] = {
        sid: (rid, code, version, as_of, grade, updated)
        for sid, rid, code, version, as_of, grade, updated in s.execute(
            select(
                EvaluationCurrentRow.subject_id,
                EvaluationCurrentRow.result_id,
                EvaluationCurrentRow.model_code,
                EvaluationCurrentRow.model_version,
                EvaluationCurrentRow.as_of,
                EvaluationCurrentRow.grade,
                EvaluationCurrentRow.updated_at,
            ).where(EvaluationCurrentRow.subject_id.in_(ids))
        )
    }
    stored_json: dict[int, dict[str, Any]] = {}
    if skip_unchanged and current:
        rows = s.execute(
            select(EvaluationResultRow.id, EvaluationResultRow.result).where(
                EvaluationResultRow.id.in_([cur[0] for cur in current.values()])
            )
        )
        stored_json = {int(rid): res for rid, res in rows}
    todo: list[tuple[SubjectResult, dict[str, Any]]] = []
    for sid, (r, plain) in latest.items():
        if sid not in known:
            out.skipped += 1
            continue
        cur = current.get(sid)
        if (
            skip_unchanged
            and cur is not None
            and cur[1:4] == (r.model_code, r.model_version, r.as_of)
            and stored_json.get(cur[0]) == plain
        ):
            out.unchanged += 1
            continue
        todo.append((r, plain))
    if not todo:
        return out
    rows_in = [
        {
            "subject_id": r.subject_id,
            "run_id": run_id,
            "trigger": (trigger if isinstance(trigger, str) else trigger.get(r.subject_id, ""))[
                :60
            ],
            "engine": engine,
            "model_code": r.model_code,
            "model_version": r.model_version,
            "as_of": r.as_of,
            "score": r.score,
            "grade": r.grade,
            "result": plain,
            "evaluated_at": at,
        }
        for r, plain in todo
    ]
    new_ids = s.scalars(
        insert(EvaluationResultRow).returning(EvaluationResultRow.id, sort_by_parameter_order=True),
        rows_in,
    ).all()
    pointers = []
    for (r, _), rid in zip(todo, new_ids, strict=True):
        out.stored += 1
        out.counts[r.grade] = out.counts.get(r.grade, 0) + 1
        cur = current.get(r.subject_id)
        if cur is not None and snapshot is not None and cur[5] > snapshot:
            out.kept += 1  # computed after the snapshot: newer facts than this result's
            continue
        if cur is None or r.as_of >= cur[3]:
            out.moved += 1
            if cur is not None and cur[4] != r.grade:
                _grade_changed(s, r, cur[4], rid, run_id, at)
        pointers.append(
            {
                "subject_id": r.subject_id,
                "result_id": rid,
                "model_code": r.model_code,
                "model_version": r.model_version,
                "as_of": r.as_of,
                "score": r.score,
                "grade": r.grade,
                "updated_at": at,
            }
        )
    _move_pointers(s, pointers, snapshot)
    return out


def _grade_changed(
    s: Session,
    r: SubjectResult,
    before: str,
    result_id: int,
    run_id: str | None,
    at: datetime,
) -> None:
    """An outbox event when a subject's current grade changes (not for a first grade; a grade
    that is withdrawn because no model evaluates the subject: clear_current, `to` None)."""
    outbox.emit(
        s,
        event_type="evaluation.grade_changed",
        aggregate_type="evaluation",
        aggregate_id=str(result_id),
        subject_id=r.subject_id,
        at=at,
        payload={
            "from": before,
            "to": r.grade,
            "score": r.score,
            "as_of": r.as_of.isoformat(),
            "model_code": r.model_code,
            "model_version": r.model_version,
            "run_id": run_id,
        },
    )


def _move_pointers(
    s: Session, pointers: list[dict[str, Any]], snapshot: datetime | None = None
) -> None:
    """Upsert the current pointers: a result replaces the current one unless it is older.

    One INSERT … ON CONFLICT DO UPDATE … WHERE current.as_of <= new.as_of (PostgreSQL and
    SQLite), so a triggered re-evaluation and a batch run racing on one subject leave the newer
    as_of in place, and neither fails on a pointer the other created first. With a snapshot
    (batch runs) also … AND current.updated_at <= snapshot: a result computed after the facts
    were read stays current, even if it was stored while the batch ran.
    """
    if not pointers:
        return
    table = EvaluationCurrentRow.metadata.tables[EvaluationCurrentRow.__tablename__]
    columns = [name for name in pointers[0] if name != "subject_id"]
    newer = table.c.as_of
    dialect = s.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table)
        where = newer <= pg.excluded.as_of
        if snapshot is not None:
            where = where & (table.c.updated_at <= snapshot)
        stmt = pg.on_conflict_do_update(
            index_elements=[table.c.subject_id],
            set_={name: pg.excluded[name] for name in columns},
            where=where,
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(table)
        where = newer <= lite.excluded.as_of
        if snapshot is not None:
            where = where & (table.c.updated_at <= snapshot)
        stmt = lite.on_conflict_do_update(
            index_elements=[table.c.subject_id],
            set_={name: lite.excluded[name] for name in columns},
            where=where,
        )
    else:  # pragma: no cover - the platform runs on PostgreSQL or SQLite only
        raise NotImplementedError(f"evaluation pointers on {dialect}")
    s.connection().execute(stmt, pointers)


# -- subjects no model evaluates ----------------------------------------------------------------


def clear_current(
    s: Session,
    subject_ids: Sequence[str],
    *,
    as_of: date,
    at: datetime,
    run_id: str | None = None,
) -> int:
    """Remove the current pointers of subjects that no model evaluates on as_of (no commit).

    A subject reclassified into a type without a model (其他组织, a natural person) or whose
    model was retired without a successor is not evaluated: views, the archive and credit checks
    then show no grade (未评价) instead of the last one, which rested on a model that no longer
    applies to it. Its results stay in the history. A pointer with a later as_of than this one
    (a back-dated re-evaluation) is left alone. Emits evaluation.grade_changed with `to` None.
    """
    ids = list(dict.fromkeys(subject_ids))
    if not ids:
        return 0
    cur = EvaluationCurrentRow
    gone = s.execute(
        select(cur.subject_id, cur.result_id, cur.grade, cur.model_code, cur.model_version).where(
            cur.subject_id.in_(ids), cur.as_of <= as_of
        )
    ).all()
    if not gone:
        return 0
    s.execute(
        delete(cur).where(cur.subject_id.in_([g[0] for g in gone]), cur.as_of <= as_of),
        execution_options={"synchronize_session": False},
    )
    for sid, rid, grade, code, version in gone:
        outbox.emit(
            s,
            event_type="evaluation.grade_changed",
            aggregate_type="evaluation",
            aggregate_id=str(rid),
            subject_id=sid,
            at=at,
            payload={
                "from": grade,
                "to": None,
                "score": None,
                "as_of": as_of.isoformat(),
                "model_code": code,
                "model_version": version,
                "run_id": run_id,
                "reason": "no_model",  # 未评价: no model evaluates the subject on as_of
            },
        )
    return len(gone)


# -- triggered re-evaluation ------------------------------------------------------------------

NEXT_DAY_TRIGGER = "next_day"  # the evaluation_next_day job (scheduled.py)


def reevaluate(
    c: Container,
    s: Session,
    subject_ids: Iterable[str],
    *,
    trigger: str | dict[str, str],
    as_of: date | None = None,
) -> list[SubjectResult]:
    """Re-evaluate subjects on this session's connection and store what changed (no commit).

    Used by the `evaluation` outbox consumer inside the delivering transaction, by
    reevaluate_subjects, the next-day job and objection decisions. Subjects that no model
    evaluates on as_of get no result, and lose their current one (clear_current).
    """
    ids = list(dict.fromkeys(subject_ids))
    if not ids:
        return []
    day = as_of or evaluation_as_of(c)
    now = c.clock.now()
    results = evaluate_db(s, models_for(c), ids, day)
    store_results(s, results, engine="db", trigger=trigger, at=now, skip_unchanged=True)
    evaluated = {r.subject_id for r in results}
    clear_current(s, [sid for sid in ids if sid not in evaluated], as_of=day, at=now)
    return list(results)


def reevaluate_subjects(
    c: Container,
    actor: Principal,
    subject_ids: Sequence[str],
    *,
    as_of: date | None = None,
) -> list[dict[str, Any]]:
    """Re-evaluate named subjects now (credit office), in one unit of work."""
    require(actor, Permission.run_jobs)
    if not subject_ids:
        raise FieldError("subject_ids", "", "required", "请指定要重新评价的主体（subject_ids）")
    if as_of is not None:
        check_as_of(c, as_of)
    with c.uow() as uow:
        s = uow.session
        known = set(
            s.scalars(select(SubjectRow.subject_id).where(SubjectRow.subject_id.in_(subject_ids)))
        )
        missing = [sid for sid in subject_ids if sid not in known]
        if missing:
            raise NotFound(f"主体 {missing[0]} 不存在", code="subject_not_found")
        results = reevaluate(c, s, subject_ids, trigger="manual", as_of=as_of)
        uow.commit()
        return [r.to_json() for r in results]


# -- facts that count from the next day ---------------------------------------------------------


def due_subjects(s: Session, *, today: date, since: date) -> list[str]:
    """Subjects whose current result may predate a fact it could not count yet, by subject id.

    A fact counts from the day after its date (windows are [as_of − N, as_of), a listing is in
    force from the day after its decision), so a record decided today, or a listing decided
    today, does not move the grade of the re-evaluation its own event triggers. These are the
    subjects with a current as_of in [since, today) and an active record or decided membership
    dated on or after that as_of and before today, or changed on or after that as_of's day
    (a record's evaluation date may be a payload date, e.g. a commitment's breach date: a
    change since the last evaluation is the safe superset). Evaluated again as of today, their
    grade takes such bad news one day after the decision, as exits and repairs take effect on
    their day.
    """
    from citycredit.db.base import local_day
    from citycredit.evaluation.facts import MEMBERSHIP_STATUSES
    from citycredit.ingest.db import RecordRow
    from citycredit.lists.db import MembershipRow
    from citycredit.shared.calendar import day_start

    cur = EvaluationCurrentRow
    changed = day_start(since)  # bounds the scan; the per-row test is the local day below

    def changed_on_or_after_as_of(column: Any) -> Any:
        # the Asia/Shanghai day of a UTC timestamp (UTC+8 all year), compared with the as_of
        day = local_day(s.get_bind().dialect.name, column)
        return (column >= changed) & (day >= cur.as_of)

    records = (
        exists()
        .where(
            RecordRow.subject_id == cur.subject_id,
            RecordRow.status == "active",
            or_(
                (RecordRow.decision_date >= cur.as_of) & (RecordRow.decision_date < today),
                changed_on_or_after_as_of(RecordRow.updated_at),
            ),
        )
        .correlate(cur)
    )
    memberships = (
        exists()
        .where(
            MembershipRow.subject_id == cur.subject_id,
            MembershipRow.status.in_(MEMBERSHIP_STATUSES),
            or_(
                (MembershipRow.decided_on >= cur.as_of) & (MembershipRow.decided_on < today),
                changed_on_or_after_as_of(MembershipRow.updated_at),
            ),
        )
        .correlate(cur)
    )
    return list(
        s.scalars(
            select(cur.subject_id)
            .where(cur.as_of >= since, cur.as_of < today, or_(records, memberships))
            .order_by(cur.subject_id)
        )
    )


def reevaluate_due(c: Container, *, since: date | None = None, chunk: int = 2000) -> dict[str, Any]:
    """Evaluate again, as of today, every subject `due_subjects` finds (one transaction per
    `chunk` subjects); trigger `next_day`. since: default the last 31 days."""
    today = evaluation_as_of(c)
    since = since if since is not None and since < today else today - timedelta(days=31)
    with c.uow() as uow:
        ids = due_subjects(uow.session, today=today, since=since)
    changed = 0
    for i in range(0, len(ids), chunk):
        with c.uow() as uow:
            before = dict(
                uow.session.execute(
                    select(EvaluationCurrentRow.subject_id, EvaluationCurrentRow.grade).where(
                        EvaluationCurrentRow.subject_id.in_(ids[i : i + chunk])
                    )
                ).all()
            )
            results = reevaluate(c, uow.session, ids[i : i + chunk], trigger=NEXT_DAY_TRIGGER)
            changed += sum(1 for r in results if before.get(r.subject_id) != r.grade)
            uow.commit()
    return {
        "as_of": today.isoformat(),
        "since": since.isoformat(),
        "subjects": len(ids),
        "grades_changed": changed,
    }
