"""HTTP API v1 for subjects' self-service: sign-up, voluntary registration (自愿注册) and
self-disclosure of positive information (自主公示). Rules: `rights/registration.py`,
`rights/disclosures.py`, `accounts.service.sign_up`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from citycredit.accounts.model import Role
from citycredit.accounts.service import sign_up
from citycredit.rights import account, disclosures, registration
from citycredit.web.deps import AuthenticatedDep, ContainerDep, request_info
from citycredit.web.params import IsoDate
from citycredit.web.rights_api import NoteBody, ReasonBody
from citycredit.web.schemas import selfservice as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1")


class SignUpBody(BaseModel):
    username: str
    password: str
    display_name: str = ""
    # only the roles that may sign up (accounts.service.SIGN_UP_ROLES): a refusal lists these
    role: Literal["enterprise_agent", "natural_person"] = Field(
        description="enterprise_agent | natural_person"
    )


class RegistrationBody(BaseModel):
    provider: str = Field(description="identity provider, e.g. e_license / shaanxi_gov")
    id_token: str = Field(description="the provider's assertion, with the account's nonce")
    profile: dict[str, Any] = {}


class ProfileBody(BaseModel):
    subject_id: str | None = None
    profile: dict[str, Any]


class SubjectRef(BaseModel):
    subject_id: str | None = None


class DisclosureBody(BaseModel):
    subject_id: str | None = None
    kind: str = Field(description="honour | certification | public_interest | performance | other")
    title: str
    obtained_on: IsoDate
    issuer: str | None = None
    valid_until: IsoDate | None = None
    content: str | None = None
    evidence: str | None = Field(default=None, description="证书编号、文号或核验方式")


@router.post(
    "/accounts/sign-up",
    status_code=201,
    response_model=out.SignedUp,
    responses=errors(403, 409, 422, 429),
)
def post_sign_up(
    body: SignUpBody, request: Request, response: Response, c: ContainerDep
) -> dict[str, Any]:
    """自助注册: an enterprise-agent or natural-person account; it acts for nobody until bound."""
    data = sign_up(
        c,
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        role=Role(body.role),
        request=request_info(request),
    )
    response.headers["Cache-Control"] = "no-store"
    return data


@router.post(
    "/me/registration",
    status_code=201,
    response_model=out.SelfRegistration,
    responses=errors(401, 403, 404, 409, 422),
)
def post_registration(
    body: RegistrationBody, request: Request, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """自愿注册: an identity provider vouches; the account is bound and the profile published."""
    return registration.register(
        c,
        actor,
        provider=body.provider,
        id_token=body.id_token,
        profile=body.profile,
        request=request_info(request),
    )


@router.get(
    "/me/registration", response_model=out.SelfRegistration, responses=errors(401, 403, 404, 422)
)
def get_registration(
    c: ContainerDep, actor: AuthenticatedDep, subject_id: str | None = None
) -> dict[str, Any]:
    """The bound subject's voluntary registration and profile."""
    return registration.get_registration(c, actor, account.my_subject(actor, subject_id))


@router.post(
    "/me/registration/profile",
    response_model=out.SelfRegistration,
    responses=errors(401, 403, 404, 409, 422),
)
def post_profile(body: ProfileBody, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Replace the self-declared profile."""
    sid = account.my_subject(actor, body.subject_id)
    return registration.update_profile(c, actor, sid, body.profile)


@router.post(
    "/me/registration/withdraw",
    response_model=out.SelfRegistration,
    responses=errors(401, 403, 404, 409, 422),
)
def post_registration_withdraw(
    body: SubjectRef, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """撤回自愿注册: the profile leaves the public archive."""
    return registration.withdraw(c, actor, account.my_subject(actor, body.subject_id))


@router.post(
    "/disclosures",
    status_code=201,
    response_model=out.SelfDisclosure,
    responses=errors(401, 403, 404, 422),
)
def post_disclosure(
    body: DisclosureBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """自主公示: the bound subject (or the window, naming subject_id) publishes positive
    information; it shows as 未核实 until the credit office has checked it."""
    return disclosures.publish(
        c,
        actor,
        subject_id=body.subject_id or None,
        kind=body.kind,
        title=body.title,
        obtained_on=body.obtained_on,
        issuer=body.issuer,
        valid_until=body.valid_until,
        content=body.content,
        evidence=body.evidence,
    )


@router.get("/disclosures", response_model=out.SelfDisclosureList, responses=errors(401, 403, 422))
def get_disclosures(
    c: ContainerDep,
    actor: AuthenticatedDep,
    subject_id: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The credit office's queue (e.g. ?status=unverified), or a bound subject's own list."""
    rows = disclosures.list_disclosures(c, actor, subject_id=subject_id, status=status)
    return {"count": len(rows), "items": rows}


@router.get(
    "/disclosures/{disclosure_id}",
    response_model=out.SelfDisclosure,
    responses=errors(401, 403, 404, 422),
)
def get_disclosure(disclosure_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """One 自主公示 disclosure (its subject's account or the credit office)."""
    return disclosures.get_disclosure(c, actor, disclosure_id)


@router.post(
    "/disclosures/{disclosure_id}/withdraw",
    response_model=out.SelfDisclosure,
    responses=errors(401, 403, 404, 409, 422),
)
def post_disclosure_withdraw(
    disclosure_id: str, c: ContainerDep, actor: AuthenticatedDep, body: ReasonBody | None = None
) -> dict[str, Any]:
    """The subject takes a disclosure down (the record is withdrawn); the reason is optional."""
    return disclosures.withdraw(c, actor, disclosure_id, body.reason if body else None)


@router.post(
    "/disclosures/{disclosure_id}/verify",
    response_model=out.SelfDisclosure,
    responses=errors(401, 403, 404, 409, 422),
)
def post_disclosure_verify(
    disclosure_id: str, body: NoteBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """信用办核实: the record now says 已核实."""
    return disclosures.verify(c, actor, disclosure_id, body.note)


@router.post(
    "/disclosures/{disclosure_id}/reject",
    response_model=out.SelfDisclosure,
    responses=errors(401, 403, 404, 409, 422),
)
def post_disclosure_reject(
    disclosure_id: str, body: ReasonBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """经核实不实 (虚假立信): withdrawn with the reason; the subject is told."""
    return disclosures.reject(c, actor, disclosure_id, body.reason)
