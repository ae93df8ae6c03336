"""The ``command`` provider: the operator's own scripts start and stop nodes (for clouds).

``create`` is run to start a node and ``delete`` to stop it, as argv lists without a shell,
each with this environment (and the controller's own):

  HEAVEN_POOL           the pool's name
  HEAVEN_NODE_NAME      the name the node's agent must register with (``heaven agent --name``)
  HEAVEN_CLUSTER        the cluster it joins (``--cluster``)
  HEAVEN_CONTROLLER     the controller's URL (``--controller``)
  HEAVEN_AGENT_TOKEN    the join token (create only; the agent reads it from its environment)
  HEAVEN_NODE_CORES     how many cores the node should offer
  HEAVEN_NODE_ID        delete only: what create printed (empty after a controller restart)

``create`` must return once the machine is on its way (the node joins by itself; the pool
waits ``launch_timeout`` for it); the last line it prints is kept as the node's id. A
non-zero exit, or more than ``command_timeout`` seconds, is a failed launch whose event
quotes the script's last error line. ``delete`` must be idempotent: it may be asked about
a node that is gone. Nodes of this provider outlive the controller (a restart must not
delete a fleet); the pool adopts them again by name.
"""
from __future__ import annotations

import os
import subprocess

from heaven.config import PoolSpec
from heaven.control.pools.providers import LaunchFailed, Launched, LaunchRequest


class CommandProvider:
    kind = "command"

    def __init__(self, spec: PoolSpec) -> None:
        self.spec = spec

    def _run(self, argv: list[str], env: dict[str, str], what: str) -> str:
        try:
            done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                                  timeout=self.spec.command_timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise LaunchFailed(f"{what} took more than {self.spec.command_timeout:g}s") from None
        except OSError as exc:
            raise LaunchFailed(f"{what} could not run: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
            raise LaunchFailed(f"{what} exited with {done.returncode}: {last[0][:300]}")
        return done.stdout

    def launch(self, request: LaunchRequest) -> Launched:
        out = self._run(self.spec.create, {
            "HEAVEN_POOL": request.pool, "HEAVEN_NODE_NAME": request.node, "HEAVEN_CLUSTER": request.cluster,
            "HEAVEN_CONTROLLER": request.controller_url, "HEAVEN_AGENT_TOKEN": request.join_token,
            "HEAVEN_NODE_CORES": str(request.cores)}, "create")
        lines = out.strip().splitlines()
        handle = lines[-1].strip()[:200] if lines else ""
        return Launched(request.node, handle, f"create printed {handle!r}" if handle else "create printed nothing")

    def stop(self, launched: Launched) -> None:
        self._run(self.spec.delete, {"HEAVEN_POOL": self.spec.name, "HEAVEN_NODE_NAME": launched.node,
                                     "HEAVEN_CLUSTER": self.spec.cluster, "HEAVEN_NODE_ID": launched.handle,
                                     "HEAVEN_NODE_CORES": str(self.spec.node_cores),
                                     "HEAVEN_CONTROLLER": self.spec.controller_url or ""}, "delete")

    def alive(self, launched: Launched) -> bool | None:
        return None

    def close(self) -> None:
        pass
