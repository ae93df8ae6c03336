"""Token buckets, in process: one per client address for the routes a password guesser
or a sign-up flood would hammer (register, token), and one per caller for every write
of the API (``WriteLimit``).

Each address may spend ``per_minute`` requests at once and gets them back at that
rate. The clock is injected (tests advance it instead of sleeping). The client
address is the TCP peer: behind a reverse proxy every client shares the proxy's
bucket, which errs on the side of refusing.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable

import hashlib
import json

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from heaven.control.errors import ApiError

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen go first (a fresh bucket is full anyway)


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()  # sync routes run in worker threads

    def take(self, key: str) -> float:
        """Spend one request of ``key``'s; 0 when allowed, else the seconds until one is back."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + max(0.0, now - at) * self.per_second)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self.per_second


def rate_limited(request: Request) -> None:
    """Dependency of the auth routes: a 429 with Retry-After once an address spent its budget."""
    limiter: TokenBucket = request.app.state.auth_limiter
    address = request.client.host if request.client else "unknown"
    wait = limiter.take(address)
    if wait:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"too many sign-in requests from {address}: at most "
                       f"{int(limiter.capacity)} a minute; retry in {seconds} s", None,
                       headers={"Retry-After": str(seconds)})


WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class WriteLimit:
    """Every write under /api/v1 spends one request of its caller's bucket: the caller is
    its credential (a digest of the Authorization header: a person's token, an agent's node
    credential), or its address when it sends none. Over budget: 429 with Retry-After and
    the project's error body, before any route runs, so nothing is written. A plain ASGI
    middleware: one dictionary lookup per request, and reads stay unlimited."""

    def __init__(self, app: ASGIApp, limiter: TokenBucket | None) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.limiter is None or scope["type"] != "http" or scope["method"] not in WRITES
                or not scope["path"].startswith("/api/v1/")):
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(_caller(scope))
        if not wait:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        body = json.dumps({"error": "rate_limited", "message": f"too many writes from this caller: at most "
                           f"{int(self.limiter.capacity)} a minute (HEAVEN_WRITE_RATE_PER_MINUTE); retry in "
                           f"{seconds} s", "field": None}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(seconds).encode())]})
        await send({"type": "http.response.body", "body": body})


def _caller(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"authorization" and value:
            return hashlib.sha256(value).hexdigest()[:32]  # never keep the secret itself
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"
