"""双公示 export answers (web/exports_api.py): exports with their manifest's counts and files,
download requests (G35) with their decisions and watermarked copies.

Built from exports/run.py (`export_summary`, `ExportRun._manifest`), exports/files.py
(`ExportFile.finish`, `write_json_atomically`) and exports/downloads.py (`_view`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.common import Answer, Instant

EXPORT_ID = "xbfewwvorh2jfvozfkmne"
AT = "2026-11-25T10:00:00+08:00"
STAMP = "20261125T100000"


class OperationCounts(Answer):
    """Rows of one item by the platform's operation (新增 / 更新 / 删除)."""

    add: int = Field(alias="新增", description="Rows sent as 新增 (new to the province).")
    update: int = Field(alias="更新", description="Rows sent as 更新 (changed since sent).")
    delete: int = Field(
        alias="删除", description="Rows sent as 删除 (withdrawn or no longer public)."
    )
    total: int = Field(description="新增 + 更新 + 删除.")


class ExportCounts(Answer):
    """The manifest's counts (empty for a failed export)."""

    licence: OperationCounts | None = Field(default=None, description="行政许可 rows.")
    penalty: OperationCounts | None = Field(default=None, description="行政处罚 rows.")
    total: int | None = Field(default=None, description="Rows of every item.")


class ExportFileEntry(Answer):
    """One file of an export, as its manifest lists it (the manifest itself last)."""

    name: str = Field(description="File name (download: GET /api/v1/exports/{id}/files/{name}).")
    item: str | None = Field(description="`licence` or `penalty`; null for the manifest.")
    format: Literal["csv", "json", "manifest"] = Field(description="`csv`, `json` or `manifest`.")
    encoding: str | None = Field(
        default=None, description="Data files: `UTF-8 with BOM` (CSV) or `UTF-8` (JSON)."
    )
    rows: int | None = Field(description="Data rows (null for the manifest).")
    bytes: int = Field(description="Size in bytes.")
    sha256: str = Field(description="SHA-256 of the file (hex).")
    personal_rows: int | None = Field(
        default=None,
        description="Data files: rows with natural persons' data. More than 0: downloading the "
        "file needs an approved download request (G35).",
    )


def _file(item: str, fmt: str, rows: int, size: int, personal: int) -> JsonDict:
    layout = "XZXK" if item == "licence" else "XZCF"
    return {
        "name": f"{layout}_610800_{STAMP}.{fmt}",
        "item": item,
        "format": fmt,
        "encoding": "UTF-8 with BOM" if fmt == "csv" else "UTF-8",
        "rows": rows,
        "bytes": size,
        "sha256": "277f5db0dabda3e0bb7a7aed994782623564966312885c199af576f048c16539",
        "personal_rows": personal,
    }


_COUNTS: JsonDict = {
    "licence": {"新增": 0, "更新": 0, "删除": 0, "total": 0},
    "penalty": {"新增": 2, "更新": 0, "删除": 0, "total": 2},
    "total": 2,
}
_FILES: list[JsonDict] = [
    _file("licence", "csv", 0, 389, 0),
    _file("licence", "json", 0, 4092, 0),
    _file("penalty", "csv", 2, 1081, 1),
    _file("penalty", "json", 2, 6667, 1),
]

_EXPORT: JsonDict = {
    "id": EXPORT_ID,
    "kind": "dual_publicity",
    "mode": "full",
    "since": None,
    "until": AT,
    "status": "completed",
    "trigger": "api",
    "counts": _COUNTS,
    "files": [
        *_FILES,
        {
            "item": None,
            "format": "manifest",
            "rows": None,
            "name": "manifest.json",
            "bytes": 5114,
            "sha256": "a012c5ab4a328c2542e52a8386fe53167683933a623101df21d9f7945f78438a",
        },
    ],
    "directory": f"/var/lib/citycredit/exports/dual_publicity/{STAMP}_{EXPORT_ID}",
    "catalog_version": "2026.1",
    "error": None,
    "created_by": "张三（zhang）",
    "started_at": AT,
    "completed_at": AT,
    "files_purged_at": None,
}


class Export(Answer):
    """One 双公示 export: its period, outcome, and its manifest's counts and files."""

    id: str = Field(description="The export's id (`x…`).")
    kind: Literal["dual_publicity"] = Field(description="Always `dual_publicity`.")
    mode: Literal["full", "incremental", "explicit"] = Field(
        description="`full` (first), `incremental` (from the last one), `explicit` (a re-send "
        "of a given period)."
    )
    since: Instant | None = Field(description="Period start, exclusive (null: from the start).")
    until: Instant = Field(description="Period end, inclusive (Beijing time).")
    status: Literal["running", "completed", "failed"] = Field(description="The run's outcome.")
    trigger: str = Field(description="`api`, `cli` or `job` (the daily job).")
    counts: ExportCounts = Field(description="Rows per item and operation (manifest.json).")
    files: list[ExportFileEntry] = Field(description="Data files, then manifest.json.")
    directory: str = Field(description="The server's folder holding the files.")
    catalog_version: str = Field(description="The catalog version the files follow.")
    error: str | None = Field(description="A failed export: why.")
    created_by: str = Field(description="Who ran it.")
    started_at: Instant = Field(description="When it started.")
    completed_at: Instant | None = Field(description="When it completed or failed.")
    files_purged_at: Instant | None = Field(
        description="When the files were deleted after the retention period (null: on disk)."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [_EXPORT]})


