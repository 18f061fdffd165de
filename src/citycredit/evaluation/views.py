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
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, require, require_subject_access
from citycredit.bootstrap import Container
from citycredit.catalog.model import Openness
from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationResultRow
from citycredit.evaluation.model import GRADE_LABELS, EvaluationModel, Indicator, Source
from citycredit.evaluation.service import models_for
from citycredit.kernel.disclosure import record_disclosure
from citycredit.shared.errors import CityCreditError, FieldError, NotFound, PermissionDenied
from citycredit.shared.masking import display_person_name
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType

__all__ = [
    "NON_PUBLIC",
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


def archive_grade(s: Session, subject: SubjectRow, *, public: bool) -> dict[str, Any]:
    """The grade block of an archive view: the public view shows organisations' grades only."""
    if public and not grade_is_public(subject.subject_type):
        return {"shown": False, "note": NOT_PUBLIC_NOTE}
    found = current_grade(s, subject.subject_id)
    if found is None:
        return {"shown": False, "note": NO_RESULT_NOTE}
    return {"shown": True, **found}


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


def public_result(c: Container, plain: dict[str, Any]) -> dict[str, Any]:
    """A stored result with non-public indicators summed into one line (reasons likewise)."""
    model = _model(c, str(plain.get("model_code")), str(plain.get("model_version")))
    public = {i.code for i in model.indicators if _indicator_public(c, i)} if model else set()
    indicators = [i for i in plain.get("indicators", []) if i["code"] in public]
    hidden = sum(int(i["points"]) for i in plain.get("indicators", []) if i["code"] not in public)
    hidden_n = sum(1 for i in plain.get("indicators", []) if i["code"] not in public)
    reasons = [r for r in plain.get("reasons", []) if r["code"] in public]
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
    caps = [_public_cap(c, model, cap) for cap in plain.get("caps", [])]
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


def _public_cap(c: Container, model: EvaluationModel | None, cap: dict[str, Any]) -> dict[str, Any]:
    """A cap as the public sees it: its rule in words unless it rests on non-public facts."""
    if model is not None:
        rule = next((r for r in model.hard_rules if r.code == cap["rule"]), None)
        if rule is not None and _indicator_public(c, model.indicator(rule.indicator)):
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
            current = public_result(c, plain) if view == "public" else plain
            current |= {
                "result_id": row.id,
                "engine": row.engine,
                "run_id": row.run_id,
                "trigger": row.trigger,
                "evaluated_at": row.evaluated_at.isoformat(),
            }
        is_person = subject.subject_type in PERSON_TYPES
        from citycredit.rights.objections import marks_for

        out = {
            # 异议处理中: a human review of this result was requested (PIPL art. 24)
            "objection_mark": marks_for(s, subject_id).get(("evaluation", subject_id)),
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
            "note": None if current is not None else NO_RESULT_NOTE,
            "current": current,
            "history": _history(s, subject_id, history_limit),
            "explanation": EXPLANATION,
        }
        if view == "authorised":
            uow.commit()  # the disclosure log row
        return out
