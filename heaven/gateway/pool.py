"""The gateway's workers as the controller runs them, and the calls in flight on them.

Each worker is a deployment this gateway created through the controller's API (a job of kind
``service`` with ``worker_cores`` cores), which an agent runs pinned. The pool learns a
worker's cores from the controller's allocation and its port from the line the worker prints
first (``worker.LISTENING``, read through the controller's logs API), and then asks the
worker itself (``/load``) every second how busy it is.

Workers outlive a gateway that was killed (they are the controller's deployments): a new
gateway of the same name, account and cluster adopts the ones still running or starting before
its first decision, as a restarted Kubernetes controller adopts the pods its selector matches.

Every decision goes through ``decide``: ``route`` for a call, ``rescale`` on each tick. The
decisions are serialized by one asyncio condition, whose waiters (calls waiting for room or
for a starting worker) decide again whenever something changed. Every spawn and retirement is
an entry of ``scaling`` with its reason (shown by ``GET /metrics`` and logged).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import re
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import httpx

from heaven.client.http import Client, ClientError
from heaven.config import GatewaySettings
from heaven.gateway.decide import Limits, WorkerView, rescale, route
from heaven.gateway.estimate import Estimator
from heaven.gateway.operations import Operation
from heaven.gateway.worker import LISTENING

log = logging.getLogger(__name__)
WORKER_COMMAND = [sys.executable, "-m", "heaven.gateway.worker"]
ADDRESS = re.compile(re.escape(LISTENING) + r" (\S+):(\d+)")
LOST_AFTER = 3  # failed looks in a row before a worker is taken out of routing
SPAWN_BACKOFF = 10.0  # seconds without spawns after a worker failed to start


class NoCore(Exception):
    """No worker can take the call and none can be started."""


class WorkerFailed(Exception):
    pass


@dataclass
class Worker:
    key: int  # its deployment (= job) id
    spawned_at: float
    reason: str
    cores: list[int] = field(default_factory=list)  # global cores, once placed
    host: str = ""
    port: int = 0
    ready: bool = False
    healthy: bool = False
    failures: int = 0
    measured: float = 0.0  # CPU % of its cores, as the worker measured it
    in_flight: dict[int, float] = field(default_factory=dict)  # call -> its CPU estimate
    reserved: dict[int, float] = field(default_factory=dict)  # waiting call -> its CPU estimate
    idle_since: float | None = None
    lost_at: float | None = None

    @property
    def core_id(self) -> int:
        return self.cores[0] if self.cores else -1

    @property
    def name(self) -> str:
        return f"Worker-Core-{self.core_id}" if self.cores else f"worker {self.key} (starting)"

    @property
    def load(self) -> float:
        return sum(self.in_flight.values()) + sum(self.reserved.values())

    def view(self) -> WorkerView:
        return WorkerView(self.key, self.core_id, self.load, self.ready, self.idle_since)


class Pool:
    def __init__(self, controller: Client, settings: GatewaySettings, clock=time.monotonic) -> None:
        self.controller, self.settings, self.clock = controller, settings, clock
        self.limits = Limits(settings.max_cpu_threshold, settings.prespawn_threshold, settings.initial_workers,
                             settings.max_workers, settings.cooldown, settings.worker_cores)
        self.workers: dict[int, Worker] = {}
        self.cluster_free = 0  # free cores of the cluster, as the controller said on the last tick
        self.changed = asyncio.Condition()
        self.estimator = Estimator()
        self.scaling: deque[dict] = deque(maxlen=1000)
        self.placements: deque[dict] = deque(maxlen=20000)
        self.runs: deque[dict] = deque(maxlen=20000)
        self.calls = itertools.count(1)
        self.prefix = uuid.uuid4().hex[:6]
        self.spawned = itertools.count(1)
        # No read timeout toward workers: a call runs as long as it needs (10^10 iterations).
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0))
        self.probe = httpx.AsyncClient(timeout=2.0)
        self.stopping = False
        self.unstopped: set[int] = set()  # deployments of retired or failed workers not yet stopped
        self.spawn_blocked_until, self.spawn_failure = float("-inf"), ""

    # -- what the decisions see ----------------------------------------------------------------
    def views(self) -> list[WorkerView]:
        return [w.view() for w in self.workers.values()]

    def free_cores(self) -> int:
        """The cluster's free cores minus those of workers that asked for cores and hold none yet;
        none for ``SPAWN_BACKOFF`` seconds after a worker failed to start (no spawn loop)."""
        if self.clock() < self.spawn_blocked_until:
            return 0
        unplaced = sum(1 for w in self.workers.values() if not w.cores)
        return max(0, self.cluster_free - unplaced * self.settings.worker_cores)

    def no_core(self, reason: str) -> NoCore:
        if self.clock() < self.spawn_blocked_until:
            reason += f"; the last worker could not start: {self.spawn_failure}"
        return NoCore(reason)

    def record(self, action: str, worker: str, reason: str) -> None:
        self.scaling.append({"ts": time.time(), "action": action, "worker": worker, "reason": reason})
        log.info("%s %s: %s", action, worker, reason)

    # -- calls ----------------------------------------------------------------------------
    async def call(self, name: str, operation: Operation, data: dict, units: float | None) -> tuple[Worker, object, float]:
        """Run one call; returns its worker, result and computation seconds. Raises NoCore or WorkerFailed."""
        cpu = self.estimator.cpu(name, units)
        predicted = self.estimator.seconds(name, units)
        seq = next(self.calls)
        worker = await self._place(seq, cpu)
        try:
            answer = await self.http.post(f"http://{worker.host}:{worker.port}/run",
                                          json={"operation": name, "data": data})
        except httpx.HTTPError as exc:
            raise WorkerFailed(f"{worker.name} did not answer: {exc}") from exc
        finally:
            async with self.changed:
                worker.in_flight.pop(seq, None)
                if not worker.in_flight:
                    worker.idle_since = self.clock()
                self.changed.notify_all()
        if answer.status_code != 200:
            body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
            raise WorkerFailed(body.get("message") or f"{worker.name} answered {answer.status_code}")
        body = answer.json()
        error = self.estimator.learn(name, units, body["seconds"])
        self.runs.append({"ts": time.time(), "operation": name, "units": units, "predicted": predicted,
                          "seconds": body["seconds"], "wall_seconds": body.get("wall_seconds"), "error": error,
                          "worker": worker.name})
        return worker, body["result"], body["seconds"]

    async def _place(self, seq: int, cpu: float) -> Worker:
        deadline = self.clock() + self.settings.queue_timeout
        async with self.changed:
            while True:
                for w in self.workers.values():
                    w.reserved.pop(seq, None)
                decision = route(cpu, self.views(), self.free_cores(), self.limits)
                if decision.kind == "run":
                    worker = self.workers[decision.worker]
                    self._note_placement(worker, cpu)
                    worker.in_flight[seq] = cpu
                    worker.idle_since = None
                    return worker
                if decision.kind == "refuse":
                    raise self.no_core(decision.reason)
                if self.stopping:
                    raise NoCore("the gateway is stopping")
                if decision.kind == "spawn":
                    spawned = await self._spawn(decision.reason)
                    if spawned is None and not self.workers:
                        raise NoCore(f"no core can be had: the controller refused a new worker ({decision.reason})")
                    if spawned is not None:
                        spawned.reserved[seq] = cpu
                elif decision.worker is not None:
                    self.workers[decision.worker].reserved[seq] = cpu
                remaining = deadline - self.clock()
                try:
                    await asyncio.wait_for(self.changed.wait(), timeout=max(remaining, 0.001))
                except TimeoutError:
                    for w in self.workers.values():
                        w.reserved.pop(seq, None)
                    raise self.no_core(f"no worker had room for {self.settings.queue_timeout:g} s: "
                                       f"{decision.reason}") from None

    def _note_placement(self, chosen: Worker, cpu: float) -> None:
        """What the benchmark checks: every ready worker's load when a call was placed."""
        self.placements.append({"ts": time.time(), "worker": chosen.name, "cpu": round(cpu, 2),
                                "loads": {w.name: round(w.load, 2) for w in self.workers.values() if w.ready},
                                "max_cpu": self.limits.max_cpu})

    # -- spawning and retiring ------------------------------------------------------------------
    async def _spawn(self, reason: str) -> Worker | None:
        name = f"{self.settings.name}-{self.prefix}-worker-{next(self.spawned)}"
        made = None
        try:
            made = await asyncio.to_thread(self.controller.create_deployment, name=name, command=WORKER_COMMAND,
                                           cores=self.settings.worker_cores, cluster=self.settings.cluster)
            await asyncio.to_thread(self.controller.deployment_action, made["id"], "start")
        except ClientError as exc:
            if made is not None:  # created, perhaps even started (an answer lost): never left behind
                self.unstopped.add(made["id"])
                await self._stop_leftovers()
            self.spawn_failed(name, f"{reason}; the controller answered: {exc.message}")
            return None
        worker = Worker(made["id"], self.clock(), reason)
        self.workers[worker.key] = worker
        self.record("spawn", f"deployment {worker.key}", reason)
        return worker

    def spawn_failed(self, worker: str, reason: str) -> None:
        self.spawn_blocked_until, self.spawn_failure = self.clock() + SPAWN_BACKOFF, reason
        self.record("spawn_failed", worker, reason)

    async def _retire(self, worker: Worker, reason: str) -> None:
        self.workers.pop(worker.key, None)  # first: no call is routed to it any more
        self.record("retire", worker.name, reason)
        self.unstopped.add(worker.key)
        await self._stop_leftovers()

    async def _stop_leftovers(self) -> None:
        """Stop (or cancel, if it never ran) each deployment of ``unstopped``; what the
        controller refuses now stays there for the next tick, so no worker outlives its retirement."""
        for key in sorted(self.unstopped):
            try:
                await asyncio.to_thread(self._end_deployment, key)
                self.unstopped.discard(key)
            except ClientError as exc:
                log.warning("stopping deployment %s: %s (retried on the next tick)", key, exc.message)

    def _end_deployment(self, key: int) -> None:
        try:
            status = self.controller.deployment(key)["status"]
        except ClientError as exc:
            if exc.status == 404:
                return  # gone already
            raise
        if status == "running":
            self.controller.deployment_action(key, "stop")  # completed: it stays in the history
        elif status == "pending":
            self.controller.deployment_action(key, "cancel")

    def adopt(self) -> None:
        """Take over the workers an earlier gateway of this name left running (it was killed, so
        it could not stop them); they are found again like new ones, by ``_discover``."""
        mine = re.compile(re.escape(self.settings.name) + r"-[0-9a-f]{6}-worker-\d+")
        me = self.controller.me()["id"]
        for made in (made for page in self.controller.pages("deployments") for made in page):
            if (mine.fullmatch(made["name"]) and made["owner_id"] == me and made["started"]
                    and made["cluster"] == self.settings.cluster and made["status"] in ("pending", "running")):
                worker = Worker(made["id"], self.clock(), "adopted from an earlier gateway")
                self.workers[worker.key] = worker
                self.record("adopt", f"deployment {worker.key}",
                            f"{made['name']} was left {made['status']} by an earlier gateway")

    # -- the periodic look ------------------------------------------------------------------------
    async def tick(self) -> None:
        try:
            nodes = await asyncio.to_thread(self.controller.nodes)
            self.cluster_free = sum(n["free_cores"] for n in nodes
                                    if n["state"] == "up" and n["cluster"] == self.settings.cluster)
        except ClientError as exc:
            log.warning("reading the nodes: %s", exc.message)
        if self.unstopped:
            await self._stop_leftovers()
        for worker in list(self.workers.values()):
            await (self._probe(worker) if worker.ready else self._discover(worker))
        async with self.changed:
            now = self.clock()
            for action in rescale(self.views(), self.free_cores(), now, self.limits):
                if action.kind == "spawn":
                    await self._spawn(action.reason)
                elif action.worker in self.workers:
                    await self._retire(self.workers[action.worker], action.reason)
            self.changed.notify_all()

    async def _discover(self, worker: Worker) -> None:
        """A starting (or lost) worker: its cores from the controller, its port from its first line."""
        waited = self.clock() - (worker.lost_at or worker.spawned_at)
        try:
            job = await asyncio.to_thread(self.controller.job, worker.key)
            if job["state"] in ("failed", "cancelled", "completed") or (job["state"] == "pending" and job["runs"]):
                # It ran and ended (the agent could not start it, or it crashed): the service's
                # back-off would retry it in vain; stop it and say why.
                async with self.changed:
                    self.spawn_failed(worker.name, f"its deployment {job['state']} ({job['reason'] or 'no reason given'})"
                                                   f"; see heaven logs {worker.key} --stderr")
                    await self._retire(worker, "it could not start")
                    self.changed.notify_all()
                return
            if job["cores"] and job["state"] in ("assigned", "running"):
                worker.cores = job["cores"]
            if job["state"] == "running" and job["pid"]:
                found = ADDRESS.findall(await asyncio.to_thread(self.controller.logs, worker.key))
                if found:
                    host, port = found[-1]
                    if (await self.probe.get(f"http://{host}:{port}/health")).text == "OK":
                        worker.host, worker.port = host, int(port)
                        worker.ready = worker.healthy = True
                        worker.failures, worker.lost_at = 0, None
                        worker.idle_since = worker.idle_since or self.clock()
                        return
        except (ClientError, httpx.HTTPError) as exc:
            log.debug("worker %s not up yet: %s", worker.key, exc)
        if waited > self.settings.start_timeout:
            async with self.changed:
                await self._retire(worker, f"did not answer within {self.settings.start_timeout:g} s")

    async def _probe(self, worker: Worker) -> None:
        try:
            answer = await self.probe.get(f"http://{worker.host}:{worker.port}/load")
            worker.measured = answer.json()["cpu_percent"]
            worker.healthy, worker.failures = True, 0
        except (httpx.HTTPError, ValueError, KeyError):
            worker.failures += 1
            worker.healthy = False
            if worker.failures >= LOST_AFTER and not worker.in_flight:
                # Its service restarts by itself (the controller's back-off); look for its new port.
                worker.ready, worker.lost_at = False, self.clock()
                self.record("lost", worker.name, f"no answer to {LOST_AFTER} looks in a row; waiting for its restart")

    async def run(self) -> None:
        while not self.stopping:
            try:
                await asyncio.to_thread(self.adopt)
                break
            except ClientError as exc:  # the controller is not answering yet: no decision before this
                log.warning("looking for an earlier gateway's workers: %s", exc.message)
                await asyncio.sleep(1.0)
        while not self.stopping:
            try:
                await self.tick()
            except Exception:  # one bad look must not end the pool's loop
                log.exception("gateway tick")
            starting = any(not w.ready for w in self.workers.values())
            await asyncio.sleep(0.25 if starting else 1.0)

    async def close(self) -> None:
        """Stop every worker this gateway started."""
        self.stopping = True
        async with self.changed:
            self.changed.notify_all()  # waiting calls answer that the gateway stops
        for worker in list(self.workers.values()):
            await self._retire(worker, "the gateway stops")
        await self.http.aclose()
        await self.probe.aclose()
