"""Severity classification and publication periods (NDRC Order No. 36; values from the catalog)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from citycredit.catalog.model import CatalogItem, PublicationKind, Severity, holds
from citycredit.catalog.values import LONG_TERM
from citycredit.shared.calendar import statutory_period_end
from citycredit.shared.errors import FieldError

__all__ = ["PUBLISHER_RULE", "Publication", "classify", "publication_for"]

# rule_id reported when the publisher's own severity (severity_field) is used.
PUBLISHER_RULE = "publisher"
DEFAULT_RULE = "default"

_SEVERITY_BY_NAME = {s.label: s for s in Severity} | {s.value: s for s in Severity}


@dataclass(frozen=True)
class Publication:
    """Outcome for one record: severity, whether and until when it is published, repair date."""

    severity: Severity | None
    severity_inferred: bool  # 推定: from the catalog's classifier, not from the publisher
    rule_id: str | None
    published: bool
    publication_end: date | None  # exclusive; None = open-ended
    repair_from: date | None
    classifier_version: str | None = None  # recorded with every inferred severity


def classify(
    item: CatalogItem, values: Mapping[str, object]
) -> tuple[Severity | None, bool, str | None]:
    """Return (severity, inferred, rule_id): the publisher's class wins, else the classifier."""
    if not item.is_adverse(values):
        return None, False, None
    if item.severity_field is not None:
        stated = values.get(item.severity_field)
        if isinstance(stated, str) and stated in _SEVERITY_BY_NAME:
            return _SEVERITY_BY_NAME[stated], False, PUBLISHER_RULE
    if item.classifier is None:
        return None, False, None
    for rule in item.classifier.rules:
        if all(holds(cond, values) for cond in rule.when):
            return rule.severity, True, rule.id
    return item.classifier.default, True, DEFAULT_RULE


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _require_decision(item: CatalogItem, decision_date: date | None) -> date:
    if decision_date is None:
        code = item.decision_date_field or "decision_date"
        label = item.field(code).label if item.decision_date_field else "决定日期"
        message = f"{label}（{code}）必填：{item.name}的公示期自该日期起算"
        raise FieldError(code, "", "required", message)
    return decision_date


def publication_for(
    item: CatalogItem, values: Mapping[str, object], decision_date: date | None
) -> Publication:
    """Compute severity, publication end (exclusive) and earliest repair date for one record."""
    severity, inferred, rule_id = classify(item, values)
    version = item.classifier.version if inferred and item.classifier else None
    rule = item.publication
    end: date | None = None
    repair: date | None = None
    published = True
    if rule.kind is PublicationKind.severity and severity is not None and item.severity_periods:
        start = _require_decision(item, decision_date)
        periods = item.severity_periods
        span = periods.for_severity(severity)
        if severity is Severity.minor and not periods.minor_published:
            # Order No. 36: 轻微 information is in principle not published; repair needs no wait.
            published, end, repair = False, start, start
        else:
            end = statutory_period_end(start, months=span.max_months)
            repair = statutory_period_end(start, months=span.min_months)
    elif rule.kind is PublicationKind.until_field and rule.end_field is not None:
        until = _as_date(values.get(rule.end_field))
        if until is not None and until != LONG_TERM:
            end = until + timedelta(days=1) if rule.end_inclusive else until
    elif rule.kind is PublicationKind.fixed and rule.fixed_months is not None:
        end = statutory_period_end(_require_decision(item, decision_date), months=rule.fixed_months)
    return Publication(severity, inferred, rule_id, published, end, repair, version)
