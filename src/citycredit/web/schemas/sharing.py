"""共享调度 answers (web/sharing_api.py): subscriptions, feed pages, feed files, consumers.

Built from sharing/service.py (`_summary`, `render_entry`, `pull_feed`, `Consumer.as_dict`),
sharing/fanout.py (`Builder.content`, `subject_view`: an entry's ``data``) and
sharing/files.py (`_store`: a file's manifest).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.sharing.model import Access, Channel, FileFormat, Kind, PersonalMode, Status
from citycredit.web.schemas.common import Answer, Day, Instant

SUB_ID = "subqqvukrawvcey3a2euyv6"
CREATED = "2026-11-25T02:00:00+00:00"

_SUBSCRIPTION: JsonDict = {
    "id": SUB_ID,
    "name": "处罚信息",
    "department_id": 2,
    "department": "榆林市税务局",
    "items": ["penalty"],
    "by_subject": False,
    "fields": {},
    "channel": "pull",
    "file_format": "jsonl",
    "access": "public",
    "personal": "none",
    "purpose": None,
    "legal_basis": None,
    "status": "active",
    "status_reason": None,
    "last_seq": 3,
    "file_after": 0,
    "created_by": "榆林市税务局 报送令牌",
    "created_at": CREATED,
    "updated_at": CREATED,
}


class Subscription(Answer):
    """A subscription of one department (订阅): what it receives and how far its feed is."""

    id: str = Field(description="Subscription id (`sub…`): the path parameter of its feed.")
    name: str = Field(description="The department's name for it (1–100 characters).")
    department_id: int = Field(description="The subscribing department's id.")
    department: str | None = Field(description="The subscribing department's name.")
    items: list[str] = Field(
        description="Catalog item codes subscribed (empty: every item of the subjects)."
    )
    by_subject: bool = Field(
        description="True when the subscription names subjects (see `subjects` of GET one)."
    )
    fields: dict[str, list[str]] = Field(
        description="Per item code, the field codes delivered (an item absent: all the fields "
        "its access may receive)."
    )
    channel: Channel = Field(
        description="`pull`: GET /api/v1/feeds/{id}; `file`: files in the exchange folder."
    )
    file_format: FileFormat = Field(description="Format of the files (file channel).")
    access: Access = Field(
        description="`public`: public records and fields as the public archive shows them; "
        "`authorised`: every active record of the items (needs purpose and legal basis)."
    )
    personal: PersonalMode = Field(
        description="How ID and phone numbers of natural persons are delivered: `none`, "
        "`masked`, or `clear` (pull only, set up by the credit office)."
    )
    purpose: str | None = Field(description="Stated purpose (authorised access), else null.")
    legal_basis: str | None = Field(description="Stated legal basis (authorised access).")
    status: Status = Field(
        description="`active`; `suspended` (by the credit office: nothing can be pulled); "
        "`cancelled` (no new records, but corrections and withdrawals still arrive)."
    )
    status_reason: str | None = Field(description="Why it was suspended or cancelled.")
    last_seq: int = Field(description="The feed's highest `seq` so far (0: empty feed).")
    file_after: int = Field(description="File channel: the last `seq` written to a file.")
    created_by: str = Field(description="Who created it (account or department token).")
    created_at: Instant = Field(description="When it was created.")
    updated_at: Instant = Field(description="Last status change.")

    model_config = ConfigDict(json_schema_extra={"examples": [_SUBSCRIPTION]})


class SubscriptionDetail(Subscription):
    """One subscription with its delivery progress and its subjects."""

    delivered_max_seq: int = Field(
        description="The highest `seq` delivered so far (pulled or written to a file)."
    )
    subjects: list[str] = Field(
        description="Subject ids it is limited to, sorted (empty: not by subject)."
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_SUBSCRIPTION, "delivered_max_seq": 3, "subjects": []}]}
    )


class SubscriptionList(Answer):
    """The caller's department's subscriptions (the credit office: all, or one department's)."""

    subscriptions: list[Subscription] = Field(description="Oldest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"subscriptions": [_SUBSCRIPTION]}]})


class FeedSubject(Answer):
    """Who a record is about, as the subscription may see it (empty when unknown)."""

    subject_type: str | None = Field(
        default=None, description="`enterprise`, `natural_person`, `individual_business` …"
    )
    name: str | None = Field(
        default=None,
        description="Name; a natural person's is masked (`周*`) for public access.",
    )
    uscc: str | None = Field(
        default=None, description="Not a natural person: the 统一社会信用代码 (or null)."
    )
    id_number_masked: str | None = Field(
        default=None, description="A natural person, authorised access only: masked ID number."
    )
    division_code: str | None = Field(default=None, description="行政区划代码 of the subject.")


class FeedData(Answer):
    """A record's content in a feed entry (entries of kinds that carry data)."""

    item_name: str = Field(description="The catalog item's name (行政处罚 …).")
    subject: FeedSubject = Field(description="Who the record is about.")
    decision_date: Day | None = Field(description="Decision date of the record, if any.")
    fields: dict[str, Any] = Field(
        description="The record's values keyed by catalog field code (GET /api/v1/catalog), "
        "only those the subscription may receive; values as stored (text, numbers as text)."
    )
    severity: str | None = Field(
        default=None, description="Adverse records only: `minor`, `general` or `serious`."
    )
    publication_end: Day | None = Field(
        default=None, description="Adverse records only: last day of the publication period."
    )
    openness: str | None = Field(
        default=None, description="Authorised access only: the record's openness."
    )
    published: bool | None = Field(
        default=None, description="Authorised access only: whether the record is published."
    )
    department_id: int | None = Field(
        default=None, description="Authorised access only: the source department's id."
    )


class FeedRedaction(Answer):
    """Why an earlier entry lost its data (withdrawn, repaired, no longer public)."""

    reason: str | None = Field(description="The kind that redacted it (`withdrawal`, `repair` …).")
    at: Instant = Field(description="When its data was removed.")
    message: str = Field(description="The explanation in Chinese.")


class FeedEntry(Answer):
    """One change of one record, in `seq` order."""

    seq: int = Field(description="Position in this subscription's feed (1, 2, …).")
    kind: Kind = Field(
        description="`original` new record; `correction`; `withdrawal` delete it; `repair` "
        "信用修复, stop using it; `publication_ended`; `repair_revoked`; "
        "`publication_withheld`; `publication_released`."
    )
    kind_label: str = Field(description="The kind in Chinese (新增, 更正, 撤销 …).")
    record_id: str = Field(description="The record's id (stable across versions).")
    version: int = Field(description="The record's version this entry is about.")
    item: str = Field(description="Catalog item code.")
    subject_id: str = Field(description="The subject's id.")
    changed_at: Instant = Field(description="When the change happened.")
    data: FeedData | None = Field(
        description="The content; null for notices (withdrawal, repair …) and redacted entries."
    )
    note: str | None = Field(description="A notice's reason, if any.")
    redacted: FeedRedaction | None = Field(description="Set when the entry's data was removed.")


_ENTRY: JsonDict = {
    "seq": 1,
    "kind": "original",
    "kind_label": "新增",
    "record_id": "r4cp6isbvnobnq6ybytk3",
    "version": 1,
    "item": "penalty",
    "subject_id": "srvjyh3woycpq36jof45z",
    "changed_at": CREATED,
    "data": {
        "item_name": "行政处罚",
        "subject": {
            "subject_type": "enterprise",
            "name": "榆阳区共享1号商贸有限公司",
            "uscc": "91610802MA6HTP018K",
            "division_code": "610802",
        },
        "decision_date": "2026-11-02",
        "fields": {
            "CF_XDR_MC": "榆阳区共享1号商贸有限公司",
            "CF_WSH": "罚〔2026〕1号",
            "CF_NR_FK": "20000.00",
            "CF_JDRQ": "2026-11-02",
        },
        "severity": "general",
        "publication_end": "2027-11-03",
    },
    "note": None,
    "redacted": None,
}


class FeedPage(Answer):
    """Entries with `seq` > `after`, oldest first. Pass `next_after` back as `after` until
    `has_more` is false; every entry returned is recorded as delivered."""

    subscription: str = Field(description="The subscription id.")
    status: Status = Field(description="The subscription's status.")
    entries: list[FeedEntry] = Field(description="At most `limit` entries, in `seq` order.")
    next_after: int = Field(
        description="The last entry's `seq` (or `after` when the page is empty): the next `after`."
    )
    has_more: bool = Field(description="More entries wait after this page.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subscription": SUB_ID,
                    "status": "active",
                    "entries": [
                        _ENTRY,
                        {
                            **_ENTRY,
                            "seq": 2,
                            "kind": "withdrawal",
                            "kind_label": "撤销",
                            "version": 2,
                            "data": None,
                            "note": "错误录入",
                        },
                    ],
                    "next_after": 2,
                    "has_more": False,
                }
            ]
        }
    )


