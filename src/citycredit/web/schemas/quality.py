"""数据质量 answers (web/api.py): the public report of `GET /api/v1/quality` and the fresh one the
credit office asks for with `POST /api/v1/quality/refresh`.

Built by ingest/quality.py (`compute_quality_report`, `_render`, `archive_coverage`) and served
from its stored snapshot with the snapshot's 统计时间 (`quality_report`). The routes document
this model without validating each answer (`responses={200: {"model": …}}`): the body is a
stored JSON, and a snapshot written by an older release must still be served, never a 500.
tests/e2e/test_openapi_contract_quality.py validates real answers against the spec.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.common import Answer, Day, Instant

RATE = "Ratio 0…1, four decimals; null when there is nothing to divide by."


class QualityItem(Answer):
    """One catalog item of one department."""

    item: str = Field(description="Catalog item code.")
    item_name: str = Field(description="Its name.")
    records: int = Field(description="Records of the item from the department.")
    obligations_due: int = Field(
        description="Obligations due: event records past their due date (or sent on time), "
        "and periods of a periodic item whose due day has passed."
    )
    obligations_met_on_time: int = Field(description="Of those, met on time.")
    collection_rate: float | None = Field(description=f"归集率 = met ÷ due. {RATE}")
    median_days_decision_to_submission: float | None = Field(
        description="及时性: median days from decision to first submission; null: no dates."
    )
    completeness: float | None = Field(
        description=f"完整率: filled catalog fields of current active records ÷ fields. {RATE}"
    )
    received: int = Field(description="Rows received in completed submissions.")
    rejected: int = Field(description="Rows quarantined (问题数据).")
    rejection_rate: float | None = Field(description=f"问题数据率 = rejected ÷ received. {RATE}")
    rejections_by_reason: dict[str, int] = Field(
        description="Quarantined rows by reason code (`required`, `checksum`, …)."
    )
    rejections_by_reason_label: dict[str, int] = Field(
        description="The same by the reason's Chinese label (必填项缺失 …)."
    )
    unresolved: int = Field(description="Rows waiting in the clerk's queue (主体无法匹配).")


class QualityDepartment(Answer):
    """One source department and its items."""

    department_id: int = Field(description="Department id.")
    department: str = Field(description="Its name.")
    collection_rate: float | None = Field(description=f"归集率 over its items. {RATE}")
    rejection_rate: float | None = Field(description=f"问题数据率 over its items. {RATE}")
    unresolved: int = Field(description="Rows of its items waiting in the clerk's queue.")
    items: list[QualityItem] = Field(description="Its items, by item code.")


ITEM_EXAMPLE: JsonDict = {
    "item": "penalty",
    "item_name": "行政处罚",
    "records": 120,
    "obligations_due": 118,
    "obligations_met_on_time": 112,
    "collection_rate": 0.9492,
    "median_days_decision_to_submission": 3,
    "completeness": 0.9125,
    "received": 130,
    "rejected": 6,
    "rejection_rate": 0.0462,
    "rejections_by_reason": {"checksum": 2, "required": 4},
    "rejections_by_reason_label": {"校验码错误": 2, "必填项缺失": 4},
    "unresolved": 1,
}
REPORT_EXAMPLE: JsonDict = {
    "as_of": "2026-11-25",
    "collection_rate": 0.9492,
    "subjects": 2400,
    "with_current_registration": 2280,
    "archive_coverage": 0.95,
    "departments": [
        {
            "department_id": 1,
            "department": "榆林市市场监督管理局",
            "collection_rate": 0.9492,
            "rejection_rate": 0.0462,
            "unresolved": 1,
            "items": [ITEM_EXAMPLE],
        }
    ],
    "computed_at": "2026-11-25T10:00:03+08:00",
}


class QualityReport(Answer):
    """数据质量 of the city's collection, per department and item, as of a stored snapshot.

    Computed hourly (and on demand by the credit office), not per read: ``computed_at`` says when.
    A record submitted since then shows in the next snapshot."""

    as_of: Day = Field(description="The report's day (Beijing): obligations due before it count.")
    computed_at: Instant = Field(
        description="统计时间: when the snapshot was computed (Beijing time, with offset)."
    )
    collection_rate: float | None = Field(description=f"归集率 of the whole city. {RATE}")
    subjects: int = Field(description="Subjects in the registry.")
    with_current_registration: int = Field(
        description="Subjects with an active basic-registration record."
    )
    archive_coverage: float | None = Field(
        description=f"档案覆盖率 = with_current_registration ÷ subjects. {RATE}"
    )
    departments: list[QualityDepartment] = Field(description="By department name.")

    model_config = ConfigDict(json_schema_extra={"examples": [REPORT_EXAMPLE]})
