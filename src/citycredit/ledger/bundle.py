"""Offline proof bundles: everything a subject needs to check a record without trusting us.

A bundle holds the leaf's canonical bytes, the disclosed field values with their field salts,
the inclusion proof to a signed checkpoint, and the log's public key. `verify_bundle` is pure:
it needs no database and no network (`citycredit ledger verify-bundle`, the verify page).
A credit report's bundle carries the report (``report``), a 双公示 export's bundle its
manifest (``manifest``); either is checked against the digest its leaf commits to.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from citycredit.ledger.entries import DisclosureMismatch, check_disclosed
from citycredit.ledger.merkle import ProofError, leaf_hash, verify_inclusion
from citycredit.ledger.note import NoteError, open_note, parse_checkpoint
from citycredit.ledger.signers import suite_of, verifier_from_vkey, verifier_to_vkey
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.shared.canonical import canonical_bytes

BUNDLE_FORMAT = "citycredit-ledger-bundle/1"
EXPORT_ENTRY = "export.completed"  # exports.run: a 双公示 export committed to its manifest


class BundleError(ValueError):
    """The bundle does not prove what it claims; the message says which check failed."""


@dataclass
class BundleReport:
    """What a successful verification established."""

    origin: str
    suite: str
    index: int
    size: int
    root_hex: str
    ref: str
    disclosed: dict[str, Any]
    key_pinned: bool
    checks: list[str] = field(default_factory=list)


# Leaves about a document, the key its bundle carries the document under, and its name.
DOCUMENT_LEAVES = (
    ("report.issued", "report", "信用报告内容"),
    ("export.completed", "manifest", "导出清单"),
)


def report_digest(suite: Suite | str, content: dict[str, Any]) -> str:
    """Hex digest of a credit report's canonical bytes under the suite's hash
    (reports.service commits to it in a ``report.issued`` leaf)."""
    return hash_suite(Suite(suite)).hash(canonical_bytes(content)).hex()


def _check_report(suite: Suite, report: dict[str, Any], disclosed: dict[str, Any], ref: str) -> str:
    """The report in a bundle is the one the leaf commits to: its number and its digest."""
    no = report.get("report_no")
    if ref != f"{no}/issued":
        raise BundleError(f"报告编号 {no} 与叶子所指的 {ref} 不一致")
    if (disclosed.get("report_no") or {}).get("value") != no:
        raise BundleError("凭证没有公开报告编号，或公开的编号与报告不一致")
    committed = (disclosed.get("content_hash") or {}).get("value")
    if committed is None:
        raise BundleError("凭证没有公开报告内容摘要")
    actual = report_digest(suite, report)
    if actual != committed:
        raise BundleError(
            "报告内容与数据链中登记的摘要不一致"
            f"（内容摘要 {actual[:16]}…，登记 {str(committed)[:16]}…）"
        )
    return f"报告 {no} 的内容与数据链中登记的摘要一致（未被改动）"


def manifest_digest(suite: Suite | str, manifest: dict[str, Any]) -> str:
    """Hex digest of an export's manifest (manifest.json parsed) under the suite's hash: its
    canonical bytes, like `report_digest` (exports.run commits to it in an ``export.completed``
    leaf; whitespace and key order of the file do not matter, every value does)."""
    return hash_suite(Suite(suite)).hash(canonical_bytes(manifest)).hex()


def export_ref(export_id: str) -> str:
    """The ref of an export's ``export.completed`` leaf."""
    return f"{export_id}/completed"


def manifest_facts(manifest: dict[str, Any]) -> dict[str, Any]:
    """What an ``export.completed`` leaf commits to besides the manifest's digest, taken from
    the manifest: export id, kind, period (since may be None: from the beginning), counts."""
    period = manifest.get("period") or {}
    return {
        "export_id": manifest.get("export_id"),
        "kind": manifest.get("kind"),
        "since": period.get("since"),
        "until": period.get("until"),
        "counts": manifest.get("counts"),
    }


def _check_export(
    suite: Suite, manifest: Any, disclosed: dict[str, Any], ref: str, entry_type: Any
) -> str:
    """The manifest in a bundle is the one the leaf commits to: this export, this digest; the
    other disclosed facts (kind, period, counts) are the manifest's own."""
    if not isinstance(manifest, dict):
        raise BundleError("凭证中的清单（manifest）不是 JSON 对象")
    export_id = manifest.get("export_id")
    if entry_type != EXPORT_ENTRY or ref != export_ref(str(export_id)):
        raise BundleError(f"清单所属的导出批次 {export_id} 与叶子所指的 {ref} 不一致")
    if (disclosed.get("export_id") or {}).get("value") != export_id:
        raise BundleError("凭证没有公开导出批次编号，或公开的编号与清单不一致")
    committed = (disclosed.get("manifest_hash") or {}).get("value")
    if committed is None:
        raise BundleError("凭证没有公开清单摘要")
    actual = manifest_digest(suite, manifest)
    if actual != committed:
        raise BundleError(
            f"导出批次 {export_id} 的清单与数据链中登记的摘要不一致"
            f"（清单摘要 {actual[:16]}…，登记 {str(committed)[:16]}…）"
        )
    facts = manifest_facts(manifest)
    for name in ("kind", "since", "until", "counts"):
        if name in disclosed and disclosed[name].get("value") != facts[name]:
            raise BundleError(f"清单中的 {name} 与数据链中登记的不一致")
    return f"导出批次 {export_id} 的清单与数据链中登记的摘要一致（未被改动）"


