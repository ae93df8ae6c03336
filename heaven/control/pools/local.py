"""The ``local`` provider: agent processes on this machine, each on CPUs of its own.

As ``heaven up`` starts its agents, but one at a time and on demand: a node takes
``node_cores`` CPUs no other agent of this pool holds (from the pool's ``cpus``, default
every CPU this process may use), and is its own process group, so stopping it reaches its
shims too. Agents are stopped with SIGUSR1, the drain (each stops its jobs and leaves; a
SIGTERM would leave them running under their shims), SIGKILL after a grace.
They are the controller's children and stop with it (``close``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from heaven.config import PoolSpec
from heaven.control.pools.cpus import pool_cpus, take_free
from heaven.control.pools.providers import LaunchFailed, Launched, LaunchRequest

STOP_GRACE = 15.0  # seconds: the agent's own stop grace for its jobs is 5 s


class LocalProvider:
    kind = "local"

    def __init__(self, spec: PoolSpec) -> None:
        self.cpus = pool_cpus(spec)
        self.workdir = spec.workdir
        self._procs: dict[str, tuple[subprocess.Popen, tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    def _free_cpus(self, count: int) -> tuple[int, ...]:
        held = (c for proc, cpus in self._procs.values() if proc.poll() is None for c in cpus)
        return take_free(self.cpus, held, count, self.kind)

    def launch(self, request: LaunchRequest) -> Launched:
        with self._lock:
            cpus = self._free_cpus(request.cores)
            log_dir = Path(self.workdir)
            log_dir.mkdir(parents=True, exist_ok=True)
            log = open(log_dir / f"{request.node}.log", "ab")
            # The join token goes by environment, not argument: other users can read arguments in ps.
            env = {**os.environ, "HEAVEN_AGENT_TOKEN": request.join_token}
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "heaven.launch", "agent", "--name", request.node, "--cluster",
                     request.cluster, "--controller", request.controller_url, "--cores", ",".join(map(str, cpus)),
                     "--workdir", self.workdir],
                    env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, process_group=0)
            except OSError as exc:
                raise LaunchFailed(f"could not start an agent: {exc}") from None
            finally:
                log.close()
            self._procs[request.node] = (proc, cpus)
        return Launched(request.node, str(proc.pid), f"agent pid {proc.pid} on CPUs {','.join(map(str, cpus))}")

    def stop(self, launched: Launched) -> None:
        with self._lock:
            entry = self._procs.pop(launched.node, None)
        if entry is None:
            return
        proc = entry[0]
        if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def alive(self, launched: Launched) -> bool | None:
        entry = self._procs.get(launched.node)
        return entry is not None and entry[0].poll() is None

    def close(self) -> None:
        for node in list(self._procs):
            self.stop(Launched(node, ""))
