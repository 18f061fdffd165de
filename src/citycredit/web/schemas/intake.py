"""归集 answers (web/api.py): the receipt, quarantined rows, record history and withdrawal,
the clerk's queue, the catalog.

Built from ingest/service.py (`Receipt.as_dict`, `list_rejects`, `record_history`),
ingest/unresolved.py (`list_unresolved`), subjects/service.py (an unresolved row's candidates)
and the catalog (catalog/model.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from citycredit.catalog.model import FieldType, Openness
from citycredit.web.schemas.common import Answer, Instant

AT = "2026-11-25T02:00:00+00:00"
SUBMISSION = "subzytrl7ud6odarqgurpko"


class RejectReason(Answer):
    """Why one field of a row was refused."""

    field: str | None = Field(description="The field code (or the column) refused.")
    value: Any = Field(
        description="The value refused, as read; natural persons' values hidden as `[已隐去]` "
        "where the reader may not see them (the credit office, a dry run's receipt), ID and "
        "phone numbers scrubbed."
    )
    code: str = Field(
        description="`required`, `length`, `invalid`, `date_order`, `unresolved_subject` …"
    )
    message: str = Field(description="The reason in Chinese, naming the field and value.")


class DryRunReject(Answer):
    """One row a dry run would quarantine."""

    row: int = Field(description="The row's number in the file (1: first data row).")
    reasons: list[RejectReason] = Field(description="One reason per failing field.")


RECEIPT_EXAMPLE: dict[str, Any] = {
    "submission_id": SUBMISSION,
    "item": "penalty",
    "department": "榆林市市场监督管理局",
    "status": "completed",
    "dry_run": False,
    "filename": "p.csv",
    "format": "csv",
    "encoding": "utf-8",
    "encoding_reason": "按 UTF-8 严格解码成功",
    "sha256": "690875d137020adc28b4eeda793965e87177ea18ba03a820e4ae5ecf9a055ea3",
    "received": 3,
    "new": 2,
    "corrected": 0,
    "duplicate": 0,
    "withdrawn": 0,
    "rejected": 1,
    "unresolved": 0,
    "balanced": True,
    "notes": [],
    "created_at": AT,
    "completed_at": AT,
    "rejects": None,
}


class Receipt(Answer):
    """回执 of a submission: every received row is counted once — stored (new, corrected,
    duplicate), applied as a withdrawal, or rejected (quarantined with its reasons)."""

    submission_id: str | None = Field(
        description="The submission's id (GET it again, its rejects); null for a dry run, "
        "which keeps nothing."
    )
    item: str = Field(description="Catalog item code of the file.")
    department: str = Field(description="The submitting department's name.")
    status: str = Field(description="`completed` (or `processing` while it runs).")
    dry_run: bool = Field(description="True: validated only, nothing stored.")
    filename: str = Field(description="The uploaded file's name.")
    format: str = Field(description="`csv`, `xlsx` or `json`.")
    encoding: str | None = Field(description="Text encoding detected (CSV), else null.")
    encoding_reason: str | None = Field(description="Why that encoding was chosen.")
    sha256: str = Field(description="SHA-256 of the uploaded file (hex).")
    received: int = Field(description="Data rows received.")
    new: int = Field(description="Rows stored as new records.")
    corrected: int = Field(description="Rows stored as a new version of an existing record.")
    duplicate: int = Field(description="Rows identical to the record's current version.")
    withdrawn: int = Field(description="Rows applied as withdrawals (`OPERATION`=删除).")
    rejected: int = Field(description="Rows quarantined (GET …/rejects for the reasons).")
    unresolved: int = Field(
        description="Of the rejected: valid rows whose subject could not be identified "
        "(queued for the credit office's clerks)."
    )
    balanced: bool = Field(
        description="received = new + corrected + duplicate + withdrawn + rejected."
    )
    notes: list[str] = Field(description="Remarks on the file (unknown columns …), in Chinese.")
    created_at: Instant = Field(description="When the submission started.")
    completed_at: Instant | None = Field(description="When it completed (null: not yet).")
    rejects: list[DryRunReject] | None = Field(
        default=None,
        description="Dry run only: the rows that would be quarantined, by row number, at most "
        "100 (`rejected` is the total); null for a stored submission (GET …/rejects).",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [RECEIPT_EXAMPLE]})


class SubmissionList(Answer):
    """报送记录: one page of a department's submissions, newest first."""

    count: int = Field(description="Receipts on this page.")
    total: int = Field(description="Submissions that match.")
    submissions: list[Receipt] = Field(description="Each submission's 回执, newest first.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "count": 1,
                    "total": 1,
                    "submissions": [RECEIPT_EXAMPLE],
                }
            ]
        }
    )


