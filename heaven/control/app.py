"""The controller's app factory: nothing is created at import time.

``create_app(settings)`` wires the store, the scheduler loop, the driver for
agents of the original protocol, the routers and the error handlers.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import heaven
from heaven.config import ControllerSettings
from heaven.control import errors
from heaven.control.auth import Authenticator
from heaven.control.body_limit import BodyLimit
from heaven.control.legacy_driver import LegacyDriver
from heaven.control.metrics import RequestTimer
from heaven.control.pools.loop import Autoscaler
from heaven.control.ratelimit import TokenBucket, WriteLimit
from heaven.control.replicas import MISSED, ReplicaBus
from heaven.control.routers import (agents, auth, clusters, dashboard, deployments, events, jobs, join_tokens, legacy,
                                    metrics, nodes, organizations, report, root_api, root_deployments)
from heaven.control.leadership import libpq_url
from heaven.control.runtime import Controller
from heaven.control.signing_key import signing_key
from heaven.control.tokens import AccessTokens
from heaven.control.submit_batcher import SubmitBatcher
from heaven.store.engine import Store

STATIC = Path(heaven.__file__).parent / "web" / "static"


def leader_loops(ctl: Controller, autoscaler: Autoscaler | None) -> list[Coroutine]:
    """The loops that decide for the whole cluster and so must run on one replica only: the
    scheduler and the autoscaler. Every replica starts them; each acts only while its replica
    holds the leadership (``ctl.leadership``) and waits otherwise."""
    return [ctl.run(), *([autoscaler.run()] if autoscaler is not None else [])]


def create_app(settings: ControllerSettings | None = None, store: Store | None = None,
               clock: Callable[[], float] = time.time) -> FastAPI:
    """``clock`` is the one clock of the app: the scheduler, tokens and the rate limit (tests move it)."""
    settings = settings or ControllerSettings()
    store = store or Store(settings.database_url)
    store.migrate()
    ctl = Controller(settings, store, clock)
    legacy_driver = LegacyDriver(ctl)
    submits = SubmitBatcher(ctl)
    autoscaler = Autoscaler(ctl, settings) if settings.pools else None
    access = AccessTokens(signing_key(settings), settings.access_token_minutes * 60, clock)
    authenticator = Authenticator(store, access, clock, settings.auth_cache_seconds)
    bus = _replica_bus(ctl, authenticator) if store.engine.dialect.name == "postgresql" else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        tasks = [asyncio.create_task(ctl.leadership.run()),
                 *(asyncio.create_task(loop) for loop in leader_loops(ctl, autoscaler)),
                 asyncio.create_task(legacy_driver.run()), asyncio.create_task(submits.run())]
        if bus is not None:
            tasks.append(asyncio.create_task(bus.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await legacy_driver.close()
            store.dispose()

    app = FastAPI(title="Hot-Plug Heaven", version=heaven.__version__, lifespan=lifespan)
    app.state.controller = ctl
    app.state.legacy = legacy_driver
    app.state.autoscaler = autoscaler
    app.state.submits = submits
    app.state.auth = authenticator
    app.state.auth_limiter = TokenBucket(settings.auth_rate_per_minute, clock)
    app.state.metrics = ctl.metrics
    app.add_middleware(RequestTimer, metrics=ctl.metrics, clock=time.perf_counter)
    writes = TokenBucket(settings.write_rate_per_minute, clock) if settings.write_rate_per_minute else None
    app.add_middleware(WriteLimit, limiter=writes)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)  # outermost: before anything reads a body
    errors.install(app)
    for module in (auth, organizations, join_tokens, jobs, deployments, nodes, clusters, agents, events, dashboard,
                   metrics, report, legacy, root_api, root_deployments):
        app.include_router(module.router)

    generated = app.openapi

    def openapi() -> dict:  # once, as FastAPI's own: with the bodies /register dispatches on
        return app.openapi_schema or errors.errors_are_json(root_api.document(generated()))

    app.openapi = openapi

    @app.get("/health", tags=["health"])
    def health() -> dict:
        return {"status": "ok", "cycles": ctl.cycles, "leader": ctl.leadership.is_leader,
                "epoch": ctl.leadership.epoch}

    @app.get("/", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/status", include_in_schema=False)
    def status_page() -> FileResponse:
        """The original dashboard's page over GET /summary (where the original protocol is served)."""
        return FileResponse(STATIC / "status.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    return app


def _replica_bus(ctl: Controller, auth: Authenticator) -> ReplicaBus:
    """PostgreSQL: the notices between replicas (heaven.control.replicas), wired both ways."""
    def received(kind: str, items: list) -> None:
        if kind == MISSED:  # the listener reconnected: whatever was sent meanwhile is lost
            auth.cache.forget_here()
            ctl.changes.ring_here()
            ctl.wake_here()
        elif kind == "wake":
            ctl.wake_here()
        elif kind == "callers":
            auth.cache.forget_here()
        elif kind == "nodes":
            ctl.notifier.touch_here(str(n) for n in items)
        elif kind == "jobs":
            ctl.watchers.changed_here(int(j) for j in items if isinstance(j, int))
        elif kind == "view":
            ctl.changes.ring_here()

    bus = ReplicaBus(libpq_url(ctl.store), received)
    ctl.relay_wake = lambda: bus.publish("wake")
    ctl.notifier.relay = lambda nodes: bus.publish("nodes", nodes)
    ctl.watchers.relay = lambda ids: bus.publish("jobs", ids)
    ctl.changes.relay = lambda _keys: bus.publish("view")
    auth.cache.relay = lambda: bus.publish("callers")
    return bus
