"""FastAPI application assembly: routers, error mapping, the job scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy import text

from citycredit.accounts.audit import record_policy_if_changed
from citycredit.bootstrap import Container
from citycredit.catalog.loader import default_catalog
from citycredit.db import durability, storage
from citycredit.kernel.jobs import LANES, run_due
from citycredit.ledger.mmd import sequence_pending
from citycredit.lists import default_lists
from citycredit.shared import person_names, selftest
from citycredit.web import (
    account_pages,
    alarms_api,
    api,
    apidocs,
    audit,
    auth_api,
    checks_api,
    evaluation_api,
    exports_api,
    ledger_api,
    ledger_pages,
    lists_api,
    logfilter,
    pages,
    privacy_api,
    reports_api,
    rights_api,
    security_policy_api,
    selfservice_api,
    sharing_api,
    withhold_api,
)
from citycredit.web.errors import install_error_handlers
from citycredit.web.ratelimit import RateLimitMiddleware

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


async def _scheduler(c: Container, interval: int, lane: str) -> None:
    """Run the lane's due jobs forever (in a worker thread, so requests are never blocked). One
    loop per lane (kernel.jobs): a long batch does not hold up the prompt sweeps."""
    while True:
        try:
            await asyncio.to_thread(run_due, c, lane=lane)
        except Exception:  # keep the scheduler alive; each failure is logged and in job_runs
            log.exception("scheduled jobs of lane %s failed", lane)
        await asyncio.sleep(interval)


async def _sequencer(c: Container, interval: float) -> None:
    """Sequence pending ledger entries forever, to keep the declared merge delay (docs/ledger.md
    "Merge delay"); in a worker thread, a failure logged and retried on the next round."""
    while True:
        try:
            await asyncio.to_thread(sequence_pending, c)
        except Exception:  # keep the loop alive; the sequencer's own alarms say why
            log.exception("ledger sequencer failed")
        await asyncio.sleep(interval)


def _preload() -> None:
    default_catalog()
    default_lists()


TITLE = "citycredit 公共信用信息平台"
API_DOCS_STATIC = "/static/apidocs"  # Swagger UI and ReDoc files (development and integration)


def create_app(container: Container, *, scheduler: bool = True) -> FastAPI:
    """Build the app around a container (tests pass their own)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Every log record of the process, whichever logger and handler: no ID or phone number.
        logfilter.install()
        # G24: durability settings read back; a production server does not start without them.
        durability.enforce(
            container.engine, production=container.settings.environment == "production"
        )
        selftest.power_on_self_test()  # G17: crypto known answers, or CRITICAL and no start
        # The package's catalog and lists are parsed once per process (lru_cache); parse them
        # before the first request, not in every worker thread that the first burst of
        # requests starts at once (the cache does not lock: each would parse the YAML).
        await asyncio.to_thread(_preload)
        if container.settings.mask_names_in_public_text:
            # G30: the name recogniser's dictionary (~1 s, ~100 MB) loads now, not on the first
            # public read of the process.
            await asyncio.to_thread(person_names.warm_up)
        # The personal-data key ring must be this database's (privacy.keycheck): a wrong or
        # regenerated ring stops the server here, before any request is sealed or looked up.
        await asyncio.to_thread(lambda: container.personal_codec)
        # G3: the stored overrides of the security policy are applied, and a change of the
        # environment's policy is recorded in the audit trail once, before any request (if the
        # database cannot take it now, the audit middleware retries on the first request).
        try:
            await asyncio.to_thread(record_policy_if_changed, container)
            _app.state.security_policy_recorded = True
        except Exception:
            log.exception("could not record the security policy at start; retried on a request")
        if container.settings.gc_freeze:
            gc.collect()
            gc.freeze()
        tasks: list[asyncio.Task[None]] = []
        interval = container.settings.job_interval_seconds
        if scheduler and interval > 0:
            tasks += [asyncio.create_task(_scheduler(container, interval, lane)) for lane in LANES]
        if scheduler and container.settings.ledger_sequence_seconds > 0:
            tasks.append(
                asyncio.create_task(
                    _sequencer(container, container.settings.ledger_sequence_seconds)
                )
            )
        try:
            yield
        finally:
            if container.settings.gc_freeze:
                gc.unfreeze()  # what the process keeps after the app can be collected again
            for t in tasks:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    # The interactive API docs are for development and integration; a production server does
    # not publish its whole API surface to every visitor (no debug endpoints, 等保 入侵防范).
    # FastAPI's own pages load Swagger UI and ReDoc from a CDN, which a government network does
    # not reach; fastapi-offline serves the same pages from files packaged with it.
    docs = container.settings.environment != "production"
    app = (
        FastAPIOffline(
            title=TITLE,
            version="0.1.0",
            lifespan=lifespan,
            docs_url="/docs",
            redoc_url="/redoc",
            static_url=API_DOCS_STATIC,
        )
        if docs
        else FastAPI(
            title=TITLE,
            version="0.1.0",
            lifespan=lifespan,
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
    )
    app.state.container = container
    install_error_handlers(app)
    # Routing tries the routes in the order they were added, one by one (~5 µs each): the
    # hot API goes first — credit checks (called per approval), then the subject API.
    app.include_router(checks_api.router)
    app.include_router(api.router)
    auth_api.install(app)  # login, sessions, bindings, account administration
    audit.install(app)  # operator audit trail: middleware + GET /api/v1/audit
    alarms_api.install(app)  # system alarms (G25): /api/v1/admin/alarms, incident end
    app.include_router(security_policy_api.router)  # the security administrator's policy (G3)
    # outermost: a flood of logins or sign-ups is refused before it writes audit rows
    app.add_middleware(RateLimitMiddleware, container=container)
    app.include_router(ledger_api.router)
    app.include_router(lists_api.router)
    app.include_router(privacy_api.router)  # clear personal values, blind-index lookup
    app.include_router(evaluation_api.router)
    app.include_router(exports_api.router)
    app.include_router(rights_api.router)
    app.include_router(selfservice_api.router)  # sign-up, 自愿注册, 自主公示
    app.include_router(sharing_api.router)
    app.include_router(withhold_api.router)  # 不予公示 / 恢复公示 (G31)
    app.include_router(reports_api.router)
    app.include_router(pages.router)
    app.include_router(reports_api.pages)
    app.include_router(ledger_pages.router)
    app.include_router(account_pages.router)  # 信用账户: login, own archive, objections
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness and storage state: the database answers; a recent storage-full alert."""
        with container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        full = storage.status()  # G25: a write refused for lack of space in the last minutes
        return {"status": "degraded" if full["storage_full"] else "ok", "storage": full}

    apidocs.describe_routes(app)
    return app
