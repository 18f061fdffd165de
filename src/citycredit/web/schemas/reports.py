"""信用报告 answers (web/reports_api.py): a report as issued, as read back with its integrity
and the changes since issue, and its ledger proof bundle.

Built from reports/service.py (`issue_report`: the content, kept as issued; `get_report`;
`report_bundle`), reports/changes.py (`changes_since_issue`), reports/layout.py (`overview`),
subjects/archive.py (`public_archive`: the subject, the groups of records, the grade block) and
evaluation/views.py (`archive_grade`). A report's sections and its 自愿注册 block are the public
archive's groups and registration as they were at issue, typed with the archive's own models
(schemas/archive.py: `ArchiveGroup`, `ArchiveEntry`, `PublicRegistration`), whose keys written
only in some cases — or only by later versions — are optional: the routes answer
``exclude_unset``, so a key an older report lacks stays absent and the document is served as
stored. The read-back answer (`Report`) shows an entry no longer public since issue by its status
only (`HiddenRecord`, `HiddenListEntry`, reports/service.py `public_content`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.archive import (
    PUBLIC_ENTRY_EXAMPLE,
    REGISTRATION_EXAMPLE,
    ArchiveEntry,
    ArchiveGrade,
    ArchiveGroup,
    PublicRegistration,
    SubjectCard,
)
from citycredit.web.schemas.common import Answer, Day, Instant
from citycredit.web.schemas.exports import DisclosedField, LedgerBundle, ProofLeaf
from citycredit.web.schemas.ledger import NOTE, ORIGIN, VKEY
from citycredit.web.schemas.lists import PublicListEntry

REPORT_NO = "YLCR20261125K7M2Q9X4TB"
SUBJECT = "S7d2kq4xw5m3n6p8r1t9v"
RECORD = "R3m5ytq2k7w4c6v8b1n9x"
ISSUED = "2026-11-25T10:00:00+08:00"
DIGEST = "c92fa4b7c0698f5946b17918080c190d6c328470cc2d14274577bc123dc29009"


class ReportSubject(SubjectCard):
    """The organisation, as the public archive showed it at issue."""


class OverviewLine(Answer):
    """信用中国's overview: one category and its count."""

    section: str = Field(description="The category's label.")
    count: int = Field(description="Entries in it.")


_SECTION: JsonDict = {
    "item": "penalty",
    "item_name": "行政处罚",
    "category": "行政管理信息",
    "count": 1,
    "records": [{**PUBLIC_ENTRY_EXAMPLE, "record_id": RECORD}],
}

_CONTENT: JsonDict = {
    "format": "citycredit-report/2",
    "title": "公共信用信息报告",
    "report_no": REPORT_NO,
    "issued_at": ISSUED,
    "as_of": "2026-11-25",
    "valid_until": "2026-12-25",
    "validity_days": 30,
    "issuer": ORIGIN,
    "subject": {
        "subject_id": SUBJECT,
        "name": "榆阳区报告商贸有限公司",
        "subject_type": "enterprise",
        "subject_type_label": "企业",
        "uscc": "91610802MA6RP0018X",
        "division_code": "610802",
        "division_name": "榆阳区",
        "registered_on": None,
        "status": None,
        "legal_rep": None,
        "industry": None,
    },
    "tags": [],
    "overview": [
        {"section": "行政管理信息", "count": 1},
        {"section": "严重失信主体名单", "count": 0},
    ],
    "sections": [_SECTION],
    "lists": [],
    "evaluation": {"shown": False, "note": "尚无公共信用综合评价结果"},
    "voluntary_registration": REGISTRATION_EXAMPLE,
    "note": "本报告内容为报告生成时本平台公开的公共信用信息；报告编号可在本平台核验，"
    "报告摘要已收录于信用数据链。",
}


_SHOWN: JsonDict = {
    **_CONTENT,
    "sections": [
        {
            **_SECTION,
            "records": [
                {
                    "record_id": RECORD,
                    "hidden": True,
                    "code": "repaired",
                    "label": "已信用修复，不再公示",
                }
            ],
        }
    ],
}


