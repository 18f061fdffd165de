"""Read models of 公共信用综合评价: the current result with its reasons, the grade history, and
the grade that credit checks and the archive show.

Who sees what (docs/evaluation-surface.md):
- the public (and anyone asking for the public view) sees the grades of organisations only;
  natural persons, 农户 and 个体工商户 are people, and a grade is an automated assessment of a
  person (PIPL art. 24, 55; rules.md §10, §13.1), so theirs are never public. In the public view,
  indicators drawn from non-public catalog items (社保欠缴, 纳税信用, 水电气欠费 …) are summed into
  one line, so the parts still add up without disclosing what the archive does not publish;
- staff with read_authorised see every subject's full result in the authorised view, stating a
  purpose that goes to the disclosure log (查询登记), like the authorised archive.

An indicator is in the public view only if the catalog items it reads are public AND every
record or listing it counted is on the public view today (subjects.archive.is_public_now; the
public lists' rule for listings): a 轻微 penalty that is not published, one whose publication
period has ended or that was repaired goes into the non-public line with the indicator that
counted it. A subject that no model evaluates any more has no current result (未评价), and an
open objection against the grade (PIPL art. 24 review) marks the grade line 异议处理中.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, require, require_subject_access
from citycredit.bootstrap import Container
from citycredit.catalog.model import Openness
from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationResultRow
from citycredit.evaluation.model import GRADE_LABELS, EvaluationModel, Indicator, Source
from citycredit.evaluation.result import is_adjustment
from citycredit.evaluation.service import models_for
from citycredit.kernel.disclosure import record_disclosure
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import CityCreditError, FieldError, NotFound, PermissionDenied
from citycredit.shared.masking import display_person_name
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType

__all__ = [
    "NON_PUBLIC",
    "NOT_EVALUATED_NOTE",
    "NOT_PUBLIC_NOTE",
    "NO_RESULT_NOTE",
    "PUBLIC_GRADE_TYPES",
    "archive_grade",
    "current_evaluation",
    "current_grade",
    "grade_is_public",
    "grade_view",
    "public_result",
]

PUBLIC_GRADE_TYPES = frozenset(
    {
        SubjectType.enterprise.value,
        SubjectType.government_body.value,
        SubjectType.public_institution.value,
        SubjectType.social_group.value,
        SubjectType.private_non_enterprise.value,
        SubjectType.farmer_cooperative.value,
        SubjectType.other_organisation.value,
    }
)
PERSON_TYPES = (SubjectType.natural_person.value, SubjectType.farm_household.value)
NOT_PUBLIC_NOTE = "自然人、农户和个体工商户的评价结果不向社会公开，仅本人及经授权的工作人员可查"
NO_RESULT_NOTE = "尚无公共信用综合评价结果"
# Results exist, but no model evaluates the subject now (reclassified, model retired).
NOT_EVALUATED_NOTE = "未评价：该主体目前没有适用的评价模型，以往的评价结果不再使用"
NON_PUBLIC = "non_public"  # code of the summed line of non-public indicators
HISTORY_LIMIT = 100
EXPLANATION = (
    "等级由基础分加各指标得分（按维度上下限）得出，再按模型的等级线划分；理由按对得分的影响从大到小"
    "排列；如有硬性规则限制等级，列出限制规则及解除限制的条件。对评价结果有异议的，可以提出异议，"
    "由工作人员人工复核（《个人信息保护法》第二十四条）。"
)


def grade_is_public(subject_type: str) -> bool:
    """Whether the public may see this subject's grade (organisations only)."""
    return subject_type in PUBLIC_GRADE_TYPES


def current_grade(s: Session, subject_id: str) -> dict[str, Any] | None:
    """The current grade of a subject (credit checks, archive), or None if never evaluated."""
    row = s.get(EvaluationCurrentRow, subject_id)
    if row is None:
        return None
    return grade_view(row)


def grade_view(row: Any) -> dict[str, Any]:
    """What `current_grade` answers for one evaluation_current row (or a row with the same
    attributes: grade, score, as_of, model_code, model_version — checks.standing)."""
    return {
        "grade": row.grade,
        "grade_label": GRADE_LABELS.get(row.grade, row.grade),
        "score": row.score,
        "as_of": row.as_of.isoformat(),
        "model_code": row.model_code,
        "model_version": row.model_version,
    }


