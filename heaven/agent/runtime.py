"""The agent process: register, follow the controller's assignments, report.

Three activities share one asyncio loop:
- the assignment follower long-polls the controller and reconciles (reconcile.py);
- exits are noticed the moment they happen (a reader on each job's pidfd) and
  reported at once, so a freed core is rescheduled within milliseconds;
- the heartbeat reports telemetry every second and retries whatever failed.

Every report that reaches the controller renews the shims' lease (shim.py): a
job outlives the agent's contact with the controller by the disconnect grace,
then its shim stops it. SIGTERM or SIGINT end the agent alone: its jobs keep
running under their shims, and the next agent re-adopts them (an upgrade, a
service restart). SIGUSR1 drains it: every job is stopped and requeued, its node
takes nothing new, and the agent exits.

Every executor call blocks (fork, cgroup writes, /proc walks, waiting for a
process to die), so all of them run on ONE worker thread: the loop keeps
answering the controller meanwhile, and the single thread keeps the steps in
the order reconcile gave them (a start before the resize that follows it).
The agent's own bookkeeping (runs, finished, outbox) is touched on the loop only.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from heaven.agent.accounts import AccountError, resolve
from heaven.agent.capacity import VcpuCapacity
from heaven.agent.executor import ExecError, Executor
from heaven.agent.reconcile import Adopt, Desired, Freeze, Held, Resize, Start, Stop, Thaw, reconcile
from heaven.agent.shims import renew_lease
from heaven.agent.telemetry import Telemetry, machine_resources
from heaven.client.failover import AsyncFailoverTransport, split_urls
from heaven.config import AgentSettings
from heaven.wire.agent import CAUSE_MAX, DISCONNECTED, DRAINED

log = logging.getLogger("heaven.agent")
REPORT_DELAY = 0.002  # seconds
# A report waits at most this long (the client's 35 s is for the assignments' long poll): one
# sent on a connection a partition cut must fail soon, so the next one, on a fresh connection,
# renews the shims' lease as soon as the network heals.
REPORT_TIMEOUT = 10.0  # seconds


def parse_cores(text: str) -> list[int]:
    """'0-3,6' -> [0, 1, 2, 3, 6]"""
    cores: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        cores.extend(range(int(low), int(high or low) + 1))
    return sorted(set(cores))


class QuietServer:
    """Mixin for uvicorn.Server: leave signal handling to the agent (see ``Agent.run``)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        machine = machine_resources(cores=parse_cores(settings.cores) if settings.cores else None)
        self.local_cores = machine["local_cores"]
        self.memory_mb = settings.memory_mb or machine["memory_mb"]
        self.storage_mb, self.gpus = machine["storage_mb"], machine["gpus"]
        self.name = settings.name or socket.gethostname()
        self.workdir = Path(settings.workdir) / self.name
        # One cgroup scope per agent process: two agents never share (or remove) each
        # other's groups; what a dead earlier run of this agent left behind is killed.
        self.executor = Executor(self.workdir, f"{self.name}.{os.getpid()}", settings.mode)
        self.lease = self.executor.statedir / "lease"  # renewed on every contact; shims read it
        self.executor.lease = {"path": str(self.lease), "grace": settings.disconnect_grace,
                               "stop_grace": settings.stop_grace, "cause": DISCONNECTED}
        self.draining = False  # SIGUSR1: stop every job and leave
        # Jobs whose shims outlived an earlier run of this agent (a crash, an upgrade) are
        # taken over, not restarted; those that ended meanwhile are reported with their codes.
        self.recovered, self.ended_away = self.executor.recover()
        if self.recovered or self.ended_away:
            log.info("recovered %d running job(s) and %d exit(s) from an earlier run",
                     len(self.recovered), len(self.ended_away))
        leftovers = self.executor.clear_stale(self.name)
        if leftovers:
            log.warning("killed %d processes an earlier run of %s left behind", leftovers, self.name)
        self.telemetry = Telemetry()
        # One controller, or replicas URL1,URL2: an unreachable one is passed over for the next.
        urls = split_urls(settings.controller)
        self.http = httpx.AsyncClient(base_url=urls[0], timeout=35.0,
                                      transport=AsyncFailoverTransport(urls) if len(urls) > 1 else None)
        self.endpoint = ""
        self.core_offset: int | None = None
        self.credential: str | None = None  # the node's own, answered by registration
        # What the controller must present to this agent's own API (logs); new on every start.
        self.agent_key = secrets.token_urlsafe(32)
        self.runs: dict[int, int] = dict(self.recovered)  # job id -> run number held
        self.finished: set[tuple[int, int]] = {(job, run) for job, run, _, _ in self.ended_away}
        # A recovered job is reported started again: its predecessor may have died before
        # reporting it (the controller takes a repeated start of a running job as a no-op).
        recovered = self.executor.jobs()
        self.outbox: dict[str, list] = {
            "started": [{"job": j, "run": r, "pid": recovered[j].pid} for j, r in self.recovered.items()],
            "exits": [{"job": j, "run": r, "exit_code": c, **({"cause": why} if why else {}),
                       **self.executor.usage(j)} for j, r, c, why in self.ended_away],
            "failed_to_start": []}
        self._send_lock = asyncio.Lock()
        self._flush_pending = False
        self._watched: dict[int, int] = {}  # job id -> pidfd with a reader on it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="executor")
        self.capacity = VcpuCapacity(self) if settings.hotplug else None  # a VM node's plugged vCPUs

    async def blocking(self, fn, *args):
        """Run an executor call on the worker thread (see the module's docstring)."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    # -- registration ----------------------------------------------------------------
    async def register(self) -> None:
        body = {"name": self.name, "endpoint": self.endpoint, "local_cores": self.local_cores,
                "memory_mb": self.memory_mb, "storage_mb": self.storage_mb, "gpus": self.gpus,
                "cluster": self.settings.cluster, "agent_key": self.agent_key,
                # By then every job of ours is stopped: the controller waits that long to requeue.
                "disconnect_grace": self.settings.disconnect_grace + self.settings.stop_grace}
        if self.core_offset is not None:
            body["core_offset"] = self.core_offset
        if self.settings.max_cores:
            body["max_cores"] = self.settings.max_cores
        join = self.settings.token.get_secret_value() if self.settings.token else ""
        while True:
            try:
                sent = time.time()
                answer = await self.http.post("/api/v1/agents/register", json=body,
                                              headers={"Authorization": f"Bearer {join}"})
                if answer.status_code == 200:
                    renew_lease(self.lease, sent)
                    self.core_offset = answer.json()["core_offset"]
                    self.credential = answer.json()["credential"]
                    self.http.headers["Authorization"] = f"Bearer {self.credential}"
                    log.info("registered %s at offset %s (%s mode)", self.name, self.core_offset, self.executor.mode)
                    return
                log.error("registration refused: %s", answer.text)
            except httpx.HTTPError as exc:
                log.warning("controller unreachable (%s); retrying", exc)
            await asyncio.sleep(1.0)

    # -- following assignments ---------------------------------------------------------
    async def follow(self) -> None:
        generation = -1
        while True:
            try:
                answer = await self.http.get(f"/api/v1/agents/{self.name}/assignments",
                                             params={"generation": generation, "wait": 25})
                if answer.status_code in (401, 404):  # forgotten, or registered again by another process
                    await self.register()
                    continue
                answer.raise_for_status()
                data = answer.json()
                generation = data["generation"]
                await self.apply([Desired(j["id"], j["run"], j["kind"], tuple(j["command"]), tuple(j["local_cores"]),
                                    j["memory_mb"], j["pid"], j.get("owner"), j.get("image"), j.get("suspended", False))
                                    for j in data["jobs"]])
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("assignments failed (%s); retrying", exc)
                await asyncio.sleep(0.5)

    def held(self, runs: dict[int, int]) -> dict[int, Held]:
        frozen = self.executor.suspended()
        return {job_id: Held(job_id, runs.get(job_id, 0), tuple(r.local_cores), r.adopted, job_id in frozen)
                for job_id, r in self.executor.jobs().items() if job_id > 0}

    async def apply(self, desired: list[Desired]) -> None:
        listed = {(d.id, d.run) for d in desired}
        self.finished &= listed  # the controller has seen the others end
        outcomes = await self.blocking(self._carry_out_all, desired, dict(self.runs), set(self.finished))
        started = False
        for step, result in outcomes:
            if isinstance(result, ExecError):
                job = step.job if isinstance(step, (Start, Adopt)) else None
                log.warning("%s failed: %s", type(step).__name__, result)
                if job is not None:
                    self.finished.add((job.id, job.run))
                    self.outbox["failed_to_start"].append({"job": job.id, "run": job.run, "exit_code": 127,
                                                           "cause": str(result)[:CAUSE_MAX]})
                    started = True
            elif isinstance(step, (Start, Adopt)):
                job = step.job
                self.runs[job.id] = job.run
                if isinstance(step, Start):
                    self._watch(job.id, job.run, result.pidfd)
                # Adopted: pinned, so the controller may now show (and the program trust) the allocation.
                self.outbox["started"].append({"job": job.id, "run": job.run, "pid": result.pid})
                started = True
            elif isinstance(step, Stop) and step.adopted:  # an adopted process is released at once
                self.runs.pop(step.id, None)
        if started:  # a start is reported at once: it is on the submit-to-running path
            asyncio.ensure_future(self.report(with_telemetry=False))

    def _carry_out_all(self, desired: list[Desired], runs: dict[int, int], finished: set) -> list[tuple]:
        """On the worker thread: reconcile against what the executor holds and carry the steps
        out; [(step, RunningJob | None | ExecError)] for the loop to record."""
        outcomes = []
        held = self.held(runs)
        # Read after what is held: a process collected meanwhile on another thread, whose exit
        # the loop has not booked in ``finished`` yet, is among the ended runs by then. Without
        # this an assignment list arriving in that gap started a job that had just ended, again
        # (found by bench/bench_chaos.py: a second copy began after the job's success).
        finished = finished | self.executor.ended_runs()
        for step in reconcile(desired, held, finished):
            try:
                outcomes.append((step, self._carry_out(step)))
            except ExecError as exc:
                outcomes.append((step, exc))
        return outcomes

    def _carry_out(self, step):
        if isinstance(step, Start):
            job = step.job
            try:
                account = resolve(self.settings.run_as, job.owner)
            except (AccountError, OSError, subprocess.CalledProcessError) as exc:
                raise ExecError(f"job {job.id} cannot run: {exc}") from exc
            return self.executor.start(job.id, list(job.command), job.local_cores, job.memory_mb, run=job.run,
                                       account=account, image=job.image)
        if isinstance(step, Adopt):
            job = step.job
            return self.executor.adopt(job.id, job.pid, job.local_cores)
        if isinstance(step, Resize):
            self.executor.set_cores(step.id, step.local_cores)
            log.info("job %s now on cores %s", step.id, list(step.local_cores))
            return None
        if isinstance(step, Freeze):
            self.executor.suspend(step.id)
            log.info("job %s suspended", step.id)
            return None
        if isinstance(step, Thaw):
            self.executor.resume(step.id, step.local_cores)
            log.info("job %s resumed on cores %s", step.id, list(step.local_cores))
            return None
        if isinstance(step, Stop):
            self.executor.stop(step.id, self.settings.stop_grace)
            return None
        raise TypeError(step)

    def _watch(self, job_id: int, run: int, pidfd: int | None) -> None:
        if pidfd is None or self._loop is None:
            return  # the heartbeat's poll() catches it

        def exited() -> None:
            # Unwatched before reap() closes the fd (on the worker thread).
            self._unwatch(job_id)
            asyncio.ensure_future(self._collect(job_id, run))
        self._watched[job_id] = pidfd
        self._loop.add_reader(pidfd, exited)

    def _unwatch(self, job_id: int) -> None:
        """Drop the reader on a job's pidfd. Must happen before (or right after, in the same
        step as) the fd is closed: a later pidfd with the same number would otherwise be
        taken for this one by the event loop and never report its exit."""
        pidfd = self._watched.pop(job_id, None)
        if pidfd is not None:
            self._loop.remove_reader(pidfd)

    async def _collect(self, job_id: int, run: int) -> None:
        code = await self.blocking(self.executor.reap, job_id)
        if code is not None:
            self._ended(job_id, run, code)

    def _ended(self, job_id: int, run: int, code: int) -> None:
        self.runs.pop(job_id, None)
        self.telemetry.forget(job_id)
        self.finished.add((job_id, run))
        cause = self.executor.cause(job_id)
        self.outbox["exits"].append({"job": job_id, "run": run, "exit_code": code, **({"cause": cause} if cause else {}),
                                     **self.executor.usage(job_id)})
        self.flush_soon()

    # -- reporting ------------------------------------------------------------------------
    def flush_soon(self) -> None:
        """Report starts and exits within a couple of milliseconds: what happens meanwhile
        (a short job's start and its exit, several exits) shares one request."""
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_later(REPORT_DELAY, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        asyncio.ensure_future(self.report(with_telemetry=False))

    async def report(self, with_telemetry: bool, leaving: bool = False, timeout: float = REPORT_TIMEOUT) -> bool:
        """Send the outbox (and telemetry); True once the controller took it. ``leaving``: the
        agent is drained, its node must take nothing new."""
        async with self._send_lock:
            body = {k: v for k, v in self.outbox.items()}
            self.outbox = {k: [] for k in body}
            if with_telemetry:
                body["jobs"], body["node"] = await self.blocking(self._samples)
            try:
                sent = time.time()
                answer = await self.http.post(f"/api/v1/agents/{self.name}/report",
                                              json={**body, **({"leaving": True} if leaving else {})},
                                              timeout=timeout)
                if answer.status_code in (401, 404) and not leaving:
                    await self.register()
                ok = answer.status_code == 200
                if ok:
                    renew_lease(self.lease, sent)
            except httpx.HTTPError as exc:
                log.warning("report failed (%s); will retry", exc)
                ok = False
            if not ok:  # keep what was not delivered for the next report
                for key in self.outbox:
                    self.outbox[key] = body[key] + self.outbox[key]
            return ok

    def _samples(self) -> tuple[dict, dict]:
        jobs = {job_id: self.telemetry.sample_job(job_id, self.executor.pids(job_id))
                for job_id in list(self.executor.jobs()) if job_id > 0}
        return jobs, self.telemetry.node()

    async def heartbeat(self) -> None:
        while True:
            stopped = await self.blocking(self.executor.enforce_lease, time.time())
            if stopped:
                log.warning("no contact with the controller for %gs: stopped container job(s) %s",
                            self.settings.disconnect_grace, stopped)
            for job_id, code in await self.blocking(self.executor.poll, True):
                self._unwatch(job_id)
                if job_id > 0:
                    self._ended(job_id, self.runs.get(job_id, 0), code)
            await self.report(with_telemetry=True)
            await asyncio.sleep(self.settings.heartbeat)

    # -- the whole process ------------------------------------------------------------------
    async def run(self, server) -> None:
        """Serve the agent API and follow the controller until a stop signal: SIGTERM/SIGINT
        leave the jobs running under their shims (the next agent re-adopts them), SIGUSR1
        drains (stops and requeues every job) first.

        ``server`` must not capture signals itself (uvicorn re-raises them after
        serving, which would kill this process before it is done)."""
        self._loop = asyncio.get_running_loop()
        for job_id, run in self.recovered.items():
            self._watch(job_id, run, self.executor.jobs()[job_id].pidfd)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        self._loop.add_signal_handler(signal.SIGUSR1, lambda: (setattr(self, "draining", True),
                                                               setattr(server, "should_exit", True)))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.endpoint = self.settings.advertise or f"http://{self.settings.host}:{port}"
        # Registration retries until it is accepted (a refused join token never is): a stop
        # signal meanwhile must still end the process, so it runs beside the server.
        registering = asyncio.create_task(self.register())
        await asyncio.wait({registering, serving}, return_when=asyncio.FIRST_COMPLETED)
        workers = [asyncio.create_task(self.follow()), asyncio.create_task(self.heartbeat())] \
            if registering.done() else [registering]
        if registering.done() and self.capacity is not None:
            workers.append(asyncio.create_task(self.capacity.watch()))
        try:
            await serving  # ends on a stop signal
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for job_id in list(self._watched):
                self._unwatch(job_id)
            held = sum(job_id > 0 for job_id in self.executor.jobs())
            if self.draining:
                await self.drain()
            await self.http.aclose()
            # Drained: nothing is left but adopted processes, which are let go. Otherwise every
            # job stays with its shim, and the shims' lease keeps counting without us.
            await self.blocking(self.executor.shutdown, self.draining)
            self._worker.shutdown()
            if self.draining:
                log.info("drained agent %s: stopped %d job%s", self.name, held, "" if held == 1 else "s")
            else:
                log.info("stopped agent %s; its %d job%s keep running under their shims",
                         self.name, held, "" if held == 1 else "s")

    async def drain(self) -> None:
        """Tell the controller this node takes nothing new, stop every job, report them
        stopped by a drain (the controller requeues them), in that order."""
        if self.credential is not None:  # briefly: a drain must stop the jobs even if nobody listens
            await self.report(with_telemetry=False, leaving=True, timeout=2.0)
        # Jobs that ended by themselves before the drain keep their own end (a job that succeeded
        # must not be requeued and run again); only what the drain stops is reported as drained.
        for job_id, code in await self.blocking(self.executor.poll):  # no pidfd is watched any more
            if job_id > 0:
                self._ended(job_id, self.runs.get(job_id, 0), code)
        ended = await self.blocking(self._stop_all)
        for job_id, code in ended:
            self.outbox["exits"].append({"job": job_id, "run": self.runs.pop(job_id, 0), "exit_code": code,
                                         "cause": DRAINED, **self.executor.usage(job_id)})
        if self.credential is not None and not await self.report(with_telemetry=False, leaving=True):
            log.warning("the controller did not hear of the drain; it requeues the jobs once the node is down")

    def _stop_all(self) -> list[tuple[int, int]]:
        """On the worker thread: SIGTERM every started job, SIGKILL after the stop grace; their codes."""
        ids = [job_id for job_id in self.executor.jobs() if job_id > 0]
        for job_id in ids:
            self.executor.stop(job_id, self.settings.stop_grace)
        ended, deadline = [], time.monotonic() + self.settings.stop_grace + 10
        while len(ended) < len(ids) and time.monotonic() < deadline:
            ended += [(j, c) for j, c in self.executor.poll() if j > 0]
            time.sleep(0.02)
        return ended
