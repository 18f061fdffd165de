"""G8: a refusal on someone else's object answers exactly as the missing object would."""

from __future__ import annotations

import pytest

from citycredit.accounts.model import Permission, Principal, Role, hidden_as, require
from citycredit.shared.errors import Conflict, HiddenDenial, NotFound, PermissionDenied

DEPT_A = Principal(role=Role.department_staff, label="甲部门", department_id=1)


def test_a_refusal_becomes_the_missing_objects_error() -> None:
    missing = NotFound("记录 R1 不存在", code="record_not_found")
    with pytest.raises(NotFound) as raised, hidden_as(missing):
        require(DEPT_A, Permission.read_own_submissions, department_id=2)
    err = raised.value
    assert isinstance(err, HiddenDenial)
    assert (err.code, err.message, str(err)) == (missing.code, missing.message, str(missing))
    assert err.reason.code == "other_department"  # kept for the audit trail only


def test_allowed_and_other_errors_pass_through() -> None:
    missing = NotFound("记录 R1 不存在", code="record_not_found")
    with hidden_as(missing):
        require(DEPT_A, Permission.read_own_submissions, department_id=1)
    with pytest.raises(Conflict), hidden_as(missing):
        raise Conflict("已撤销", code="record_withdrawn")
    with pytest.raises(PermissionDenied):  # outside the block nothing is hidden
        require(DEPT_A, Permission.read_own_submissions, department_id=2)
