"""The fact view: what every evaluation engine reads, defined once.

Three relations, the same names and columns on every engine:

- ``fact_subjects(subject_id, subject_type, registered_on)``
- ``facts(subject_id, item_code, decision_date, severity, publication_end, published,
  repaired_on, value, category)`` — the CURRENT version of every ACTIVE record: withdrawn
  records and superseded versions never appear. ``repaired_on`` is the day 信用修复 was granted
  (records.repaired_at in Asia/Shanghai): from that day on the record is no longer used
  (NDRC Order No. 36 art. 3: publication and sharing stop, evaluation results are updated).
  ``value`` and ``category`` are the payload fields indicators read (``VALUE_FIELDS`` /
  ``CATEGORY_FIELDS``), so no engine parses JSON at evaluation time.
- ``fact_memberships(subject_id, list_type, list_kind, decided_on, expires_on, ended_on)`` — list
  memberships that were decided (decided, published, expired, exited); proposals, notices and
  withdrawn (void) memberships never appear.

On the platform database these are CTEs over records / record_versions / memberships
(`fact_view_sql`, PostgreSQL or SQLite); the de-identified Parquet export
(`citycredit.analytics.export`) writes the result of the same CTEs as fact_subjects.parquet,
facts.parquet and fact_memberships.parquet, which DuckDB and Spark read.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from citycredit.lists.model import ListKind

__all__ = [
    "CATEGORY_FIELDS",
    "FACT_COLUMNS",
    "MEMBERSHIP_COLUMNS",
    "MEMBERSHIP_STATUSES",
    "SUBJECT_COLUMNS",
    "VALUE_FIELDS",
    "fact_view_sql",
    "list_kinds",
]

# The payload field an indicator's `values` filter tests, per catalog item.
VALUE_FIELDS: Mapping[str, str] = {
    "registration": "DJ_ZT",  # 登记状态
    "licence": "XK_ZT",  # 许可状态
    "penalty": "CF_CFLB",  # 处罚类别
    "serious_dishonesty": "YZ_MDLX",  # 名单类型
    "red_list": "HM_MDLX",  # 名单类型
    "commitment": "CN_LYZT",  # 履约状态
    "honour": "RY_JB",  # 级别
    "tax_credit_grade": "NS_DJ",  # 纳税信用等级
    "industry_evaluation": "HY_DJ",  # 行业信用等级
    "social_insurance_arrears": "QJ_XZ",  # 险种
    "utility_arrears": "QF_LX",  # 欠费类型
    "contract_performance": "HT_LYZT",  # 履约状态
}
# The payload field an indicator's `categories` filter tests, per catalog item.
CATEGORY_FIELDS: Mapping[str, str] = {
    "commitment": "CN_LX",  # 承诺类型
    "industry_evaluation": "HY_HY",  # 行业
    "contract_performance": "HT_LX",  # 合同类型
}

# Columns (and their Arrow / SQL types) of the three relations; the export writes exactly these.
SUBJECT_COLUMNS: Mapping[str, str] = {
    "subject_id": "string",
    "subject_type": "string",
    "registered_on": "date",
}
FACT_COLUMNS: Mapping[str, str] = {
    "subject_id": "string",
    "item_code": "string",
    "decision_date": "date",
    "severity": "string",
    "publication_end": "date",
    "published": "int32",
    "repaired_on": "date",
    "value": "string",
    "category": "string",
}
MEMBERSHIP_COLUMNS: Mapping[str, str] = {
    "subject_id": "string",
    "list_type": "string",
    "list_kind": "string",
    "decided_on": "date",
    "expires_on": "date",
    "ended_on": "date",
}
# Memberships that were decided: measures apply from the decision (lists.model.ACTIVE_STATUSES);
# expired and exited ones still count for an as_of before their end.
MEMBERSHIP_STATUSES: tuple[str, ...] = ("decided", "published", "expired", "exited")


def list_kinds() -> dict[str, str]:
    """list_type → kind (serious_dishonesty, red_list, other) from the lists data."""
    from citycredit.lists.loader import default_lists

    return {code: lt.kind.value for code, lt in default_lists().list_types.items()}


def _lit(value: str) -> str:
    return exp.Literal.string(value).sql()


def _json_text(dialect: str, field: str) -> str:
    # JSONB on PostgreSQL, JSON text on SQLite (citycredit.db.base.JsonType).
    if dialect == "postgresql":
        return f"v.payload ->> {_lit(field)}"
    return f"json_extract(v.payload, {_lit('$.' + field)})"


def _local_day(dialect: str, column: str) -> str:
    # UTC instant → Asia/Shanghai day (UTC+8 all year, no daylight saving).
    if dialect == "postgresql":
        return f"CAST(({column} AT TIME ZONE 'Asia/Shanghai') AS DATE)"
    return f"date({column}, '+8 hours')"


def _case(dialect: str, fields: Mapping[str, str]) -> str:
    whens = " ".join(
        f"WHEN {_lit(item)} THEN {_json_text(dialect, f)}" for item, f in sorted(fields.items())
    )
    return f"CASE r.item_code {whens} END"


def fact_view_sql(dialect: str, *, scoped: bool, kinds: Mapping[str, str] | None = None) -> str:
    """The WITH clause body defining subjects, facts and memberships on the platform database.

    `scoped` restricts every relation to ``subject_id IN :subject_ids`` (an expanding bind
    parameter). `dialect` is the SQLAlchemy dialect name: postgresql or sqlite.
    """
    if dialect not in ("postgresql", "sqlite"):
        raise ValueError(f"unsupported database dialect {dialect!r}")
    kinds = list_kinds() if kinds is None else kinds
    scope = " AND {col} IN :subject_ids" if scoped else ""
    kind_case = " ".join(
        f"WHEN {_lit(code)} THEN {_lit(kind)}" for code, kind in sorted(kinds.items())
    )
    statuses = ", ".join(_lit(s) for s in MEMBERSHIP_STATUSES)
    published = "CASE WHEN r.published THEN 1 ELSE 0 END"
    subjects = (
        "fact_subjects AS (SELECT s.subject_id AS subject_id, s.subject_type AS subject_type,"
        " s.registered_on AS registered_on FROM subjects AS s WHERE 1 = 1"
        + scope.format(col="s.subject_id")
        + ")"
    )
    facts = (
        "facts AS (SELECT r.subject_id AS subject_id, r.item_code AS item_code,"
        " r.decision_date AS decision_date, r.severity AS severity,"
        f" r.publication_end AS publication_end, {published} AS published,"
        f" {_local_day(dialect, 'r.repaired_at')} AS repaired_on,"
        f" {_case(dialect, VALUE_FIELDS)} AS value,"
        f" {_case(dialect, CATEGORY_FIELDS)} AS category"
        " FROM records AS r JOIN record_versions AS v"
        " ON v.record_id = r.id AND v.version = r.current_version"
        " WHERE r.status = 'active' AND v.kind <> 'withdrawal'"
        + scope.format(col="r.subject_id")
        + ")"
    )
    memberships = (
        "fact_memberships AS (SELECT m.subject_id AS subject_id, m.list_type AS list_type,"
        f" CASE m.list_type {kind_case} ELSE {_lit(ListKind.other.value)} END AS list_kind,"
        " m.decided_on AS decided_on, m.expires_on AS expires_on, m.ended_on AS ended_on"
        f" FROM memberships AS m WHERE m.status IN ({statuses})"
        " AND m.decided_on IS NOT NULL" + scope.format(col="m.subject_id") + ")"
    )
    return f"{subjects}, {facts}, {memberships}"
