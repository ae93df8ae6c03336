"""K simulated agents: each registers with a join token, then does what a real agent's
two loops do (heaven/agent/runtime.py) without running any job: a heartbeat report with
node telemetry every ``heartbeat`` seconds, and the assignments long-poll (wait 25 s),
asked again as soon as it answers."""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import httpx

from load.stats import Calls

LONG_POLL = 25  # seconds, as the real agent asks


def _telemetry(rng: random.Random) -> dict:
    per_core = [round(rng.uniform(0, 5), 1) for _ in range(2)]
    return {"cpu_percent": round(sum(per_core), 1), "per_core": per_core, "memory_used_mb": 512.0,
            "memory_total_mb": 4096.0}


async def register_all(http: httpx.AsyncClient, join_token: str, count: int, prefix: str,
                       progress: Callable[[], None], parallel: int = 20) -> dict[str, str]:
    """Register ``count`` agents (``parallel`` at a time); node name -> its credential."""
    credentials: dict[str, str] = {}
    gate = asyncio.Semaphore(parallel)

    async def one(number: int) -> None:
        name = f"{prefix}-{number:05d}"
        async with gate:
            answer = await http.post("/api/v1/agents/register", json={"name": name, "local_cores": [0, 1],
                                                                       "memory_mb": 4096},
                                     headers={"Authorization": f"Bearer {join_token}"})
        answer.raise_for_status()
        credentials[name] = answer.json()["credential"]
        progress()

    await asyncio.gather(*(one(n) for n in range(count)))
    return credentials


async def run_agents(url: str, credentials: dict[str, str], seconds: float, heartbeat: float,
                     reports: Calls, polls: Calls, progress: Callable[[], None]) -> None:
    """Heartbeat and long-poll for ``seconds``; every report's latency goes to ``reports``,
    every long-poll's outcome (its latency is mostly the wait) to ``polls``. Each agent has
    its own client (its own connections), as each real agent is a process of its own."""
    deadline = time.monotonic() + seconds

    async def agent(number: int, name: str, credential: str) -> None:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {credential}"}) as http:
            rng = random.Random(number)
            await asyncio.gather(heartbeats(http, name, rng), long_polls(http, name))

    async def heartbeats(http: httpx.AsyncClient, name: str, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, heartbeat))  # real agents start at different moments
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                answer = await http.post(f"/api/v1/agents/{name}/report",
                                         json={"jobs": {}, "node": _telemetry(rng)}, timeout=30)
                outcome: int | str = answer.status_code
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            reports.record(time.perf_counter() - started, outcome)
            progress()
            await asyncio.sleep(heartbeat)

    async def long_polls(http: httpx.AsyncClient, name: str) -> None:
        generation = -1
        while time.monotonic() < deadline:
            started = time.perf_counter()
            wait = max(0.0, min(LONG_POLL, deadline - time.monotonic()))
            try:
                answer = await http.get(f"/api/v1/agents/{name}/assignments",
                                        params={"generation": generation, "wait": round(wait, 3)},
                                        timeout=LONG_POLL + 10)
                outcome: int | str = answer.status_code
                if answer.status_code == 200:
                    generation = answer.json()["generation"]
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
                await asyncio.sleep(0.5)  # as the real agent retries
            polls.record(time.perf_counter() - started, outcome)

    await asyncio.gather(*(agent(n, name, credential) for n, (name, credential) in enumerate(credentials.items())))
