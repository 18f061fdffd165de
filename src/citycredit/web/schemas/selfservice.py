"""Self-service answers (web/selfservice_api.py): 自助注册, 自愿注册 and 自主公示.

Built from accounts/service.py (`sign_up`), rights/registration.py (`_view`) and
rights/disclosures.py (`view`; the same keys as the subject's own account shows, schemas/account.py
`SelfDisclosure`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.account import DISCLOSURE_EXAMPLE, SelfDisclosure
from citycredit.web.schemas.common import Answer, Instant

SUBJECT_ID = "sbtmq3yvdxk2rhy7uv4nc"
AT = "2026-11-25T02:00:00+00:00"


class SignedUp(Answer):
    """A self-opened account: it acts for nobody until bound (no token is issued)."""

    username: str = Field(description="Login name.")
    role: Literal["enterprise_agent", "natural_person"] = Field(description="The role opened.")
    display_name: str = Field(description="Name shown on screen (the username if none given).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"username": "yl_trade_agent", "role": "enterprise_agent", "display_name": "李经办"}
            ]
        }
    )


_REGISTRATION: JsonDict = {
    "id": "vrk2v7q3pwhtd6yxamz4l",
    "subject_id": SUBJECT_ID,
    "subject_name": "榆林某某商贸有限公司",
    "status": "active",
    "created_subject": False,
    "idp": "e_license",
    "binding_id": "bdk2v7q3pwhtd6yxamz4l",
    "profile": {"introduction": "榆林本地商贸企业", "website": "https://example.com"},
    "profile_public": True,
    "registered_at": AT,
    "withdrawn_at": None,
}


class SelfRegistration(Answer):
    """A subject's 自愿注册 and its self-declared profile, as the subject (or the window)
    sees it."""

    id: str = Field(description="Registration id.")
    subject_id: str = Field(description="The subject.")
    subject_name: str = Field(description="Its name.")
    status: Literal["active", "withdrawn"] = Field(description="`active` or `withdrawn`.")
    created_subject: bool = Field(
        description="The platform created the organisation's archive from this registration."
    )
    idp: str = Field(description="The identity provider that vouched.")
    binding_id: str = Field(description="The account's binding to the subject.")
    profile: dict[str, str] = Field(
        description="Declared fields: `introduction`, `business_scope`, `website`, "
        "`service_phone`, `service_address` (the last two organisations only)."
    )
    profile_public: bool = Field(
        description="True: shown on the public archive (organisations); false: to the "
        "subject only (persons, 个体工商户, 农户)."
    )
    registered_at: Instant = Field(description="When registered (again, after a withdrawal).")
    withdrawn_at: Instant | None = Field(description="When withdrawn.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _REGISTRATION,
                {
                    **_REGISTRATION,
                    "status": "withdrawn",
                    "withdrawn_at": "2026-11-26T02:00:00+00:00",
                },
            ]
        }
    )


class SelfDisclosureList(Answer):
    """The credit office's queue, or a bound subject's own disclosures."""

    count: int = Field(description="Number of items.")
    items: list[SelfDisclosure] = Field(description="Oldest first (at most 1,000).")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 1, "items": [DISCLOSURE_EXAMPLE]}]}
    )
