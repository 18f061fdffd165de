"""Per-client rate limits (security.md G29), before a request reaches the audit trail or a handler.

Groups:

* ``auth`` — password login, the second factor and password change (each runs Argon2id, 64 MiB
  by default): ``security.auth_rate_per_minute``;
* ``signup`` — self-service sign-up: ``security.signup_rate_per_hour``;
* ``export`` — starting a 双公示 export (a full scan of the period's records):
  ``security.export_rate_per_hour``;
* ``public`` — every other request, unless it comes from staff: portal pages, public lookups,
  public lists, ledger bundles: ``security.public_rate_per_minute``. Not counted: static files,
  ``/healthz`` and the ledger's checkpoint and proofs — log monitors must always be able to read
  faster than the log grows, so those stay unlimited.

Who is staff, and what a credential costs (security audit D8). Only requests of *staff* — a
department (token or staff account), the credit office, the three administrators — are outside
the public window: they are identified, vetted and audited. Self-service and other subject-side
accounts (enterprise agents, natural persons, financial institutions, credit service agencies)
count in the public window **of their client address**, like the anonymous public: sign-up is
open, so an account proves nothing about who asks, and counting per account would let one
address multiply its allowance by opening accounts. The limiter learns what a credential is from
the request it rode on (the principal that ``web.deps.get_principal`` left in the request
state) and remembers it in the process, under a digest of the credential, for
``CREDENTIAL_MEMORY_SECONDS`` after it last resolved:

* a credential known to be staff's: not counted;
* a credential known to be a subject-side account's: counted in the client's ``public`` window
  before the request runs (429 when it is full);
* a credential not (yet) known — a made-up token, a new session, a staff member's first request
  to this process — counts in the client's ``credentials`` window (the same size as the public
  one) before the request runs; afterwards, unless it turned out to be staff's, it is counted in
  the client's ``public`` window too. A made-up token on a route that never resolves a principal
  is thus limited like the public, and a fresh session per request gains nothing; a client
  holding credentials gets at most one more public allowance per window than the anonymous
  public, never an unlimited one. The separate window keeps staff at an address whose public
  window is full (a shared office network) from being refused before their credential is known.

Credentials that authentication refuses as unknown (a token that does not exist or was revoked,
a session cookie that names no session) count in the client's ``auth`` window
(`credential_failed`, called by ``web.deps.get_principal``); once that window is full, every
request of the client that carries credentials gets 429 until it ends — a flood of made-up
tokens costs one dictionary lookup each, not a database read.

A fixed window per (group, client address). One server process counts in a dict; the workers of
`citycredit serve --workers N` (web/serve.py) count in one table they share — a file in shared
memory that each worker maps, guarded by ``flock`` (released by the kernel if a worker dies), so
a client gets the limit once, not N times, whichever worker its connections land on (ADR 0010).
A deployment behind several hosts puts the same limit on its reverse proxy. Over the limit the
answer is 429 with
``Retry-After`` and a Chinese message, before anything touches the database: a flood writes no
audit rows, hashes no password and reads no record. The client address is the socket's peer;
behind a reverse proxy configure the proxy to limit (or to pass a trusted address, which this
module does not read). 0 turns a limit off; the lockout of an account after failed logins (G3)
is separate and still applies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from citycredit.accounts.auth import SESSION_COOKIE
from citycredit.accounts.model import ADMIN_ROLES, Principal, Role
from citycredit.bootstrap import Container
from citycredit.web.ratewindows import Counts, LocalCounts, shared_counts

log = logging.getLogger(__name__)

AUTH, SIGNUP, EXPORT, PUBLIC = "auth", "signup", "export", "public"
CREDENTIALS = "credentials"  # requests whose credential this process does not know yet
# Principals outside the public window (see the module docstring).
STAFF_ROLES: frozenset[Role] = frozenset({Role.department_staff, Role.credit_office_admin}) | (
    ADMIN_ROLES
)
CREDENTIAL_MEMORY_SECONDS = 600  # how long a credential's kind is remembered after it resolved
CREDENTIAL_MEMORY_SIZE = 8192  # credentials remembered per process (then forgotten at once)
STAFF, LIMITED = "staff", "limited"
# (method, path) → route group
GROUPS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): AUTH,
    ("POST", "/api/v1/auth/totp"): AUTH,
    ("POST", "/api/v1/auth/password"): AUTH,
    ("POST", "/api/v1/accounts/sign-up"): SIGNUP,
    ("POST", "/api/v1/exports/dual-publicity"): EXPORT,
}
STATE_KEY = "rate_limiter"  # the limiter, in each request's scope["state"]
# Authentication refusals that count as a failed credential (not expiry or a disabled account).
CREDENTIAL_FAILURES = frozenset({"invalid_token", "session_invalid"})
# Requests without credentials that are never counted (see the module docstring).
UNCOUNTED_PATHS = frozenset({"/healthz", "/static", "/api/v1/ledger/checkpoint"})
UNCOUNTED_PREFIXES = ("/static/", "/api/v1/ledger/proofs/")
_SESSION = SESSION_COOKIE.encode()

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimiter:
    """Fixed windows per (group, client) on the container's clock."""

    def __init__(self, container: Container, counts: Counts | None = None) -> None:
        self.c = container
        self.counts: Counts = counts if counts is not None else LocalCounts()
        # digest of a credential → (STAFF | LIMITED, remembered until): this process only
        self.kinds: dict[bytes, tuple[str, float]] = {}

    def limit(self, group: str) -> tuple[int, int]:
        """(requests allowed, window seconds) of a group; 0 requests = unlimited."""
        policy = self.c.settings.security
        if group == SIGNUP:
            return policy.signup_rate_per_hour, 3600
        if group == EXPORT:
            return policy.export_rate_per_hour, 3600
        if group in (PUBLIC, CREDENTIALS):
            return policy.public_rate_per_minute, 60
        return policy.auth_rate_per_minute, 60

    def hit(self, group: str, client: str) -> int | None:
        """Count one request; the seconds to wait when it is over the limit, else None."""
        return self._window(group, client, count=True)

    def over(self, group: str, client: str) -> int | None:
        """The seconds to wait when the client's current window is already full (not counted)."""
        return self._window(group, client, count=False)

    def _window(self, group: str, client: str, *, count: bool) -> int | None:
        allowed, window = self.limit(group)
        if allowed <= 0:
            return None
        now = self.c.clock.now().timestamp()
        start = math.floor(now / window) * window
        used = self.counts.add(f"{group}\x00{client}", start, window, 1 if count else 0, now)
        if used > allowed or (not count and used >= allowed):
            return max(1, math.ceil(start + window - now))
        return None

    def credential_failed(self, client: str) -> None:
        """Authentication refused a made-up or revoked credential from this client."""
        self.hit(AUTH, client)

    def known(self, credential: bytes) -> str | None:
        """`STAFF` or `LIMITED` for a credential that resolved lately, else None."""
        entry = self.kinds.get(credential)
        if entry is None:
            return None
        kind, until = entry
        if until <= self.c.clock.now().timestamp():
            self.kinds.pop(credential, None)
            return None
        return kind

    def learn(self, credential: bytes, principal: Principal | None) -> str | None:
        """Remember what a credential turned out to be (None: the request resolved no principal,
        or authentication refused it — nothing learnt). Returns the kind learnt."""
        if principal is None:
            return None
        kind = STAFF if principal.role in STAFF_ROLES and not principal.console else LIMITED
        if len(self.kinds) >= CREDENTIAL_MEMORY_SIZE and credential not in self.kinds:
            self.kinds.clear()  # rare: cheaper than an LRU, and only costs counts
        self.kinds[credential] = (kind, self.c.clock.now().timestamp() + CREDENTIAL_MEMORY_SECONDS)
        return kind


