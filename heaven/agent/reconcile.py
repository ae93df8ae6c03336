"""The agent's pure core: what should run vs. what runs -> instructions.

Level-triggered: given the controller's full list for this node and what the
executor holds, return the steps that make them equal. No I/O here; the
runtime carries the steps out and reports their results.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Desired:
    id: int
    run: int  # attempt number: a requeued job placed here again is a new run
    kind: str
    command: tuple[str, ...]
    local_cores: tuple[int, ...]
    memory_mb: int = 0
    pid: int | None = None
    owner: str | None = None  # the person who submitted it: whose account it may run as
    image: str | None = None  # a container image: run in a container where the node has an engine
    suspended: bool = False  # keep its process frozen (it holds no cores meanwhile)


@dataclass(frozen=True)
class Held:
    id: int
    run: int
    local_cores: tuple[int, ...]
    adopted: bool
    suspended: bool = False


@dataclass(frozen=True)
class Start:
    job: Desired


@dataclass(frozen=True)
class Adopt:
    job: Desired


@dataclass(frozen=True)
class Resize:
    id: int
    local_cores: tuple[int, ...]


@dataclass(frozen=True)
class Freeze:
    """Suspend a running job where it is: same PID, no cores until it is thawed."""
    id: int


@dataclass(frozen=True)
class Thaw:
    """Resume a suspended job on these cores (pinned first, then let run)."""
    id: int
    local_cores: tuple[int, ...]


@dataclass(frozen=True)
class Stop:
    id: int
    adopted: bool


Instruction = Start | Adopt | Resize | Freeze | Thaw | Stop


def reconcile(desired: list[Desired], held: dict[int, Held], finished: set[tuple[int, int]]) -> list[Instruction]:
    """``finished`` holds (id, run) of processes that ended but that the
    controller still lists (it has not processed the exit yet): never restart those."""
    steps: list[Instruction] = []
    wanted = {d.id: d for d in desired}
    for job_id, have in held.items():
        want = wanted.get(job_id)
        if want is None or want.run != have.run:
            steps.append(Stop(job_id, have.adopted))
    for want in desired:
        have = held.get(want.id)
        if (want.id, want.run) in finished:
            continue
        if have is None or have.run != want.run:
            if not want.suspended:  # a frozen process that is gone is not started afresh: its exit is due
                steps.append(Adopt(want) if want.kind == "adopted" else Start(want))
        elif want.suspended:
            if not have.suspended:
                steps.append(Freeze(want.id))
        elif have.suspended:
            steps.append(Thaw(want.id, want.local_cores))
        elif have.local_cores != want.local_cores:
            steps.append(Resize(want.id, want.local_cores))
    return steps
