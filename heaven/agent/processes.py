"""The two kinds of job process the executor holds: one it started, one it adopted.

- Started: a process group we launched, held to its cores by its placement
  slot (a cgroup, or affinity alone). Its end is ours to collect: leftovers of
  its tree are killed, because the scheduler hands the cores to someone else.
- Adopted: a process we did not start (a program asking for cores for its own
  PID). Pinned by affinity only, in every mode: moving a foreign process
  between cgroups would take it out of its own unit's accounting. Stopping it
  restores the affinity it had and lets it go; it keeps running.

Both answer the same calls (tree, signal, set_cores, stop, exit_code, close),
so the executor never asks which one it has. Callers hold the executor's lock.
"""
from __future__ import annotations

import logging
import os
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


class _Held:
    running: RunningJob

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

    def close(self) -> None:
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


class Started(_Held):
    """A process group we launched. Its leader is placed BEFORE exec, in the forked child
    (see cgroups.join_and_pin), so every child and thread it creates inherits the placement."""

    def __init__(self, running: RunningJob, popen, slot):
        self.running, self.popen, self.slot = running, popen, slot
        self.timer: threading.Timer | None = None

    def tree(self) -> list[int]:
        return self.slot.tree(self.running.pid)

    def set_cores(self, cores: Sequence[int]) -> None:
        try:
            self.slot.set_cpus(cores)
        except OSError as exc:
            raise ExecError(f"cannot set the cpuset of job {self.running.job_id}: {exc}") from exc
        super().set_cores(cores)

    def signal(self, sig: int) -> None:
        """Signal the whole job. The leader is not reaped yet (exit_code() is the only reaper
        and runs under the same lock), so its process-group id cannot have been recycled."""
        try:
            os.killpg(self.running.pid, sig)
        except ProcessLookupError:
            pass
        for pid in self.tree():  # those that left the group: setsid'd children, cgroup members
            affinity.kill_quietly(pid, sig)

    def stop(self, grace: float, escalate: Callable[[], None]) -> bool:
        """SIGTERM now and `escalate` (to SIGKILL) after `grace` seconds; False: still listed."""
        if grace <= 0:  # no grace at all: do not let SIGTERM race the kill
            self.signal(signal.SIGKILL)
            return False
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)  # a suspended job could not act on its SIGTERM
        if self.timer is None:
            self.timer = threading.Timer(grace, escalate)
            self.timer.daemon = True
            self.timer.start()
        return False

    def exit_code(self) -> int | None:
        """Exit code if the leader has ended (negative signal number if killed), else None.
        Collecting it kills leftovers first, so they free the job's cores."""
        try:
            # WNOWAIT: look without reaping; while the leader is a zombie its
            # group id stays reserved, so killing the group below is safe.
            exited = os.waitid(os.P_PID, self.running.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            exited = True  # already collected; Popen knows the code
        if not exited:
            return None
        self.signal(signal.SIGKILL)
        return self.popen.wait()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except Exception:  # uninterruptible sleep (D state): give up on it
            log.warning("job %s did not die; leaving it", self.running.job_id)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        super().close()

    def detach(self) -> None:
        """Forget the job but leave it running, in its group, pinned as it is."""
        self.slot = None
        self.close()
