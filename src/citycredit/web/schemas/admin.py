"""System alarms (web/alarms_api.py, G25) and the run-time security policy
(web/security_policy_api.py, G3) as the administrators read them.

Built from db/alarms.py (`view`), db/storage.py (`Incident.detail`, the alarm's ``detail``) and
accounts/policy_store.py (`policy_view`, `change_policy`, `_change_view`). The stored change
history names fields as they were written, so its keys are plain strings; the live policy names
every adjustable field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.common import Answer, Instant

RAISED = "2026-11-25T02:14:07.031000+00:00"

_DETAIL: JsonDict = {
    "where": "POST /api/v1/submissions",
    "error": "OperationalError",
    "first_line": "(sqlite3.OperationalError) database or disk is full",
    "failures": 3,
    "operations": {"POST /api/v1/submissions": 2, "POST /api/v1/checks": 1},
    "incident_start": RAISED,
    "last_failure": "2026-11-25T02:16:40.512000+00:00",
    "ended_by": "operation_succeeded",
}
_ALARM: JsonDict = {
    "id": 1,
    "kind": "storage_full",
    "raised_at": RAISED,
    "resolved_at": "2026-11-25T02:31:02.004000+00:00",
    "acknowledged_at": None,
    "acknowledged_by": None,
    "detail": _DETAIL,
}


class SystemAlarmDetail(Answer):
    """What failed during a storage-full incident (db/storage.py `Incident.detail`)."""

    where: str = Field(description="The first refused operation (`POST /api/v1/submissions`).")
    error: str = Field(description="Its error class.")
    first_line: str = Field(description="The first line of its error message.")
    failures: int = Field(description="Refused operations during the incident.")
    operations: dict[str, int] = Field(description="Failures per operation (at most 20 named).")
    incident_start: Instant = Field(description="The first failure.")
    last_failure: Instant = Field(description="The last failure.")
    ended_by: Literal["operation_succeeded", "quiet_period"] | None = Field(
        description="How it ended: a refused operation worked again, or the quiet period passed "
        "(null: not ended)."
    )


class SystemAlarm(Answer):
    """One incident of the platform's operation, until acknowledged and after."""

    id: int = Field(description="The alarm's number (acknowledge: POST …/alarms/{id}/ack).")
    kind: Literal["storage_full"] = Field(description="`storage_full`: a write refused for space.")
    raised_at: Instant = Field(description="When the incident started.")
    resolved_at: Instant | None = Field(description="When it ended (null: still open).")
    acknowledged_at: Instant | None = Field(description="When an operator acknowledged it.")
    acknowledged_by: str | None = Field(description="Who acknowledged it.")
    detail: SystemAlarmDetail = Field(description="What failed.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_ALARM,
                    "acknowledged_at": "2026-11-25T02:40:00+00:00",
                    "acknowledged_by": "系统管理员（sys）",
                }
            ]
        }
    )