def _no_result_note(s: Session, subject_id: str) -> str:
    """未评价 when results exist but none is current (no model applies), else 尚无结果."""
    had = s.scalar(select(exists().where(EvaluationResultRow.subject_id == subject_id)))
    return NOT_EVALUATED_NOTE if had else NO_RESULT_NOTE


def _objection_mark(s: Session, subject_id: str) -> dict[str, Any] | None:
    """异议处理中 while an objection against the subject's evaluation is open (rights area)."""
    from citycredit.rights.objections import marks_for

    return marks_for(s, subject_id).get(("evaluation", subject_id))


def archive_grade(s: Session, subject: SubjectRow, *, public: bool) -> dict[str, Any]:
    """The grade block of an archive view: the public view shows organisations' grades only;
    `objection_mark` while the grade is under objection (异议处理中)."""
    if public and not grade_is_public(subject.subject_type):
        return {"shown": False, "note": NOT_PUBLIC_NOTE}
    found = current_grade(s, subject.subject_id)
    if found is None:
        return {"shown": False, "note": _no_result_note(s, subject.subject_id)}
    return {"shown": True, **found, "objection_mark": _objection_mark(s, subject.subject_id)}


# -- the public view of a result ----------------------------------------------------------------


def _items_public(c: Container, items: tuple[str, ...]) -> bool:
    try:
        return bool(items) and all(
            c.catalog.item(code).openness is Openness.public for code in items
        )
    except CityCreditError:  # an item the catalog no longer has: not public
        return False


def _indicator_public(c: Container, ind: Indicator) -> bool:
    """Whether every fact the indicator reads is public (catalog openness, without overrides)."""
    if ind.source is Source.subject:
        return True  # registration date (登记基本信息, public)
    if ind.source is Source.memberships:
        from citycredit.lists import default_lists

        types = default_lists().list_types.values()
        linked = tuple(
            lt.catalog_item.item
            for lt in types
            if lt.code in ind.list_types or lt.kind.value in ind.list_kinds
        )
        return _items_public(c, linked)
    return _items_public(c, ind.items)


def _model(c: Container, code: str, version: str) -> EvaluationModel | None:
    try:
        return models_for(c).get(code, version)
    except CityCreditError:
        return None


def _counting_hidden_facts(
    s: Session,
    subject_id: str,
    model: EvaluationModel,
    plain: dict[str, Any],
    today: date,
) -> set[str]:
    """Indicators of a stored result that counted a record or listing the public does not see
    today: the subject's facts that are not on the public view now, tested one by one against
    the indicator on the result's as_of (the reference scorer's rule, evaluation.reference)."""
    from citycredit.evaluation.facts import (
        CATEGORY_FIELDS,
        MEMBERSHIP_STATUSES,
        VALUE_FIELDS,
        list_kinds,
    )
    from citycredit.evaluation.reference import Fact, ListFact, SubjectFact, indicator_value
    from citycredit.ingest.db import RecordRow, RecordVersionRow
    from citycredit.lists.db import MembershipRow
    from citycredit.lists.service import public_view_filter
    from citycredit.subjects.archive import is_public_now

    values = {str(i["code"]): int(i.get("value") or 0) for i in plain.get("indicators", [])}
    wanted = [i for i in model.indicators if values.get(i.code) and i.source is not Source.subject]
    if not wanted:
        return set()
    as_of = date.fromisoformat(str(plain["as_of"]))
    subject = SubjectFact(subject_id, str(plain.get("subject_type", "")))
    hidden: set[str] = set()
    by_records = [i for i in wanted if i.source is Source.records]
    items = sorted({item for i in by_records for item in i.items})
    if items:
        rows = s.execute(
            select(RecordRow, RecordVersionRow.payload)
            .join(
                RecordVersionRow,
                and_(
                    RecordVersionRow.record_id == RecordRow.id,
                    RecordVersionRow.version == RecordRow.current_version,
                ),
            )
            .where(
                RecordRow.subject_id == subject_id,
                RecordRow.item_code.in_(items),
                RecordRow.status == "active",
                RecordVersionRow.kind != "withdrawal",
            )
        ).all()
        for record, payload in rows:
            if is_public_now(record, today):
                continue
            data = payload if isinstance(payload, dict) else {}
            value, category = (
                data.get(VALUE_FIELDS.get(record.item_code, "")),
                data.get(CATEGORY_FIELDS.get(record.item_code, "")),
            )
            fact = Fact(
                subject_id,
                record.item_code,
                record.decision_date,
                record.severity,
                record.publication_end,
                1 if record.published else 0,
                local_date(record.repaired_at) if record.repaired_at is not None else None,
                None if value is None else str(value),
                None if category is None else str(category),
            )
            for ind in by_records:
                counted = indicator_value(ind, as_of, subject, [fact], [])
                if counted and record.item_code in ind.items:
                    hidden.add(ind.code)
    by_lists = [i for i in wanted if i.source is Source.memberships]
    if by_lists:
        shown = set(
            s.scalars(
                select(MembershipRow.id)
                .join(SubjectRow, SubjectRow.subject_id == MembershipRow.subject_id)
                .outerjoin(RecordRow, RecordRow.id == MembershipRow.record_id)
                .where(
                    MembershipRow.subject_id == subject_id,
                    MembershipRow.status == "published",
                    public_view_filter(),
                    or_(MembershipRow.expires_on.is_(None), MembershipRow.expires_on > today),
                )
            )
        )
        kinds = list_kinds()
        for m in s.scalars(
            select(MembershipRow).where(
                MembershipRow.subject_id == subject_id,
                MembershipRow.status.in_(MEMBERSHIP_STATUSES),
                MembershipRow.decided_on.is_not(None),
            )
        ):
            if m.id in shown or m.decided_on is None:
                continue
            listing = ListFact(
                subject_id,
                m.list_type,
                kinds.get(m.list_type, "other"),
                m.decided_on,
                m.expires_on,
                m.ended_on,
            )
            for ind in by_lists:
                if indicator_value(ind, as_of, subject, [], [listing]):
                    hidden.add(ind.code)
    return hidden


