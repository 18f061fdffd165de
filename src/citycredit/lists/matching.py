"""Rules over the model: membership steps, 信易批 eligibility, measure matching, masking."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from citycredit.lists.model import (
    EligibilityRule,
    ExitCode,
    Grade,
    LegalBasis,
    ListType,
    Matter,
    Measure,
    Membership,
    MembershipStatus,
    Origin,
    apply,
)
from citycredit.shared.calendar import Deadline, LegalCalendar, last_day, statutory_period_end
from citycredit.shared.errors import FieldError, InvalidTransition, NotFound
from citycredit.shared.ids import scrub_personal
from citycredit.shared.masking import display_person_name
from citycredit.shared.person_names import mask_person_names

__all__ = [
    "CreditCheck",
    "Decision",
    "Facts",
    "Verdict",
    "advance",
    "applicable_measures",
    "basis_view",
    "can_decide",
    "can_publish",
    "credit_check",
    "describe_rule",
    "eligibility",
    "exit_allowed",
    "expires_on",
    "measure_view",
    "minor_on",
    "notice_deadline",
    "public_entry",
    "public_name",
    "public_reasons",
]

S = MembershipStatus
# The date field each step records in a Membership.
_STEP_DATE: dict[MembershipStatus, str] = {
    S.proposed: "proposed_on",
    S.noticed: "noticed_on",
    S.decided: "decided_on",
    S.published: "published_on",
    S.expired: "ended_on",
    S.exited: "ended_on",
    S.withdrawn: "ended_on",
}


@dataclass(frozen=True)
class Verdict:
    """Outcome of a rule check with its reason; truthy when allowed."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


def can_publish(membership: Membership, *, source_has_decision_no: bool = True) -> Verdict:
    """A local membership is published only after prior notice and a written decision.

    An external one needs the source's document number when its catalog item carries one
    (``source_has_decision_no``); lists sent without any (经营异常名录) are published on the
    source record's own listing date and authority.
    """
    # 国办发〔2020〕49号（八）: before listing, tell the party the reasons, basis and rights.
    if membership.origin is Origin.external:
        if membership.decision_no:
            return Verdict(True, "外部名单由认定机关列入，据其文书公示")
        if source_has_decision_no:
            return Verdict(False, "外部名单记录缺少认定文书号")
        return Verdict(True, "外部名单由认定机关列入，据归集记录（列入日期、决定机关）公示")
    if membership.status is not S.decided:
        return Verdict(False, f"只有已作出列入决定的记录才能公示（当前：{membership.status}）")
    if membership.noticed_on is None:
        return Verdict(
            False, "未经告知不得公示：列入前须告知事由、依据和权利（国办发〔2020〕49号）"
        )
    if membership.decided_on is None or not membership.decision_no:
        return Verdict(False, "缺少书面列入决定（决定日期和文书号）")
    if membership.decided_on < membership.noticed_on:
        return Verdict(False, "列入决定早于告知，程序不合法")
    return Verdict(True, "已告知并作出书面列入决定")


def notice_deadline(
    noticed_on: date, list_type: ListType, calendar: LegalCalendar, working_days: int | None = None
) -> Deadline:
    """End of the objection window: n working days after notice, ends 00:00 next day Shanghai."""
    if working_days is None:
        if list_type.notice is None:
            raise NotFound(f"名单 {list_type.code} 不设告知程序（外部认定）")
        working_days = list_type.notice.objection_working_days
    return calendar.add_working_days(noticed_on, working_days)


def can_decide(
    membership: Membership,
    list_type: ListType,
    today: date,
    calendar: LegalCalendar,
    open_objections: Iterable[str] = (),
) -> Verdict:
    """A local decision needs notice, a closed objection window and no unanswered objection:
    neither the department's own 陈述申辩 flag nor a formal objection (rights area, ids in
    ``open_objections``) still open against this entry."""
    if membership.status is not S.noticed or membership.noticed_on is None:
        return Verdict(False, "须先告知当事人，方可作出列入决定")
    still_open = sorted(open_objections)
    if still_open:
        return Verdict(
            False,
            f"针对该名单记录的异议 {'、'.join(still_open)} 尚在处理中，"
            "核实答复前不得作出列入决定（国办发〔2020〕49号（八））",
        )
    if membership.objection_pending:
        return Verdict(False, "当事人提出的陈述申辩或异议尚未核实答复（国办发〔2020〕49号（八））")
    deadline = notice_deadline(membership.noticed_on, list_type, calendar)
    if today <= deadline.due:
        return Verdict(False, f"异议期至 {deadline.due.isoformat()} 届满，届满后方可决定")
    return Verdict(True, f"告知期已于 {deadline.due.isoformat()} 届满")


