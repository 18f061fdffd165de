"""公共信用综合评价, the write side: re-evaluate subjects and store their results.

The models, the compiler and the engines are in model.py / engines.py; this module stores what
they return. Every stored result keeps its model code and version, as_of, engine, the run or
trigger that produced it, the score, the grade and the whole result (indicators, reasons, caps),
and is never updated: re-evaluating adds a row, so the rows of a subject are its grade history.
`evaluation_current` points at the result the platform acts on: the newest as_of, ties going to
the result stored last (so a new model version on the same day replaces the old one, and a
back-dated batch is kept in the history without moving the pointer). Batch runs: runs.py;
read models (current result, history, archive and check grades): views.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
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
    "Stored",
    "evaluation_as_of",
    "model_summary",
    "models_for",
    "reevaluate",
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


def model_summary(models: ModelSet) -> list[dict[str, Any]]:
    """The current model of each subject type, deduplicated: code, version, subject types."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for st in SubjectType:
        m = models.current_for(st.value)
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


# -- storing ---------------------------------------------------------------------------------


@dataclass
class Stored:
    """What store_results did."""

    stored: int = 0
    unchanged: int = 0  # triggered results equal to the current one (not stored again)
    skipped: int = 0  # subjects not in the registry (stale Parquet export)
    moved: int = 0  # current pointers set or moved
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GRADE_LABELS, 0))

    def add(self, other: Stored) -> None:
        """Add another chunk's figures to these."""
        self.stored += other.stored
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.moved += other.moved
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
) -> Stored:
    """Add result rows and move current pointers; the caller commits.

    trigger: one value for all, or one per subject id. skip_unchanged (triggered runs): a
    result equal to the subject's current one (same model version, as_of and content) is not
    stored again, so a redelivered event adds nothing to the history.
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
    current: dict[str, tuple[int, str, str, date, str]] = {
        sid: (rid, code, version, as_of, grade)
        for sid, rid, code, version, as_of, grade in s.execute(
            select(
                EvaluationCurrentRow.subject_id,
                EvaluationCurrentRow.result_id,
                EvaluationCurrentRow.model_code,
                EvaluationCurrentRow.model_version,
                EvaluationCurrentRow.as_of,
                EvaluationCurrentRow.grade,
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
    _move_pointers(s, pointers)
    return out


def _grade_changed(
    s: Session,
    r: SubjectResult,
    before: str,
    result_id: int,
    run_id: str | None,
    at: datetime,
) -> None:
    """An outbox event when a subject's current grade changes (not for a first grade)."""
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


def _move_pointers(s: Session, pointers: list[dict[str, Any]]) -> None:
    """Upsert the current pointers: a result replaces the current one unless it is older.

    One INSERT … ON CONFLICT DO UPDATE … WHERE current.as_of <= new.as_of (PostgreSQL and
    SQLite), so a triggered re-evaluation and a batch run racing on one subject leave the newer
    as_of in place, and neither fails on a pointer the other created first.
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
        stmt = pg.on_conflict_do_update(
            index_elements=[table.c.subject_id],
            set_={name: pg.excluded[name] for name in columns},
            where=newer <= pg.excluded.as_of,
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(table)
        stmt = lite.on_conflict_do_update(
            index_elements=[table.c.subject_id],
            set_={name: lite.excluded[name] for name in columns},
            where=newer <= lite.excluded.as_of,
        )
    else:  # pragma: no cover - the platform runs on PostgreSQL or SQLite only
        raise NotImplementedError(f"evaluation pointers on {dialect}")
    s.connection().execute(stmt, pointers)


# -- triggered re-evaluation ------------------------------------------------------------------


def reevaluate(
    c: Container,
    s: Session,
    subject_ids: Iterable[str],
    *,
    trigger: str | dict[str, str],
    as_of: date | None = None,
) -> list[SubjectResult]:
    """Re-evaluate subjects on this session's connection and store what changed (no commit).

    Used by the `evaluation` outbox consumer inside the delivering transaction, and by
    reevaluate_subjects. Subjects of a type no model covers get no result.
    """
    ids = list(dict.fromkeys(subject_ids))
    if not ids:
        return []
    day = as_of or evaluation_as_of(c)
    results = evaluate_db(s, models_for(c), ids, day)
    store_results(s, results, engine="db", trigger=trigger, at=c.clock.now(), skip_unchanged=True)
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
