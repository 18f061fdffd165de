"""Someone else's subject-side object answers exactly like a missing one (security.md G8).

The routes of bindings, objections, repairs (and their stop-use receipts), authorisations and
self-disclosures: for another account, another subject or another department, the object of the
role matrix's world (`test_role_matrix.build_world`, with `object_access_support` adding the
second owner) answers with the same status and the same JSON body, byte for byte, as an id that
names nothing (the id named in the message aside). The refusal is not lost: the operator audit
trail records the request as ``denied`` with the reason in ``detail.refused``; a refused write
changes no row; a role that never uses the route keeps its honest 403 whatever the id; and the
owner still gets its object.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # one path parameter
    key: str  # the world's id of A's object
    other: str  # the identity for which it is someone else's
    refused: str  # the refusal's code, kept for the audit trail
    body: dict[str, Any] | None = None
    owner: str | None = None  # who still gets it (GET: 200)
    outsider: str | None = None  # a role that never uses the route: 403 for any id


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    w = rm.build_world(container, tmp_path)
    oa.add_second_owner(w, tmp_path)
    return w


def _call(w: rm.World, who: str, case: Case, object_id: str) -> Any:
    url = oa.fill(case.path, {case.path.split("{")[1].split("}")[0]: object_id})
    kwargs: dict[str, Any] = {} if case.body is None else {"json": dict(case.body)}
    return w.call(who, case.method, url, **kwargs)


def _last_event(w: rm.World) -> int:
    with w.c.uow() as uow:
        return uow.session.scalar(select(func.max(AuditEventRow.id))) or 0


def _denied_events(w: rm.World, case: Case, object_id: str, since: int) -> list[AuditEventRow]:
    """The trail's denied events for this route and id, written after event ``since``."""
    with w.c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow).where(
                    AuditEventRow.id > since,
                    AuditEventRow.action == f"http.{case.method} {case.path}",
                    AuditEventRow.object_id == object_id,
                    AuditEventRow.result == "denied",
                )
            )
        )


def _check(w: rm.World, cases: list[Case]) -> None:
    for case in cases:
        where = f"{case.other} {case.method} {case.path}"
        theirs_id = w.ids[case.key]
        missing_id = oa.missing_like(theirs_id)
        before = oa.snapshot(w.c) if case.method != "GET" else None
        since = _last_event(w)

        theirs = _call(w, case.other, case, theirs_id)
        nothing = _call(w, case.other, case, missing_id)

        assert theirs.status_code == nothing.status_code == 404, (where, theirs.text, nothing.text)
        # byte for byte, once each message names its own id the same way
        assert theirs.content.replace(theirs_id.encode(), b"<id>") == nothing.content.replace(
            missing_id.encode(), b"<id>"
        ), (where, theirs.text, nothing.text)
        assert theirs.headers["content-type"] == nothing.headers["content-type"], where
        assert nothing.json()["error"].endswith("_not_found"), (where, nothing.text)
        assert missing_id in nothing.json()["message"], where

        if before is not None:
            assert oa.changed_tables(before, oa.snapshot(w.c)) == [], where

        events = _denied_events(w, case, theirs_id, since)
        assert [e.detail.get("refused") for e in events] == [case.refused], (where, events)
        assert events[0].status_code == 404, where
        assert events[0].actor_label, where
        assert _denied_events(w, case, missing_id, since) == [], where  # a missing id is no refusal

        if case.outsider is not None:
            a = _call(w, case.outsider, case, theirs_id)
            b = _call(w, case.outsider, case, missing_id)
            assert a.status_code == b.status_code == 403, (where, a.text, b.text)
            assert a.content == b.content, (where, a.text, b.text)

        if case.owner is not None:
            own = _call(w, case.owner, case, theirs_id)
            assert own.status_code == 200, (where, own.status_code, own.text)