def expires_on(start: date, list_type: ListType, months: int | None = None) -> date | None:
    """First day off the list: start + period months (exact day); None when no fixed period."""
    period = list_type.period
    if period is None:
        if months is not None:
            raise FieldError("period_months", str(months), "no_period", "该名单不设固定期限")
        return None
    chosen = period.default_months if months is None else months
    low = period.min_months or 1
    if not low <= chosen <= period.max_months:
        raise FieldError(
            "period_months", str(chosen), "out_of_range", f"期限应在 {low}–{period.max_months} 个月"
        )
    # Same rule as catalog.publication (民法典 201/202): the corresponding day is the last
    # day on the list, the day after it the first day off.
    return statutory_period_end(start, months=chosen)


def exit_allowed(
    list_type: ListType, exit_code: ExitCode, membership: Membership, today: date
) -> Verdict:
    """Whether a membership may leave the list today by this exit (e.g. repair after minimum)."""
    if membership.status is not S.published:
        return Verdict(
            False, f"只有已公示的名单记录才能移出，未公示的决定应撤回（当前：{membership.status}）"
        )
    rule = list_type.exit_rule(exit_code)
    if rule is None:
        return Verdict(False, f"{list_type.name}不适用移出方式 {exit_code}")
    start = membership.start
    if exit_code is ExitCode.period_end:
        if membership.expires_on is None or today < membership.expires_on:
            return Verdict(False, "列入期限尚未届满")
        return Verdict(True, "列入期限届满，自动移出")
    if rule.min_months is not None:
        if start is None:
            return Verdict(False, "缺少列入决定日期，无法计算最短期限")
        earliest = statutory_period_end(start, months=rule.min_months)
        if today < earliest:
            return Verdict(False, f"须列入满 {rule.min_months} 个月（{earliest.isoformat()} 起）")
    return Verdict(True, rule.basis)


def advance(
    membership: Membership, target: MembershipStatus, day: date, **changes: Any
) -> Membership:
    """Move a membership to ``target`` on ``day``; publishing checks `can_publish` first."""
    apply(membership.status, target)
    if target is S.exited and changes.get("exit_code", membership.exit_code) is None:
        raise InvalidTransition("提前移出须注明移出方式（exit_code）")
    if target is S.published:
        verdict = can_publish(membership)
        if not verdict:
            raise InvalidTransition(verdict.reason)
    step: dict[str, Any] = {_STEP_DATE[target]: day}
    return replace(membership, status=target, **(step | changes))


_OUTCOME = {True: "视为满足等级条件", False: "视为不满足等级条件"}


@dataclass(frozen=True)
class Facts:
    """What a credit check knows about the applicant on one day."""

    today: date
    grade: Grade | None  # None: no public credit evaluation exists yet
    memberships: tuple[Membership, ...] = ()
    pending_objections: int = 0  # 处理中的异议
    pending_repairs: int = 0  # 处理中的信用修复申请
    breaches: tuple[date, ...] = ()  # days on which a credit commitment was found breached


@dataclass(frozen=True)
class Decision:
    """信易批 outcome: eligible or not, the rule in words and the reasons."""

    eligible: bool
    rule_text: str
    reasons: list[str]
    modes: tuple[str, ...] = ()  # notify_commit / tolerant_acceptance granted when eligible


@dataclass(frozen=True)
class CreditCheck:
    """信用核查 inside an approval: the 信易批 decision and the measures that apply."""

    matter: str
    decision: Decision
    measures: tuple[Measure, ...]


def _names(rule: EligibilityRule, codes: Iterable[str]) -> str:
    names = dict(zip(rule.excluded_list_types, rule.excluded_list_names, strict=False))
    return "、".join(names.get(c, c) for c in codes)