class ExportList(Answer):
    """Recent exports, newest first."""

    exports: list[Export] = Field(description="Newest first, at most `limit`.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"exports": [_EXPORT]}]})


class DownloadCopy(Answer):
    """A watermarked copy made for the requester."""

    name: str = Field(description="File name (GET …/download-requests/{id}/files/{name}).")
    item: str = Field(description="`licence` or `penalty`.")
    format: str = Field(description="`csv` or `json`.")
    rows: int = Field(description="Data rows.")
    bytes: int = Field(description="Size in bytes.")
    sha256: str = Field(
        description="SHA-256 of this copy: a leaked file is traced to its request by it."
    )
    made_at: Instant = Field(description="When it was written.")


_REQUEST: JsonDict = {
    "id": "xdocs4l75ou57s5qfwcxcw",
    "export_id": EXPORT_ID,
    "files": [f"XZCF_610800_{STAMP}.csv"],
    "purpose": "上传前核对",
    "status": "approved",
    "expired": False,
    "lapsed": False,
    "lapses_at": None,
    "requested_by": "张三（zhang）",
    "requested_by_user_id": 1,
    "requested_at": AT,
    "decided_by": "李四（li）",
    "decided_by_user_id": 2,
    "decided_at": AT,
    "decided_at_utc": "2026-11-25T02:00:00Z",
    "decision_note": None,
    "expires_at": "2026-11-26T10:00:00+08:00",
    "deleted_at": None,
    "copies": [
        {
            "name": f"XZCF_610800_{STAMP}.csv",
            "item": "penalty",
            "format": "csv",
            "rows": 2,
            "bytes": 1643,
            "sha256": "3bb5e426a2a9505dc9ff48f6f0f48509fa17e07775ed73d0f8bf8ef7bd619464",
            "made_at": AT,
        }
    ],
}


class DownloadRequest(Answer):
    """A request to download an export's files with natural persons' data (G35): pending
    until a second credit-office account approves or refuses it."""

    id: str = Field(description="The request's id (`xd…`).")
    export_id: str = Field(description="The export.")
    files: list[str] = Field(description="The files asked for.")
    purpose: str = Field(description="下载用途, as stated.")
    status: Literal["pending", "approved", "refused", "expired", "lapsed"] = Field(
        description="`pending`; `approved` (copies made); `refused`; `expired` (copies "
        "deleted); `lapsed` (nobody decided in time)."
    )
    expired: bool = Field(description="Approved but past `expires_at`.")
    lapsed: bool = Field(description="Pending past `lapses_at`, or marked lapsed.")
    lapses_at: Instant | None = Field(
        description="Undecided requests: when they can no longer be decided."
    )
    requested_by: str = Field(description="Who asked.")
    requested_by_user_id: int | None = Field(description="Their account id.")
    requested_at: Instant = Field(description="When.")
    decided_by: str | None = Field(description="Who approved or refused.")
    decided_by_user_id: int | None = Field(description="Their account id.")
    decided_at: Instant | None = Field(description="When (Beijing time).")
    decided_at_utc: Instant | None = Field(
        description="The same instant in UTC, as written in the copies' watermark."
    )
    decision_note: str | None = Field(description="A refusal's reason.")
    expires_at: Instant | None = Field(description="Approved: when the copies expire.")
    deleted_at: Instant | None = Field(description="When the copies were deleted.")
    copies: list[DownloadCopy] = Field(description="The watermarked copies (approved).")

    model_config = ConfigDict(json_schema_extra={"examples": [_REQUEST]})


class DownloadRequestList(Answer):
    """Download requests, newest first (filtered by status, export or a copy's SHA-256)."""

    download_requests: list[DownloadRequest] = Field(description="Newest first, at most `limit`.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"download_requests": [_REQUEST]}]})


# -- the export's ledger proof (exports/service.export_proof) -----------------------------------

_PROOF: JsonDict = {
    "format": "citycredit-ledger-bundle/1",
    "origin": "yulin.citycredit/ledger",
    "suite": "sha256-ed25519",
    "vkey": "yulin.citycredit/ledger+39fb3d28+ASzzpCDlun/gUbvvhcBrDQWtiC9CxbTJnUG+B5aHF6oF",
    "manifest": {
        "format": "citycredit/dual-publicity-export/1",
        "export_id": EXPORT_ID,
        "kind": "dual_publicity",
        "period": {"since": None, "until": AT, "bounds": "(since, until]", "mode": "full"},
        "generated_at": AT,
        "counts": _COUNTS,
        "files": list(_FILES),  # (abridged here: platform, items and their columns …)
    },
    "leaf": {
        "index": 2,
        "data": "eyJhdCI6IjIwMjYtMTEtMjVUMDI6MDA6MDArMDA6MDAiLCJmaWVsZHMiOnsi…",
        "hash": "569f08f509809b58050700186413b344259256fd07e70c98d0e0b6d6836eb7d4",
    },
    "disclosed": {
        "export_id": {"value": EXPORT_ID, "salt": "6a6ad44e71185744c118708219fbc7f1"},
        "kind": {"value": "dual_publicity", "salt": "695aa65ac1e2ebf570f6e7a00ccf0652"},
        "until": {"value": AT, "salt": "9f790496ce4946026bd17c79fbbd87be"},
        "counts": {"value": _COUNTS, "salt": "07b134cdf0925d843c5722793838f2e4"},
        "manifest_hash": {
            "value": "c92fa4b7c0698f5946b17918080c190d6c328470cc2d14274577bc123dc29009",
            "salt": "22c650e83e33693e5d0aa20de2351933",
        },
    },
    "proof": {"size": 3, "hashes": ["hNPPK+e2M86YX9W0t+LXFzEnUf+DuZfE/WPXn4eZE0Q="]},
    "checkpoint": "yulin.citycredit/ledger\n3\nON4mRIR15+XCXvjqQgeWYUhSPSLL0DqpwKuNCnJUq70=\n"
    "suite sha256-ed25519\n\n— yulin.citycredit/ledger Ofs9KHf4lIxk/PgGPZErltONXa3kOjZg0ys4"
    "2SFy65Z6rAWNN9ygpuqAkOvGDbVkSBXZyUv/DQ1a8sY6GrCopK+Slgs=\n",
}


class ProofLeaf(Answer):
    """The ``export.completed`` leaf: its canonical bytes (salted digests only) and index."""

    index: int = Field(description="The leaf's index in the log.")
    data: str = Field(description="The leaf's canonical JSON bytes, base64.")
    hash: str = Field(description="RFC 9162 leaf hash of `data` (hex).")


class DisclosedField(Answer):
    """One field of the leaf, disclosed: its value and the field salt it was hashed with."""

    value: Any = Field(description="The committed value.")
    salt: str = Field(description="The field's salt (hex); the record salt stays secret.")


class InclusionProof(Answer):
    """RFC 9162 inclusion proof of the leaf in the tree the checkpoint signs."""

    size: int = Field(description="Tree size: the checkpoint's.")
    hashes: list[str] = Field(description="The audit path, base64, leaf to root.")


class LedgerBundle(Answer):
    """What every offline proof bundle of the ledger carries (`ledger.bundle`; checked by
    `citycredit ledger verify-bundle` and the page /ledger/verify): the log, the leaf, the
    fields it discloses, the inclusion proof and the signed checkpoint. Each kind adds what
    its leaf is about."""

    format: Literal["citycredit-ledger-bundle/1"] = Field(description="The bundle format.")
    origin: str = Field(description="The log's name (the checkpoint's origin line).")
    suite: Literal["sha256-ed25519", "sm3-sm2"] = Field(description="Hash and signature suite.")
    vkey: str = Field(
        description="The log's verifier key as the bundle carries it: pin the one the "
        "platform publishes (`--vkey`) instead of trusting this copy."
    )
    leaf: ProofLeaf = Field(description="The leaf.")
    disclosed: dict[str, DisclosedField] = Field(description="The fields disclosed, by name.")
    proof: InclusionProof = Field(description="Inclusion of the leaf under the checkpoint.")
    checkpoint: str = Field(description="The latest signed checkpoint (C2SP signed note).")


class ExportProof(LedgerBundle):
    """An export's offline proof (`citycredit export verify DIRECTORY --bundle FILE`, or
    `citycredit ledger verify-bundle FILE`): the manifest as the ledger commits to it, the
    leaf, the inclusion proof and the signed checkpoint."""

    manifest: dict[str, Any] = Field(
        description="The export's manifest.json as written and committed: its canonical "
        "bytes hash to the disclosed `manifest_hash`."
    )
    leaf: ProofLeaf = Field(description="The export's `export.completed` leaf.")
    disclosed: dict[str, DisclosedField] = Field(
        description="`export_id`, `kind`, `since` (absent: from the start), `until`, "
        "`counts` and `manifest_hash`."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [_PROOF]})
