"""HTTP API v1 for clear personal values and exact lookup (both logged; docs/personal-data.md).

Numbers travel in request bodies, never in URLs, so access logs cannot hold them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from citycredit.privacy import service as privacy
from citycredit.web.deps import AuthenticatedDep, ContainerDep
from citycredit.web.params import BIGINT_MAX
from citycredit.web.schemas import privacy as out
from citycredit.web.schemas.common import ErrorBody, errors

router = APIRouter(prefix="/api/v1")
# A sealed value or the blind index under another key ring than this process's: not the
# caller's fault (web/errors.py answers 503, `personal_key_*` codes).
KEY_RING: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorBody,
        "description": "The deployment's key ring is not this database's (an operator's fault; "
        "`citycredit crypto status`).",
    }
}


class RevealBody(BaseModel):
    purpose: str
    version: int | None = Field(default=None, ge=1, le=BIGINT_MAX)


class LookupBody(BaseModel):
    kind: str  # id_number | phone
    value: str
    purpose: str


@router.post(
    "/records/{record_id}/personal",
    response_model=out.ClearPersonal,
    responses={**errors(401, 403, 404, 409, 422), **KEY_RING},
)
def post_reveal(
    record_id: str, body: RevealBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """明文查看: the clear personal fields of a record version, for a stated purpose (logged)."""
    return privacy.reveal_personal(
        c, actor, record_id, purpose=body.purpose, version=body.version, channel="api"
    )


@router.post(
    "/personal/lookup",
    response_model=out.PersonalLookup,
    responses={**errors(401, 403, 422), **KEY_RING},
)
def post_lookup(body: LookupBody, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Records whose ID number or phone equals the value (blind index; logged)."""
    found = privacy.find_by_personal(
        c, actor, kind=body.kind, value=body.value, purpose=body.purpose, channel="api"
    )
    return {"kind": body.kind, "count": len(found), "records": found}