def describe_rule(rule: EligibilityRule) -> str:
    """The rule in words, as shown to applicants and officers."""
    parts = [f"信用等级为{'、'.join(rule.grades)}（尚无评价结果时{_OUTCOME[rule.without_grade]}）"]
    if rule.excluded_list_types:
        parts.append(f"不在以下名单中：{_names(rule, rule.excluded_list_types)}")
    if rule.no_pending_objection:
        parts.append("无处理中的异议")
    if rule.no_pending_repair:
        parts.append("无处理中的信用修复申请")
    if rule.breach_exclusion_months:
        parts.append(f"近{rule.breach_exclusion_months}个月内无违反信用承诺记录")
    return "；".join(parts)


def _grade_check(rule: EligibilityRule, grade: Grade | None) -> tuple[bool, str]:
    allowed = "、".join(rule.grades)
    if grade is None:
        # The rule must state the outcome for subjects never evaluated (YAML `without_grade`).
        return (
            rule.without_grade,
            f"尚无公共信用综合评价结果，按本事项规则{_OUTCOME[rule.without_grade]}",
        )
    if grade in rule.grades:
        return True, f"信用等级 {grade} 在 {allowed} 之内"
    return False, f"信用等级 {grade} 不在 {allowed} 之内"


def eligibility(matter: Matter, facts: Facts) -> Decision:
    """Evaluate a matter's 信易批 rule; reasons are the failed conditions, else the met ones."""
    rule = matter.fast_approval
    checks = [_grade_check(rule, facts.grade)]
    if rule.excluded_list_types:
        hits = sorted(
            {
                m.list_type
                for m in facts.memberships
                if m.is_active(facts.today) and m.list_type in rule.excluded_list_types
            }
        )
        text = f"存在有效名单记录：{_names(rule, hits)}" if hits else "不在排除名单中"
        checks.append((not hits, text))
    if rule.no_pending_objection:
        n = facts.pending_objections
        checks.append((n == 0, f"有 {n} 件处理中的异议" if n else "无处理中的异议"))
    if rule.no_pending_repair:
        n = facts.pending_repairs
        checks.append((n == 0, f"有 {n} 件处理中的信用修复申请" if n else "无处理中的信用修复申请"))
    if rule.breach_exclusion_months:
        months = rule.breach_exclusion_months
        recent = sorted(
            d for d in facts.breaches if facts.today < statutory_period_end(d, months=months)
        )
        text = (
            f"{recent[-1].isoformat()} 违反信用承诺，{months} 个月内不适用"
            if recent
            else f"近{months}个月内无违反信用承诺记录"
        )
        checks.append((not recent, text))
    failed = [text for ok, text in checks if not ok]
    eligible = not failed
    modes = tuple(
        mode
        for mode, allowed in (
            ("notify_commit", matter.notify_commit),
            ("tolerant_acceptance", matter.tolerant_acceptance),
        )
        if allowed and eligible
    )
    reasons = failed if failed else [text for _, text in checks]
    return Decision(eligible, rule.text or describe_rule(rule), reasons, modes)


def applicable_measures(
    measures: Iterable[Measure],
    matter: Matter | str | None,
    memberships: Iterable[Membership],
    grade: Grade | None,
    today: date | None = None,
) -> list[Measure]:
    """Measures triggered by an active membership or the grade, for this matter (None: any)."""
    active = {m.list_type for m in memberships if m.is_active(today)}
    code = matter.code if isinstance(matter, Matter) else matter
    out = []
    for measure in measures:
        trigger = measure.trigger
        if not measure.applies_to_matter(code) or active & set(trigger.unless_list_types):
            continue
        if grade is not None and grade in trigger.unless_grades:
            continue  # no incentive with a punitive grade
        if active & set(trigger.list_types) or (grade is not None and grade in trigger.grades):
            out.append(measure)
    return out


def basis_view(b: LegalBasis) -> dict[str, Any]:
    """A legal basis as shown in checks and overviews."""
    return {"title": b.title, "kind": b.kind.value, "article": b.article, "text": str(b)}


