"""One interface for plugging a VM's vCPUs live, and its three providers.

A provider knows one hypervisor's way to add or remove a vCPU; what the guest
does with it (online it, report it, release it first) is the agent's business.
CPU numbers are the guest's: the N of /sys/devices/system/cpu/cpuN.

- ``qemu``: QMP ``device_add`` / ``device_del`` (the slot's type and properties come
  from ``query-hotpluggable-cpus``; an unplug is over when the slot is free again);
- ``libvirt``: ``virsh setvcpus DOMAIN N --live`` (libvirt adds and removes the
  highest-numbered vCPU, so only the last CPU can leave);
- ``virtualbox``: ``VBoxManage controlvm VM plugcpu|unplugcpu N`` (VirtualBox keeps
  no count we can read cheaply while the VM runs, so the provider keeps it: the
  CPUs the VM booted with, then what it plugged).

libvirt and VirtualBox cannot run on this machine: their tests drive a recording
stand-in (a fake ``virsh`` / ``VBoxManage`` on PATH that records its argv) and pass
the same contract tests as the qemu provider.
"""
from __future__ import annotations

import subprocess
import time
from typing import Protocol

from heaven.vm.qemu import Qmp, QmpError


class HotplugError(RuntimeError):
    pass


class VcpuProvider(Protocol):
    kind: str

    def vcpus(self) -> list[int]:
        """The guest CPU numbers plugged now, boot CPUs included."""

    def plug(self) -> int:
        """Add one vCPU; its guest CPU number."""

    def unplug(self, cpu: int) -> None:
        """Remove vCPU ``cpu`` (the agent has already released it); returns once it is gone."""


class QemuHotplug:
    kind = "qemu"

    def __init__(self, qmp: Qmp, timeout: float = 10.0) -> None:
        self.qmp = qmp
        self.timeout = timeout

    def _slots(self) -> list[dict]:
        return sorted(self.qmp.execute("query-hotpluggable-cpus"), key=lambda s: s["props"].get("core-id", 0))

    def vcpus(self) -> list[int]:
        return [s["props"]["core-id"] for s in self._slots() if s.get("qom-path")]

    def plug(self) -> int:
        free = [s for s in self._slots() if not s.get("qom-path")]
        if not free:
            raise HotplugError("every vCPU slot of this VM is in use (maxcpus)")
        slot = free[0]
        core = slot["props"]["core-id"]
        try:
            self.qmp.execute("device_add", driver=slot["type"], id=f"cpu{core}", **slot["props"])
        except QmpError as exc:
            raise HotplugError(str(exc)) from exc
        return core

    def unplug(self, cpu: int) -> None:
        slot = next((s for s in self._slots() if s["props"].get("core-id") == cpu and s.get("qom-path")), None)
        if slot is None:
            raise HotplugError(f"vCPU {cpu} is not plugged")
        try:
            self.qmp.execute("device_del", id=slot["qom-path"])
        except QmpError as exc:
            raise HotplugError(str(exc)) from exc
        # DEVICE_DELETED arrives only for the CPU's lapic child: the slot going free is the sign.
        deadline = time.monotonic() + self.timeout
        while cpu in self.vcpus():
            if time.monotonic() > deadline:
                raise HotplugError(f"vCPU {cpu} still plugged {self.timeout:g}s after device_del")
            time.sleep(0.01)


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HotplugError(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        raise HotplugError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


class LibvirtHotplug:
    kind = "libvirt"

    def __init__(self, domain: str, virsh: str = "virsh") -> None:
        self.domain, self.virsh = domain, virsh

    def vcpus(self) -> list[int]:
        count = int(_run([self.virsh, "vcpucount", self.domain, "--live", "--active"]).strip())
        return list(range(count))

    def plug(self) -> int:
        count = len(self.vcpus())
        _run([self.virsh, "setvcpus", self.domain, str(count + 1), "--live"])
        return count

    def unplug(self, cpu: int) -> None:
        count = len(self.vcpus())
        if cpu != count - 1 or count == 1:
            raise HotplugError(f"libvirt removes only the last vCPU ({count - 1}), not {cpu}")
        _run([self.virsh, "setvcpus", self.domain, str(count - 1), "--live"])


class VirtualBoxHotplug:
    kind = "virtualbox"

    def __init__(self, vm: str, boot_vcpus: int = 1, max_vcpus: int = 16, vboxmanage: str = "VBoxManage") -> None:
        self.vm, self.tool, self.max_vcpus = vm, vboxmanage, max_vcpus
        self._plugged = list(range(boot_vcpus))

    def vcpus(self) -> list[int]:
        return list(self._plugged)

    def plug(self) -> int:
        cpu = next((c for c in range(self.max_vcpus) if c not in self._plugged), None)
        if cpu is None:
            raise HotplugError(f"every vCPU slot of {self.vm} is in use ({self.max_vcpus})")
        _run([self.tool, "controlvm", self.vm, "plugcpu", str(cpu)])
        self._plugged.append(cpu)
        return cpu

    def unplug(self, cpu: int) -> None:
        if cpu not in self._plugged or cpu == 0:
            raise HotplugError(f"vCPU {cpu} of {self.vm} is not plugged, or is the boot CPU")
        _run([self.tool, "controlvm", self.vm, "unplugcpu", str(cpu)])
        self._plugged.remove(cpu)
