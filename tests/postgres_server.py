"""A real PostgreSQL server that the test suite starts itself.

PostgreSQL refuses to run as root, so initdb and pg_ctl run as the ``postgres``
system user through runuser; the cluster lives in a temporary folder and
listens on loopback on a free port. Each test gets a fresh database.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1:]
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} was not found (install the postgresql package)")
    return found if isinstance(found, str) else found[0]


def _as_postgres(*argv: str) -> list[str]:
    return list(argv) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *argv]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="heaven-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.counter = 0

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        subprocess.run(_as_postgres(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"),
                       check=True, capture_output=True)
        self._launch()

    def _launch(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l",
                                    str(self.root / "log"), "start"), check=True, capture_output=True)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """kill -9 of the server itself: the postmaster and every backend, as a crash would
        (no shutdown, no checkpoint); ``restart`` then runs PostgreSQL's crash recovery."""
        postmaster = self.postmaster_pid()
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == postmaster]
        for pid in [postmaster, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in [postmaster, *children]) and time.monotonic() < deadline:
            time.sleep(0.02)
        # Dead (at most a zombie no one reaps here): its lock files would make the restart
        # believe it still runs, as PostgreSQL only asks whether that PID exists.
        for lock in [self.data / "postmaster.pid", *self.root.glob(".s.PGSQL.*.lock")]:
            lock.unlink(missing_ok=True)

    def restart(self) -> None:
        """Start the killed server again on its port and data (``pg_ctl start`` waits for recovery)."""
        self._launch()

    def stop(self) -> None:
        subprocess.run(_as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """CREATE DATABASE through psql, then hand back a URL to it."""
        self.counter += 1
        name = f"heaven_{os.getpid()}_{self.counter}"
        subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q",
                        "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


def _stat(proc: Path) -> list[str]:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _parent(proc: Path) -> int | None:
    fields = _stat(proc)
    return int(fields[1]) if fields else None


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie holds no shared memory: the restart may go on)."""
    fields = _stat(Path(f"/proc/{pid}"))
    return bool(fields) and fields[0] != "Z"


def wait_ready(server: PostgresServer, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not become ready")
