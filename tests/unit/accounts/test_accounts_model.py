"""Roles and permissions: separation of the three administrators, subject access (pure)."""

from __future__ import annotations

import pytest

from citycredit.accounts.model import (
    ADMIN_ROLES,
    ANONYMOUS,
    ROLE_PERMISSIONS,
    SEPARATED,
    SUBJECT_SIDE_ROLES,
    SYSTEM,
    Permission,
    Principal,
    Role,
    require,
    require_subject_access,
)
from citycredit.shared.errors import PermissionDenied

BUSINESS = {
    Permission.submit_records,
    Permission.withdraw_records,
    Permission.read_own_submissions,
    Permission.read_all_submissions,
    Permission.read_authorised,
    Permission.resolve_unresolved,
    Permission.decide_bindings,
    Permission.run_jobs,  # evaluation runs, ledger checkpoints and alarms are the office's
}


def test_every_role_has_a_label_and_permissions() -> None:
    for role in Role:
        assert role.label and role in ROLE_PERMISSIONS


def test_each_separated_permission_belongs_to_exactly_one_administrator() -> None:
    for permission, owner in SEPARATED.items():
        holders = {r for r, perms in ROLE_PERMISSIONS.items() if permission in perms}
        assert holders == {owner}, permission


def test_administrators_hold_no_business_permission_and_not_each_others() -> None:
    for role in ADMIN_ROLES:
        perms = ROLE_PERMISSIONS[role]
        assert not perms & BUSINESS, role
        others = {p for p, owner in SEPARATED.items() if owner is not role}
        assert not perms & others, role
    assert ROLE_PERMISSIONS[Role.audit_admin] - ROLE_PERMISSIONS[Role.public] == {
        Permission.read_audit
    }


def test_credit_office_no_longer_manages_accounts_or_reads_audit() -> None:
    office = ROLE_PERMISSIONS[Role.credit_office_admin]
    assert Permission.manage_accounts not in office
    assert Permission.read_audit not in office
    assert Permission.configure_system not in office
    assert {Permission.decide_bindings, Permission.read_authorised, Permission.run_jobs} <= office


def test_subject_side_roles_act_for_subjects_but_read_nothing_non_public() -> None:
    for role in SUBJECT_SIDE_ROLES:
        perms = ROLE_PERMISSIONS[role]
        assert Permission.act_for_subject in perms and Permission.request_binding in perms
        assert Permission.read_authorised not in perms and Permission.submit_records not in perms


def test_console_can_do_everything_but_is_not_a_subject_agent() -> None:
    assert all(SYSTEM.can(p) for p in Permission)
    require(SYSTEM, Permission.manage_accounts)
    with pytest.raises(PermissionDenied):
        require_subject_access(SYSTEM, "S1")
    require_subject_access(SYSTEM, "S1", office=True)


def test_require_subject_access_needs_an_approved_binding() -> None:
    agent = Principal(
        role=Role.enterprise_agent, label="a", user_id=1, subject_ids=frozenset({"SA"})
    )
    require_subject_access(agent, "SA")
    for other in ("SB", "", "sa"):
        with pytest.raises(PermissionDenied) as exc:
            require_subject_access(agent, other)
        assert exc.value.code == "subject_not_bound"
    # a subject id on a non-subject role does not count (defence in depth)
    staff = Principal(role=Role.department_staff, label="s", subject_ids=frozenset({"SA"}))
    with pytest.raises(PermissionDenied):
        require_subject_access(staff, "SA")
    office = Principal(role=Role.credit_office_admin, label="o")
    with pytest.raises(PermissionDenied):
        require_subject_access(office, "SA")
    require_subject_access(office, "SA", office=True)
    with pytest.raises(PermissionDenied):
        require_subject_access(agent, "SB", office=True)
    with pytest.raises(PermissionDenied):
        require_subject_access(ANONYMOUS, "SA", office=True)


def test_department_scope_is_unchanged() -> None:
    staff = Principal(role=Role.department_staff, label="s", department_id=1)
    require(staff, Permission.submit_records, department_id=1)
    with pytest.raises(PermissionDenied) as exc:
        require(staff, Permission.submit_records, department_id=2)
    assert exc.value.code == "other_department"
