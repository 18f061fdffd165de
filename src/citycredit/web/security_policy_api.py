"""The security administrator's run-time security policy (G3; accounts/policy_store.py).

    GET /api/v1/admin/security-policy   effective policy, environment values, stored overrides and
                                        the newest changes (security and audit administrators)
    PUT /api/v1/admin/security-policy   {"lockout_threshold": 3, ..., "reason": "…"} (security
                                        administrator; null returns a field to the environment's)

A change takes effect in this process at once and in the server's other processes within
`policy_store.REFRESH_SECONDS`; it is recorded as a ``config.security_policy`` audit event naming
the administrator, in the same transaction as the change.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from citycredit.accounts import policy_store
from citycredit.web.deps import AuthenticatedDep, ContainerDep, request_info
from citycredit.web.schemas import admin as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1/admin")

_EXAMPLE = {"lockout_threshold": 3, "session_idle_minutes": 15, "reason": "等保测评整改"}


@router.get("/security-policy", response_model=out.SecurityPolicyView, responses=errors(401, 403))
def get_security_policy(
    response: Response, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """安全策略: effective values, the environment's, overrides and change history."""
    data = policy_store.policy_view(c, actor)
    response.headers["Cache-Control"] = "no-store"
    return data


@router.put(
    "/security-policy",
    response_model=out.SecurityPolicyChanged,
    responses=errors(401, 403, 409, 422),
)
def put_security_policy(
    request: Request,
    c: ContainerDep,
    actor: AuthenticatedDep,
    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])],
) -> dict[str, Any]:
    """Change lockout, session or password settings (security administrator; reason required)."""
    fields = dict(body)
    reason = fields.pop("reason", None)
    return policy_store.change_policy(
        c, actor, fields, reason=reason, request=request_info(request)
    )