def public_result(
    c: Container,
    plain: dict[str, Any],
    s: Session | None = None,
    subject_id: str | None = None,
) -> dict[str, Any]:
    """A stored result with non-public indicators summed into one line (reasons likewise).

    Non-public: an indicator reading a catalog item that is not public and, given the session,
    an indicator that counted a record or listing not on the public view today."""
    model = _model(c, str(plain.get("model_code")), str(plain.get("model_version")))
    public = {i.code for i in model.indicators if _indicator_public(c, i)} if model else set()
    if model is not None and s is not None and public:
        sid = subject_id or str(plain.get("subject_id"))
        public -= _counting_hidden_facts(s, sid, model, plain, local_date(c.clock.now()))
    indicators = [i for i in plain.get("indicators", []) if i["code"] in public]
    hidden = sum(int(i["points"]) for i in plain.get("indicators", []) if i["code"] not in public)
    hidden_n = sum(1 for i in plain.get("indicators", []) if i["code"] not in public)
    # the limit lines stay: without them base + the lines shown would not be the score (G33)
    reasons = [
        r for r in plain.get("reasons", []) if r["code"] in public or is_adjustment(str(r["code"]))
    ]
    if hidden_n:
        indicators.append(
            {
                "code": NON_PUBLIC,
                "name": f"非公开信息指标（{hidden_n} 项）",
                "dimension": None,
                "value": None,
                "points": hidden,
            }
        )
    if hidden:
        signed = f"+{hidden}" if hidden > 0 else str(hidden)
        text = f"依据非公开信息的指标合计（{signed}分），明细仅本人及经授权的工作人员可查"
        reasons.append({"code": NON_PUBLIC, "text": text, "points": hidden})
        reasons.sort(key=lambda r: -abs(int(r["points"])))  # stable: ties keep the model order
    caps = [_public_cap(model, public, cap) for cap in plain.get("caps", [])]
    industry = plain.get("industry")
    return {
        **plain,
        "indicators": indicators,
        "reasons": reasons,
        "caps": caps,
        # 行业信用评价 results are 授权查询 (except A): only whether one decided the grade.
        "industry": (
            {"override": True, "note": "等级由行业信用评价结果直接确定（行业评价明细不公开）"}
            if isinstance(industry, dict) and industry.get("override")
            else None
        ),
    }


def _public_cap(
    model: EvaluationModel | None, public: set[str], cap: dict[str, Any]
) -> dict[str, Any]:
    """A cap as the public sees it: its rule in words unless it rests on non-public facts
    (its indicator is not among the public ones of this result)."""
    if model is not None:
        rule = next((r for r in model.hard_rules if r.code == cap["rule"]), None)
        if rule is not None and rule.indicator in public:
            return cap
    hidden = "明细仅本人及经授权的工作人员可查"
    return {**cap, "text": "依据非公开信息的硬性规则限制了等级", "lift": hidden}


# -- the current result and its history ---------------------------------------------------------