class SystemAlarmList(Answer):
    """System alarms, newest first: the unacknowledged ones, or all with ``?all=true``."""

    alarms: list[SystemAlarm] = Field(description="Newest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"alarms": [_ALARM]}]})


# -- the security policy --------------------------------------------------------------------------

_POLICY: JsonDict = {
    "lockout_threshold": 3,
    "lockout_window_minutes": 30,
    "lockout_minutes": 30,
    "session_idle_minutes": 15,
    "session_absolute_minutes": 480,
    "password_min_length": 12,
    "password_max_age_days": 90,
}
_ENVIRONMENT: JsonDict = {**_POLICY, "lockout_threshold": 5, "session_idle_minutes": 30}
_CHANGES: JsonDict = {
    "lockout_threshold": {"old": 5, "new": 3},
    "session_idle_minutes": {"old": 30, "new": 15},
}
_OVERRIDES: JsonDict = {"lockout_threshold": 3, "session_idle_minutes": 15}
FINGERPRINT = "9f2c4e1a7b3d5f60"


class SecurityPolicyValues(Answer):
    """The adjustable fields of the security policy (accounts/policy_store.py `ADJUSTABLE`)."""

    lockout_threshold: int = Field(description="Login failures within the window that lock.")
    lockout_window_minutes: int = Field(description="The window failures are counted in.")
    lockout_minutes: int = Field(description="How long an account stays locked.")
    session_idle_minutes: int = Field(description="Idle time that ends a session (超时退出).")
    session_absolute_minutes: int = Field(description="A session's longest life.")
    password_min_length: int = Field(description="Shortest password accepted.")
    password_max_age_days: int = Field(description="Forced rotation (0: none).")


class PolicyBounds(Answer):
    """The values a field may take."""

    min: int | None = Field(description="Smallest value (null: no bound).")
    max: int | None = Field(description="Largest value (null: no bound).")


class SecurityPolicyBounds(Answer):
    """Each adjustable field's bounds (accounts/policy.py `SecurityPolicy`)."""

    lockout_threshold: PolicyBounds
    lockout_window_minutes: PolicyBounds
    lockout_minutes: PolicyBounds
    session_idle_minutes: PolicyBounds
    session_absolute_minutes: PolicyBounds
    password_min_length: PolicyBounds
    password_max_age_days: PolicyBounds


class PolicyValueChange(Answer):
    """One field's effective value before and after a change."""

    old: int = Field(description="Before.")
    new: int = Field(description="After.")


class SecurityPolicyChange(Answer):
    """A stored change of the policy (append-only `security_policy_changes`)."""

    id: int = Field(description="The change's number (1, 2, … in order).")
    at: Instant = Field(description="When it was made.")
    actor_user_id: int = Field(description="The security administrator's user id.")
    actor_label: str = Field(description="The administrator as named in the audit trail.")
    reason: str = Field(description="Why.")
    changes: dict[str, PolicyValueChange] = Field(description="Per field changed: old and new.")
    overrides: dict[str, int] = Field(description="Every override in force after it.")


_HISTORY: JsonDict = {
    "id": 1,
    "at": "2026-11-25T01:30:00+00:00",
    "actor_user_id": 4,
    "actor_label": "安全管理员（sec）",
    "reason": "等保测评整改",
    "changes": _CHANGES,
    "overrides": _OVERRIDES,
}


def _bounds(low: int, high: int | None) -> JsonDict:
    return {"min": low, "max": high}


class SecurityPolicyView(Answer):
    """The effective policy, the environment's values, the stored overrides and the newest
    changes (security and audit administrators)."""

    policy: SecurityPolicyValues = Field(description="In force in this process now.")
    environment: SecurityPolicyValues = Field(description="CITYCREDIT_SECURITY's, no overrides.")
    overrides: dict[str, int] = Field(description="The stored overrides (field → value).")
    adjustable: SecurityPolicyBounds = Field(description="What each field may be set to.")
    fingerprint: str = Field(description="A short digest of the whole effective policy.")
    refresh_seconds: int = Field(description="Other processes apply a change within this.")
    changes: list[SecurityPolicyChange] = Field(description="The newest changes first (≤ 50).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "policy": _POLICY,
                    "environment": _ENVIRONMENT,
                    "overrides": _OVERRIDES,
                    "adjustable": {
                        "lockout_threshold": _bounds(1, 10),
                        "lockout_window_minutes": _bounds(1, 1440),
                        "lockout_minutes": _bounds(1, 1440),
                        "session_idle_minutes": _bounds(1, 120),
                        "session_absolute_minutes": _bounds(5, None),
                        "password_min_length": _bounds(8, 64),
                        "password_max_age_days": _bounds(0, None),
                    },
                    "fingerprint": FINGERPRINT,
                    "refresh_seconds": 5,
                    "changes": [_HISTORY],
                }
            ]
        }
    )


class SecurityPolicyChanged(Answer):
    """A change just made: in force in this process at once, in the others within
    `refresh_seconds`."""

    change_id: int = Field(description="The stored change's number.")
    changes: dict[str, PolicyValueChange] = Field(
        description="Per field requested: its old and new effective value."
    )
    fingerprint: str = Field(description="A short digest of the new effective policy.")
    policy: SecurityPolicyValues = Field(description="The adjustable fields now in force.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "change_id": 1,
                    "changes": _CHANGES,
                    "fingerprint": FINGERPRINT,
                    "policy": _POLICY,
                }
            ]
        }
    )
