"""What a load run measured: latencies and errors per kind of call, and the controller's
CPU and memory while it ran."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import psutil


def percentile(values: list[float], q: float) -> float:
    """Nearest rank (q in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Calls:
    """Every call's latency (s) and outcome: an HTTP status, or the exception's name."""
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)

    def record(self, seconds: float, outcome: int | str) -> None:
        self.latencies.append(seconds)
        self.outcomes[outcome] += 1

    @property
    def count(self) -> int:
        return sum(self.outcomes.values())

    @property
    def errors(self) -> Counter:
        """Outcomes that are not a 2xx, by status (or exception)."""
        return Counter({k: n for k, n in self.outcomes.items() if not (isinstance(k, int) and 200 <= k < 300)})

    def errors_text(self) -> str:
        return ", ".join(f"{k}: {n}" for k, n in sorted(self.errors.items(), key=str)) or "none"


class ProcessSampler:
    """CPU% (of one core) and RSS of one process, sampled every ``interval`` s while running."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.cpu: list[float] = []
        self.rss_mb: list[float] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        self.process.cpu_percent(None)  # the first reading only starts the interval
        while True:
            await asyncio.sleep(self.interval)
            self.cpu.append(self.process.cpu_percent(None))
            self.rss_mb.append(self.process.memory_info().rss / 2**20)

    def __enter__(self) -> "ProcessSampler":
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        if self._task is not None:
            self._task.cancel()

    def summary(self) -> dict[str, float]:
        if not self.cpu:
            return {"cpu_mean": float("nan"), "cpu_max": float("nan"), "rss_max": float("nan")}
        return {"cpu_mean": sum(self.cpu) / len(self.cpu), "cpu_max": max(self.cpu), "rss_max": max(self.rss_mb)}
