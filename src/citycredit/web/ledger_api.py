"""HTTP API of the 信用数据链: checkpoints, proofs, search, bundles, alarms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from citycredit.ledger import service as ledger
from citycredit.ledger.mmd import merge_delay_status
from citycredit.ledger.verify import verification_status
from citycredit.ledger.witness_client import cosigned_checkpoint, witnesses_of
from citycredit.web.deps import AuthenticatedDep, ContainerDep, PrincipalDep
from citycredit.web.params import RowId, limit_of
from citycredit.web.schemas import ledger as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1/ledger")


# The public portal, monitors and benchmarks read the checkpoint under a latency target: its
# answer is documented (`responses=`), not validated per request (no `response_model`).
@router.get(
    "/checkpoint",
    response_model=None,
    responses={
        200: {"model": out.Checkpoint, "description": "The latest signed checkpoint."},
        **errors(404, 422),
    },
)
def get_checkpoint(c: ContainerDep, cosigned: bool = False) -> dict[str, Any]:
    """The latest signed checkpoint (C2SP signed note) and the log's public key; with
    ``cosigned=true`` the note carries the witnesses' cosignatures (G22) of its size, if any."""
    out = ledger.checkpoint(c)
    if cosigned:
        out["checkpoint"] = cosigned_checkpoint(c, out["size"])
        out["cosigned_by"] = witnesses_of(c, out["size"])
    return out


@router.get("/merge-delay", response_model=out.MergeDelay)
def get_merge_delay(c: ContainerDep) -> dict[str, Any]:
    """G21: the declared maximum merge delay, the age of the oldest entry not yet in a signed
    checkpoint and how many wait — for monitors."""
    return merge_delay_status(c)


@router.get(
    "/proofs/inclusion", response_model=out.LedgerInclusionProof, responses=errors(404, 422)
)
def get_inclusion(c: ContainerDep, index: int, size: int) -> dict[str, Any]:
    """RFC 9162 inclusion proof."""
    return ledger.inclusion(c, index, size)


@router.get(
    "/proofs/consistency", response_model=out.LedgerConsistencyProof, responses=errors(404, 422)
)
def get_consistency(c: ContainerDep, first: int, second: int) -> dict[str, Any]:
    """RFC 9162 consistency proof."""
    return ledger.consistency(c, first, second)


@router.get("/leaves", response_model=out.LeafSearch, responses=errors(401, 403, 422))
def get_leaves(
    c: ContainerDep,
    actor: AuthenticatedDep,
    purpose: str = "",
    subject_id: str | None = None,
    record_key: str | None = None,
    type: str | None = None,
    limit: Annotated[int, limit_of(ledger.MAX_SEARCH)] = 50,
) -> dict[str, Any]:
    """Search index beside the log (staff, with a purpose; logged)."""
    rows = ledger.search(
        c,
        actor,
        purpose=purpose,
        subject_id=subject_id,
        record_key=record_key,
        entry_type=type,
        limit=limit,
    )
    return {"count": len(rows), "leaves": rows}


@router.get(
    "/bundles/{record_id}", response_model=out.RecordBundle, responses=errors(403, 404, 409, 422)
)
def get_bundle(
    record_id: str, c: ContainerDep, actor: PrincipalDep, purpose: str | None = None
) -> dict[str, Any]:
    """Offline proof bundle of a record's current version."""
    return ledger.bundle(c, actor, record_id, purpose=purpose)


@router.get("/verification", response_model=out.LedgerVerification, responses=errors(401, 403))
def get_verification(c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """How far the log is verified (credit office): the last verified head, the leaves after
    it, the incremental runs' cycle, the `ledger_verify` job's last run and the open alarms."""
    return verification_status(c, actor)


@router.get("/alarms", response_model=out.AlarmList, responses=errors(401, 403, 422))
def get_alarms(c: ContainerDep, actor: AuthenticatedDep, all: bool = False) -> dict[str, Any]:
    """Tamper alarms (credit office)."""
    return {"alarms": ledger.alarms(c, actor, open_only=not all)}


@router.post(
    "/alarms/{alarm_id}/ack",
    response_model=out.AlarmAcknowledged,
    responses=errors(401, 403, 404, 422),
)
def post_ack(alarm_id: RowId, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Acknowledge a tamper alarm."""
    ledger.acknowledge_alarm(c, actor, alarm_id)
    return {"id": alarm_id, "acknowledged": True}
