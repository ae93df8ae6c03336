"""Drives nodes of the original design through their own agent protocol.

Their agents do not long-poll: the controller pushes ``POST /allocate`` when a
job is placed and ``POST /release`` when it ends, and polls ``GET /status``
for usage (a successful poll counts as a heartbeat). Cores travel as global
indices, as that protocol defines them.

As the original controller did, a placement becomes visible (the job
``running``, its allocation in ``/summary``) only once the agent answered its
``/allocate`` with ok, that is once the PID is pinned. Every status poll
reconciles, level-triggered: a job the agent does not show, or shows on other
cores, gets its ``/allocate`` again (on a worker thread: a slow agent never
holds up the polls of the others); a job it shows pinned where it should be is
running even if the ok of its ``/allocate`` was lost; a job it shows but should
not hold gets a ``/release``.
"""
from __future__ import annotations

import asyncio
import logging
import threading

import httpx
from sqlalchemy import bindparam, select, update

from heaven.control.runtime import Controller
from heaven.core.states import JobState
from heaven.store import jobs, nodes
from heaven.store.apply import Applied
from heaven.store.tables import core_claims
from heaven.store.tables import jobs as job_table

log = logging.getLogger("heaven.legacy")


class LegacyDriver:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.client = httpx.AsyncClient(timeout=ctl.settings.legacy_timeout)  # status polls, releases
        self.pusher = httpx.Client(timeout=ctl.settings.legacy_timeout)  # /allocate, from worker threads
        self._loop: asyncio.AbstractEventLoop | None = None
        # Node name -> kind, as last read: placements on the project's own agents (nearly
        # all of them) cost no database read here; an unknown node triggers one.
        self._kinds: dict[str, str] = {}
        self._inflight: set[tuple[int, tuple[int, ...]]] = set()  # (job, cores) being pushed
        self._inflight_lock = threading.Lock()
        ctl.on_placed.append(self.placed)

    def _legacy_nodes(self) -> dict[str, dict]:
        with self.ctl.store.read() as conn:
            listed = nodes.listing(conn)
        self._kinds = {n["name"]: n["kind"] for n in listed}
        return {n["name"]: n for n in listed if n["kind"] == "legacy" and n["endpoint"]}

    def placed(self, applied: Applied) -> None:
        """Called after a committed cycle, from any thread (the event loop's included):
        hands placements on nodes of the original design to a worker thread."""
        if self._loop is None or all(self._kinds.get(p.node) == "heaven" for p in applied.placed):
            return
        placements = list(applied.placed)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(asyncio.to_thread(self._allocate, placements)))

    def _allocate(self, placements: list) -> None:
        legacy = self._legacy_nodes()
        mine = [p for p in placements if p.node in legacy]
        if not mine:
            return
        with self.ctl.store.read() as conn:
            rows = {r.id: r for r in conn.execute(select(job_table).where(job_table.c.id.in_([p.job_id for p in mine])))}
        for p in mine:
            self._pin(legacy[p.node], rows[p.job_id].id, rows[p.job_id].name, rows[p.job_id].pid, list(p.cores))

    def _pin(self, node: dict, job_id: int, name: str, pid: int | None, cores: list[int]) -> None:
        """Push one /allocate; when the agent answers ok, the job is pinned: assigned -> running."""
        key = (job_id, tuple(cores))
        with self._inflight_lock:
            if key in self._inflight:
                return  # the same push is under way (a poll and a placement crossed)
            self._inflight.add(key)
        try:
            answer = self.pusher.post(node["endpoint"] + "/allocate", json={"job": name, "pid": pid, "cores": cores})
            ok = answer.status_code == 200 and answer.json().get("ok") is True
        except (httpx.HTTPError, ValueError, AttributeError) as exc:  # the next status poll tries again
            log.warning("/allocate of %s on %s failed: %s", name, node["name"], exc)
            ok = False
        finally:
            with self._inflight_lock:
                self._inflight.discard(key)
        if not ok:
            log.warning("agent %s did not pin %s (pid %s); retrying on the next status poll", node["name"], name, pid)
            return
        self._pinned(node["name"], job_id, pid)

    def _pinned(self, node: str, job_id: int, pid: int | None) -> None:
        """The agent holds the job's PID on its cores: assigned -> running (once)."""
        with self.ctl.store.begin() as conn:
            moved = jobs.mark_started(conn, job_id, self.ctl.clock(), f"agent:{node}", node, pid)
        if moved:
            self.ctl.watchers.changed([job_id])

    def released(self, node: dict, job_name: str) -> None:
        if node["kind"] == "legacy" and node["endpoint"]:
            self._send(node["endpoint"] + "/release", {"job": job_name, "keep_cores": []})

    def _send(self, url: str, body: dict) -> None:
        async def post():
            try:
                await self.client.post(url, json=body)
            except httpx.HTTPError as exc:  # level-triggered: the next status poll shows the truth
                log.warning("%s failed: %s", url, exc)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(post()))

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            if not self.ctl.leadership.is_leader:
                continue  # the leader's driver pushes and polls (its cycles are the ones that place)
            for name, node in (await asyncio.to_thread(self._legacy_nodes)).items():
                try:
                    status = (await self.client.get(node["endpoint"] + "/status")).json()
                except (httpx.HTTPError, ValueError):
                    continue
                if isinstance(status, dict):
                    await asyncio.to_thread(self._reconcile, node, status)

    def _reconcile(self, node: dict, status: dict) -> None:
        """What the agent shows against what the store says it should hold."""
        shown = {j.get("job"): j for j in status.get("jobs", []) if isinstance(j, dict)}
        name = node["name"]
        with self.ctl.store.begin() as conn:
            nodes.heartbeat(conn, name, self.ctl.clock(), actor=f"agent:{name}")
            held = _held_on(conn, name)
            usage = [{"n": label, "cpu": _percent(shown[label])} for label, (_, state, _, _) in held.items()
                     if label in shown and state == JobState.RUNNING.value]
            if usage:
                conn.execute(update(job_table).where(job_table.c.node == name, job_table.c.name == bindparam("n"),
                                                     job_table.c.state == JobState.RUNNING.value)
                             .values(cpu_percent=bindparam("cpu")), usage)
        for label, (job_id, state, pid, cores) in held.items():
            if label in shown and _cores_shown(shown[label]) == cores:
                if state == JobState.ASSIGNED.value:  # pinned, though its ok never reached us
                    self._pinned(name, job_id, pid)
            else:
                self._loop.call_soon_threadsafe(
                    lambda *a: asyncio.ensure_future(asyncio.to_thread(self._pin, *a)), node, job_id, label, pid, cores)
        for label in shown.keys() - held.keys():
            if isinstance(label, str):
                self._send(node["endpoint"] + "/release", {"job": label, "keep_cores": []})

    async def close(self) -> None:
        await self.client.aclose()
        self.pusher.close()


def _held_on(conn, node: str) -> dict[str, tuple[int, str, int | None, list[int]]]:
    """Jobs holding cores on ``node``: name -> (id, state, pid, global cores)."""
    rows = conn.execute(select(job_table.c.id, job_table.c.name, job_table.c.state, job_table.c.pid, core_claims.c.core)
                        .join(core_claims, core_claims.c.job_id == job_table.c.id)
                        .where(core_claims.c.node == node, job_table.c.state.in_(jobs.HOLDING_STATE_VALUES))
                        .order_by(core_claims.c.core))
    held: dict[str, tuple[int, str, int | None, list[int]]] = {}
    for job_id, name, state, pid, core in rows:
        held.setdefault(name, (job_id, state, pid, []))[3].append(core)
    return held


def _cores_shown(entry: dict) -> list[int] | None:
    """The cores an agent of the original design shows a job on (None: nothing usable)."""
    cores = entry.get("cores")
    if not isinstance(cores, list) or not all(isinstance(c, int) for c in cores):
        return None
    return sorted(cores)


def _percent(entry: dict) -> float:
    try:
        return float(entry.get("cpu_percent") or 0.0)
    except (TypeError, ValueError):
        return 0.0
