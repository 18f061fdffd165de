"""Lists, memberships, measures and matters (名单、联合奖惩措施、事项清单) — pure data and rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from citycredit.catalog.model import DisplayNameRule
from citycredit.shared.errors import FieldError, InvalidTransition, NotFound


class ListKind(StrEnum):
    """What a list is: 严重失信主体名单, 守信激励对象 (红名单) or another list (经营异常名录 …)."""

    serious_dishonesty = "serious_dishonesty"
    red_list = "red_list"
    other = "other"


class Origin(StrEnum):
    """Who decides memberships: elsewhere (ingested), here (local workflow), or both."""

    external = "external"
    local = "local"
    both = "both"


class ListLevel(StrEnum):
    """Where the list is set up: nationwide, or a local-only list (49号（七）)."""

    national = "national"
    local = "local"


class BasisKind(StrEnum):
    """Rank of a legal or policy document."""

    law = "law"  # 法律
    regulation = "regulation"  # 行政法规
    local_regulation = "local_regulation"  # 地方性法规
    central_policy = "central_policy"  # 党中央、国务院政策文件
    department_rule = "department_rule"  # 部门规章
    judicial_interpretation = "judicial_interpretation"  # 司法解释
    normative = "normative"  # 其他规范性文件（不能单独作为设列或惩戒依据）


class Conduct(StrEnum):
    """The four kinds of serious conduct a serious list may cover (49号（六））."""

    health_life = "health_life"  # 严重危害人民群众身体健康和生命安全
    market_order = "market_order"  # 严重破坏市场公平竞争秩序和社会正常秩序
    statutory_duty = "statutory_duty"  # 拒不履行法定义务，严重影响司法机关、行政机关公信力
    national_defence = "national_defence"  # 拒不履行国防义务


class ExitCode(StrEnum):
    """How a membership ends early or at term (移出方式)."""

    period_end = "period_end"  # 期满自动移出
    repair = "repair"  # 信用修复（最短期限后）
    objection_upheld = "objection_upheld"  # 异议成立
    court_release = "court_release"  # 人民法院决定移出（撤销、删除）
    performance_completed = "performance_completed"  # 义务履行完毕
    decision_revoked = "decision_revoked"  # 列入（认定）决定被撤销（复议、诉讼、自行纠正）


class MembershipStatus(StrEnum):
    """Steps of a membership; external memberships start at `published`."""

    proposed = "proposed"  # 拟列入
    noticed = "noticed"  # 已告知（陈述申辩、异议期）
    decided = "decided"  # 已作出列入决定
    published = "published"  # 已公示
    expired = "expired"  # 期满移出
    exited = "exited"  # 提前移出
    withdrawn = "withdrawn"  # 撤回（决定前或公示前）


S = MembershipStatus
# The membership state machine; statuses without outgoing transitions are final.
TRANSITIONS: Mapping[MembershipStatus, frozenset[MembershipStatus]] = {
    S.proposed: frozenset({S.noticed, S.withdrawn}),
    S.noticed: frozenset({S.decided, S.withdrawn}),
    S.decided: frozenset({S.published, S.withdrawn}),
    S.published: frozenset({S.expired, S.exited}),
    S.expired: frozenset(),
    S.exited: frozenset(),
    S.withdrawn: frozenset(),
}
ACTIVE_STATUSES = frozenset({S.decided, S.published})  # measures apply from the decision
FINAL_STATUSES = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
EXTERNAL_STATUSES = frozenset({S.published, S.expired, S.exited})


class Grade(StrEnum):
    """Public credit grade (公共信用综合评价 A 优 / B 良 / C 中 / D 差)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class MeasureKind(StrEnum):
    """激励 or 惩戒."""

    incentive = "incentive"
    punishment = "punishment"


class MeasureGroup(StrEnum):
    """The three groups of the national measure list (rules.md §4.3)."""

    rights_restriction = "rights_restriction"  # 依法限制权利的措施（公共机构）
    management = "management"  # 管理性措施（重点监管、提高抽查比例、不适用告知承诺 …）
    market_reference = "market_reference"  # 市场化参考（金融机构、行业协会自主参考）


class MatterScope(StrEnum):
    """Which approval matters a measure applies to."""

    all = "all"  # every matter
    listed = "listed"  # only the listed matter codes
    none = "none"  # not tied to approvals (限制高消费 …): shown only in a subject overview


@dataclass(frozen=True)
class LegalBasis:
    """A legal or policy document with its rank."""

    title: str
    kind: BasisKind
    article: str | None = None
    uncertain: bool = False

    def __str__(self) -> str:
        return f"{self.title}{self.article or ''}"


@dataclass(frozen=True)
class Period:
    """Listing period in months from the deciding document (decision may choose min..max)."""

    default_months: int
    max_months: int
    min_months: int | None = None
    basis: str = ""
    uncertain: bool = False


@dataclass(frozen=True)
class NoticeRule:
    """Prior notice (告知) before a local decision: objection window in working days."""

    objection_working_days: int
    basis: str
    uncertain: bool = False


@dataclass(frozen=True)
class ExitRule:
    """One way out of the list; `min_months` counted from the decision (or publication)."""

    code: ExitCode
    basis: str
    min_months: int | None = None
    uncertain: bool = False


@dataclass(frozen=True)
class CatalogLink:
    """The catalog item carrying external memberships and its 名单类型 values (if any)."""

    item: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListType:
    """One list type: legal basis, authority, criteria, period, notice and exits."""

    code: str
    name: str
    kind: ListKind
    origin: Origin
    level: ListLevel
    legal_basis: tuple[LegalBasis, ...]
    authority: str
    departments: tuple[str, ...]
    criteria: str
    conduct: tuple[Conduct, ...]
    period: Period | None
    notice: NoticeRule | None
    exits: tuple[ExitRule, ...]
    catalog_item: CatalogLink
    display_name_rule: DisplayNameRule
    # External lists: how a removal stated by the source (SX_YCRQ, YZ_YCRQ, YC_YCRQ …) is
    # recorded; None: period_end (the source's date is the end of the listing period).
    source_removal_exit: ExitCode | None = None
    uncertain: tuple[str, ...] = ()

    def exit_rule(self, code: ExitCode) -> ExitRule | None:
        """The exit rule with this code, or None when the list does not allow that exit."""
        return next((e for e in self.exits if e.code is code), None)


@dataclass(frozen=True)
class Membership:
    """A subject on a list (列入记录), local or external; dates record each step."""

    list_type: str
    subject_id: str
    origin: Origin
    status: MembershipStatus
    reasons: str = ""
    decision_no: str | None = None  # 认定文书号 / 案号
    proposing_department: str | None = None
    proposed_on: date | None = None
    noticed_on: date | None = None
    decided_on: date | None = None
    published_on: date | None = None
    expires_on: date | None = None  # first day no longer listed; None = until an exit
    ended_on: date | None = None
    period_months: int | None = None  # period chosen by the decision (default: list default)
    objection_pending: bool = False  # 告知期内提出的陈述申辩/异议尚未答复
    exit_code: ExitCode | None = None
    exit_reason: str | None = None

    def __post_init__(self) -> None:
        if self.origin is Origin.both:
            raise FieldError(
                "origin", "both", "origin_ambiguous", "单条名单记录的来源须为外部或本地"
            )
        if self.origin is Origin.external and self.status not in EXTERNAL_STATUSES:
            raise FieldError(
                "status", self.status, "external_status", "外部名单记录只能是公示及之后状态"
            )

    @property
    def start(self) -> date | None:
        """The day periods run from: the deciding document's date, else publication."""
        return self.decided_on or self.published_on

    def is_active(self, today: date | None = None) -> bool:
        """Decided or published and, when ``today`` is given, not past its expiry day."""
        if self.status not in ACTIVE_STATUSES:
            return False
        return today is None or self.expires_on is None or today < self.expires_on


@dataclass(frozen=True)
class Trigger:
    """What triggers a measure: any active membership of `list_types`, or a grade."""

    list_types: tuple[str, ...] = ()  # list kinds of the YAML are expanded by the loader
    list_kinds: tuple[ListKind, ...] = ()  # as written, for display
    grades: tuple[Grade, ...] = ()
    # Incentives never apply while the subject is on a punitive list or has a punitive grade
    # (filled in by the loader from measures.yaml `incentive_exclusions`).
    unless_list_types: tuple[str, ...] = ()
    unless_grades: tuple[Grade, ...] = ()


@dataclass(frozen=True)
class Measure:
    """One joint incentive or punishment measure (联合奖惩措施)."""

    code: str
    name: str
    kind: MeasureKind
    group: MeasureGroup
    legal_basis: tuple[LegalBasis, ...]
    department: str
    trigger: Trigger
    matter_scope: MatterScope
    matters: tuple[str, ...] = ()
    implementer: str = ""
    # Punishments: the legal basis of every triggering list (49号: 惩戒须以具体失信行为为前提).
    list_basis: tuple[tuple[str, LegalBasis], ...] = ()
    uncertain: tuple[str, ...] = ()

    def applies_to_matter(self, matter: str | None) -> bool:
        """True for matter None (overview), an `all` measure, or a listed matter code."""
        if matter is None or self.matter_scope is MatterScope.all:
            return True
        return self.matter_scope is MatterScope.listed and matter in self.matters


@dataclass(frozen=True)
class EligibilityRule:
    """信易批 eligibility of one matter; every condition must hold."""

    grades: tuple[Grade, ...]
    without_grade: bool  # outcome of the grade condition when no evaluation exists yet
    excluded_list_types: tuple[str, ...] = ()  # kinds of the YAML expanded by the loader
    excluded_list_names: tuple[str, ...] = ()  # Chinese names, same order
    excluded_list_kinds: tuple[ListKind, ...] = ()
    no_pending_objection: bool = True
    no_pending_repair: bool = False
    breach_exclusion_months: int | None = None  # 违诺后不适用告知承诺的月数（rules.md §11）
    text: str = ""  # the rule in words (built by the loader)
    basis: str = ""
    uncertain: bool = False


@dataclass(frozen=True)
class Matter:
    """One administrative matter of the 事项清单 and its 信易批 rule."""

    code: str
    name: str
    department: str
    notify_commit: bool  # 告知承诺制 allowed
    tolerant_acceptance: bool  # 容缺受理 allowed
    fast_approval: EligibilityRule
    basis: str = ""
    uncertain: tuple[str, ...] = ()
    # Who may run a 信用核查 for this matter (matters.yaml `checked_by`): the departments named
    # (the loader fills in the matter's own department when the key is absent), or every
    # department when `any_department` is set (招标投标 / 政府采购: every purchasing unit).
    checked_by: tuple[str, ...] = ()
    any_department: bool = False

    @property
    def checkers(self) -> tuple[str, ...]:
        """The departments that may check this matter (empty when any department may)."""
        if self.any_department:
            return ()
        return self.checked_by or (self.department,)

    def may_be_checked_by(self, department: str) -> bool:
        """True when staff of `department` (a department name) may check this matter."""
        return self.any_department or department in self.checkers


@dataclass(frozen=True)
class ListCatalog:
    """List types, measures and matters at one version, cross-checked by the loader."""

    version: str
    list_types: Mapping[str, ListType]
    measures: tuple[Measure, ...]
    matters: Mapping[str, Matter]

    def __hash__(self) -> int:
        return hash(self.version)

    def list_type(self, code: str) -> ListType:
        """A list type by code; NotFound names the valid codes."""
        if code not in self.list_types:
            known = "、".join(f"{t.name}（{k}）" for k, t in self.list_types.items())
            raise NotFound(f"没有名单类型 '{code}'，可用：{known}")
        return self.list_types[code]

    def matter(self, code: str) -> Matter:
        """A matter by code; NotFound names the valid codes."""
        if code not in self.matters:
            raise NotFound(f"事项清单中没有事项 '{code}'，可用：{'、'.join(self.matters)}")
        return self.matters[code]

    def measure(self, code: str) -> Measure:
        """A measure by code."""
        found = next((m for m in self.measures if m.code == code), None)
        if found is None:
            raise NotFound(f"措施清单中没有措施 '{code}'")
        return found

    def for_external(self, item: str, value: str | None = None) -> ListType:
        """The list type of an ingested record: catalog item code and its 名单类型 value."""
        for list_type in self.list_types.values():
            link = list_type.catalog_item
            if link.item == item and (not link.values or value in link.values):
                return list_type
        raise NotFound(f"信息项 {item} 的名单类型 {value!r} 未对应任何名单")


def apply(current: MembershipStatus, target: MembershipStatus) -> MembershipStatus:
    """Return ``target`` if the state machine allows current → target, else InvalidTransition."""
    if target not in TRANSITIONS[current]:
        allowed = "、".join(sorted(TRANSITIONS[current])) or "无（终态）"
        raise InvalidTransition(f"名单状态不能从 {current} 变为 {target}（可变为：{allowed}）")
    return target
