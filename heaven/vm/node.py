"""A VM node: a QEMU guest running `heaven agent` from this machine's Python and source.

The agent in the guest reaches the controller at GUEST_CONTROLLER_IP:8000, which
QEMU forwards to the controller's port on 127.0.0.1 (guestfwd); its own API listens
on the guest's port 8000, forwarded from a free port on 127.0.0.1 (hostfwd) that it
advertises to the controller. It runs with HEAVEN_AGENT_HOTPLUG=1 (it onlines
plugged vCPUs and reports them), registers the VM's ``max_vcpus`` as its
``max_cores``, and answers the host side's release of a vCPU with ``host_key``.
"""
from __future__ import annotations

import secrets
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from heaven.vm.guest import GUEST_CONTROLLER_IP, BootFiles, boot_files
from heaven.vm.providers import QemuHotplug
from heaven.vm.qemu import Forward, Guest, GuestSpec

GUEST_AGENT_PORT = 8000
GUEST_CONTROLLER_PORT = 8000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class VmNodeSpec:
    name: str
    controller_port: int  # the controller's port on 127.0.0.1
    join_token: str
    work: Path  # writable share (the agent's logs, guest-run.sh); seen at the same path in the guest
    max_vcpus: int = 16
    memory_mb: int = 256
    mode: str = "auto"  # the agent's placement mode
    cgroup2: bool = True  # mount cgroup v2 in the guest (a real v2 host for the cgroup placement)
    env: dict[str, str] = field(default_factory=dict)


def guest_script(spec: VmNodeSpec, agent_port: int, host_key: str) -> str:
    """The guest's run script: mount cgroup v2 if asked, then run the agent until it ends."""
    env = {
        "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HEAVEN_AGENT_CONTROLLER": f"http://{GUEST_CONTROLLER_IP}:{GUEST_CONTROLLER_PORT}",
        "HEAVEN_AGENT_HOST": "0.0.0.0", "HEAVEN_AGENT_PORT": str(GUEST_AGENT_PORT),
        "HEAVEN_AGENT_ADVERTISE": f"http://127.0.0.1:{agent_port}",
        "HEAVEN_AGENT_NAME": spec.name, "HEAVEN_AGENT_TOKEN": spec.join_token,
        "HEAVEN_AGENT_HOTPLUG": "1", "HEAVEN_AGENT_MAX_CORES": str(spec.max_vcpus),
        "HEAVEN_AGENT_HOST_KEY": host_key, "HEAVEN_AGENT_WORKDIR": "/run/heaven",
        "HEAVEN_AGENT_MODE": spec.mode, "HEAVEN_RUN_AS": "root", **spec.env,
    }
    lines = ["#!/bin/sh"]
    if spec.cgroup2:
        lines.append("mount -t cgroup2 none /sys/fs/cgroup && echo cgroup2: $(cat /sys/fs/cgroup/cgroup.controllers)")
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    # The host's own interpreter and source tree, read over the read-only 9p share.
    lines.append(f"exec {shlex.quote(sys.executable)} -c 'from heaven.launch import app; app()' agent")
    return "\n".join(lines) + "\n"


class VmNode:
    """Boot with ``start()``; ``stop()`` always ends the guest (call it in a finally)."""

    def __init__(self, spec: VmNodeSpec, boot: BootFiles | None = None) -> None:
        self.spec = spec
        self.boot = boot or boot_files()
        self.agent_port = free_port()
        self.host_key = secrets.token_urlsafe(24)
        self.guest: Guest | None = None
        self.provider: QemuHotplug | None = None

    @property
    def agent_url(self) -> str:
        return f"http://127.0.0.1:{self.agent_port}"

    def agent_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.agent_url, timeout=60.0,
                            headers={"Authorization": f"Bearer {self.host_key}"})

    def start(self) -> "VmNode":
        self.spec.work.mkdir(parents=True, exist_ok=True)
        (self.spec.work / "guest-run.sh").write_text(guest_script(self.spec, self.agent_port, self.host_key))
        guest_spec = GuestSpec(work=self.spec.work, memory_mb=self.spec.memory_mb, max_vcpus=self.spec.max_vcpus,
                               forwards=[Forward(self.agent_port, GUEST_AGENT_PORT)],
                               controller=(GUEST_CONTROLLER_PORT, self.spec.controller_port))
        self.guest = Guest(guest_spec, self.boot, name=self.spec.name)
        self.provider = QemuHotplug(self.guest.qmp())
        return self

    def wait_for_agent(self, timeout: float = 120.0) -> float:
        """Seconds from QEMU's start until the guest agent answers on its forwarded port."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.agent_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.guest.alive():
                    raise RuntimeError(f"the guest ended: {self.log()[-2000:]}")
                try:
                    if client.get("/health").status_code == 200:
                        return time.monotonic() - self.guest.started_at
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"the guest agent did not answer within {timeout:g}s: {self.log()[-2000:]}")

    def log(self) -> str:
        path = self.spec.work / "guest-run.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.guest is not None:
            self.guest.stop()
