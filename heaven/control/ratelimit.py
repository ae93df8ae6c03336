"""A token bucket per client address, in process, for the routes a password guesser
or a sign-up flood would hammer (register, token).

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

from fastapi import Request

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
