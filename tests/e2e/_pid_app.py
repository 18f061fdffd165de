"""A tiny ASGI app for tests/e2e/test_serve_workers.py: answers with the worker serving it."""

from __future__ import annotations

import json
import os
from typing import Any


def app() -> Any:
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = json.dumps(
            {"pid": os.getpid(), "worker": os.environ.get("CITYCREDIT_WORKER_INDEX")}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return asgi


def broken() -> Any:
    raise RuntimeError("this factory fails on purpose")
