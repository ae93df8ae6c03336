"""The two kinds of job process the executor holds: one it started, one it adopted.

- Started (shims.py): a process group launched under a shim of its own, held
  to its cores by its placement slot (a cgroup, or affinity alone).
- Contained (containers.py): a container of the node's Docker engine, for a
  job with an image.
- Adopted: a process we did not start (a program asking for cores for its own
  PID). Pinned by affinity only, in every mode: moving a foreign process
  between cgroups would take it out of its own unit's accounting. Stopping it
  restores the affinity it had and lets it go; it keeps running.

All answer the same calls (tree, signal, set_cores, stop, exit_code, close, sync_logs),
so the executor never asks which one it has. Callers hold the executor's lock.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from heaven.agent import affinity

log = logging.getLogger(__name__)


class ExecError(Exception):
    """A job could not be started, found or changed; the message says why, for the user."""


@dataclass
class RunningJob:
    job_id: int
    pid: int                       # process-group leader, or the adopted PID
    local_cores: tuple[int, ...]   # updated in place by set_cores
    adopted: bool
    pidfd: int | None              # readable once the job has ended; closed by close()
    stdout_path: Path | None
    stderr_path: Path | None
    started_at: float              # wall clock, for display


def pidfd_of(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # old kernel (< 5.3) or the process is gone
        return None


def gone(pidfd: int | None, pid: int) -> bool:
    """Whether a process has ended: its pidfd is readable, or (without one) /proc lost it."""
    if pidfd is not None:
        return bool(select.select([pidfd], [], [], 0)[0])
    return not Path(f"/proc/{pid}").exists()


class _Held:
    running: RunningJob
    timer: threading.Timer | None = None  # a stop's SIGKILL, due after the grace

    def _gone(self) -> bool:
        raise NotImplementedError

    def signal(self, sig: int) -> None:
        raise NotImplementedError

    def escalate_after(self, grace: float, escalate: Callable[[], None]) -> None:
        """Once per stop: ``escalate`` (the SIGKILL) after ``grace`` seconds unless the job ended."""
        if self.timer is None:
            self.timer = threading.Timer(grace, escalate)
            self.timer.daemon = True
            self.timer.start()

    def kill(self) -> None:
        """SIGKILL, and wait (5 s at most) until it has ended."""
        self.signal(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not self._gone() and time.monotonic() < deadline:
            time.sleep(0.01)

    def tree(self) -> list[int]:
        raise NotImplementedError

    def set_cores(self, cores: Sequence[int]) -> None:
        self.pin(cores)
        self.running.local_cores = tuple(cores)

    def pin(self, cores: Sequence[int]) -> None:
        try:
            affinity.pin_threads(self.tree, cores)
        except OSError as exc:
            raise ExecError(f"cannot pin job {self.running.job_id} to cores "
                            f"{affinity.format_cpu_list(cores)}: {exc}") from exc

    def sync_logs(self) -> None:
        """Bring the job's log files up to date (a process writes them itself: nothing to do)."""

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.running.pidfd is not None:
            os.close(self.running.pidfd)
            self.running.pidfd = None


class Adopted(_Held):
    def __init__(self, job_id: int, pid: int, cores: Sequence[int]):
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(pid)
            # The creation time tells our PID from a recycled one later on.
            self.create_time, self.original_cores = proc.create_time(), set(os.sched_getaffinity(pid))
        except (psutil.NoSuchProcess, ProcessLookupError) as exc:
            raise ExecError(f"no process {pid} to adopt") from exc
        self.running = RunningJob(job_id, pid, tuple(cores), True, pidfd_of(pid), None, None, time.time())

    def alive(self) -> bool:
        if self.running.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.running.pidfd, 0)
            except ProcessLookupError:
                return False
        try:
            proc = psutil.Process(self.running.pid)
            return proc.create_time() == self.create_time and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def tree(self) -> list[int]:
        return affinity.process_tree(self.running.pid)

    def signal(self, sig: int) -> None:
        if self.alive():
            for pid in self.tree():
                affinity.kill_quietly(pid, sig)

    def stop(self, grace: float, escalate: Callable[[], None]) -> bool:
        """Let go at once (the process keeps running, with the affinity it had): True, forget it."""
        if self.original_cores and self.alive():
            try:
                affinity.pin_threads(self.tree, sorted(self.original_cores))
            except OSError as exc:
                log.warning("cannot restore the affinity of pid %s: %s", self.running.pid, exc)
        return True

    def exit_code(self) -> int | None:
        # Not our child: its exit status is its parent's to collect.
        return None if self.alive() else 0

    def kill(self) -> None:
        """Shutting down: an adopted process is let go, never killed."""
        self.stop(0, lambda: None)

    def detach(self) -> None:
        self.close()

