"""Another department's object answers exactly like a missing one (security.md G8).

The department routes — submissions and their rejects, a record's history, withdrawal, clear
personal view and consumers, list memberships and their seven steps, credit checks and their
feedback, a commitment's outcome, a subscription's feed — on the role matrix's world
(`test_role_matrix.build_world`: ``dept_a`` owns every object): for ``dept_b`` (and, on a feed,
the credit office, which inspects subscriptions but pulls none) A's object answers with the
same status and the same JSON body, byte for byte, as an id that names nothing (the id named in
the message aside). The refusal is not lost: the operator audit trail records the request as
``denied`` with its reason in ``detail.refused``, and nothing of the kind for the missing id. A
refused write changes no row; a role that never uses the route keeps its honest 403 whatever
the id (the role is checked before the lookup); the owner still reads its object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import object_access_support as oa
import pytest
import test_role_matrix as rm
from sqlalchemy import func, select

from citycredit.accounts.db import AuditEventRow
from citycredit.bootstrap import Container

pytestmark = pytest.mark.db

OTHER_DEPARTMENT = "other_department"


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # a route of the role matrix's POLICY, with one path parameter
    not_found: str  # the error code of a missing id
    other: str = rm.DEPT_B  # the identity for which A's object is someone else's
    refused: str = OTHER_DEPARTMENT  # the refusal's code, kept in the audit trail
    owner: str | None = None  # GET: who still reads it (200)
    outsider: str | None = None  # a role that never uses the route: 403 for any id


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    return rm.build_world(container, tmp_path)


def _param(path: str) -> str:
    (name,) = re.findall(r"{(\w+)}", path)
    return name


def _a_id(w: rm.World, case: Case) -> str:
    rule = rm.POLICY[(case.method, case.path)]
    name = _param(case.path)
    return w.ids[rule.path.get(name) or rm.DEFAULT_PATH[name]]


def _call(w: rm.World, who: str, case: Case, object_id: str) -> Any:
    rule = rm.POLICY[(case.method, case.path)]
    kwargs = rule.request(w) if rule.request else {}
    return w.call(who, case.method, oa.fill(case.path, {_param(case.path): object_id}), **kwargs)


def _last_event(w: rm.World) -> int:
    with w.c.uow() as uow:
        return uow.session.scalar(select(func.max(AuditEventRow.id))) or 0


def _events(w: rm.World, case: Case, object_id: str, since: int) -> list[AuditEventRow]:
    with w.c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow).where(
                    AuditEventRow.id > since,
                    AuditEventRow.action == f"http.{case.method} {case.path}",
                    AuditEventRow.object_id == object_id,
                    AuditEventRow.result != "started",
                )
            )
        )


def _check(w: rm.World, cases: list[Case]) -> None:
    for case in cases:
        where = f"{case.other} {case.method} {case.path}"
        a_id = _a_id(w, case)
        gone = oa.missing_like(a_id)
        before = oa.snapshot(w.c) if case.method != "GET" else None
        since = _last_event(w)
        theirs = _call(w, case.other, case, a_id)
        nothing = _call(w, case.other, case, gone)
        assert (theirs.status_code, nothing.status_code) == (404, 404), where
        assert theirs.json()["error"] == case.not_found, where
        # byte for byte, the id named in the message aside
        assert theirs.content.replace(a_id.encode(), b"ID") == nothing.content.replace(
            gone.encode(), b"ID"
        ), where
        assert theirs.headers["content-type"] == nothing.headers["content-type"], where
        # the trail keeps the refusal (and only for the existing object)
        denied = _events(w, case, a_id, since)
        assert [(e.result, e.status_code, e.detail.get("refused")) for e in denied] == [
            ("denied", 404, case.refused)
        ], where
        assert denied[0].actor_role == "department_staff" or case.other == rm.OFFICE, where
        assert all(e.result != "denied" for e in _events(w, case, gone, since)), where
        if before is not None:
            assert oa.changed_tables(before, oa.snapshot(w.c)) == [], where
        if case.outsider is not None:  # no permission at all: the same 403 for any id
            a, b = _call(w, case.outsider, case, a_id), _call(w, case.outsider, case, gone)
            assert (a.status_code, b.status_code) == (403, 403), where
            assert a.content == b.content, where
        if case.owner is not None:
            assert _call(w, case.owner, case, a_id).status_code == 200, where


def test_submissions_and_records(world: rm.World) -> None:
    _check(
        world,
        [
            Case(
                "GET",
                "/api/v1/submissions/{submission_id}",
                "submission_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENT_A,
            ),
            Case(
                "GET",
                "/api/v1/submissions/{submission_id}/rejects",
                "submission_not_found",
                owner=rm.DEPT_A,
                outsider=rm.BANK,
            ),
            Case(
                "GET",
                "/api/v1/records/{record_id}/history",
                "record_not_found",
                owner=rm.OFFICE,
                outsider=rm.AUDIT_ADMIN,
            ),
            Case(
                "POST",
                "/api/v1/records/{record_id}/withdraw",
                "record_not_found",
                outsider=rm.AGENT_B,
            ),
        ],
    )


def test_clear_personal_values(world: rm.World) -> None:
    # no clear value and no disclosure log entry for another department (snapshot unchanged)
    _check(
        world,
        [
            Case(
                "POST",
                "/api/v1/records/{record_id}/personal",
                "record_not_found",
                outsider=rm.PERSON,
            )
        ],
    )


def test_memberships_and_their_steps(world: rm.World) -> None:
    steps = ("notify", "objections", "objections/answer", "decide", "publish", "withdraw", "exit")
    _check(
        world,
        [
            Case(
                "GET",
                "/api/v1/memberships/{membership_id}",
                "membership_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENT_A,
            ),
            *(
                Case(
                    "POST",
                    f"/api/v1/memberships/{{membership_id}}/{step}",
                    "membership_not_found",
                    outsider=rm.SEC_ADMIN,
                )
                for step in steps
            ),
        ],
    )


def test_checks_and_commitments(world: rm.World) -> None:
    _check(
        world,
        [
            Case(
                "GET",
                "/api/v1/checks/{check_id}",
                "check_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENCY,
            ),
            Case("POST", "/api/v1/checks/{check_id}/feedback", "check_not_found", outsider=rm.BANK),
            Case(
                "POST",
                "/api/v1/commitments/{commitment_id}/outcome",
                "commitment_not_found",
                outsider=rm.AGENT_A,
            ),
        ],
    )


def test_feeds_and_consumers(world: rm.World) -> None:
    _check(
        world,
        [
            # the credit office sees every subscription but pulls none: as if missing
            Case(
                "GET",
                "/api/v1/feeds/{subscription_id}",
                "subscription_not_found",
                other=rm.OFFICE,
                refused="not_subscriber",
                owner=rm.DEPT_A,
            ),
            Case("GET", "/api/v1/feeds/{subscription_id}", "subscription_not_found"),
            Case(
                "GET",
                "/api/v1/records/{record_id}/consumers",
                "record_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENT_B,
            ),
        ],
    )
