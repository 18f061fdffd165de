"""Answers about who may see what of a record (web/privacy_api.py, web/withhold_api.py): clear
personal values and exact lookup (both logged), and 不予公示 / 恢复公示 (G31).

Built from privacy/service.py (`reveal_personal`, `find_by_personal`) and ingest/withhold.py
(`_view`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from citycredit.web.schemas.common import Answer, Instant

RECORD_ID = "rq7c2hpkkq3ldrfmd5bsm"
SUBJECT_ID = "s3vtkq7mhx2dl4wnyrcbp"


class ClearField(Answer):
    """One personal field in clear."""

    code: str = Field(description="Catalog field code (CF_XDR_ZJHM …).")
    label: str = Field(description="Its catalog label.")
    value: str = Field(description="The value in clear, as submitted.")


class ClearPersonal(Answer):
    """明文查看: the clear personal fields of one record version (the read is logged in the
    subject's 查询记录 with the purpose)."""

    record_id: str = Field(description="The record.")
    version: int = Field(description="The version opened (the current one unless asked).")
    item: str = Field(description="Catalog item code.")
    subject_id: str = Field(description="Whom the record is about.")
    fields: list[ClearField] = Field(description="The sealed fields, in clear, by code.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "record_id": RECORD_ID,
                    "version": 1,
                    "item": "penalty",
                    "subject_id": SUBJECT_ID,
                    "fields": [
                        {"code": "CF_XDR_ZJHM", "label": "证件号码", "value": "（明文证件号码）"}
                    ],
                }
            ]
        }
    )


class PersonalMatch(Answer):
    """A record version whose sealed number equals the value looked up."""

    record_id: str = Field(description="The record.")
    version: int = Field(description="The version holding the number.")
    field: str = Field(description="The field that holds it.")
    item: str = Field(description="Catalog item code.")
    subject_id: str = Field(description="Whom the record is about.")
    department_id: int | None = Field(description="The submitting department.")
    status: str = Field(description="The record's status (`active`, `withdrawn`).")


class PersonalLookup(Answer):
    """Records whose ID number or phone equals the value (blind index; the value is never
    stored; department staff find only their department's records)."""

    kind: Literal["id_number", "phone"] = Field(description="What was looked up.")
    count: int = Field(description="Number of matches (at most the configured maximum).")
    records: list[PersonalMatch] = Field(description="By record and version.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "id_number",
                    "count": 1,
                    "records": [
                        {
                            "record_id": RECORD_ID,
                            "version": 1,
                            "field": "CF_XDR_ZJHM",
                            "item": "penalty",
                            "subject_id": SUBJECT_ID,
                            "department_id": 1,
                            "status": "active",
                        }
                    ],
                }
            ]
        }
    )


class WithholdingStep(Answer):
    """A record withheld from (or released to) every public view, and the step recorded."""

    record_id: str = Field(description="The record.")
    step_id: int = Field(description="The workflow step (record_withholdings), in the ledger.")
    action: Literal["withhold", "release"] = Field(description="不予公示 or 恢复公示.")
    published: bool = Field(description="Whether the record is published now.")
    unpublished_reason: str | None = Field(
        description="`privacy`, `state_secret`, `trade_secret`, `security`; null once released."
    )
    unpublished_label: str | None = Field(description="The reason in words (不予公示：…).")
    at: Instant = Field(description="When.")
    by: str = Field(description="Who (account or department token).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "record_id": RECORD_ID,
                    "step_id": 3,
                    "action": "withhold",
                    "published": False,
                    "unpublished_reason": "trade_secret",
                    "unpublished_label": "不予公示：涉及商业秘密",
                    "at": "2026-11-25T02:00:00+00:00",
                    "by": "榆林市市场监督管理局 报送令牌",
                }
            ]
        }
    )
