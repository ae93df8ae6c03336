"""A real, ephemeral Docker engine that the test suite starts itself.

As ../shared/notes/docker.md measured it: dockerd with its own data root, exec root
and socket under a temporary folder, no bridge, no iptables, no forwarding (jobs
use host networking; nothing leaves the machine). Images come from local files
(`docker import` of a rootfs), never from a registry. stop() leaves nothing: the
containers, the daemon, its mounts and the empty cgroups it made are removed.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
BUSYBOX = "/bin/busybox"
BUSYBOX_IMAGE = "heaven-test/busybox:1"
# Applets the tests' jobs use; the image links each to the one static binary.
APPLETS = ("sh", "echo", "sleep", "cat", "test", "[", "true", "false", "ls", "yes", "dd", "head")


class EngineUnavailable(Exception):
    """Why no engine can run here (the tests that need one skip with this)."""


def busybox_rootfs_tar() -> bytes:
    """A tiny rootfs: the static busybox and a symlink per applet, with an empty /tmp."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buffer.getvalue()


class DockerEngine:
    def __init__(self) -> None:
        if not os.access(DOCKERD, os.X_OK) or not os.access(BUSYBOX, os.X_OK):
            raise EngineUnavailable(f"{DOCKERD} or {BUSYBOX} is missing (make system-deps installs docker.io "
                                    "and busybox-static)")
        if os.geteuid() != 0:
            raise EngineUnavailable("dockerd needs root")
        # Short: the socket's path must fit in sun_path (108 bytes).
        self.root = Path(tempfile.mkdtemp(prefix="hd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None
        self.client = None

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.root / "dockerd.log", "ab")
        self.process = subprocess.Popen(
            [DOCKERD, "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "dockerd.pid"), "-H", self.host, "--iptables=false",
             "--ip6tables=false", "--bridge=none", "--ip-forward=false", "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        import docker

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited with {self.process.returncode}: {self.log_tail()}")
            try:
                self.client = docker.DockerClient(base_url=self.host, timeout=30)
                self.client.ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise EngineUnavailable(f"dockerd did not answer within {timeout:g} s: {self.log_tail()}")
                time.sleep(0.05)

    def log_tail(self) -> str:
        try:
            return (self.root / "dockerd.log").read_text()[-1500:]
        except OSError:
            return ""

    def import_busybox(self, tag: str = BUSYBOX_IMAGE) -> str:
        repository, _, version = tag.partition(":")
        self.client.api.import_image_from_data(busybox_rootfs_tar(), repository=repository, tag=version or "latest",
                                               changes=['CMD ["sh", "-c", "echo the image default command; exit 9"]'])
        return tag

    def env(self) -> dict[str, str]:
        """What a process needs to reach this engine (the agent finds it by DOCKER_HOST)."""
        return {"DOCKER_HOST": self.host}

    def stop(self) -> None:
        if self.client is not None:
            try:
                for container in self.client.containers.list(all=True):
                    container.remove(force=True)
            except Exception:
                pass
            self.client.close()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._unmount_leftovers()
        shutil.rmtree(self.root, ignore_errors=True)
        for group in Path("/sys/fs/cgroup").glob("*/docker"):
            try:
                group.rmdir()  # only when empty: another engine's containers are never touched
            except OSError:
                pass

    def _unmount_leftovers(self) -> None:
        try:
            mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        except OSError:
            return
        for point in sorted((m for m in mounts if m.startswith(str(self.root))), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
