"""Typed FastAPI dependencies. Async where they do no I/O: FastAPI runs a plain ``def``
dependency on a worker thread, a hop that costs every request under load."""
from __future__ import annotations

from fastapi import Request

from heaven.control.auth import Authenticator
from heaven.control.runtime import Controller


async def controller(request: Request) -> Controller:
    return request.app.state.controller


async def authenticator(request: Request) -> Authenticator:
    return request.app.state.auth
