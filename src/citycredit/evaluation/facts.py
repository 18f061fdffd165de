"""The fact view: what every evaluation engine reads, defined once.

Three relations, the same names and columns on every engine:

- ``fact_subjects(subject_id, subject_type, registered_on)``
- ``facts(subject_id, item_code, decision_date, severity, publication_end, published,
  repaired_on, value, category)`` — the CURRENT version of every ACTIVE record: withdrawn
  records and superseded versions never appear. ``repaired_on`` is the day 信用修复 was granted
  (records.repaired_at in Asia/Shanghai): from that day on the record is no longer used
  (NDRC Order No. 36 art. 3: publication and sharing stop, evaluation results are updated).
  ``value`` and ``category`` are the payload fields indicators read (``VALUE_FIELDS`` /
  ``CATEGORY_FIELDS``), so no engine parses JSON at evaluation time. Two columns are the
  evaluation's reading of the record rather than its stored column:

  - ``decision_date`` is the day of the event the indicators count: the record's decision date,
    or for items in ``EVENT_DATE_FIELDS`` the payload date of the outcome when it has one (a
    commitment's 履约核查日期 CN_LYRQ: a breach counts from the day it was found, not from the
    day the commitment was made);
  - ``publication_end`` is the (exclusive) end of the record's force: its publication end, or
    for items in ``SUCCESSION`` the day after the next record of the same subject (and the same
    category) was decided, whichever is earlier — a newer industry evaluation of the same
    industry, or a newer tax credit grade, replaces the older one (有效至下一次评价) from the day it
    is known. Records decided on the same day stay in force together (the worst counts).
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
    "EVENT_DATE_FIELDS",
    "FACT_COLUMNS",
    "MEMBERSHIP_COLUMNS",
    "MEMBERSHIP_STATUSES",
    "SUBJECT_COLUMNS",
    "SUCCESSION",
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

# The payload date that replaces the decision date where present, per catalog item: the day
# the outcome the indicators count became known (commitments: 履约核查日期, the breach or
# fulfilment check, commitments/service.py; the decision date CN_RQ is the day it was made).
EVENT_DATE_FIELDS: Mapping[str, str] = {
    "commitment": "CN_LYRQ",
}
# Items of which a subject's newer record replaces the older ones: True = per category (an
# industry evaluation per 行业, "有效至下一次评价", catalog item industry_evaluation), False = per
# subject (the tax credit grade of the latest year; the fixed 12 months of the previous year's
# grade would otherwise overlap the new one).
SUCCESSION: Mapping[str, bool] = {
    "industry_evaluation": True,
    "tax_credit_grade": False,
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


def _day_after(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"({column} + 1)"
    return f"date({column}, '+1 day')"


def _event_date(dialect: str) -> str:
    """The decision date, or the item's outcome date from the payload when it has one."""
    if not EVENT_DATE_FIELDS:
        return "r.decision_date"
    whens = []
    for item, field in sorted(EVENT_DATE_FIELDS.items()):
        raw = f"NULLIF({_json_text(dialect, field)}, '')"
        day = f"CAST({raw} AS DATE)" if dialect == "postgresql" else raw
        whens.append(f"WHEN {_lit(item)} THEN COALESCE({day}, r.decision_date)")
    return f"CASE r.item_code {' '.join(whens)} ELSE r.decision_date END"


def _succession(dialect: str) -> str:
    """The succession key of a record (NULL: never replaced): item, and category if per category."""
    if not SUCCESSION:
        return "CAST(NULL AS TEXT)"
    whens = []
    for item, per_category in sorted(SUCCESSION.items()):
        key = _lit(item + ":")
        if per_category:
            category = _json_text(dialect, CATEGORY_FIELDS[item])
            whens.append(f"WHEN {_lit(item)} THEN {key} || ({category})")
        else:
            whens.append(f"WHEN {_lit(item)} THEN {key}")
    return f"CASE r.item_code {' '.join(whens)} END"


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
    replaced = _day_after(dialect, "z.next_on")
    # fact_rows: one row per current version of an active record, with its succession key;
    # fact_next: the decision date of the next record of the same key (ties: the same day);
    # facts: the next *later* decision date of the key (the peers' maximum of fact_next, which
    # skips records of the same day) ends the record's force the day after.
    facts = (
        "fact_rows AS (SELECT r.subject_id AS subject_id, r.item_code AS item_code,"
        f" {_event_date(dialect)} AS decision_date, r.severity AS severity,"
        f" r.publication_end AS publication_end, {published} AS published,"
        f" {_local_day(dialect, 'r.repaired_at')} AS repaired_on,"
        f" {_case(dialect, VALUE_FIELDS)} AS value,"
        f" {_case(dialect, CATEGORY_FIELDS)} AS category,"
        f" {_succession(dialect)} AS succession"
        " FROM records AS r JOIN record_versions AS v"
        " ON v.record_id = r.id AND v.version = r.current_version"
        " WHERE r.status = 'active' AND v.kind <> 'withdrawal'"
        + scope.format(col="r.subject_id")
        + "), fact_next AS (SELECT x.*, LEAD(x.decision_date) OVER"
        " (PARTITION BY x.subject_id, x.succession ORDER BY x.decision_date) AS next_any"
        " FROM fact_rows AS x), fact_later AS (SELECT y.*, MAX(y.next_any) OVER"
        " (PARTITION BY y.subject_id, y.succession, y.decision_date) AS next_on"
        " FROM fact_next AS y),"
        " facts AS (SELECT z.subject_id AS subject_id, z.item_code AS item_code,"
        " z.decision_date AS decision_date, z.severity AS severity,"
        " CASE WHEN z.succession IS NOT NULL AND z.next_on > z.decision_date"
        f" AND (z.publication_end IS NULL OR z.publication_end > {replaced})"
        f" THEN {replaced} ELSE z.publication_end END AS publication_end,"
        " z.published AS published, z.repaired_on AS repaired_on, z.value AS value,"
        " z.category AS category FROM fact_later AS z)"
    )
    memberships = (
        "fact_memberships AS (SELECT m.subject_id AS subject_id, m.list_type AS list_type,"
        f" CASE m.list_type {kind_case} ELSE {_lit(ListKind.other.value)} END AS list_kind,"
        " m.decided_on AS decided_on, m.expires_on AS expires_on, m.ended_on AS ended_on"
        f" FROM memberships AS m WHERE m.status IN ({statuses})"
        " AND m.decided_on IS NOT NULL" + scope.format(col="m.subject_id") + ")"
    )
    return f"{subjects}, {facts}, {memberships}"
