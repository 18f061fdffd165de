"""信用数据链 answers (web/ledger_api.py): checkpoints, the merge delay, RFC 9162 proofs, the
search index, a record's proof bundle and tamper alarms.

Built from ledger/service.py (`checkpoint`, `inclusion`, `consistency`, `_leaf_dict`, `bundle`,
`proof_bundle`, `alarms`), ledger/mmd.py (`merge_delay_status`) and
ledger/witness_client.py (`cosigned_checkpoint`, `witnesses_of`). A bundle's leaf, disclosed
fields and inclusion proof are the same objects as an export's proof (schemas/exports.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.auth import JobRunState
from citycredit.web.schemas.common import Answer, Instant
from citycredit.web.schemas.exports import DisclosedField, LedgerBundle, ProofLeaf

ORIGIN = "yulin.citycredit/ledger"
VKEY = "yulin.citycredit/ledger+39fb3d28+ASzzpCDlun/gUbvvhcBrDQWtiC9CxbTJnUG+B5aHF6oF"
NOTE = (
    "yulin.citycredit/ledger\n3\nON4mRIR15+XCXvjqQgeWYUhSPSLL0DqpwKuNCnJUq70=\n"
    "suite sha256-ed25519\n\n— yulin.citycredit/ledger Ofs9KHf4lIxk/PgGPZErltONXa3kOjZg0ys4"
    "2SFy65Z6rAWNN9ygpuqAkOvGDbVkSBXZyUv/DQ1a8sY6GrCopK+Slgs=\n"
)
AT = "2026-11-25T02:00:00+00:00"
SUBJECT = "S7d2kq4xw5m3n6p8r1t9v"
RECORD = "R3m5ytq2k7w4c6v8b1n9x"
Suite = Literal["sha256-ed25519", "sm3-sm2"]

_CHECKPOINT: JsonDict = {
    "origin": ORIGIN,
    "suite": "sha256-ed25519",
    "vkey": VKEY,
    "size": 3,
    "root": "ON4mRIR15+XCXvjqQgeWYUhSPSLL0DqpwKuNCnJUq70=",
    "checkpoint": NOTE,
    "created_at": AT,
}


class Checkpoint(Answer):
    """The latest signed checkpoint of the log and the key that verifies it."""

    origin: str = Field(description="The log's name (the checkpoint's first line).")
    suite: Suite = Field(description="Hash and signature suite.")
    vkey: str = Field(description="The log's verifier key (C2SP note verifier key).")
    size: int = Field(description="Tree size the checkpoint signs.")
    root: str = Field(description="RFC 9162 root hash, base64.")
    checkpoint: str = Field(
        description="The signed note (C2SP tlog-checkpoint); with `cosigned=true`, followed by "
        "the witnesses' cosignature lines."
    )
    created_at: Instant = Field(description="When the sequencer signed it.")
    cosigned_by: list[str] | None = Field(
        default=None,
        description="Only with `cosigned=true`: the witnesses that cosigned this size (G22).",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [_CHECKPOINT, {**_CHECKPOINT, "cosigned_by": ["witness.shaanxi.example"]}]
        }
    )


class MergeDelay(Answer):
    """G21: the declared maximum merge delay and how far the sequencer is behind."""

    mmd_s: int = Field(description="Declared maximum merge delay, seconds.")
    oldest_pending_age_s: float | None = Field(
        description="Age in seconds of the oldest entry not yet in a signed checkpoint "
        "(null: nothing waits)."
    )
    pending: int = Field(description="Entries waiting for the sequencer.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mmd_s": 60, "oldest_pending_age_s": 4.25, "pending": 2}]}
    )


class LedgerInclusionProof(Answer):
    """RFC 9162 inclusion proof of one leaf in the tree of `size` leaves."""

    index: int = Field(description="The leaf's index.")
    size: int = Field(description="The tree size proved against.")
    leaf_hash: str = Field(description="RFC 9162 hash of the leaf (hex).")
    hashes: list[str] = Field(description="The audit path, base64, leaf to root.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 1,
                    "size": 3,
                    "leaf_hash": "569f08f509809b58050700186413b344259256fd07e70c98d0e0b6d6836eb7d4",
                    "hashes": [
                        "hNPPK+e2M86YX9W0t+LXFzEnUf+DuZfE/WPXn4eZE0Q=",
                        "2bCVKn3xSvUUtt0zqA4xV0ERtQIv8qyvTqgGxCmPZBQ=",
                    ],
                }
            ]
        }
    )


class LedgerConsistencyProof(Answer):
    """RFC 9162 consistency proof: the tree of `second` leaves extends that of `first`."""

    first: int = Field(description="The older tree size.")
    second: int = Field(description="The newer tree size.")
    hashes: list[str] = Field(description="The proof's hashes, base64.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "first": 2,
                    "second": 3,
                    "hashes": ["hNPPK+e2M86YX9W0t+LXFzEnUf+DuZfE/WPXn4eZE0Q="],
                }
            ]
        }
    )


_LEAF: JsonDict = {
    "index": 0,
    "type": "record.version",
    "ref": f"{RECORD}/1",
    "subject_id": SUBJECT,
    "record_key": "penalty:榆市监罚〔2026〕1号",
    "leaf_hash": "569f08f509809b58050700186413b344259256fd07e70c98d0e0b6d6836eb7d4",
    "data": {
        "v": 2,
        "type": "record.version",
        "ref": f"{RECORD}/1",
        "record_id": RECORD,
        "version": 1,
        "kind": "original",
        "item": "penalty",
        "subject_id": SUBJECT,
        "department_id": 1,
        "record_key": "penalty:榆市监罚〔2026〕1号",
        "at": AT,
        "fields": {"CF_WSH": "2e6e1a8f0c3d4b5a69788796a5b4c3d2e1f00112233445566778899aabbccdd"},
    },
    "integrated_at": "2026-11-25T02:00:30+00:00",
}


class LedgerLeaf(Answer):
    """One leaf of the log as the search index holds it."""

    index: int = Field(description="The leaf's index in the log.")
    type: str = Field(
        description="Entry type: `record.version`, `list.membership`, `report.issued`, "
        "`export.completed`, `audit.seal` …"
    )
    ref: str = Field(description="What the leaf commits, e.g. `{record_id}/{version}`.")
    subject_id: str | None = Field(description="The subject it concerns, if any.")
    record_key: str | None = Field(description="Record versions: the record's natural key.")
    leaf_hash: str = Field(description="RFC 9162 leaf hash (hex).")
    data: dict[str, Any] = Field(
        description="The leaf's canonical JSON: `v`, `type`, `ref`, `subject_id`, `at` and "
        "`fields` (salted digests only, never values); record versions also `record_id`, "
        "`version`, `kind`, `item`, `department_id`, `record_key`."
    )
    integrated_at: Instant = Field(description="When the sequencer took it in.")


class LeafSearch(Answer):
    """Leaves that concern a subject, a record or an entry type, oldest first."""

    count: int = Field(description="Leaves in `leaves`.")
    leaves: list[LedgerLeaf] = Field(description="At most `limit`, by index.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"count": 1, "leaves": [_LEAF]}]})


class BundleRecord(Answer):
    """The record a bundle proves: its current version."""

    record_id: str = Field(description="The record.")
    version: int = Field(description="Its current version (the leaf's `ref` ends with it).")
    item: str = Field(description="Catalog item code.")
    item_name: str = Field(description="Catalog item name.")
    subject_id: str = Field(description="The record's subject (the leaf names it).")


class RecordBundle(LedgerBundle):
    """Offline proof bundle of a record's current version (`citycredit ledger verify-bundle`):
    the leaf, the fields disclosed with their salts, the inclusion proof and the checkpoint."""

    record: BundleRecord = Field(description="What the leaf is about.")
    leaf: ProofLeaf = Field(description="The record version's leaf.")
    disclosed: dict[str, DisclosedField] = Field(
        description="Fields disclosed, by field code: the public's bundle only those the public "
        "views show unchanged; staff with a purpose every non-personal field."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "format": "citycredit-ledger-bundle/1",
                    "origin": ORIGIN,
                    "suite": "sha256-ed25519",
                    "vkey": VKEY,
                    "record": {
                        "record_id": RECORD,
                        "version": 1,
                        "item": "penalty",
                        "item_name": "行政处罚",
                        "subject_id": SUBJECT,
                    },
                    "leaf": {
                        "index": 0,
                        "data": "eyJhdCI6IjIwMjYtMTEtMjVUMDI6MDA6MDArMDA6MDAiLCJmaWVsZHMiOnsi…",
                        "hash": "569f08f509809b58050700186413b344259256fd07e70c98d0e0b6d6836eb7d4",
                    },
                    "disclosed": {
                        "CF_WSH": {
                            "value": "榆市监罚〔2026〕1号",
                            "salt": "6a6ad44e71185744c118708219fbc7f1",
                        }
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


_ALARM: JsonDict = {
    "id": 1,
    "raised_at": AT,
    "kind": "merge_delay",
    "detail": {
        "event_id": 42,
        "event_type": "record.created",
        "ref": f"{RECORD}/1",
        "created_at": "2026-11-25T01:58:00+00:00",
        "age_s": 120.0,
        "mmd_s": 60,
    },
    "acknowledged_at": None,
}


class LedgerAlarm(Answer):
    """A tamper (or merge-delay) alarm."""

    id: int = Field(description="The alarm's id (POST …/alarms/{id}/ack).")
    raised_at: Instant = Field(description="When it was raised.")
    kind: str = Field(
        description="`tamper` (ledger verify found rows or leaves that disagree), "
        "`merge_delay` (G21), `sequencer_halted`, or a witness's refusal."
    )
    detail: dict[str, Any] = Field(description="The evidence: the rows and leaves concerned.")
    acknowledged_at: Instant | None = Field(description="When the credit office acknowledged it.")


class AlarmList(Answer):
    """Tamper alarms, newest first (open ones only unless `all=true`)."""

    alarms: list[LedgerAlarm] = Field(description="Newest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"alarms": [_ALARM]}]})


class AlarmAcknowledged(Answer):
    """An alarm acknowledged: it stays in the history."""

    id: int = Field(description="The alarm.")
    acknowledged: bool = Field(description="Always true.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 1, "acknowledged": True}]})


class VerifiedHead(Answer):
    """The last verified head, kept outside the database (data_dir/ledger-verified-head.json)."""

    size: int = Field(description="Leaves verified: the signed checkpoint's size then.")
    verified_at: Instant | None = Field(description="When that run started its check.")
    mode: Literal["full", "incremental"] | None = Field(
        description="The kind of run that verified it (null: a head from before incremental runs)."
    )
    window_next: int = Field(
        description="Where the next incremental run's window of older leaves starts."
    )
    cycle_runs: int = Field(description="Incremental runs that read every verified leaf once.")
    cycle_hours: float = Field(description="The same in hours, at the job's interval.")


class LedgerVerification(Answer):
    """How far the log is verified (docs/ledger.md "Incremental verification")."""

    log_size: int = Field(description="The latest signed checkpoint's size (0: none yet).")
    head: VerifiedHead | None = Field(description="The last verified head; null: none kept.")
    head_unreadable: bool = Field(
        description="The head file exists but cannot be read (verify reports it as a rollback)."
    )
    not_verified: int = Field(
        description="Leaves after the verified head: the next run reads them."
    )
    window: int = Field(
        description="Older leaves each incremental run re-reads (`ledger_verify_window`)."
    )
    last_run: JobRunState | None = Field(description="The job's newest run; null: never run.")
    next_due_at: Instant | None = Field(description="When the job is next due; null: due now.")
    open_alarms: int = Field(description="Tamper alarms not yet acknowledged.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "log_size": 1010000,
                    "head": {
                        "size": 1000000,
                        "verified_at": AT,
                        "mode": "incremental",
                        "window_next": 131072,
                        "cycle_runs": 1,
                        "cycle_hours": 1.0,
                    },
                    "head_unreadable": False,
                    "not_verified": 10000,
                    "window": 1048576,
                    "last_run": {
                        "started_at": AT,
                        "finished_at": AT,
                        "status": "ok",
                        "error": None,
                    },
                    "next_due_at": "2026-11-25T03:00:00+00:00",
                    "open_alarms": 0,
                }
            ]
        }
    )
