"""The threshold loop of one VM node: sample its use, ask the rule, plug or unplug.

Use is the busy share of the node's CPUs as its agent last reported them to the
controller (telemetry ``per_core``, over the CPUs the controller counts). The rule
is heaven.core.vcpus.decide (pure); this loop carries its answer out:

- plug: tell the agent why (its capacity report carries the reason into the
  controller's event), plug through the provider, and wait until the controller
  counts the new CPU;
- unplug: the node's last CPU is released by the agent first (the controller shrinks
  the job on it, the agent rewrites the job's affinity and offlines the CPU), and only
  then unplugged. A refused release (its job is at min_cores) unplugs nothing.

Every change is kept in ``history`` with its reason and how long it took from the
decision until the controller saw the new capacity.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from heaven.core.vcpus import VcpuChange, VcpuRules, VcpuState, decide
from heaven.vm.providers import HotplugError, VcpuProvider

log = logging.getLogger("heaven.vm.scaler")


@dataclass(frozen=True)
class Change:
    at: float
    delta: int
    cpu: int | None
    reason: str
    seconds: float  # decision -> capacity seen by the controller (or the refusal)
    refused: str = ""


def node_use(node: dict) -> float:
    """Busy share (0..1) of the node's CPUs in its last telemetry."""
    per_core = (node.get("telemetry") or {}).get("per_core") or []
    cores = node["local_cores"]
    busy = sum(per_core[c] for c in cores if c < len(per_core))
    return min(1.0, busy / (100.0 * len(cores))) if cores else 0.0


class VmScaler:
    def __init__(self, node: str, provider: VcpuProvider, controller: httpx.Client, agent: httpx.Client,
                 rules: VcpuRules, clock: Callable[[], float] = time.monotonic, timeout: float = 30.0) -> None:
        problem = rules.problem()
        if problem:
            raise ValueError(f"vCPU rules: {problem}")
        self.node, self.provider, self.controller, self.agent = node, provider, controller, agent
        self.rules, self.clock, self.timeout = rules, clock, timeout
        self.state = VcpuState()
        self.history: list[Change] = []

    def read(self) -> dict:
        answer = self.controller.get(f"/api/v1/nodes/{self.node}")
        answer.raise_for_status()
        return answer.json()

    def step(self) -> Change | None:
        node = self.read()
        now = self.clock()
        self.state, change = decide(self.rules, self.state, node_use(node), len(node["local_cores"]), now)
        if change is None:
            return None
        done = self.plug(change, now) if change.delta > 0 else self.unplug(change, node, now)
        self.history.append(done)
        log.info("%s: %s%s", self.node, done.reason, f" (refused: {done.refused})" if done.refused else "")
        return done

    def plug(self, change: VcpuChange, decided: float) -> Change:
        self.agent.post("/cpus/plugging", json={"reason": change.reason}).raise_for_status()
        cpu = self.provider.plug()
        self._wait(lambda node: cpu in node["local_cores"], f"CPU {cpu} counted by the controller")
        return Change(decided, +1, cpu, change.reason, self.clock() - decided)

    def unplug(self, change: VcpuChange, node: dict, decided: float) -> Change:
        cpu = node["local_cores"][-1]
        answer = self.agent.post(f"/cpus/{cpu}/release", json={"reason": change.reason})
        if answer.status_code != 200:
            return Change(decided, 0, cpu, change.reason, self.clock() - decided, refused=answer.text)
        try:
            self.provider.unplug(cpu)
        except HotplugError as exc:
            return Change(decided, 0, cpu, change.reason, self.clock() - decided, refused=str(exc))
        return Change(decided, -1, cpu, change.reason, self.clock() - decided)

    def _wait(self, ready: Callable[[dict], bool], what: str) -> None:
        deadline = self.clock() + self.timeout
        while not ready(self.read()):
            if self.clock() > deadline:
                raise TimeoutError(f"{self.node}: no {what} within {self.timeout:g}s")
            time.sleep(0.02)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Step every ``interval`` seconds until ``stop`` is set; errors are logged, not fatal."""
        while not stop.is_set():
            try:
                self.step()
            except (httpx.HTTPError, HotplugError, TimeoutError, OSError) as exc:
                log.warning("%s: %s", self.node, exc)
            stop.wait(interval)
