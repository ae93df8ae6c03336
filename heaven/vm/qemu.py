"""One QEMU guest: its command line, its QMP socket, and its end.

Software emulation (TCG): this machine's /dev/kvm cannot run a stock kernel (see
docs/vm-nodes.md). The guest boots with one vCPU and room for ``max_vcpus``;
every further vCPU is hot-plugged, so every one but cpu0 can be unplugged again.

Networking is QEMU's user mode with ``restrict=on``: the guest reaches nothing but
the ``guestfwd`` rules, which end on this machine's loopback, and this machine
reaches the guest only through ``hostfwd`` on 127.0.0.1. Nothing leaves the host.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from heaven.vm.guest import BUSYBOX, GUEST_CONTROLLER_IP, BootFiles

QEMU = os.environ.get("HEAVEN_VM_QEMU", "qemu-system-x86_64")
PR_SET_PDEATHSIG = 1


class QmpError(RuntimeError):
    pass


class Qmp:
    """A QMP connection: one command at a time; events that arrive meanwhile are kept."""

    def __init__(self, path: Path, timeout: float = 30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")
        self.events: list[dict] = []
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        line = self.reader.readline()
        if not line:
            raise QmpError("QEMU closed its QMP socket")
        return json.loads(line)

    def execute(self, command: str, **arguments) -> object:
        message = {"execute": command, **({"arguments": arguments} if arguments else {})}
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            answer = self._read()
            if "event" in answer:
                self.events.append(answer)
                continue
            if "error" in answer:
                raise QmpError(f"{command}: {answer['error'].get('desc', answer['error'])}")
            return answer.get("return")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@dataclass
class Forward:
    """hostfwd: 127.0.0.1:host_port on this machine -> guest_port in the guest."""
    host_port: int
    guest_port: int


@dataclass
class GuestSpec:
    work: Path  # writable share, seen at the same path inside the guest; holds guest-run.sh
    memory_mb: int = 256
    max_vcpus: int = 16  # QEMU under TCG allows this many vCPU creations over a guest's whole life
    forwards: list[Forward] = field(default_factory=list)
    # guestfwd: GUEST_CONTROLLER_IP:guest_port in the guest -> 127.0.0.1:host_port here (a relay per connection)
    controller: tuple[int, int] | None = None  # (guest_port, host_port)


def command_line(spec: GuestSpec, boot: BootFiles, qmp: Path, console: Path) -> list[str]:
    net = ["user", "id=n0", "restrict=on"]
    net += [f"hostfwd=tcp:127.0.0.1:{f.host_port}-:{f.guest_port}" for f in spec.forwards]
    if spec.controller:
        guest_port, host_port = spec.controller
        # cmd: spawns a relay per guest connection; a tcp: target would be ONE stream that
        # every connection of the guest's HTTP client shares (they corrupt each other).
        net.append(f"guestfwd=tcp:{GUEST_CONTROLLER_IP}:{guest_port}-cmd:{BUSYBOX} nc 127.0.0.1 {host_port}")
    return [
        QEMU, "-accel", "tcg", "-M", "pc", "-cpu", "max", "-bios", "/usr/share/qemu/qboot.rom",
        "-m", str(spec.memory_mb), "-smp", f"1,maxcpus={spec.max_vcpus}",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", f"file:{console}", "-qmp", f"unix:{qmp},server=on,wait=off",
        "-kernel", str(boot.kernel), "-initrd", str(boot.initrd),
        "-append", f"console=ttyS0 panic=-1 quiet heaven.work={spec.work}",
        "-fsdev", "local,id=fs0,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=fs0,mount_tag=hostroot",
        "-fsdev", f"local,id=fs1,path={spec.work},security_model=none,multidevs=remap",
        "-device", "virtio-9p-pci,fsdev=fs1,mount_tag=work",
        "-netdev", ",".join(net), "-device", "virtio-net-pci,netdev=n0,romfile=",
    ]


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills QEMU if the process that started it dies
    (even by SIGKILL, when no finally runs), so no guest outlives its owner."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Guest:
    """A running guest. ``stop()`` always ends the QEMU process (use it in a finally)."""

    def __init__(self, spec: GuestSpec, boot: BootFiles, name: str = "guest"):
        self.spec = spec
        self.qmp_path = spec.work / f"{name}.qmp"
        self.console = spec.work / f"{name}.console"
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(command_line(spec, boot, self.qmp_path, self.console),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=open(spec.work / f"{name}.qemu.err", "wb"),
                                        start_new_session=True, preexec_fn=_die_with_parent)
        self._qmp: Qmp | None = None

    def qmp(self, timeout: float = 30.0) -> Qmp:
        """The QMP connection (made on first use: QEMU creates the socket as it starts)."""
        deadline = time.monotonic() + timeout
        while self._qmp is None:
            try:
                self._qmp = Qmp(self.qmp_path)
            except (FileNotFoundError, ConnectionRefusedError):
                if self.process.poll() is not None:
                    raise QmpError(f"QEMU ended with {self.process.returncode}: {self.errors()}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self._qmp

    def errors(self) -> str:
        path = self.spec.work / f"{self.qmp_path.stem}.qemu.err"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 3.0) -> None:
        """Ask QEMU to quit, then kill it (and its process group) if it does not."""
        if self.alive():
            try:
                self.qmp(timeout=1.0).execute("quit")
            except (OSError, QmpError, ValueError):
                pass
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