class Reject(Answer):
    """One quarantined row."""

    row: int = Field(description="The row's number in the file (1: first data row).")
    status: str = Field(description="`open`, or `resolved` once a clerk attached it.")
    reasons: list[RejectReason] = Field(description="One reason per failing field.")
    raw: dict[str, Any] = Field(
        description="The row as received, keyed by the file's column headers (values text or null)."
    )
    personal_hidden: bool | None = Field(
        default=None,
        description="Present (true) when the reader is not the submitting department: natural "
        "persons' values are hidden and ID/phone numbers scrubbed.",
    )


class RejectList(Answer):
    """Quarantined rows of a submission, by row number."""

    submission_id: str = Field(description="The submission's id.")
    count: int = Field(description="Rows in `rejects`.")
    rejects: list[Reject] = Field(description="By row number.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "submission_id": SUBMISSION,
                    "count": 1,
                    "rejects": [
                        {
                            "row": 2,
                            "status": "open",
                            "reasons": [
                                {
                                    "field": "CF_XDR_SHXYM",
                                    "value": "bad",
                                    "code": "length",
                                    "message": "统一社会信用代码（CF_XDR_SHXYM）的值“bad”无效："
                                    "统一社会信用代码应为 18 位，实际 3 位",
                                }
                            ],
                            "raw": {"CF_XDR_MC": "榆阳区某商贸有限公司", "CF_XDR_SHXYM": "bad"},
                        }
                    ],
                }
            ]
        }
    )


class Withdrawal(Answer):
    """撤销 done: a tombstone version with the reason."""

    record_id: str = Field(description="The record's id.")
    version: int = Field(description="The tombstone's version number.")
    status: str = Field(description="Always `withdrawn`.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"record_id": "r3zryqita23bnwbdeqfg3", "version": 2, "status": "withdrawn"}
            ]
        }
    )


class RecordVersion(Answer):
    """One version of a record."""

    version: int = Field(description="1, 2, … in order.")
    kind: str = Field(description="`original`, `correction`, `withdrawal` …")
    submission_id: str | None = Field(description="The submission that carried it, if any.")
    row: int | None = Field(description="Its row in that submission's file.")
    payload: dict[str, Any] = Field(
        description="The version's values keyed by catalog field code (GET /api/v1/catalog); "
        "ID and phone numbers in free text masked. Empty for a withdrawal."
    )
    reason: str | None = Field(description="Reason of a withdrawal or correction, if given.")
    content_hash: str = Field(description="SHA-256 of the canonical content (hex).")
    created_by: str = Field(description="Who stored it.")
    created_at: Instant = Field(description="When.")


class RecordHistory(Answer):
    """Every version of a record, oldest first."""

    record_id: str = Field(description="The record's id.")
    versions: list[RecordVersion] = Field(description="Oldest first.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "record_id": "r3zryqita23bnwbdeqfg3",
                    "versions": [
                        {
                            "version": 1,
                            "kind": "original",
                            "submission_id": SUBMISSION,
                            "row": 1,
                            "payload": {"CF_WSH": "榆市监罚〔2026〕91号", "CF_NR_FK": "20000.00"},
                            "reason": None,
                            "content_hash": "b1ef047e33204504906538bc0868f09f"
                            "55df48f10699cc4a4d3ababd20c759cb",
                            "created_by": "榆林市市场监督管理局 报送令牌",
                            "created_at": AT,
                        },
                        {
                            "version": 2,
                            "kind": "withdrawal",
                            "submission_id": None,
                            "row": None,
                            "payload": {},
                            "reason": "错误录入",
                            "content_hash": "5f1c0b0e8b2d4a55b6d3f0c9a7e6b1d2"
                            "c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8",
                            "created_by": "榆林市市场监督管理局 报送令牌",
                            "created_at": AT,
                        },
                    ],
                }
            ]
        }
    )


class Candidate(Answer):
    """A subject the row might be about (same name)."""

    subject_id: str = Field(description="The subject's id (attach the row to it).")
    name: str = Field(description="The subject's name.")
    division_code: str | None = Field(description="Its 行政区划代码.")
    uscc: str | None = Field(description="Its 统一社会信用代码, if any.")


