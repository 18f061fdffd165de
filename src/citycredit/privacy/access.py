"""Who may open sealed personal data, and for what: every open goes through `open_personal`.

A purpose names why clear values are needed and which permission that takes. Purposes whose
result a person reads in clear (``disclose``) also write the disclosure log (privacy.service);
the others either mask the values before they leave the service (the authorised archive logs
its own read) or never show them to anyone (digests recomputed by `ledger verify`, rotation).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container


class Purpose(StrEnum):
    """Why sealed personal values are opened."""

    authorised_view = "authorised_view"  # 授权查询: shown masked, the archive logs the read
    disclose = "disclose"  # clear values shown to a person: logged (privacy.service)
    own_submission = "own_submission"  # the submitting department reads its quarantined rows
    clerk_queue = "clerk_queue"  # 待认领: the clerk attaches a queued row to a subject
    integrity = "integrity"  # machine only: ledger verify recomputes field digests
    processing = "processing"  # machine only: rotation, re-indexing, masked exports

    @property
    def label(self) -> str:
        return {
            "authorised_view": "授权查询（脱敏展示）",
            "disclose": "明文查看",
            "own_submission": "本部门问题数据",
            "clerk_queue": "待认领处理",
            "integrity": "数据链完整性校验",
            "processing": "系统处理",
        }[self.value]


PURPOSE_PERMISSION: dict[Purpose, Permission] = {
    Purpose.authorised_view: Permission.read_authorised,
    Purpose.disclose: Permission.read_authorised,
    Purpose.own_submission: Permission.read_own_submissions,
    Purpose.clerk_queue: Permission.resolve_unresolved,
    Purpose.integrity: Permission.run_jobs,
    Purpose.processing: Permission.run_jobs,
}


def check_purpose(actor: Principal, purpose: Purpose, *, department_id: int | None = None) -> None:
    """Raise PermissionDenied unless the actor's role allows the purpose (for that department).

    Department staff reach only their own department's rows; the credit office (which reads
    every submission) reaches all.
    """
    if (
        purpose in (Purpose.disclose, Purpose.own_submission)
        and department_id is not None
        and actor.can(Permission.read_all_submissions)
    ):
        department_id = None
    require(actor, PURPOSE_PERMISSION[purpose], department_id=department_id)


def open_personal(
    c: Container,
    actor: Principal,
    stored: Mapping[str, Any] | None,
    *,
    aad: str,
    purpose: Purpose,
    department_id: int | None = None,
) -> dict[str, Any]:
    """The clear fields of a stored (sealed or legacy plaintext) value, if the role allows."""
    check_purpose(actor, purpose, department_id=department_id)
    return c.personal_codec.open(stored, aad=aad)
