"""Network namespaces a test makes for its agents, as if each ran on a host of its own.

One bridge in the test's own namespace holds the controller's address; each agent
gets a namespace with a veth pair to that bridge and an address that exists only
inside it (10.77.N.0/24, N from the test process's PID so parallel runs do not
meet). Nothing is routed anywhere: the bridge has no uplink. ``partition`` takes
the agent's end of its link down (its route to the controller goes with it, as
on a real cut cable) and ``heal`` brings it back. ``remove`` deletes everything
this object made and is safe to call after a failure half-way.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"hhprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns is not available: {made.stderr.strip() or made.returncode}"
    _ip("netns", "del", probe, check=False)
    return None


class Network:
    def __init__(self) -> None:
        self.tag = f"hh{os.getpid() % 100000}"
        self.subnet = f"10.77.{os.getpid() % 250 + 1}"
        self.bridge = f"{self.tag}b"
        self.host = f"{self.subnet}.1"  # the controller listens here
        self.namespaces: dict[str, str] = {}  # agent name -> namespace
        self.links: dict[str, str] = {}  # agent name -> its end of the veth, inside its namespace
        self.addresses: dict[str, str] = {}
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add(self, name: str) -> str:
        """A namespace for agent ``name``, linked to the bridge; returns its address."""
        index = len(self.namespaces) + 1
        ns, outside, inside = f"{self.tag}n{index}", f"{self.tag}h{index}", f"{self.tag}a{index}"
        _ip("netns", "add", ns)
        self.namespaces[name] = ns
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("link", "set", outside, "master", self.bridge, "up")
        address = f"{self.subnet}.{10 + index}"
        for args in (("addr", "add", f"{address}/24", "dev", inside), ("link", "set", inside, "up"),
                     ("link", "set", "lo", "up")):
            _ip("netns", "exec", ns, "ip", *args)
        self.links[name], self.addresses[name] = inside, address
        return address

    def wrap(self, name: str) -> tuple[str, ...]:
        """The command prefix that runs a process in agent ``name``'s namespace."""
        return ("ip", "netns", "exec", self.namespaces[name])

    def reaches(self, name: str, port: int) -> bool:
        """Whether a TCP connection from agent ``name``'s namespace to the controller succeeds."""
        probe = f"import socket; socket.create_connection(({self.host!r}, {port}), timeout=1).close()"
        return _ip("netns", "exec", self.namespaces[name], sys.executable, "-c", probe, check=False).returncode == 0

    def partition(self, name: str) -> None:
        _ip("netns", "exec", self.namespaces[name], "ip", "link", "set", self.links[name], "down")

    def heal(self, name: str) -> None:
        _ip("netns", "exec", self.namespaces[name], "ip", "link", "set", self.links[name], "up")

    def remove(self) -> None:
        """Delete the namespaces (their veths go with them) and the bridge, whatever exists."""
        for ns in self.namespaces.values():
            _ip("netns", "del", ns, check=False)
        self.namespaces.clear()
        _ip("link", "del", self.bridge, check=False)
