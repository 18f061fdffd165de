"""Identity providers that vouch for a binding (OIDC-style; 陕西政务服务网, 电子营业执照).

A provider verifies an id_token-like assertion — issuer, audience, expiry, signature, the nonce
the platform issued for this account — and answers who the holder is: an organisation by its
USCC (a legal representative signing in with the 电子营业执照) or a natural person by the keyed
digest of the resident ID number (the number itself never leaves the adapter), with an assurance
level (1 low, 2 substantial, 3 high). Real adapters (OIDC discovery, JWKS, the provinces' own
SDKs) plug in as `Container.identity_providers[name]`; `FakeIdentityProvider` signs HS256-style
tokens for tests and demos and is never registered in production by the platform itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from citycredit.shared.errors import FieldError
from citycredit.shared.ids import parse_id_number, parse_uscc

SubjectKind = Literal["organisation", "natural_person"]


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a provider vouches for, after checking the assertion."""

    issuer: str
    kind: SubjectKind
    uscc: str | None  # organisations
    id_digest: str | None  # natural persons: HMAC of the ID number under the deployment key
    name: str | None
    assurance: int
    nonce: str


class IdentityProvider(Protocol):
    """An identity provider adapter."""

    name: str  # stable key, e.g. "shaanxi_gov", "e_license"
    label: str  # shown to users, e.g. "陕西政务服务网"

    def verify(
        self, id_token: str, *, now: datetime, digest: Callable[[str], str]
    ) -> VerifiedIdentity:
        """Check the assertion; raise FieldError('id_token', …) when it is not acceptable.

        ``digest`` turns a resident ID number into the platform's keyed digest.
        """
        ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bad(token: str, message: str) -> FieldError:
    shown = token if len(token) <= 16 else token[:16] + "…"
    return FieldError("id_token", shown, "invalid_assertion", message)


@dataclass
class FakeIdentityProvider:
    """A stand-in for an OIDC provider: HMAC-SHA256-signed JSON claims (tests, demos)."""

    name: str = "fake"
    label: str = "测试身份提供方"
    issuer: str = "https://idp.example.test"
    audience: str = "citycredit"
    key: bytes = b"fake-idp-signing-key-for-tests-only"

    def issue(
        self,
        *,
        nonce: str,
        now: datetime,
        uscc: str | None = None,
        id_number: str | None = None,
        name: str | None = None,
        assurance: int = 3,
        lifetime_seconds: int = 300,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> str:
        """A signed assertion as the provider would return it after the user signed in."""
        iat = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "iat": iat,
            "exp": iat + lifetime_seconds,
            "nonce": nonce,
            "acr": str(assurance),
            "name": name,
        }
        if uscc:
            claims["uscc"] = uscc
        if id_number:
            claims["id_number"] = id_number
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, ensure_ascii=False).encode())
        sig = hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(sig)}"

    def verify(
        self, id_token: str, *, now: datetime, digest: Callable[[str], str]
    ) -> VerifiedIdentity:
        parts = (id_token or "").split(".")
        if len(parts) != 3:
            raise _bad(id_token, "身份断言格式不正确")
        header, body, sig = parts
        expected = hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        try:
            given = _unb64(sig)
            claims = json.loads(_unb64(body))
        except (ValueError, json.JSONDecodeError) as exc:
            raise _bad(id_token, "身份断言无法解析") from exc
        if not hmac.compare_digest(expected, given):
            raise _bad(id_token, "身份断言签名无效")
        if claims.get("iss") != self.issuer:
            raise _bad(id_token, f"身份断言的签发方不是 {self.label}")
        if claims.get("aud") != self.audience:
            raise _bad(id_token, "身份断言不是签发给本平台的")
        ts = int(now.astimezone(UTC).timestamp())
        if not isinstance(claims.get("exp"), int) or claims["exp"] < ts:
            raise _bad(id_token, "身份断言已过期")
        if not isinstance(claims.get("iat"), int) or claims["iat"] > ts + 60:
            raise _bad(id_token, "身份断言的签发时间无效")
        try:
            assurance = int(claims.get("acr", "0"))
        except ValueError as exc:
            raise _bad(id_token, "身份断言的认证等级无效") from exc
        if claims.get("uscc"):
            uscc = parse_uscc(str(claims["uscc"]), field="uscc").value
            return VerifiedIdentity(
                self.name,
                "organisation",
                uscc,
                None,
                claims.get("name"),
                assurance,
                str(claims.get("nonce", "")),
            )
        if claims.get("id_number"):
            try:
                number = parse_id_number(str(claims["id_number"]), field="id_number").value
            except FieldError as exc:  # never echo the number itself
                raise _bad(id_token, "身份断言中的身份证号无效") from exc
            return VerifiedIdentity(
                self.name,
                "natural_person",
                None,
                digest(number),
                claims.get("name"),
                assurance,
                str(claims.get("nonce", "")),
            )
        raise _bad(id_token, "身份断言未包含统一社会信用代码或身份证号")
