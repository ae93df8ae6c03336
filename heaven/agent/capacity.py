"""A VM node's agent keeping the controller's count of its CPUs true, live.

- plugged: the CPU is brought online (hotplug.py) and the node's new CPU list is
  sent at once (PUT /api/v1/agents/NAME/cores), so the scheduler can use it within
  the same second;
- released (the VM's host side asks, before an unplug): the list without that CPU
  is sent first; the controller shrinks the job holding it and wakes this agent's
  assignment follower, which rewrites the job's affinity; once no job is on the
  CPU any more it is taken offline, and the host side may unplug it.

The controller answers the list in its own order (CPUs that stay keep their
positions), and that order becomes the agent's ``local_cores``.
"""
from __future__ import annotations

import asyncio
import logging
import time

import httpx

from heaven.agent.hotplug import CpuHotplug, drain, uevent_socket

log = logging.getLogger("heaven.agent.capacity")
POLL = 1.0  # seconds between passes when no uevent arrives


class ReleaseRefused(Exception):
    """The controller would not let the CPU go (its job cannot shrink), or it never got free."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class VcpuCapacity:
    def __init__(self, agent, hotplug: CpuHotplug | None = None) -> None:
        self.agent = agent
        self.hotplug = hotplug or CpuHotplug()
        self._lock = asyncio.Lock()  # one change of the CPU list at a time
        # Why the host side is plugging a vCPU (said just before it plugs): the reason the
        # controller records with the capacity the next new CPU brings.
        self.next_reason = ""

    async def watch(self) -> None:
        """Bring plugged CPUs online and report them; runs for the agent's life."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        sock = uevent_socket()
        if sock is not None:
            loop.add_reader(sock.fileno(), lambda: drain(sock) and woken.set())
        try:
            while True:
                try:
                    await self.sync("hot-plugged")
                except ReleaseRefused as refused:  # unreachable, or refused: the next look tries again
                    log.warning("could not report this node's CPUs (%s): retrying", refused)
                woken.clear()
                try:
                    await asyncio.wait_for(woken.wait(), POLL)
                except asyncio.TimeoutError:
                    pass
        finally:
            if sock is not None:
                loop.remove_reader(sock.fileno())
                sock.close()

    async def sync(self, why: str) -> None:
        async with self._lock:
            onlined = await self.agent.blocking(self.hotplug.bring_online)
            usable = await self.agent.blocking(self.hotplug.usable)
            if set(usable) == set(self.agent.local_cores):
                return
            added = sorted(set(usable) - set(self.agent.local_cores))
            reason = f"CPUs {added} {why} and online" if added else "CPUs went offline"
            if added and self.next_reason:
                reason, self.next_reason = f"{self.next_reason}; {reason}", ""
            if onlined:
                log.info("brought CPUs %s online", onlined)
            await self._send([c for c in self.agent.local_cores if c in usable] + added, reason)

    async def release(self, cpu: int, reason: str, timeout: float = 30.0) -> list[int]:
        """Take ``cpu`` from the node: the controller shrinks its job, the job's affinity is
        rewritten, the CPU goes offline. Returns the node's CPUs after."""
        async with self._lock:
            if cpu not in self.agent.local_cores:
                raise ReleaseRefused(404, f"CPU {cpu} is not one of this node's CPUs {self.agent.local_cores}")
            self.hotplug.leaving.add(cpu)
            try:
                await self._send([c for c in self.agent.local_cores if c != cpu], reason or f"CPU {cpu} released")
            except ReleaseRefused:
                self.hotplug.leaving.discard(cpu)
                raise
            deadline = time.monotonic() + timeout
            while any(cpu in job.local_cores for job in self.agent.executor.jobs().values()):
                if time.monotonic() > deadline:
                    raise ReleaseRefused(504, f"a job still runs on CPU {cpu} after {timeout:g}s")
                await asyncio.sleep(0.02)  # the assignment follower applies the shrink
            await self.agent.blocking(self.hotplug.take_offline, cpu)
            log.info("CPU %s released and offline (%s)", cpu, reason)
            return list(self.agent.local_cores)

    async def _send(self, cores: list[int], reason: str) -> None:
        try:
            answer = await self.agent.http.put(f"/api/v1/agents/{self.agent.name}/cores",
                                               json={"local_cores": cores, "reason": reason[:300]})
        except httpx.HTTPError as exc:
            raise ReleaseRefused(503, f"controller unreachable: {exc}") from exc
        if answer.status_code != 200:
            try:
                message = answer.json().get("message", answer.text)
            except ValueError:
                message = answer.text
            log.warning("the controller refused CPUs %s: %s", cores, message)
            raise ReleaseRefused(answer.status_code if answer.status_code < 500 else 503, message)
        self.agent.local_cores = answer.json()["local_cores"]
        log.info("node now has CPUs %s (%s)", self.agent.local_cores, reason)