def _history(s: Session, subject_id: str, limit: int) -> list[dict[str, Any]]:
    """Stored results, newest first, each marked when its grade differs from the one before."""
    rows = s.execute(
        select(
            EvaluationResultRow.id,
            EvaluationResultRow.as_of,
            EvaluationResultRow.grade,
            EvaluationResultRow.score,
            EvaluationResultRow.model_code,
            EvaluationResultRow.model_version,
            EvaluationResultRow.engine,
            EvaluationResultRow.run_id,
            EvaluationResultRow.trigger,
            EvaluationResultRow.evaluated_at,
        )
        .where(EvaluationResultRow.subject_id == subject_id)
        .order_by(EvaluationResultRow.id.desc())
        .limit(limit)
    ).all()
    out = [
        {
            "result_id": rid,
            "as_of": as_of.isoformat(),
            "grade": grade,
            "grade_label": GRADE_LABELS.get(grade, grade),
            "score": score,
            "model_code": code,
            "model_version": version,
            "engine": engine,
            "run_id": run_id,
            "trigger": trigger,
            "evaluated_at": at.isoformat(),
        }
        for rid, as_of, grade, score, code, version, engine, run_id, trigger, at in rows
    ]
    previous: object = None
    for entry in reversed(out):
        entry["grade_changed"] = previous is not None and entry["grade"] != previous
        previous = entry["grade"]
    return out


def _current(s: Session, subject_id: str) -> tuple[dict[str, Any], EvaluationResultRow] | None:
    pointer = s.get(EvaluationCurrentRow, subject_id)
    row = s.get(EvaluationResultRow, pointer.result_id) if pointer is not None else None
    if row is None:
        return None
    return dict(row.result), row


def current_evaluation(
    c: Container,
    actor: Principal,
    subject_id: str,
    *,
    view: str = "public",
    purpose: str | None = None,
    channel: str = "api",
    history_limit: int = HISTORY_LIMIT,
) -> dict[str, Any]:
    """The current result of a subject with its reasons and caps, plus its grade history.

    view=public: organisations only, non-public indicators summed into one line.
    view=authorised: staff with a stated purpose (logged), every subject type, every detail.
    view=own: the subject's own bound account (信用账户), every detail, not logged.
    """
    require(actor, Permission.read_public)
    if view not in ("public", "authorised", "own"):
        raise FieldError("view", view, "invalid_view", "view 只能是 public、authorised 或 own")
    if view == "own":  # the subject's own account: every detail, not a disclosure
        require_subject_access(actor, subject_id)
    history_limit = max(1, min(history_limit, 1000))
    with c.uow() as uow:
        s = uow.session
        subject = s.get(SubjectRow, subject_id)
        if subject is None:
            raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
        if view == "authorised":
            require(actor, Permission.read_authorised)
            record_disclosure(
                s,
                actor=actor,
                subject_id=subject_id,
                items=["evaluation"],
                purpose=purpose or "",
                channel=channel,
                at=c.clock.now(),
                detail={"view": "evaluation"},
            )
        elif view == "public" and not grade_is_public(subject.subject_type):
            hint = "；工作人员请以授权方式查询（view=authorised，并说明 purpose）"
            raise PermissionDenied(
                NOT_PUBLIC_NOTE + (hint if actor.can(Permission.read_authorised) else ""),
                code="evaluation_not_public",
            )
        found = _current(s, subject_id)
        current: dict[str, Any] | None = None
        if found is not None:
            plain, row = found
            current = public_result(c, plain, s, subject_id) if view == "public" else plain
            current |= {
                "result_id": row.id,
                "engine": row.engine,
                "run_id": row.run_id,
                "trigger": row.trigger,
                "evaluated_at": row.evaluated_at.isoformat(),
            }
        is_person = subject.subject_type in PERSON_TYPES
        out = {
            # 异议处理中: a human review of this result was requested (PIPL art. 24)
            "objection_mark": _objection_mark(s, subject_id),
            "subject": {
                "subject_id": subject.subject_id,
                "name": display_person_name(subject.name, "surname_masked")
                if is_person
                else subject.name,
                "subject_type": subject.subject_type,
                "subject_type_label": SubjectType(subject.subject_type).label,
            },
            "view": view,
            "evaluated": current is not None,
            "note": None if current is not None else _no_result_note(s, subject_id),
            "current": current,
            "history": _history(s, subject_id, history_limit),
            "explanation": EXPLANATION,
        }
        if view == "authorised":
            uow.commit()  # the disclosure log row
        return out