def measure_view(m: Measure, active: set[str], grade: str | None = None) -> dict[str, Any]:
    """One applicable measure as shown: what it is, who implements it, on which basis, what
    triggered it (the active list types, or the grade) and which approval matters it is tied to
    (`matter_scope` all | listed | none — none: not tied to approvals, e.g. 限制高消费)."""
    triggered = sorted(active & set(m.trigger.list_types))
    if grade is not None and grade in m.trigger.grades:
        triggered.append(f"grade:{grade}")
    return {
        "code": m.code,
        "name": m.name,
        "kind": m.kind.value,
        "group": m.group.value,
        "department": m.department,
        "implementer": m.implementer,
        "legal_basis": [basis_view(b) for b in m.legal_basis],
        "list_basis": [
            {"list_type": code, **basis_view(b)} for code, b in m.list_basis if code in active
        ],
        "triggered_by": triggered,
        "matter_scope": m.matter_scope.value,
        "matters": list(m.matters),
        "uncertain": bool(m.uncertain),
    }


def credit_check(matter: Matter, facts: Facts, measures: Iterable[Measure]) -> CreditCheck:
    """Eligibility and applicable measures of one applicant for one matter."""
    found = applicable_measures(measures, matter, facts.memberships, facts.grade, facts.today)
    return CreditCheck(matter.code, eligibility(matter, facts), tuple(found))


def public_name(name: str, *, is_person: bool, list_type: ListType) -> str:
    """Organisations in full; natural persons by the list's display rule (rules.md §13.4)."""
    if not is_person:
        return name.strip()
    return display_person_name(name, list_type.display_name_rule.value)


ADULT_AGE = 18  # 未成年人: under 18 (民法典第十七条)


def minor_on(birth_date: date | None, day: date | None) -> bool:
    """True when a person born on ``birth_date`` was under 18 on ``day`` (the same rule as
    intake's minor rule: the 18th birthday is the first adult day; born 29 February, 1 March).
    Unknown dates are not a minor's (the source record's own flag covers those)."""
    if birth_date is None or day is None:
        return False
    born = (birth_date.year + ADULT_AGE, birth_date.month, birth_date.day)
    return born > (day.year, day.month, day.day)


def public_entry(
    membership: Membership,
    list_type: ListType,
    *,
    subject_name: str,
    is_person: bool,
    today: date,
    birth_date: date | None = None,
    mask_names: bool = True,
) -> dict[str, str | None] | None:
    """The public-list row of a membership, or None when it is not (or no longer) public.

    A natural person who was a minor on the decision date (``birth_date``) is never on a
    public list, whatever the membership's status (rules.md §13.4; G31).
    """
    if membership.status is not MembershipStatus.published or not membership.is_active(today):
        return None
    if is_person and minor_on(birth_date, membership.decided_on or membership.published_on):
        return None
    return {
        "list_type": list_type.code,
        "list_name": list_type.name,
        "name": public_name(subject_name, is_person=is_person, list_type=list_type),
        "decision_no": membership.decision_no,
        "decided_on": _iso(membership.decided_on),
        "published_on": _iso(membership.published_on),
        "expires_on": _iso(membership.expires_on),
        # 公示截止: the last day on the list (expires_on is the first day off it)
        "last_day": _iso(last_day(membership.expires_on)) if membership.expires_on else None,
        "reasons": public_reasons(
            membership, is_person=is_person, keep=(subject_name,), mask_names=mask_names
        ),
    }


PERSON_REASONS = "列入事由涉及自然人个人信息，不予公开；详见认定文书"


def public_reasons(
    membership: Membership,
    *,
    is_person: bool,
    keep: tuple[str, ...] = (),
    mask_names: bool = True,
) -> str | None:
    """Reasons as public pages show them: ID and phone numbers scrubbed; for a natural person
    a neutral sentence, because free text names the person and may give the home address or
    other people's names (rules.md §13.4). An organisation's reasons show other persons'
    names masked (刘芳芳 → 刘**; `shared.person_names`, G30), except ``keep`` (the listed
    organisation's own name, shown on the list anyway)."""
    if not membership.reasons:
        return None
    if is_person:
        return PERSON_REASONS + (f"（{membership.decision_no}）" if membership.decision_no else "")
    reasons = scrub_personal(membership.reasons)
    return mask_person_names(reasons, keep=keep) if mask_names else reasons


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