_MANIFEST: JsonDict = {
    "subscription": "subkhcdnqcmr4w2yhetewsm",
    "department": "榆林市税务局",
    "file": "subkhcdnqcmr4w2yhetewsm-000000001-000000002.jsonl",
    "format": "jsonl",
    "first_seq": 1,
    "last_seq": 2,
    "count": 2,
    "sha256": "6d11adf342bfada2fcc3ea4ab3da6be378ad0e33ac1424c68bb7e542b69ce7d0",
    "written_at": CREATED,
    "redacted": 0,
}


class FeedFileManifest(Answer):
    """The manifest of one feed file (also downloadable as `<file>.manifest.json`)."""

    subscription: str = Field(description="The subscription id.")
    department: str = Field(description="The subscribing department's name.")
    file: str = Field(description="The data file's name (download it by this name).")
    format: FileFormat = Field(description="`jsonl` (one entry per line) or `csv`.")
    first_seq: int = Field(description="`seq` of its first entry.")
    last_seq: int = Field(description="`seq` of its last entry.")
    count: int = Field(description="Entries in the file.")
    sha256: str = Field(description="SHA-256 of the data file (hex).")
    written_at: Instant = Field(description="When the file was (last) written.")
    redacted: int = Field(
        default=0, description="Entries without data when written (a rewrite may raise it)."
    )
    first_written_at: Instant | None = Field(
        default=None, description="Rewritten files only: when it was first written."
    )
    rewritten_at: Instant | None = Field(
        default=None,
        description="Rewritten files only: when it was written again after a redaction.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [_MANIFEST]})


class FeedFileList(Answer):
    """A file subscription's files, oldest first: one manifest each."""

    subscription: str = Field(description="The subscription id.")
    files: list[FeedFileManifest] = Field(description="By `first_seq`; purged files not listed.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"subscription": "subkhcdnqcmr4w2yhetewsm", "files": [_MANIFEST]}]
        }
    )


class Consumer(Answer):
    """One recorded delivery of a record."""

    subscription_id: str = Field(description="The subscription it was delivered through.")
    department_id: int = Field(description="The receiving department's id.")
    department: str | None = Field(description="The receiving department's name.")
    version: int = Field(description="The record's version delivered.")
    kind: Kind = Field(description="The entry's kind.")
    seq: int = Field(description="The entry's `seq` in that feed.")
    channel: Channel = Field(description="`pull` or `file`.")
    cursor: str = Field(description="The request or file it went out in (`after=0`, a file).")
    delivered_at: Instant = Field(description="When.")


class RecordConsumers(Answer):
    """Who received which version of a record, when and how (oldest first)."""

    record_id: str = Field(description="The record's id.")
    consumers: list[Consumer] = Field(description="Every recorded delivery, oldest first.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "record_id": "r3zryqita23bnwbdeqfg3",
                    "consumers": [
                        {
                            "subscription_id": SUB_ID,
                            "department_id": 2,
                            "department": "榆林市税务局",
                            "version": 1,
                            "kind": "original",
                            "seq": 1,
                            "channel": "pull",
                            "cursor": "after=0",
                            "delivered_at": CREATED,
                        }
                    ],
                }
            ]
        }
    )