class ReportContent(Answer):
    """The report as issued (its canonical bytes are what the ledger leaf commits to)."""

    format: str = Field(description="`citycredit-report/2` (1: reports issued before it).")
    title: str = Field(description="公共信用信息报告.")
    report_no: str = Field(description="The report number (YLCR + issue date + 10 characters).")
    issued_at: Instant = Field(description="When it was issued (Beijing time since format 2).")
    as_of: Day = Field(description="信息截至.")
    valid_until: Day | None = Field(default=None, description="有效期至 (format 2).")
    validity_days: int | None = Field(default=None, description="有效期, days (format 2).")
    issuer: str = Field(description="The platform (the ledger's origin).")
    subject: ReportSubject = Field(description="The organisation.")
    tags: list[str] = Field(
        default_factory=list, description="`守信激励对象`, `失信惩戒对象` (from its lists)."
    )
    overview: list[OverviewLine] = Field(
        default_factory=list, description="信用中国's overview counts, in its order (format 2)."
    )
    sections: list[ArchiveGroup] = Field(
        description="Public records by catalog item, as the public archive showed them at issue."
    )
    lists: list[PublicListEntry] = Field(description="Public lists it was on, masked.")
    evaluation: ArchiveGrade = Field(description="The archive's grade block at issue.")
    voluntary_registration: PublicRegistration | None = Field(
        description="自愿注册 profile (self-declared) as the public archive showed it, if any."
    )
    note: str = Field(description="What the report is, in Chinese.")


class HiddenRecord(Answer):
    """A record of the report no longer public (repaired, withdrawn, 不予公示, past its
    period …): its status in its place, as the page shows it — no details."""

    record_id: str = Field(description="The record (as in `changes`).")
    hidden: Literal[True] = Field(description="Always true: shown by its status only.")
    code: str = Field(description="The change (`ReportChange.code`).")
    label: str = Field(description="The status, in Chinese (e.g. 已信用修复，不再公示).")


class HiddenListEntry(Answer):
    """A list entry of the report no longer public (repaired, exited, expired, withdrawn):
    the list and its status, as the page shows it — no decision, dates or reasons."""

    list_type: str = Field(description="List type code.")
    list_name: str = Field(description="List type name.")
    record_id: str | None = Field(
        default=None, description="External memberships: the record they mirror."
    )
    hidden: Literal[True] = Field(description="Always true: shown by its status only.")
    code: str = Field(description="The change (`ReportChange.code`).")
    label: str = Field(description="The status, in Chinese.")


class ShownGroup(ArchiveGroup):
    """The records of one catalog item as the report's page shows them today."""

    records: list[ArchiveEntry | HiddenRecord] = Field(  # type: ignore[assignment]
        description="As issued; one no longer public replaced by its status (`HiddenRecord`)."
    )


class ShownReportContent(ReportContent):
    """The report as the page shows it today: as issued, except that every entry no longer
    public is replaced by its status. It no longer hashes to `content_hash` when
    `complete` is false (the whole document is in the bundle, for the subject only)."""

    sections: list[ShownGroup] = Field(  # type: ignore[assignment]
        description="Public records by catalog item at issue; entries no longer public by "
        "their status only."
    )
    lists: list[PublicListEntry | HiddenListEntry] = Field(  # type: ignore[assignment]
        description="Public lists it was on at issue, masked; entries no longer public by "
        "their status only."
    )


class IssuedReport(Answer):
    """A report just issued: its number, content and digest (committed to the ledger)."""

    report_no: str = Field(description="The number (GET /api/v1/reports/{report_no}).")
    content: ReportContent = Field(description="The report as issued.")
    content_hash: str = Field(description="Digest of the content's canonical bytes (hex).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"report_no": REPORT_NO, "content": _CONTENT, "content_hash": DIGEST}]
        }
    )


