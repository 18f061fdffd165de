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

from pathlib import Path

import object_access_support as oa
import pytest
import test_role_matrix as rm

from citycredit.bootstrap import Container

pytestmark = pytest.mark.db

OTHER_DEPARTMENT = "other_department"


def dept_case(
    method: str,
    path: str,
    not_found: str,
    *,
    other: str = rm.DEPT_B,
    refused: str = OTHER_DEPARTMENT,
    owner: str | None = None,
    outsider: str | None = None,
) -> oa.Hidden:
    """A department route: `dept_a`'s object, `dept_b` (by default) the other department."""
    return oa.Hidden(
        method, path, other, refused, not_found=not_found, owner=owner, outsider=outsider
    )


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    return rm.build_world(container, tmp_path)


def test_submissions_and_records(world: rm.World) -> None:
    oa.check_hidden(
        world,
        [
            dept_case(
                "GET",
                "/api/v1/submissions/{submission_id}",
                "submission_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENT_A,
            ),
            dept_case(
                "GET",
                "/api/v1/submissions/{submission_id}/rejects",
                "submission_not_found",
                owner=rm.DEPT_A,
                outsider=rm.BANK,
            ),
            dept_case(
                "GET",
                "/api/v1/records/{record_id}/history",
                "record_not_found",
                owner=rm.OFFICE,
                outsider=rm.AUDIT_ADMIN,
            ),
            dept_case(
                "POST",
                "/api/v1/records/{record_id}/withdraw",
                "record_not_found",
                outsider=rm.AGENT_B,
            ),
        ],
    )


def test_clear_personal_values(world: rm.World) -> None:
    # no clear value and no disclosure log entry for another department (snapshot unchanged)
    oa.check_hidden(
        world,
        [
            dept_case(
                "POST",
                "/api/v1/records/{record_id}/personal",
                "record_not_found",
                outsider=rm.PERSON,
            )
        ],
    )


def test_memberships_and_their_steps(world: rm.World) -> None:
    steps = ("notify", "objections", "objections/answer", "decide", "publish", "withdraw", "exit")
    oa.check_hidden(
        world,
        [
            dept_case(
                "GET",
                "/api/v1/memberships/{membership_id}",
                "membership_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENT_A,
            ),
            *(
                dept_case(
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
    oa.check_hidden(
        world,
        [
            dept_case(
                "GET",
                "/api/v1/checks/{check_id}",
                "check_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENCY,
            ),
            dept_case(
                "POST", "/api/v1/checks/{check_id}/feedback", "check_not_found", outsider=rm.BANK
            ),
            dept_case(
                "POST",
                "/api/v1/commitments/{commitment_id}/outcome",
                "commitment_not_found",
                outsider=rm.AGENT_A,
            ),
        ],
    )


def test_feeds_and_consumers(world: rm.World) -> None:
    oa.check_hidden(
        world,
        [
            # the credit office sees every subscription but pulls none: as if missing
            dept_case(
                "GET",
                "/api/v1/feeds/{subscription_id}",
                "subscription_not_found",
                other=rm.OFFICE,
                refused="not_subscriber",
                owner=rm.DEPT_A,
            ),
            dept_case("GET", "/api/v1/feeds/{subscription_id}", "subscription_not_found"),
            dept_case(
                "GET",
                "/api/v1/records/{record_id}/consumers",
                "record_not_found",
                owner=rm.DEPT_A,
                outsider=rm.AGENT_B,
            ),
        ],
    )
