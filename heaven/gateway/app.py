"""The gateway's HTTP routes, as the container orchestrator it replaces answered them.

- ``POST /submit {operation, data}`` -> ``{job_id: "JOB-…", worker_id: "Worker-Core-N",
  result, time_taken: "1.24s"}`` (time_taken: from receipt to answer, at the gateway);
- ``GET /status`` -> ``{status: "running", worker_count, workers: [{core_id, container_id,
  host_port, cpu_usage: "45.2%", is_healthy}]}``, the workers that have a core and a port
  (``container_id``: the worker's deployment id, as text);
- ``GET /health`` -> ``OK`` (plain text);
- ``GET /metrics`` (this product's addition): the estimator's learned lines and errors, every
  spawn and retirement with its reason, and the placements the benchmark checks.

Errors have the project's shape ``{"error", "message", "field"}``: 400 for invalid JSON, a
missing ``operation``, an unknown one or bad ``data``; 404 and 405 for a wrong path or
method; 503 when no core can be had; 502 when a worker failed the call.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from heaven.client.http import Client
from heaven.config import GatewaySettings
from heaven.gateway.operations import InvalidInput, registry
from heaven.gateway.pool import NoCore, Pool, WorkerFailed

STATUS_WORDS = {404: "not_found", 405: "method_not_allowed"}


def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "field": field}, status_code=status)


def create_gateway_app(controller: Client, settings: GatewaySettings) -> FastAPI:
    operations = registry()
    pool = Pool(controller, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        loop = asyncio.create_task(pool.run())
        try:
            yield
        finally:
            pool.stopping = True
            loop.cancel()
            await pool.close()

    app = FastAPI(title="Hot-Plug Heaven gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.pool = pool

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            allowed = {"/submit": "POST"}.get(request.url.path, "GET")
            return error(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}; "
                                                    f"use {allowed}")
        return error(exc.status_code, STATUS_WORDS.get(exc.status_code, "http_error"),
                     f"no route {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail))

    @app.post("/submit")
    async def submit(request: Request) -> JSONResponse:
        began = time.perf_counter()
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            return error(400, "invalid_json", f"the body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return error(400, "invalid_json", "the body must be a JSON object {operation, data}")
        name = body.get("operation")
        if name is None or name == "":
            return error(400, "missing_field", "operation is required, e.g. monte_carlo_pi", "operation")
        if not isinstance(name, str) or name not in operations:
            return error(400, "unknown_operation", f"unknown operation {name!r}; known: {', '.join(sorted(operations))}",
                         "operation")
        data = body.get("data", {})
        if not isinstance(data, dict):
            return error(400, "invalid_field", "data must be a JSON object", "data")
        try:
            units = operations[name].size(data)
        except InvalidInput as exc:
            return error(400, "invalid_field", exc.message, exc.field)
        try:
            worker, result, _seconds = await pool.call(name, operations[name], data, units)
        except NoCore as exc:
            return error(503, "no_core", str(exc))
        except WorkerFailed as exc:
            return error(502, "worker_failed", str(exc))
        except asyncio.CancelledError:  # the server stops with this call unanswered: say so, quietly
            return error(503, "stopping", "the gateway stopped before the call ended")
        return JSONResponse({"job_id": f"JOB-{uuid.uuid4().hex[:8].upper()}", "worker_id": worker.name,
                             "result": result, "time_taken": f"{time.perf_counter() - began:.2f}s"})

    @app.get("/status")
    async def status() -> JSONResponse:
        shown = [w for w in pool.workers.values() if w.cores and w.port]
        return JSONResponse({"status": "running", "worker_count": len(shown), "workers": [
            {"core_id": w.core_id, "container_id": str(w.key), "host_port": w.port,
             "cpu_usage": f"{w.measured:.1f}%", "is_healthy": w.healthy} for w in shown]})

    @app.get("/health", response_class=PlainTextResponse)
    async def health() -> PlainTextResponse:
        return PlainTextResponse("OK")

    @app.get("/metrics")
    async def metrics() -> JSONResponse:
        return JSONResponse({
            "estimator": pool.estimator.report(),
            "scaling": list(pool.scaling),
            "workers": [{"name": w.name, "deployment": w.key, "ready": w.ready, "healthy": w.healthy,
                         "projected_cpu": round(w.load, 2), "measured_cpu": w.measured, "running": len(w.in_flight),
                         "spawn_reason": w.reason} for w in pool.workers.values()],
            "placements": list(pool.placements),
            "runs": list(pool.runs),
            "limits": {"MAX_CPU_THRESHOLD": settings.max_cpu_threshold, "PRESPAWN_THRESHOLD": settings.prespawn_threshold,
                       "INITIAL_WORKERS": settings.initial_workers, "MAX_WORKERS": settings.max_workers,
                       "WORKER_CORES": settings.worker_cores, "COOLDOWN": settings.cooldown},
        })

    return app
