"""Builders for core test objects: ``node("n1", cores=4)``, ``job(1, cores=2)``."""
from __future__ import annotations

from heaven.core import Allocation, Job, Node, Snapshot
from heaven.core.states import JobState


def node(name: str, cores: int = 4, offset: int = 0, memory_mb: int = 8192, **kw) -> Node:
    return Node(name, offset, tuple(range(cores)), memory_mb=memory_mb, **kw)


def job(job_id: int, cores: int = 1, **kw) -> Job:
    kw.setdefault("min_cores", min(cores, kw.get("min_cores", 1)))
    return Job(job_id, cores=cores, **kw)


def running(j: Job, node_name: str, cores: tuple[int, ...], **kw) -> tuple[Job, Allocation]:
    from dataclasses import replace
    return replace(j, state=JobState.RUNNING), Allocation(j.id, node_name, cores, memory_mb=j.memory_mb, **kw)


def snapshot(nodes=(), pending=(), running_jobs=()) -> Snapshot:
    jobs = list(pending) + [j for j, _ in running_jobs]
    return Snapshot(tuple(nodes), tuple(jobs), tuple(a for _, a in running_jobs))


def snapshot_with(nodes=(), pending=(), running_jobs=(), **fields) -> Snapshot:
    """``snapshot(...)`` with more Snapshot fields: ``quotas={...}``, ``ended={...}``, ``reservation=...``."""
    from dataclasses import replace
    return replace(snapshot(nodes, pending, running_jobs), **fields)


def borrowing(j: Job, node_name: str, cores: tuple[int, ...], lent_by: dict[int, int], **kw) -> tuple[Job, Allocation]:
    """A running job holding ``cores``, of which ``lent_by`` = {core: donor job id} were stolen from donors."""
    return running(j, node_name, cores, lent=tuple(sorted(lent_by.items())), **kw)


def gateway_worker(core: int, load: float = 0.0, ready: bool = True, idle_since: float | None = None,
                   key: int | None = None):
    """A gateway worker as its decisions see it: ``gateway_worker(0, load=40)`` is Worker-Core-0 at 40 %."""
    from heaven.gateway.decide import WorkerView
    return WorkerView(key if key is not None else 100 + core, core if ready or key is None else -1, load, ready,
                      idle_since)
