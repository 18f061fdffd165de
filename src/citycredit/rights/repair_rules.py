"""信用修复 rules as data and per-record eligibility — pure (NDRC Order No. 36, rules.md §5).

Eligibility is computed from what the platform holds about the record (severity, decision date,
the catalog's earliest repair date, publication state), the subject's repair history and the
rules in rights/data/repair.yaml, and is shown before anyone applies:
"可申请修复：自 2026-05-01 起". Every condition is listed with whether it is met, so a refusal
always says which condition failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.yaml_node import CatalogError, read_yaml
from citycredit.rights.model import Limit
from citycredit.shared.calendar import add_months, last_day, statutory_period_end

DATA_FILE = Path(__file__).with_name("data") / "repair.yaml"


@dataclass(frozen=True)
class SectorRule:
    code: str
    label: str
    items: frozenset[str]
    departments: frozenset[str]
    decided_before: date | None
    min_months: int
    uncertain: bool

    def applies(self, item: str, department: str, decided: date | None) -> bool:
        return (
            item in self.items
            and department in self.departments
            and (
                self.decided_before is None
                or (decided is not None and decided < self.decided_before)
            )
        )


@dataclass(frozen=True)
class ItemMinPeriod:
    """A minimum period for adverse items without a severity class (counted from the decision)."""

    items: frozenset[str]
    min_months: int
    label: str
    uncertain: bool


BEYOND_END_POLICIES = ("from_publication_end", "not_repairable")


@dataclass(frozen=True)
class RepairRules:
    version: str
    basis: str
    in_force: date
    deadlines: dict[str, Limit]
    required_materials: tuple[tuple[str, str], ...]  # (code, label)
    sector_rules: tuple[SectorRule, ...]
    limits: dict[str, Limit]
    not_repairable: dict[str, str]  # item code → reason
    refusals: dict[str, str] = field(default_factory=dict)  # limit code → refusal sentence
    item_min_periods: tuple[ItemMinPeriod, ...] = ()
    beyond_end_policy: str = "from_publication_end"

    def item_min_period(self, item: str) -> ItemMinPeriod | None:
        return next((p for p in self.item_min_periods if item in p.items), None)

    def limit_value(self, code: str) -> int:
        value = self.limits[code].value
        assert value is not None
        return value


def load_repair_rules(path: Path | None = None) -> RepairRules:
    """Read and check the repair rules (department names and items against the catalog)."""
    path = path or DATA_FILE
    name = path.name
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise CatalogError(name, "(root)", "应为映射")
    for key in ("version", "basis", "in_force", "deadlines", "required_materials", "limits"):
        if key not in raw:
            raise CatalogError(name, key, "缺少必需的键")
    catalog = default_catalog()
    dept_names = {d.name for d in catalog.departments}
    item_codes = set(catalog.items)

    def limits(section: str, unit: str) -> dict[str, Limit]:
        out = {}
        for code, spec in (raw.get(section) or {}).items():
            where = f"{section}.{code}"
            if not isinstance(spec, dict) or not spec.get("label"):
                raise CatalogError(name, where, "须有 label")
            number = spec.get(unit)
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise CatalogError(name, where, f"{unit} 必须是非负整数")
            if unit == "working_days" and not spec.get("basis"):
                raise CatalogError(name, where, "时限须注明 basis（依据）")
            out[code] = Limit(
                code=code,
                label=str(spec["label"]),
                basis=" ".join(str(spec.get("basis", raw["basis"])).split()),
                uncertain=bool(spec.get("uncertain", False)),
                working_days=number if unit == "working_days" else None,
                value=number if unit == "value" else None,
            )
        return out

    deadlines = limits("deadlines", "working_days")
    for needed in ("accept_within", "decide_within", "sync_within"):
        if needed not in deadlines:
            raise CatalogError(name, f"deadlines.{needed}", "缺少必需的时限")
    caps = limits("limits", "value")
    refusals = {}
    for needed in ("min_months_since_last_repair", "max_repairs_in_5_years", "fraud_bar_years"):
        if needed not in caps:
            raise CatalogError(name, f"limits.{needed}", "缺少必需的限制")
        refusal = (raw["limits"][needed] or {}).get("refusal")
        if not refusal:
            raise CatalogError(name, f"limits.{needed}", "须有 refusal（不予修复的理由）")
        refusals[needed] = str(refusal)
    item_periods = []
    for i, spec in enumerate(raw.get("item_min_periods") or []):
        where = f"item_min_periods[{i}]"
        items = frozenset(spec.get("items") or [])
        if not items or not items <= item_codes:
            raise CatalogError(
                name, where, f"items 须为目录中的信息项：{sorted(items - item_codes)}"
            )
        months = spec.get("min_months")
        if not isinstance(months, int) or isinstance(months, bool) or months < 0:
            raise CatalogError(name, where, "min_months 必须是非负整数")
        if not spec.get("label"):
            raise CatalogError(name, where, "须有 label")
        item_periods.append(
            ItemMinPeriod(items, months, str(spec["label"]), bool(spec.get("uncertain", False)))
        )
    beyond = (raw.get("minimum_beyond_publication_end") or {}).get("policy", "from_publication_end")
    if beyond not in BEYOND_END_POLICIES:
        raise CatalogError(
            name,
            "minimum_beyond_publication_end.policy",
            f"只能是 {'、'.join(BEYOND_END_POLICIES)}",
        )
    sectors = []
    for i, spec in enumerate(raw.get("sector_rules") or []):
        where = f"sector_rules[{i}]"
        items = frozenset(spec.get("items") or [])
        depts = frozenset(spec.get("departments") or [])
        if not items or not items <= item_codes:
            raise CatalogError(
                name, where, f"items 须为目录中的信息项：{sorted(items - item_codes)}"
            )
        if not depts or not depts <= dept_names:
            raise CatalogError(
                name, where, f"departments 须为目录中的部门：{sorted(depts - dept_names)}"
            )
        months = spec.get("min_months")
        if not isinstance(months, int) or months < 0:
            raise CatalogError(name, where, "min_months 必须是非负整数")
        before = spec.get("decided_before")
        sectors.append(
            SectorRule(
                code=str(spec["code"]),
                label=str(spec["label"]),
                items=items,
                departments=depts,
                decided_before=before if isinstance(before, date) else None,
                min_months=months,
                uncertain=bool(spec.get("uncertain", False)),
            )
        )
    not_repairable = {}
    for i, spec in enumerate(raw.get("not_repairable_items") or []):
        if spec.get("item") not in item_codes or not spec.get("reason"):
            raise CatalogError(name, f"not_repairable_items[{i}]", "须为目录信息项并说明理由")
        not_repairable[str(spec["item"])] = str(spec["reason"])
    materials = tuple((str(m["code"]), str(m["label"])) for m in raw["required_materials"])
    in_force = raw["in_force"]
    if not isinstance(in_force, date):
        raise CatalogError(name, "in_force", "须为日期")
    return RepairRules(
        version=str(raw["version"]),
        basis=str(raw["basis"]),
        in_force=in_force,
        deadlines=deadlines,
        required_materials=materials,
        sector_rules=tuple(sectors),
        limits=caps,
        not_repairable=not_repairable,
        refusals=refusals,
        item_min_periods=tuple(item_periods),
        beyond_end_policy=str(beyond),
    )


@lru_cache(maxsize=1)
def default_repair_rules() -> RepairRules:
    return load_repair_rules()


@dataclass(frozen=True)
class RecordFacts:
    """What eligibility needs to know about one record."""

    record_id: str
    item: str
    department: str  # the deciding authority (处罚机关 …), else the submitting department
    status: str  # active | withdrawn
    severity: str | None  # minor | general | serious (catalog Severity values)
    decision_date: date | None
    published: bool
    publication_end: date | None
    repair_from: date | None
    repaired: bool
    adverse: bool  # the catalog item's adversity (CatalogItem.is_adverse on the record)
    shared: bool  # still in departments' authorised view (subjects.archive.is_shared_now)


@dataclass(frozen=True)
class PastRepair:
    decided_on: date  # the approval
    item: str
    revoked_for_fraud: bool = False
    revoked_on: date | None = None  # the revocation (the fraud bar runs from it)

    @property
    def fraud_on(self) -> date:
        return self.revoked_on or self.decided_on


@dataclass(frozen=True)
class Condition:
    code: str
    label: str  # the condition, as met ("仍在公示或共享中")
    met: bool
    detail: str = ""
    refusal: str = ""  # why an application is refused when it is not met

    @property
    def refusal_sentence(self) -> str:
        return self.refusal or f"不满足条件：{self.label}"


@dataclass(frozen=True)
class Eligibility:
    eligible: bool  # may apply today
    repairable: bool  # may ever apply (ignoring dates)
    available_from: date | None  # the first day an application is accepted
    message: str  # "可申请修复：自 2026-05-01 起" and the like
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "repairable": self.repairable,
            "available_from": self.available_from.isoformat() if self.available_from else None,
            "message": self.message,
            "conditions": [
                {
                    "code": c.code,
                    "label": c.label,
                    "met": c.met,
                    "detail": c.detail,
                    "refusal": None if c.met else c.refusal_sentence,
                }
                for c in self.conditions
            ],
        }


def eligibility(
    rules: RepairRules, record: RecordFacts, history: Sequence[PastRepair], today: date
) -> Eligibility:
    """Whether (and from when) the subject may apply to repair this record."""
    conds: list[Condition] = []
    reason = rules.not_repairable.get(record.item)
    conds.append(
        Condition(
            "repairable_item",
            "该类信息可以在本平台修复",
            reason is None,
            reason or "",
            "该类信息不通过本平台信用修复办理",
        )
    )
    conds.append(
        Condition(
            "adverse",
            "属于失信（不良）信息",
            record.adverse,
            refusal="不属于失信（不良）信息，无需修复",
        )
    )
    active = record.status == "active" and not record.repaired
    detail = "已修复" if record.repaired else ("已撤销" if record.status != "active" else "")
    conds.append(
        Condition("active", "信息有效且尚未修复", active, detail, f"信息{detail or '已失效'}")
    )
    # Repair stops publication and sharing (rules.md §5.5): a record past its publication end
    # that departments still share can still be repaired.
    ended = record.publication_end is not None and record.publication_end <= today
    in_use = not ended or record.shared
    conds.append(
        Condition(
            "in_publication",
            "仍在公示或共享中",
            in_use,
            f"公示期已于 {last_day(record.publication_end)} 届满，且已停止共享"
            if not in_use and record.publication_end is not None
            else "",
            "信息已停止公示和共享",
        )
    )
    start, min_detail, beyond_end = _minimum(rules, record)
    min_met = start is not None and today >= start and not beyond_end
    conds.append(
        Condition("min_period", "已届满最短公示期限", min_met, min_detail, "最短公示期限未届满")
    )

    # Repeated repair and fraud (configurable; UNCERTAIN nationally).
    approved = sorted((h for h in history if not h.revoked_for_fraud), key=lambda h: h.decided_on)
    frauds = [h for h in history if h.revoked_for_fraud]
    blocked_until: date | None = None
    if approved:
        gap = rules.limit_value("min_months_since_last_repair")
        after_last = add_months(approved[-1].decided_on, gap)
        blocked_until = after_last
        conds.append(
            Condition(
                "since_last_repair",
                rules.limits["min_months_since_last_repair"].label,
                today >= after_last,
                f"上次修复 {approved[-1].decided_on}，{after_last} 起可再申请",
                rules.refusals["min_months_since_last_repair"],
            )
        )
    five_years_ago = add_months(today, -60)
    recent = [h for h in approved if h.decided_on > five_years_ago]
    cap = rules.limit_value("max_repairs_in_5_years")
    conds.append(
        Condition(
            "repair_count",
            rules.limits["max_repairs_in_5_years"].label,
            len(recent) < cap,
            f"近5年已修复 {len(recent)} 次",
            rules.refusals["max_repairs_in_5_years"],
        )
    )
    if frauds:
        bar = add_months(max(h.fraud_on for h in frauds), 12 * rules.limit_value("fraud_bar_years"))
        conds.append(
            Condition(
                "fraud_bar",
                rules.limits["fraud_bar_years"].label,
                today >= bar,
                f"{bar} 前不得申请",
                rules.refusals["fraud_bar_years"],
            )
        )
        blocked_until = max(blocked_until or bar, bar)
    ever = all(c.met for c in conds if c.code in ("repairable_item", "adverse", "active"))
    ever = ever and in_use and not beyond_end and len(recent) < cap
    eligible = ever and all(c.met for c in conds)
    available = None
    if ever and start is not None:
        available = max(d for d in (start, blocked_until) if d is not None)
    if eligible:
        message = "可申请修复" + (f"（自 {available} 起）" if available else "")
    elif ever and available is not None:
        message = f"暂不可申请修复：自 {available} 起可申请"
    else:
        failed = next(c for c in conds if not c.met)
        if failed.code == "in_publication":
            message = f"无需修复：{failed.detail}"
        else:
            refusal = failed.refusal_sentence
            shown = failed.detail and failed.detail not in refusal
            message = f"不可申请修复：{refusal}" + (f"（{failed.detail}）" if shown else "")
    return Eligibility(eligible, ever, available, message, tuple(conds))


def _minimum(rules: RepairRules, record: RecordFacts) -> tuple[date | None, str, bool]:
    """(first day the minimum period is served, its explanation, whether it ends only after the
    publication end under the `not_repairable` policy)."""
    if record.severity == "minor":
        # 轻微: may apply as soon as the legal duty is performed (rules.md §5.2).
        start = record.decision_date or record.repair_from
        return start, f"轻微失信信息，自决定之日（{start}）起可申请" if start else "", False
    start = record.repair_from
    notes: list[str] = []
    if start is None and record.decision_date is not None:
        period = rules.item_min_period(record.item)
        if period is not None:
            start = statutory_period_end(record.decision_date, months=period.min_months)
            notes.append(period.label)
    sector = next(
        (
            r
            for r in rules.sector_rules
            if r.applies(record.item, record.department, record.decision_date)
        ),
        None,
    )
    if sector is not None and record.decision_date is not None:
        sector_from = statutory_period_end(record.decision_date, months=sector.min_months)
        if start is None or sector_from > start:
            start = sector_from
        notes.append(sector.label)
    if start is None:
        return None, "该信息项未配置最短公示期限", False
    detail = f"最短公示期至 {last_day(start)} 届满，{start} 起可申请"
    end = record.publication_end
    beyond = False
    if end is not None and start > end:
        if rules.beyond_end_policy == "not_repairable":
            beyond = True
            notes.append(f"晚于公示截止 {last_day(end)}，不能通过信用修复提前终止")
        else:
            start = end
            detail = f"最短公示期晚于公示截止（{last_day(end)}），{end} 起可申请"
    if notes:
        detail += "（" + "；".join(notes) + "）"
    return start, detail, beyond
