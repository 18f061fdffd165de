"""Objections (异议) and rights deadlines — pure rules: states, transitions, legal clocks.

An objection is filed against a record, a grade (human review of an automated decision,
PIPL art. 24) or a list entry. While it is open the target carries the "异议处理中" mark on
every surface. The credit office accepts it (or refuses with reasons) within `accept_within`
working days; the source department verifies within `verify_within` working days of acceptance
and decides: corrected, withdrawn, kept (with reasons) or unresolved (check and objection both
recorded, rules.md §6.1). Clocks are working days of the legal calendar, with their basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from citycredit.catalog.yaml_node import CatalogError, read_yaml
from citycredit.shared.errors import FieldError, InvalidTransition

DATA_DIR = Path(__file__).with_name("data")


class TargetType(StrEnum):
    """What an objection disputes."""

    record = "record"  # 信用记录
    evaluation = "evaluation"  # 公共信用综合评价结果（自动化决策的人工复核）
    membership = "membership"  # 名单列入

    @property
    def label(self) -> str:
        labels = {"record": "信用记录", "evaluation": "评价结果", "membership": "名单列入"}
        return labels[self.value]


class Ground(StrEnum):
    """Grounds of an objection (rules.md §6.3)."""

    wrong = "wrong"  # 信息错误
    missing = "missing"  # 信息遗漏
    expired = "expired"  # 超过公示期限仍在公示
    infringes = "infringes"  # 侵犯合法权益
    automated_decision = "automated_decision"  # 对自动化评价结果要求人工复核

    @property
    def label(self) -> str:
        return _GROUND_LABELS[self]


_GROUND_LABELS = {
    Ground.wrong: "信息错误",
    Ground.missing: "信息遗漏",
    Ground.expired: "超过公示期限仍在公示",
    Ground.infringes: "侵犯合法权益",
    Ground.automated_decision: "要求对自动化评价结果进行人工复核",
}


class ObjectionStatus(StrEnum):
    submitted = "submitted"  # 已提交（已标注异议处理中）
    accepted = "accepted"  # 已受理，转信源单位核查
    rejected = "rejected"  # 不予受理（附理由）
    decided = "decided"  # 已处理（结果见 outcome）

    @property
    def label(self) -> str:
        return {
            "submitted": "已提交",
            "accepted": "已受理，核查中",
            "rejected": "不予受理",
            "decided": "已处理",
        }[self.value]


class Outcome(StrEnum):
    """What the verification found (rules.md §6.1, §6.3)."""

    corrected = "corrected"  # 信息已更正（新版本）
    withdrawn = "withdrawn"  # 信息已撤销 / 移出名单（异议成立）
    kept = "kept"  # 经核查信息无误，维持（说明理由），异议标注撤除
    unresolved = "unresolved"  # 无法核实，核查情况与异议一并记载

    @property
    def label(self) -> str:
        return {
            "corrected": "异议成立，信息已更正",
            "withdrawn": "异议成立，信息已撤销",
            "kept": "异议不成立，维持原信息",
            "unresolved": "无法核实，核查情况与异议一并记载",
        }[self.value]


OPEN = frozenset({ObjectionStatus.submitted, ObjectionStatus.accepted})
TRANSITIONS: dict[ObjectionStatus, frozenset[ObjectionStatus]] = {
    ObjectionStatus.submitted: frozenset({ObjectionStatus.accepted, ObjectionStatus.rejected}),
    ObjectionStatus.accepted: frozenset({ObjectionStatus.decided}),
    ObjectionStatus.rejected: frozenset(),
    ObjectionStatus.decided: frozenset(),
}
# Outcomes that make sense per target: a grade is re-evaluated (corrected) or kept; a list
# entry is removed (withdrawn: 异议成立 → exit hook), kept or unresolved.
OUTCOMES: dict[TargetType, frozenset[Outcome]] = {
    TargetType.record: frozenset(Outcome),
    TargetType.evaluation: frozenset({Outcome.corrected, Outcome.kept}),
    TargetType.membership: frozenset({Outcome.withdrawn, Outcome.kept, Outcome.unresolved}),
}
MARK_OPEN = "异议处理中"
MARK_UNRESOLVED = "存在异议（核查情况已记载）"


def check_transition(current: ObjectionStatus, target: ObjectionStatus) -> None:
    """Raise InvalidTransition unless current → target is allowed."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"异议状态「{current.label}」不能转为「{target.label}」",
            code="invalid_objection_transition",
        )


def check_outcome(target_type: TargetType, outcome: Outcome) -> None:
    if outcome not in OUTCOMES[target_type]:
        allowed = "、".join(sorted(o.value for o in OUTCOMES[target_type]))
        raise FieldError(
            "outcome",
            outcome.value,
            "outcome_not_allowed",
            f"对{target_type.label}的异议只能作出以下处理：{allowed}（outcome={outcome.value}）",
        )


@dataclass(frozen=True)
class Limit:
    """One legal clock: working days (or a plain value), its basis, and whether it is confirmed."""

    code: str
    label: str
    basis: str
    uncertain: bool
    working_days: int | None = None
    value: int | None = None


@dataclass(frozen=True)
class RightsDeadlines:
    limits: dict[str, dict[str, Limit]]

    def limit(self, area: str, code: str) -> Limit:
        return self.limits[area][code]

    def as_json(self, area: str) -> list[dict[str, Any]]:
        return [
            {
                "code": lim.code,
                "label": lim.label,
                "working_days": lim.working_days,
                "value": lim.value,
                "basis": lim.basis,
                "uncertain": lim.uncertain,
            }
            for lim in self.limits[area].values()
        ]


def load_deadlines(path: Path | None = None) -> RightsDeadlines:
    """Read rights/data/deadlines.yaml (or another file), refusing incomplete entries."""
    path = path or DATA_DIR / "deadlines.yaml"
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise CatalogError(path.name, "(root)", "应为按领域分组的映射")
    limits: dict[str, dict[str, Limit]] = {}
    for area, entries in raw.items():
        if not isinstance(entries, dict):
            raise CatalogError(path.name, str(area), "应为时限映射")
        limits[area] = {}
        for code, spec in entries.items():
            where = f"{area}.{code}"
            if not isinstance(spec, dict) or not spec.get("basis") or not spec.get("label"):
                raise CatalogError(path.name, where, "每个时限都必须有 label 和 basis（法律依据）")
            wd, value = spec.get("working_days"), spec.get("value")
            if (wd is None) == (value is None):
                raise CatalogError(path.name, where, "working_days 与 value 必须且只能给出一个")
            for name, number in (("working_days", wd), ("value", value)):
                if number is not None and (not isinstance(number, int) or number < 0):
                    raise CatalogError(path.name, where, f"{name} 必须是非负整数")
            limits[area][code] = Limit(
                code=code,
                label=str(spec["label"]),
                basis=" ".join(str(spec["basis"]).split()),
                uncertain=bool(spec.get("uncertain", False)),
                working_days=wd,
                value=value,
            )
    for needed in ("accept_within", "verify_within", "statement_max_chars"):
        if needed not in limits.get("objection", {}):
            raise CatalogError(path.name, f"objection.{needed}", "缺少必需的时限")
    return RightsDeadlines(limits)


@lru_cache(maxsize=1)
def default_deadlines() -> RightsDeadlines:
    return load_deadlines()


def is_overdue(due: date | None, today: date) -> bool:
    """A clock is overdue the day after its last on-time day."""
    return due is not None and today > due
