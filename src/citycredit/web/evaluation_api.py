"""HTTP API v1 for 公共信用综合评价: parse → call one service function → render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from citycredit.evaluation import runs, views
from citycredit.web.deps import AuthenticatedDep, ContainerDep, PrincipalDep
from citycredit.web.params import limit_of
from citycredit.web.schemas import evaluation as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1")


# An anonymous read of up to `history` results per call (the portal's 评价 page): documented
# (`responses=`), not validated per request, like the other hot public reads.
@router.get(
    "/subjects/{subject_id}/evaluation",
    response_model=None,
    responses={
        200: {"model": out.SubjectEvaluation, "description": "The current result and history."},
        **errors(403, 404, 422),
    },
)
def get_evaluation(
    subject_id: str,
    c: ContainerDep,
    actor: PrincipalDep,
    view: Annotated[str, Query(pattern="^(public|authorised)$")] = "public",
    purpose: str | None = None,
    history: Annotated[int, limit_of(1000)] = views.HISTORY_LIMIT,
) -> dict[str, Any]:
    """Current result with indicators, reasons (by impact) and caps, plus the grade history.

    Public view: organisations only. `view=authorised&purpose=…`: staff, every subject type,
    every indicator; logged in the disclosure log.
    """
    return views.current_evaluation(
        c, actor, subject_id, view=view, purpose=purpose, history_limit=history
    )


@router.get(
    "/evaluation/runs", response_model=out.EvaluationRunList, responses=errors(401, 403, 422)
)
def get_runs(
    c: ContainerDep, actor: AuthenticatedDep, limit: Annotated[int, limit_of(500)] = 50
) -> dict[str, Any]:
    """Evaluation runs (评价批次), newest first (credit office)."""
    return {"runs": runs.list_runs(c, actor, limit=limit)}


@router.get(
    "/evaluation/runs/{run_id}",
    response_model=out.EvaluationRun,
    responses=errors(401, 403, 404, 422),
)
def get_run(run_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """One evaluation run: engine, as_of, models, counts per grade (credit office)."""
    return runs.get_run(c, actor, run_id)
