"""Build the principal of a user account (shared by bearer tokens and web sessions)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow, SubjectBindingRow, UserRow
from citycredit.accounts.model import Principal, Role


def user_label(user: UserRow) -> str:
    return f"{user.display_name}（{user.username}）"


def approved_subjects(s: Session, user_id: int) -> frozenset[str]:
    """Subjects the account may act for now (approved, not revoked, bindings)."""
    return frozenset(
        s.scalars(
            select(SubjectBindingRow.subject_id).where(
                SubjectBindingRow.user_id == user_id, SubjectBindingRow.status == "approved"
            )
        )
    )


def principal_for_user(
    s: Session,
    user: UserRow,
    *,
    label: str | None = None,
    session_id: str | None = None,
    token_id: int | None = None,
) -> Principal:
    """The principal of a user, with its department and its bound subjects loaded now."""
    role = Role(user.role)
    dept = s.get(DepartmentRow, user.department_id) if user.department_id else None
    subjects = approved_subjects(s, user.id) if role.is_subject_side else frozenset()
    return Principal(
        role=role,
        label=label or user_label(user),
        department_id=user.department_id,
        department_name=dept.name if dept else None,
        user_id=user.id,
        token_id=token_id,
        session_id=session_id,
        subject_ids=subjects,
    )