class Unresolved(Answer):
    """A valid row whose subject could not be identified (待认领)."""

    id: int = Field(description="The queue entry's id (path of attach / dismiss).")
    submission_id: str = Field(description="The submission the row came in.")
    item: str = Field(description="Catalog item code.")
    row: int = Field(description="The row's number in that file.")
    name: str | None = Field(description="The subject's name as submitted.")
    division_code: str | None = Field(description="The 行政区划代码 the row pointed to.")
    candidates: list[Candidate] = Field(description="Subjects of that name (at most 20).")
    status: str = Field(description="`open`, `attached` or `dismissed`.")
    subject_id: str | None = Field(description="Attached: the subject chosen.")
    record_id: str | None = Field(description="Attached: the record stored.")


class UnresolvedList(Answer):
    """The clerk's queue (rows of one status, oldest first)."""

    count: int = Field(description="Rows in `unresolved`.")
    unresolved: list[Unresolved] = Field(description="Oldest first.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "count": 1,
                    "unresolved": [
                        {
                            "id": 7,
                            "submission_id": SUBMISSION,
                            "item": "penalty",
                            "row": 4,
                            "name": "榆林市某某商贸有限公司",
                            "division_code": "610802",
                            "candidates": [
                                {
                                    "subject_id": "srvjyh3woycpq36jof45z",
                                    "name": "榆林市某某商贸有限公司",
                                    "division_code": "610803",
                                    "uscc": "91610802MA6HTP018K",
                                }
                            ],
                            "status": "open",
                            "subject_id": None,
                            "record_id": None,
                        }
                    ],
                }
            ]
        }
    )


class Attached(Answer):
    """The queued row, stored as a record of the chosen subject."""

    record_id: str = Field(description="The record stored.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"record_id": "r4cp6isbvnobnq6ybytk3"}]}
    )


class Dismissed(Answer):
    """The queued row, returned to its department (it stays quarantined, with the reason)."""

    id: int = Field(description="The queue entry's id.")
    status: str = Field(description="Always `dismissed`.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 7, "status": "dismissed"}]})


class CatalogField(Answer):
    """One field of a catalog item."""

    code: str = Field(description="Field code: the key of records' values and the file column.")
    label: str = Field(description="Chinese label (also accepted as the column header).")
    type: FieldType = Field(description="How values are parsed.")
    required: bool = Field(description="Must every row carry it.")
    unit: str | None = Field(description="Unit of the incoming value (money: parsed to 元).")


class CatalogItemOut(Answer):
    """One information item (信息项)."""

    code: str = Field(description="Item code (`penalty`, `licence` …): `item` of a submission.")
    name: str = Field(description="Chinese name.")
    category: str = Field(description="Category of the national basic catalog.")
    version: str = Field(description="The item's version.")
    openness: Openness = Field(
        description="公开 `public`, 授权查询 `authorised`, 仅政务共享 `government_only`."
    )
    adverse: bool = Field(description="Dishonesty information (失信信息) by itself.")
    legal_basis: list[str] = Field(description="Laws and catalogs the item rests on.")
    fields: list[CatalogField] = Field(description="In file column order.")


class CatalogOut(Answer):
    """The catalog: items, openness and fields (public information)."""

    version: str = Field(description="The catalog's version.")
    edition: str = Field(description="Its edition (which national catalog it follows).")
    items: list[CatalogItemOut] = Field(description="Every item.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "2026.1",
                    "edition": "榆林市公共信用信息补充目录（2026年版），"
                    "对应全国公共信用信息基础目录（2024年版）",
                    "items": [
                        {
                            "code": "penalty",
                            "name": "行政处罚",
                            "category": "行政管理信息",
                            "version": "2026.1",
                            "openness": "public",
                            "adverse": True,
                            "legal_basis": ["《中华人民共和国行政处罚法》"],
                            "fields": [
                                {
                                    "code": "CF_WSH",
                                    "label": "行政处罚决定书文号",
                                    "type": "text",
                                    "required": True,
                                    "unit": None,
                                },
                                {
                                    "code": "CF_NR_FK",
                                    "label": "罚款金额（万元）",
                                    "type": "decimal",
                                    "required": False,
                                    "unit": "万元",
                                },
                            ],
                        }
                    ],
                }
            ]
        }
    )