class RateLimitMiddleware:
    """Pure ASGI: answers 429 before the request reaches the audit trail or a handler."""

    def __init__(self, app: App, container: Container) -> None:
        self.app = app
        self.limiter = RateLimiter(container, shared_counts())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = self.limiter
        credential = _credential(scope)
        group = group_of(scope, credential is not None)
        client = client_of(scope)
        known: str | None = None
        if group is not None:
            wait = self.limiter.hit(group, client)
            credential = None  # its own group's limit; nothing to learn
        elif credential is not None:
            wait = self.limiter.over(AUTH, client)
            if wait is not None or _uncounted(scope["path"]):
                credential = None
            else:
                known = self.limiter.known(credential)
                if known == LIMITED:
                    wait = self.limiter.hit(PUBLIC, client)
                elif known is None:
                    wait = self.limiter.hit(CREDENTIALS, client)
        else:
            wait = None
        if wait is not None:
            log.warning("rate limited: %s %s from %s", scope["method"], scope["path"], client)
            await _too_many(send, wait, html=not scope["path"].startswith("/api/"))
            return
        if credential is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            # learnt again each time it resolves: a revoked or changed credential is forgotten
            # at most CREDENTIAL_MEMORY_SECONDS after it last resolved
            learnt = self.limiter.learn(credential, scope["state"].get("principal"))
            if known is None and learnt != STAFF:
                self.limiter.hit(PUBLIC, client)  # not staff's: the public's allowance


def client_of(scope: Scope) -> str:
    """The key a client is counted under: the socket peer's address."""
    return (scope.get("client") or ("unknown", 0))[0]


def group_of(scope: Scope, credentials: bool | None = None) -> str | None:
    """The limited group of an HTTP request, or None when it is not limited.

    ``credentials``: whether the request carries any (`_credentials`), when already known.
    """
    group = GROUPS.get((scope["method"], scope["path"]))
    if group is not None:
        return group
    if _uncounted(scope["path"]):
        return None
    if credentials if credentials is not None else _credentials(scope):
        return None  # the middleware counts it once it knows whose it is
    return PUBLIC


def _uncounted(path: str) -> bool:
    return path in UNCOUNTED_PATHS or path.startswith(UNCOUNTED_PREFIXES)


def _credentials(scope: Scope) -> bool:
    """Whether the request presents a bearer token or a session cookie (valid or not)."""
    return _credential(scope) is not None


def _credential(scope: Scope) -> bytes | None:
    """A digest of the request's credentials (the Authorization header and the session cookie
    together), or None when it presents neither. Only the digest is kept in memory."""
    authorization = b""
    session = b""
    for name, value in scope.get("headers") or ():
        if name == b"authorization" and value.strip():
            authorization = value.strip()
        elif name == b"cookie":
            for part in value.split(b";"):
                key, _, cookie = part.strip().partition(b"=")
                if key == _SESSION and cookie:
                    session = cookie
    if not authorization and not session:
        return None
    return hashlib.blake2b(authorization + b"\x00" + session, digest_size=16).digest()


async def _too_many(send: Send, wait: int, *, html: bool = False) -> None:
    """429 with Retry-After: JSON for the API, a short Chinese page for the portal's pages."""
    message = f"请求过于频繁，请 {wait} 秒后再试"
    if html:
        body = (
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>请求过于频繁</title></head><body><p>{message}</p></body></html>"
        ).encode()
        kind = b"text/html; charset=utf-8"
    else:
        body = json.dumps(
            {"error": "rate_limited", "message": message}, ensure_ascii=False
        ).encode()
        kind = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", kind),
                (b"retry-after", str(wait).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
