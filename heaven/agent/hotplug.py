"""vCPUs plugged into, or about to leave, the machine this agent runs on (a VM node).

A hot-plugged CPU appears in sysfs offline: a minimal guest has no udev rule to
online it, so the agent writes 1 to /sys/devices/system/cpu/cpuN/online. Before
an unplug the agent takes the CPU offline itself (after the controller shrank the
job holding it), and waits until both sysfs and its own affinity show it gone:
the affinity drops slightly before sysfs changes.

The kernel announces CPU devices on the uevent netlink socket, so the agent wakes
on a plug instead of polling; a poll every second catches a missed message.
Only with HEAVEN_AGENT_HOTPLUG=1: an agent on an ordinary machine never onlines
a CPU someone took offline.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from heaven.agent.affinity import parse_cpu_list

SYS_CPU = Path("/sys/devices/system/cpu")
NETLINK_KOBJECT_UEVENT = 15


class CpuHotplug:
    def __init__(self, root: Path = SYS_CPU) -> None:
        self.root = root
        self.leaving: set[int] = set()  # released for an unplug: never brought online again until gone

    def present(self) -> list[int]:
        return sorted(int(p.name[3:]) for p in self.root.glob("cpu[0-9]*") if p.name[3:].isdigit())

    def online(self) -> list[int]:
        return parse_cpu_list((self.root / "online").read_text())

    def usable(self) -> list[int]:
        """The CPUs the agent may offer: online, not being released, in its own affinity."""
        mine = os.sched_getaffinity(0)
        return [c for c in self.online() if c not in self.leaving and c in mine]

    def bring_online(self) -> list[int]:
        """Online every present, offline CPU not being released; the CPUs onlined."""
        self.leaving &= set(self.present())  # an unplugged CPU's number may come back as a new one
        onlined = []
        online = set(self.online())
        for cpu in self.present():
            switch = self.root / f"cpu{cpu}" / "online"
            if cpu in online or cpu in self.leaving or not switch.exists():
                continue
            try:
                switch.write_text("1")
                onlined.append(cpu)
            except OSError:
                continue  # being removed as we looked, or refused by the kernel: the next pass sees it
        return onlined

    def take_offline(self, cpu: int, timeout: float = 10.0) -> None:
        """Offline ``cpu`` and wait until neither sysfs nor this process's affinity has it."""
        self.leaving.add(cpu)
        switch = self.root / f"cpu{cpu}" / "online"
        if cpu in self.online():
            switch.write_text("0")
        deadline = time.monotonic() + timeout
        while cpu in self.online() or cpu in os.sched_getaffinity(0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CPU {cpu} is still online after {timeout:g}s")
            time.sleep(0.01)


def uevent_socket() -> socket.socket | None:
    """A non-blocking socket that becomes readable on every kernel device event; None if
    this kernel or sandbox refuses it (the once-a-second poll is then the only watcher)."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
        sock.bind((0, 1))
        sock.setblocking(False)
        return sock
    except (OSError, AttributeError):
        return None


def drain(sock: socket.socket) -> bool:
    """Read every pending event; True if one concerned a CPU."""
    about_cpu = False
    while True:
        try:
            message = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return about_cpu
        about_cpu = about_cpu or b"/devices/system/cpu/" in message