class ReportChange(Answer):
    """An entry of the report no longer as printed."""

    kind: Literal["record", "list"] = Field(description="A record or a list entry.")
    record_id: str | None = Field(default=None, description="Records: which.")
    list_index: int | None = Field(
        default=None, description="List entries: the index in `content.lists`."
    )
    where: str = Field(description="Where it appears (item and position, or the list's name).")
    code: str = Field(
        description="`withdrawn`, `repaired`, `unpublished`, `publication_ended`, `corrected`, "
        "`gone`, `list_exited`, `list_expired`, `list_withdrawn`."
    )
    label: str = Field(description="The change, in Chinese.")
    hidden: bool = Field(description="No longer public: show its status, not its details.")


class Report(Answer):
    """An issued report as issued, whether it is the one registered at issue, and what
    changed since."""

    report_no: str = Field(description="The number.")
    content: ShownReportContent = Field(
        description="As issued, each entry no longer public replaced by its status (as the "
        "page shows it)."
    )
    complete: bool = Field(
        description="`content` is the issued document (nothing hidden since issue): it hashes "
        "to `content_hash`."
    )
    content_hash: str = Field(description="The digest of the issued document (hex).")
    intact: bool = Field(
        description="The stored content is the one the ledger leaf (or, before sequencing, its "
        "pending entry) committed to."
    )
    integrity: str = Field(description="How that was checked, in Chinese.")
    ledger_index: int | None = Field(description="Its leaf (null: not sequenced yet).")
    issued_at_local: str = Field(description="Issue time as printed (北京时间).")
    valid_until: Day = Field(description="有效期至.")
    validity_days: int = Field(description="有效期, days.")
    expired: bool = Field(description="Past `valid_until` today.")
    checked_on: Day = Field(description="Today (Asia/Shanghai).")
    changes: list[ReportChange] = Field(description="Entries changed since issue.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "report_no": REPORT_NO,
                    "content": _SHOWN,
                    "complete": False,
                    "content_hash": DIGEST,
                    "intact": True,
                    "integrity": "已与数据链第 4 号叶子登记的摘要核对（树大小 5 的签名检查点，"
                    "包含证明有效）",
                    "ledger_index": 4,
                    "issued_at_local": "2026-11-25 10:00:00（北京时间）",
                    "valid_until": "2026-12-25",
                    "validity_days": 30,
                    "expired": False,
                    "checked_on": "2026-11-25",
                    "changes": [
                        {
                            "kind": "record",
                            "record_id": RECORD,
                            "where": "行政处罚 第 1 条",
                            "code": "repaired",
                            "label": "已信用修复，不再公示",
                            "hidden": True,
                        }
                    ],
                }
            ]
        }
    )


class ReportBundle(LedgerBundle):
    """The report with its ledger proof (`citycredit ledger verify-bundle`, offline)."""

    report: ReportContent = Field(description="The report as issued.")
    leaf: ProofLeaf = Field(description="The `report.issued` leaf.")
    disclosed: dict[str, DisclosedField] = Field(
        description="`content_hash` and `report_no`, with their salts."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "format": "citycredit-ledger-bundle/1",
                    "origin": ORIGIN,
                    "suite": "sha256-ed25519",
                    "vkey": VKEY,
                    "report": _CONTENT,
                    "leaf": {
                        "index": 2,
                        "data": "eyJhdCI6IjIwMjYtMTEtMjVUMDI6MDA6MDArMDA6MDAiLCJmaWVsZHMiOnsi…",
                        "hash": "569f08f509809b58050700186413b344259256fd07e70c98d0e0b6d6836eb7d4",
                    },
                    "disclosed": {
                        "content_hash": {
                            "value": DIGEST,
                            "salt": "22c650e83e33693e5d0aa20de2351933",
                        },
                        "report_no": {
                            "value": REPORT_NO,
                            "salt": "6a6ad44e71185744c118708219fbc7f1",
                        },
                    },
                    "proof": {
                        "size": 3,
                        "hashes": ["hNPPK+e2M86YX9W0t+LXFzEnUf+DuZfE/WPXn4eZE0Q="],
                    },
                    "checkpoint": NOTE,
                }
            ]
        }
    )
