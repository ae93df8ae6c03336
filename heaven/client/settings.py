"""Where the client finds its controller: ``heaven --controller``, else ``HEAVEN_URL``; and ``HEAVEN_TOKEN``.

Two variables read from the environment directly (not pydantic-settings, which the
controller's and agent's settings use): every CLI command reads them, and importing
pydantic-settings cost a command about 100 ms of its start-up on this machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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

    @classmethod
    def given(cls, controller: str | None) -> ClientSettings:
        """These settings, with ``heaven --controller URL[,URL...]`` (when given) instead of HEAVEN_URL."""
        return cls(url=controller) if controller is not None else cls()


def controller_problem(urls: str) -> str | None:
    """What is wrong with a ``--controller`` value, in one line (None: nothing)."""
    if not any(u.strip() for u in urls.split(",")):
        return "--controller needs a URL, e.g. http://127.0.0.1:8000 (replicas: URL1,URL2)"
    for url in (u.strip() for u in urls.split(",") if u.strip()):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises on a port that is no number)
        except ValueError as exc:
            return f"--controller {url!r} is not a URL: {exc}"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"--controller {url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8000)"
    return None
