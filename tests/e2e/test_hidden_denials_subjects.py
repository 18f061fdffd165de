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

from pathlib import Path
from typing import Any

import object_access_support as oa
import pytest
import test_role_matrix as rm

from citycredit.bootstrap import Container

pytestmark = pytest.mark.db


def subject_case(
    method: str,
    path: str,
    key: str,
    other: str,
    refused: str,
    *,
    body: dict[str, Any] | None = None,
    owner: str | None = None,
    outsider: str | None = None,
) -> oa.Hidden:
    """A subject-side route: the world's object ``key``, someone else's for ``other``."""
    return oa.Hidden(
        method, path, other, refused, key=key, body=body, owner=owner, outsider=outsider
    )


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    w = rm.build_world(container, tmp_path)
    oa.add_second_owner(w, tmp_path)
    return w


def test_bindings_of_another_account_answer_like_missing_ones(world: rm.World) -> None:
    b = "/api/v1/bindings/{binding_id}"
    oa.check_hidden(
        world,
        [
            subject_case("GET", b, "binding_a", rm.AGENT_B, "not_owner", owner=rm.AGENT_A),
            subject_case(
                "GET", f"{b}/evidence", "binding_a", rm.PERSON, "not_owner", owner=rm.AGENT_A
            ),
            subject_case(
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
    oa.check_hidden(
        world,
        [
            subject_case("GET", o, "objection", rm.AGENT_B, "forbidden", owner=rm.AGENT_A),
            subject_case("GET", o, "objection", rm.DEPT_B, "forbidden", outsider=rm.SEC_ADMIN),
            subject_case(
                "POST",
                f"{o}/statement",
                "objection",
                rm.AGENT_B,
                "subject_not_bound",
                body={"text": "本单位对处罚金额仍有异议"},
                outsider=rm.DEPT_A,
            ),
            # decided by the record's source department only: another department, the office
            subject_case(
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
    oa.check_hidden(
        world,
        [
            subject_case("GET", r, "repair", rm.DEPT_B, "forbidden", owner=rm.AGENT_A),
            subject_case("GET", r, "repair", rm.AGENT_B, "forbidden", outsider=rm.AUDIT_ADMIN),
            subject_case(
                "POST",
                f"{r}/decide",
                "repair",
                rm.OFFICE,
                "forbidden",
                body={"approve": True, "reason": "整改已到位"},
                outsider=rm.AGENT_A,
            ),
            # the world's stop-use receipt is dept_b's
            subject_case(
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
    oa.check_hidden(
        world,
        [
            subject_case(
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
    oa.check_hidden(
        world,
        [
            subject_case("GET", d, "disclosure", rm.AGENT_B, "subject_not_bound", owner=rm.AGENT_A),
            subject_case(
                "GET", d, "disclosure_b", rm.AGENT_A, "subject_not_bound", owner=rm.AGENT_B
            ),
            subject_case(
                "POST",
                f"{d}/withdraw",
                "disclosure",
                rm.AGENT_B,
                "subject_not_bound",
                outsider=rm.DEPT_A,
            ),
        ],
    )
