"""Where the client finds its controller: ``heaven --controller``, else ``HEAVEN_URL``; and ``HEAVEN_TOKEN``.

Two variables read from the environment directly (not pydantic-settings, which the
controller's and agent's settings use): every CLI command reads them, and importing
pydantic-settings cost a command about 100 ms of its start-up on this machine (and a
NamedTuple, not a dataclass: importing dataclasses, and inspect with it, cost ``heaven
jobs`` another 10-20 ms).
"""
from __future__ import annotations

import os
from typing import NamedTuple
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8000"


def _env(name: str) -> str | None:
    """Case-insensitive, as pydantic-settings reads ``HEAVEN_*`` for the other settings."""
    for key, value in os.environ.items():
        if key.upper() == name:
            return value
    return None


class _Settings(NamedTuple):
    url: str  # one controller, or several replicas URL1,URL2: the next is tried when one is unreachable
    token: str | None  # instead of `heaven login`'s


class ClientSettings(_Settings):
    """``ClientSettings()``: read from the environment now; ``url=``/``token=`` given win."""

    def __new__(cls, url: str | None = None, token: str | None = None) -> ClientSettings:
        return super().__new__(cls, url if url is not None else _env("HEAVEN_URL") or DEFAULT_URL,
                               token if token is not None else _env("HEAVEN_TOKEN") or None)

    @classmethod
    def given(cls, controller: str | None) -> ClientSettings:
        """These settings, with ``heaven --controller URL[,URL...]`` (when given) instead of HEAVEN_URL."""
        return cls(url=controller)


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
