"""HTTP API v1 for 不予公示 (security goal G31): the source department or the credit office
withholds a record from every public view with a statutory reason and its 依据, or releases it.
The services are in ingest/withhold.py; the audit middleware records each call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from citycredit.ingest import withhold
from citycredit.web.deps import AuthenticatedDep, ContainerDep
from citycredit.web.schemas.common import errors
from citycredit.web.schemas.privacy import WithholdingStep

router = APIRouter(prefix="/api/v1")

_REASONS = "、".join(f"{r.value}（{r.label}）" for r in withhold.WithholdReason)


class WithholdBody(BaseModel):
    reason: str = Field(max_length=40, description=f"不予公示理由：{_REASONS}")
    basis: str = Field(
        max_length=withhold.MAX_BASIS,
        description="依据/说明（决定文书、审批意见等），至少 4 个字；账本只记录其 SHA-256",
    )


class ReleaseBody(BaseModel):
    basis: str = Field(max_length=withhold.MAX_BASIS, description="恢复公示的依据/说明")


@router.post(
    "/records/{record_id}/withhold",
    response_model=WithholdingStep,
    responses=errors(401, 403, 404, 409, 422),
)
def post_withhold(
    record_id: str, body: WithholdBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """不予公示: the record leaves every public view at once (the authorised view keeps it)."""
    return withhold.withhold_record(c, actor, record_id, reason=body.reason, basis=body.basis)


@router.post(
    "/records/{record_id}/release",
    response_model=WithholdingStep,
    responses=errors(401, 403, 404, 409, 422),
)
def post_release(
    record_id: str, body: ReleaseBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """恢复公示: a withheld record is public again, unless another rule keeps it off."""
    return withhold.release_record(c, actor, record_id, basis=body.basis)
