"""HTTP API v1 for 信用核查 and 信用承诺: parse → call one service function → render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from citycredit.bootstrap import Container
from citycredit.checks import service as checks
from citycredit.commitments import service as commitments
from citycredit.web.audit import recorded_in_transaction, transactional_event
from citycredit.web.deps import (
    SECURED_OPENAPI,
    AuthenticatedDep,
    ContainerDep,
    PrincipalDep,
    get_principal,
)
from citycredit.web.params import IsoDate, limit_of
from citycredit.web.schemas import checks as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1")


class CheckBody(BaseModel):
    subject_id: str
    matter: str
    department: str | None = None


class FeedbackBody(BaseModel):
    measure_code: str
    applied: bool
    reason: str = ""


def _check(request: Request, body: CheckBody) -> dict[str, Any]:
    """Authenticate, then run the check with its audit event — one worker-thread hop."""
    c: Container = request.app.state.container
    actor = get_principal(request)
    return checks.run_check(
        c,
        actor,
        subject_id=body.subject_id,
        matter=body.matter,
        department=body.department,
        audit_event=transactional_event(request, c),
    )


# The hot path: the answer is documented (`responses=`), not validated per request.
@router.post(
    "/checks",
    response_model=None,
    responses={
        200: {"model": out.CheckResult, "description": "The check, stored and logged."},
        **errors(401, 403, 404, 422),
    },
    openapi_extra=SECURED_OPENAPI,
)
async def post_check(request: Request, body: CheckBody) -> Response:
    """信用核查 of a subject for a matter (logged in the disclosure log).

    Called per approval, so it is kept lean: authentication and the check run in one
    worker-thread hop (the principal is resolved there by the same `get_principal` the other
    routes depend on, instead of through a sync dependency with a hop of its own), its audit
    event is inserted in the check's own transaction (web.audit.IN_TRANSACTION), and its
    answer — plain JSON types already — is encoded once by JSONResponse, the same bytes
    FastAPI would send, without validating it against the response model first.
    """
    result = await run_in_threadpool(_check, request, body)
    recorded_in_transaction(request)
    return JSONResponse(result)


# Declared before /checks/{check_id} so "stats" is not taken for an id.
@router.get("/checks/stats", response_model=out.CheckStats, responses=errors(401, 403))
def get_check_stats(c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Checks and feedback by department, measure, matter and month (credit office)."""
    return checks.check_stats(c, actor)


# The JSON stored when the check was made, by whatever version made it: documented
# (`responses=`), not validated, so an older row is answered as it was stored.
@router.get(
    "/checks/{check_id}",
    response_model=None,
    responses={
        200: {"model": out.StoredCheck, "description": "The check as made, and its feedback."},
        **errors(401, 403, 404, 422),
    },
)
def get_check(check_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """A stored check and its feedback."""
    return checks.get_check(c, actor, check_id)


@router.post(
    "/checks/{check_id}/feedback",
    response_model=out.CheckFeedbackRecorded,
    responses=errors(401, 403, 404, 409, 422),
)
def post_feedback(
    check_id: str, body: FeedbackBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Whether the checking department applied one measure of the check, and why."""
    return checks.record_feedback(
        c, actor, check_id, measure_code=body.measure_code, applied=body.applied, reason=body.reason
    )


class CommitmentBody(BaseModel):
    subject_id: str
    kind: str
    text: str
    made_on: IsoDate
    matter: str | None = None
    department: str | None = None


class OutcomeBody(BaseModel):
    result: str
    checked_on: IsoDate
    note: str | None = None


@router.post("/commitments", response_model=out.Commitment, responses=errors(401, 403, 404, 422))
def post_commitment(
    body: CommitmentBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Record a subject's credit commitment accepted by the actor's department."""
    return commitments.create_commitment(
        c,
        actor,
        subject_id=body.subject_id,
        kind=body.kind,
        text=body.text,
        made_on=body.made_on,
        matter=body.matter,
        department=body.department,
    )


@router.post(
    "/commitments/{commitment_id}/outcome",
    response_model=out.Commitment,
    responses=errors(401, 403, 404, 409, 422),
)
def post_outcome(
    commitment_id: str, body: OutcomeBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Fulfilment check: fulfilled, breached or false (虚假承诺)."""
    return commitments.record_outcome(
        c, actor, commitment_id, result=body.result, checked_on=body.checked_on, note=body.note
    )


@router.get("/commitments", response_model=out.CommitmentList, responses=errors(401, 422))
def get_commitments(
    c: ContainerDep,
    actor: PrincipalDep,
    subject_id: str | None = None,
    limit: Annotated[int, limit_of(1000)] = 200,
) -> dict[str, Any]:
    """Public: a subject's commitments of public kinds; staff: their department's."""
    rows = commitments.list_commitments(c, actor, subject_id=subject_id, limit=limit)
    return {"subject_id": subject_id, "count": len(rows), "commitments": rows}
