"""N concurrent API clients x M requests each, a realistic mix, against one controller.

Each client is one keep-alive connection (as a script or the CLI holding a session),
sending one request after the other. The mix, by weight: list a page of jobs, submit a
job (it waits: no agent runs it), get one job seen before, read a page of events.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import httpx

from load.stats import Calls

MIX = {"list jobs": 4, "submit": 2, "get job": 3, "events page": 1}


def _request(kind: str, known: list[int], after: int, rng: random.Random) -> tuple[str, str, dict]:
    if kind == "list jobs":
        return "GET", "/api/v1/jobs", {"params": {"limit": 50}}
    if kind == "submit":
        return "POST", "/api/v1/jobs", {"json": {"command": ["true"], "cores": 1, "name": "load"}}
    if kind == "get job" and known:
        return "GET", f"/api/v1/jobs/{rng.choice(known)}", {}
    return "GET", "/api/v1/events", {"params": {"limit": 50, "after": after}}  # following, as `heaven events` does


async def run_clients(url: str, token: str, clients: int, requests: int, calls: dict[str, Calls],
                      progress: Callable[[], None], seed: int = 1) -> float:
    """Run the load; fills ``calls`` (per kind); answers the wall time in seconds."""
    known: list[int] = []  # ids of submitted jobs, shared: any client may read any
    kinds, weights = list(MIX), list(MIX.values())
    for kind in kinds:
        calls.setdefault(kind, Calls())

    async def one_client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        after = 0  # this client's place in the events
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60,
                                     limits=httpx.Limits(max_connections=1)) as http:
            for _ in range(requests):
                kind = rng.choices(kinds, weights)[0]
                method, path, extra = _request(kind, known, after, rng)
                started = time.perf_counter()
                try:
                    answer = await http.request(method, path, **extra)
                    outcome: int | str = answer.status_code
                    if kind == "submit" and answer.status_code == 201:
                        known.append(answer.json()["id"])
                    elif path == "/api/v1/events" and answer.status_code == 200 and answer.json():
                        after = answer.json()[-1]["seq"]
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                calls[kind].record(time.perf_counter() - started, outcome)
                progress()

    started = time.perf_counter()
    await asyncio.gather(*(one_client(n) for n in range(clients)))
    return time.perf_counter() - started