def test_bindings_of_another_account_answer_like_missing_ones(world: rm.World) -> None:
    b = "/api/v1/bindings/{binding_id}"
    _check(
        world,
        [
            Case("GET", b, "binding_a", rm.AGENT_B, "not_owner", owner=rm.AGENT_A),
            Case("GET", f"{b}/evidence", "binding_a", rm.PERSON, "not_owner", owner=rm.AGENT_A),
            Case(
                "POST",
                f"{b}/revoke",
                "binding_revoke",
                rm.AGENT_B,
                "not_owner",
                body={},
                outsider=rm.DEPT_A,
            ),
        ],
    )
    # the owner's binding is still open: the refused revoke did nothing
    r = world.call(rm.AGENT_A, "GET", f"/api/v1/bindings/{world.ids['binding_revoke']}")
    assert r.status_code == 200 and r.json()["status"] != "revoked", r.text


def test_objections_of_another_subject_answer_like_missing_ones(world: rm.World) -> None:
    o = "/api/v1/objections/{objection_id}"
    _check(
        world,
        [
            Case("GET", o, "objection", rm.AGENT_B, "forbidden", owner=rm.AGENT_A),
            Case("GET", o, "objection", rm.DEPT_B, "forbidden", outsider=rm.SEC_ADMIN),
            Case(
                "POST",
                f"{o}/statement",
                "objection",
                rm.AGENT_B,
                "subject_not_bound",
                body={"text": "本单位对处罚金额仍有异议"},
                outsider=rm.DEPT_A,
            ),
            # decided by the record's source department only: another department, the office
            Case(
                "POST",
                f"{o}/decide",
                "objection",
                rm.DEPT_B,
                "forbidden",
                body={"outcome": "kept", "reason": "经核实信息无误"},
                outsider=rm.AGENT_A,
            ),
        ],
    )


def test_repairs_and_receipts_of_others_answer_like_missing_ones(world: rm.World) -> None:
    r = "/api/v1/repairs/{repair_id}"
    _check(
        world,
        [
            Case("GET", r, "repair", rm.DEPT_B, "forbidden", owner=rm.AGENT_A),
            Case("GET", r, "repair", rm.AGENT_B, "forbidden", outsider=rm.AUDIT_ADMIN),
            Case(
                "POST",
                f"{r}/decide",
                "repair",
                rm.OFFICE,
                "forbidden",
                body={"approve": True, "reason": "整改已到位"},
                outsider=rm.AGENT_A,
            ),
            # the world's stop-use receipt is dept_b's
            Case(
                "POST",
                "/api/v1/repair-receipts/{receipt_id}/acknowledge",
                "receipt",
                rm.DEPT_A,
                "forbidden",
                outsider=rm.AGENT_B,
            ),
        ],
    )


def test_authorisations_of_another_subject_answer_like_missing_ones(world: rm.World) -> None:
    _check(
        world,
        [
            Case(
                "POST",
                "/api/v1/authorisations/{authorisation_id}/revoke",
                "authorisation_revoke",
                rm.AGENT_B,
                "subject_not_bound",
                outsider=rm.DEPT_B,
            ),
        ],
    )
    # still valid for its subject: agent_a revokes it
    r = world.call(
        rm.AGENT_A,
        "POST",
        f"/api/v1/authorisations/{world.ids['authorisation_revoke']}/revoke",
    )
    assert r.status_code == 200 and r.json()["state"] == "revoked", r.text


def test_disclosures_of_another_subject_answer_like_missing_ones(world: rm.World) -> None:
    d = "/api/v1/disclosures/{disclosure_id}"
    _check(
        world,
        [
            Case("GET", d, "disclosure", rm.AGENT_B, "subject_not_bound", owner=rm.AGENT_A),
            Case("GET", d, "disclosure_b", rm.AGENT_A, "subject_not_bound", owner=rm.AGENT_B),
            Case(
                "POST",
                f"{d}/withdraw",
                "disclosure",
                rm.AGENT_B,
                "subject_not_bound",
                outsider=rm.DEPT_A,
            ),
        ],
    )
