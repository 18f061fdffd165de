"""Per-client rate limits on the routes that cost the server most for an anonymous caller:
password login, the second factor, password change and self-service sign-up (each runs
Argon2id, 64 MiB by default) — security.md G29.

A fixed window per (route group, client address), counted in the process (each server worker
keeps its own count, so with N workers a client gets at most N × the limit; a deployment behind
several hosts puts the same limit on its reverse proxy). Over the limit the answer is 429 with
``Retry-After`` and a Chinese message, before anything touches the database: a flood writes no
audit rows and hashes no password. The client address is the socket's peer; behind a reverse
proxy configure the proxy to limit (or to pass a trusted address, which this module does not
read). Limits are settings (``security.auth_rate_per_minute``, ``security.signup_rate_per_hour``;
0 turns one off); the lockout of an account after failed logins (G3) is separate and still
applies.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from citycredit.bootstrap import Container

log = logging.getLogger(__name__)

# (method, path) → route group
GROUPS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): "auth",
    ("POST", "/api/v1/auth/totp"): "auth",
    ("POST", "/api/v1/auth/password"): "auth",
    ("POST", "/api/v1/accounts/sign-up"): "signup",
}
_PRUNE_EVERY = 1000

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimiter:
    """Fixed windows per (group, client) on the container's clock."""

    def __init__(self, container: Container) -> None:
        self.c = container
        self.windows: dict[tuple[str, str], tuple[float, int]] = {}
        self.seen = 0

    def limit(self, group: str) -> tuple[int, int]:
        """(requests allowed, window seconds) of a group; 0 requests = unlimited."""
        policy = self.c.settings.security
        if group == "signup":
            return policy.signup_rate_per_hour, 3600
        return policy.auth_rate_per_minute, 60

    def hit(self, group: str, client: str) -> int | None:
        """Count one request; the seconds to wait when it is over the limit, else None."""
        allowed, window = self.limit(group)
        if allowed <= 0:
            return None
        now = self.c.clock.now().timestamp()
        start = math.floor(now / window) * window
        key = (group, client)
        began, count = self.windows.get(key, (start, 0))
        if began != start:
            began, count = start, 0
        count += 1
        self.windows[key] = (began, count)
        self.seen += 1
        if self.seen % _PRUNE_EVERY == 0:
            self._prune(now)
        if count > allowed:
            return max(1, math.ceil(began + window - now))
        return None

    def _prune(self, now: float) -> None:
        for key, (began, _) in list(self.windows.items()):
            if began + self.limit(key[0])[1] <= now:
                del self.windows[key]


class RateLimitMiddleware:
    """Pure ASGI: answers 429 before the request reaches the audit trail or a handler."""

    def __init__(self, app: App, container: Container) -> None:
        self.app = app
        self.limiter = RateLimiter(container)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            group = GROUPS.get((scope["method"], scope["path"]))
            if group is not None:
                client = (scope.get("client") or ("unknown", 0))[0]
                wait = self.limiter.hit(group, client)
                if wait is not None:
                    log.warning(
                        "rate limited: %s %s from %s", scope["method"], scope["path"], client
                    )
                    await _too_many(send, wait)
                    return
        await self.app(scope, receive, send)


async def _too_many(send: Send, wait: int) -> None:
    body = json.dumps(
        {"error": "rate_limited", "message": f"请求过于频繁，请 {wait} 秒后再试"},
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(wait).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
