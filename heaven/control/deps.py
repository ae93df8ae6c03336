"""Typed FastAPI dependencies."""
from __future__ import annotations

from fastapi import Request

from heaven.control.auth import Authenticator
from heaven.control.runtime import Controller


def controller(request: Request) -> Controller:
    return request.app.state.controller


def authenticator(request: Request) -> Authenticator:
    return request.app.state.auth