def verify_bundle(
    bundle: dict[str, Any],
    *,
    trusted_vkey: str | None = None,
    trusted_origin: str | None = None,
) -> BundleReport:
    """Check signature, checkpoint, leaf hash, inclusion proof and disclosed values.

    The checkpoint must name exactly one suite (the bundle's, the key's) and its origin must be
    the log key's name — and `trusted_origin`, when pinned — so a checkpoint another log signed
    with the same key, or one without its suite line, is refused (security goal G18).
    """
    checks: list[str] = []
    try:
        if bundle.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"不是数据链凭证（format={bundle.get('format')!r}）")
        suite = Suite(bundle["suite"])
        h = hash_suite(suite)
        vkey = trusted_vkey or bundle["vkey"]
        verifier = verifier_from_vkey(vkey)
        if trusted_vkey and verifier_to_vkey(verifier) != verifier_to_vkey(
            verifier_from_vkey(bundle["vkey"])
        ):
            raise BundleError("凭证中的公钥与您信任的数据链公钥不一致")
        opened = open_note(bundle["checkpoint"], [verifier])
        checks.append(f"检查点签名有效（{', '.join(opened.verified)}）")
        cp = parse_checkpoint(opened.text)  # more than one suite line: NoteError
        if cp.suite is None:
            raise BundleError("检查点没有算法套件行（suite …），不能确定其算法套件")
        if cp.suite != suite:
            named = cp.suite.value
            raise BundleError(f"检查点的算法套件 {named} 与凭证声明的 {suite.value} 不一致")
        if suite_of(verifier) != suite:
            raise BundleError(f"公钥类型与凭证声明的算法套件 {suite.value} 不一致")
        if cp.origin != verifier.name:
            raise BundleError(f"检查点来源 {cp.origin} 与数据链公钥的名称 {verifier.name} 不一致")
        if trusted_origin is not None and cp.origin != trusted_origin:
            raise BundleError(
                f"检查点来源 {cp.origin} 与您信任的数据链来源 {trusted_origin} 不一致"
            )
        if cp.origin != bundle["origin"]:
            raise BundleError(f"检查点来源 {cp.origin} 与凭证声明的 {bundle['origin']} 不一致")
        proof = bundle["proof"]
        if int(proof["size"]) != cp.size:
            raise BundleError(f"证明的树大小 {proof['size']} 与检查点的 {cp.size} 不一致")
        data = base64.b64decode(bundle["leaf"]["data"], validate=True)
        lh = leaf_hash(h, data)
        if bundle["leaf"].get("hash") and bytes.fromhex(bundle["leaf"]["hash"]) != lh:
            raise BundleError("叶子数据与叶子哈希不一致")
        index = int(bundle["leaf"]["index"])
        verify_inclusion(
            h,
            lh,
            index,
            cp.size,
            [base64.b64decode(p, validate=True) for p in proof["hashes"]],
            cp.root,
        )
        checks.append(f"第 {index} 号叶子包含在大小为 {cp.size} 的树中（包含证明有效）")
        disclosed = bundle.get("disclosed") or {}
        check_disclosed(suite, data, disclosed)
        checks.append(f"公开的 {len(disclosed)} 个字段值与叶子中的摘要一致")
        leaf = json.loads(data)
        ref = leaf["ref"]
        # A leaf about a document commits to the document's digest: its bundle must carry the
        # document, or what was verified is only that some report or export was recorded.
        for entry_type, key, what in DOCUMENT_LEAVES:
            if leaf.get("type") == entry_type and key not in bundle:
                raise BundleError(
                    f"凭证缺少{what}（{key}）：数据链叶子记录的是{what}的摘要，无法核验"
                )
        if "report" in bundle:  # a credit report's bundle: the report itself must match
            checks.append(_check_report(suite, bundle["report"], disclosed, ref))
        if "manifest" in bundle:  # a 双公示 export's bundle: its manifest must match
            checks.append(_check_export(suite, bundle["manifest"], disclosed, ref, leaf["type"]))
    except (ProofError, NoteError, DisclosureMismatch) as exc:
        raise BundleError(str(exc)) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"凭证格式错误：{exc}") from exc
    return BundleReport(
        origin=cp.origin,
        suite=suite.value,
        index=index,
        size=cp.size,
        root_hex=cp.root.hex(),
        ref=ref,
        disclosed={k: v["value"] for k, v in disclosed.items()},
        key_pinned=trusted_vkey is not None,
        checks=checks,
    )
