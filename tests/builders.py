"""Builders for core test objects: ``node("n1", cores=4)``, ``job(1, cores=2)``; and for rows in a
store: ``stored_node(conn, "n1", 2, 0)``, ``stored_job(conn, "a", 2)``, ``stored_cycle(engine)``."""
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


# -- rows in a store (through the store's own functions) -------------------------------------
def stored_node(conn, name: str, cores: int, offset: int, now: float = 1.0, **values) -> None:
    from heaven.store import nodes
    from heaven.store.engine import default_org_id
    nodes.register(conn, {"name": name, "org_id": default_org_id(conn), "cluster": "default", "endpoint": "",
                          "kind": "heaven", "core_offset": offset, "local_cores": list(range(cores)),
                          "memory_mb": 4096, "storage_mb": 0, "gpus": 0, **values}, now=now, actor="test")


def stored_job(conn, name: str, cores: int, **kw) -> int:
    from heaven.store import jobs
    from heaven.store.engine import default_org_id
    return jobs.insert_job(conn, {"org_id": default_org_id(conn), "name": name, "command": ["true"],
                                  "cores": cores, "min_cores": 1, "memory_mb": 0, "storage_mb": 0, "gpus": 0,
                                  "priority": 0, "kind": "batch", **kw}, now=2.0)


def stored_cycle(engine, now: float = 3.0):
    """One scheduling cycle over the store, applied; returns what was applied."""
    import random

    from heaven.core import SchedulerConfig, schedule
    from heaven.store.apply import apply_plan
    from heaven.store.snapshot import load_snapshot
    with engine.begin() as conn:
        plan = schedule(load_snapshot(conn), now, random.Random(0), SchedulerConfig())
        return apply_plan(conn, plan, now)
