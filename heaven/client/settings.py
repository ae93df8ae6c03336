"""Where the client finds its controller: ``HEAVEN_URL`` and ``HEAVEN_TOKEN``.

Two variables read from the environment directly (not pydantic-settings, which the
controller's and agent's settings use): every CLI command reads them, and importing
pydantic-settings cost a command about 100 ms of its start-up on this machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_URL = "http://127.0.0.1:8000"


def _env(name: str) -> str | None:
    """Case-insensitive, as pydantic-settings reads ``HEAVEN_*`` for the other settings."""
    for key, value in os.environ.items():
        if key.upper() == name:
            return value
    return None


@dataclass(frozen=True)
class ClientSettings:
    # One controller, or several replicas URL1,URL2: the next is tried when one is unreachable.
    url: str = field(default_factory=lambda: _env("HEAVEN_URL") or DEFAULT_URL)
    token: str | None = field(default_factory=lambda: _env("HEAVEN_TOKEN") or None)  # instead of `heaven login`'s
