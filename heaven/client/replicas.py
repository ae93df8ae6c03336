"""Which controller replica of ``URL1,URL2,...`` a request goes to, and when it goes on to the next.

The one rule, whatever sends the request (httpx in heaven.client.failover, http.client in
heaven.client.quick): start at the replica that answered last; pass to the next one, each
once, when a replica cannot be reached (the request never arrived, so sending it elsewhere
cannot run it twice) or answers 503 ``not_leader`` (only the leader can answer it, nothing
was written). The last replica's answer is returned whatever it is. No HTTP library here.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

Answer = TypeVar("Answer")


def split_urls(urls: str) -> list[str]:
    """``"http://a:1/, http://b:2"`` -> ``["http://a:1", "http://b:2"]``."""
    found = [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
    if not found:
        raise ValueError("no controller URL given")
    return found


def not_leader(status: int, body: bytes) -> bool:
    """A follower's refusal (heaven.control): 503 with ``{"error": "not_leader"}``."""
    if status != 503:
        return False
    try:
        return json.loads(body).get("error") == "not_leader"
    except (ValueError, AttributeError):
        return False


class Replicas:
    def __init__(self, urls: list[str]) -> None:
        self.urls = list(urls)
        self.current = 0  # the one that answered last

    def order(self) -> list[int]:
        return [(self.current + i) % len(self.urls) for i in range(len(self.urls))]

    def first_answer(self, send: Callable[[int], Answer], unreached: tuple[type[BaseException], ...],
                     passed_on: Callable[[Answer], bool]) -> Answer:
        """``send(index)`` to each replica in turn until one answers; ``unreached``: the errors of a
        request that never arrived; ``passed_on(answer)``: whether that answer sends it on
        (asked of every replica but the last, which may close the answer it refuses)."""
        last: BaseException | None = None
        order = self.order()
        for n, index in enumerate(order):
            try:
                answer = send(index)
            except unreached as exc:
                last = exc
                continue
            if n + 1 < len(order) and passed_on(answer):
                continue
            self.current = index
            return answer
        assert last is not None  # only unreached replicas get here
        raise last

    async def first_answer_async(self, send: Callable[[int], Awaitable[Answer]],
                                 unreached: tuple[type[BaseException], ...],
                                 passed_on: Callable[[Answer], Awaitable[bool]]) -> Answer:
        """``first_answer`` awaited: the same loop, line for line, with ``await`` where it calls out."""
        last: BaseException | None = None
        order = self.order()
        for n, index in enumerate(order):
            try:
                answer = await send(index)
            except unreached as exc:
                last = exc
                continue
            if n + 1 < len(order) and await passed_on(answer):
                continue
            self.current = index
            return answer
        assert last is not None
        raise last
