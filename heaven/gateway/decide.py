"""Which worker takes a call, and when the pool grows or shrinks (pure: no clock, no I/O).

A worker's ``load`` is the CPU % already promised on it: the estimates of the calls it runs
plus those of calls waiting for it to start. A call of ``cpu`` % fits a worker when
``load + cpu`` stays at most ``max_cpu``; a call larger than ``max_cpu`` on its own fits only
an idle worker (it would never fit otherwise). ``route`` answers:

- ``run``: on the least-loaded ready worker it fits (ties: the lowest core);
- ``wait``: on a starting worker it fits, or for room when no core is free;
- ``spawn``: nothing fits and a worker's cores are free;
- ``refuse``: no worker at all and no core to start one.

``rescale`` is the pool's periodic look: initial workers, a pre-spawn when every worker is
above ``prespawn``, and the retirement of extra workers idle for ``cooldown`` seconds.
Every answer carries its reason, in words an operator reads in the gateway's log.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerView:
    key: int  # the worker's deployment id
    core_id: int  # its first global core (Worker-Core-N)
    load: float  # CPU % promised on it
    ready: bool  # False: still starting
    idle_since: float | None = None  # when its last call ended; None while it runs calls

    @property
    def name(self) -> str:
        return f"Worker-Core-{self.core_id}" if self.core_id >= 0 else f"worker {self.key} (starting)"


@dataclass(frozen=True)
class Limits:
    max_cpu: float = 80.0
    prespawn: float = 70.0
    initial_workers: int = 1
    max_workers: int = 0  # 0: as many as the free cores allow
    cooldown: float = 30.0
    worker_cores: int = 1


@dataclass(frozen=True)
class Route:
    kind: str  # run | wait | spawn | refuse
    worker: int | None
    reason: str


@dataclass(frozen=True)
class Scale:
    kind: str  # spawn | retire
    worker: int | None
    reason: str


def fits(worker: WorkerView, cpu: float, limits: Limits) -> bool:
    if cpu > limits.max_cpu:
        return worker.load == 0
    return worker.load + cpu <= limits.max_cpu


def can_spawn(workers: list[WorkerView], free_cores: int, limits: Limits) -> bool:
    below_max = limits.max_workers == 0 or len(workers) < limits.max_workers
    return below_max and free_cores >= limits.worker_cores


def _loads(workers: list[WorkerView]) -> str:
    return ", ".join(f"{w.name} {w.load:.1f}%" for w in workers) or "no workers"


def route(cpu: float, workers: list[WorkerView], free_cores: int, limits: Limits) -> Route:
    ready = sorted((w for w in workers if w.ready and fits(w, cpu, limits)), key=lambda w: (w.load, w.core_id))
    if ready:
        best = ready[0]
        return Route("run", best.key, f"least loaded with room: {best.name} at {best.load:.1f}% + {cpu:.1f}%")
    starting = sorted((w for w in workers if not w.ready and fits(w, cpu, limits)), key=lambda w: (w.load, w.key))
    if starting:
        return Route("wait", starting[0].key, f"waits for {starting[0].name}, which has room")
    if can_spawn(workers, free_cores, limits):
        return Route("spawn", None, f"no worker has room for {cpu:.1f}% under {limits.max_cpu:g}% "
                                    f"({_loads(workers)}); {free_cores} cores free")
    if workers:
        cap = f"MAX_WORKERS {limits.max_workers}" if limits.max_workers and len(workers) >= limits.max_workers \
            else f"{free_cores} free cores, a worker needs {limits.worker_cores}"
        return Route("wait", None, f"every worker is full ({_loads(workers)}) and no worker can be added ({cap})")
    return Route("refuse", None, f"no core can be had: no worker runs and the cluster has {free_cores} free cores "
                                 f"(a worker needs {limits.worker_cores})")


def rescale(workers: list[WorkerView], free_cores: int, now: float, limits: Limits) -> list[Scale]:
    """What the pool should change now: spawns (initial, pre-spawn) or retirements (idle extras)."""
    actions: list[Scale] = []
    missing = limits.initial_workers - len(workers)
    budget = free_cores
    for i in range(missing):
        if not can_spawn(workers + [WorkerView(-1, -1, 0, False)] * i, budget, limits):
            break
        actions.append(Scale("spawn", None, f"initial worker {len(workers) + i + 1} of INITIAL_WORKERS "
                                            f"{limits.initial_workers}"))
        budget -= limits.worker_cores
    if actions:
        return actions
    ready = [w for w in workers if w.ready]
    starting = [w for w in workers if not w.ready]
    if ready and not starting and all(w.load > limits.prespawn for w in ready) \
            and can_spawn(workers, free_cores, limits):
        return [Scale("spawn", None, f"pre-spawn: every worker is above PRESPAWN_THRESHOLD {limits.prespawn:g}% "
                                     f"({_loads(ready)})")]
    extra = len(workers) - limits.initial_workers
    idle = sorted((w for w in ready if w.load == 0 and w.idle_since is not None
                   and now - w.idle_since >= limits.cooldown), key=lambda w: (w.idle_since, -w.core_id))
    for worker in idle[:max(extra, 0)]:
        actions.append(Scale("retire", worker.key, f"idle for {now - worker.idle_since:.0f} s "
                                                   f"(cool-down {limits.cooldown:g} s), {len(workers)} workers "
                                                   f"above INITIAL_WORKERS {limits.initial_workers}"))
    return actions
