"""The agent's side of the per-job shims (shim.py): start one, talk to it, find it again.

A Started job is a shim and the job it is the parent of. The agent watches the
shim's pidfd (readable once the shim has written the job's exit status and
exited), sends signals through the shim's socket (only the shim reaps the job,
so only it can be sure a PID is still the job's), and changes cores directly
(cpuset and affinity act on live processes, and a recycled PID inside the
job's own cgroup cannot happen).

The agent renews the shims' lease (see shim.py) with renew_lease() each time it
reached the controller.

A new agent calls recover(): every `<id>.json` in the state directory is a job
an earlier agent started. A live shim is re-adopted (same PID, same cgroup);
a dead one left `<id>.exit` with the real exit code (and what the job consumed,
recorded_usage()) to report. A shim that died
without one (killed itself) leaves its job unsupervised: what is left of it is
killed, so it can neither run twice nor hold cores nobody accounts for.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from heaven.agent import affinity
from heaven.agent.processes import ExecError, RunningJob, _Held, gone, pidfd_of
from heaven.wire.agent import MAX_CPU_SECONDS, OUT_OF_MEMORY
from heaven.wire.fields import MAX_MB

log = logging.getLogger(__name__)

SHIM = Path(__file__).with_name("shim.py")


class Spawner:
    """Starts shims through one zygote (`shim.py --zygote`, started on first use): a start
    is then a fork of that small process, not an interpreter's start-up. Callers serialize
    (the executor's lock), so answers come back in the order the specs went in. A zygote
    that died is replaced on the next start."""

    def __init__(self) -> None:
        self.zygote: subprocess.Popen | None = None

    def spawn(self, spec: dict) -> tuple[int, int]:
        """(the shim's PID, the job's PID) once the job has exec'd; ExecError if it could not."""
        for attempt in range(2):
            if self.zygote is None or self.zygote.poll() is not None:
                # No preexec_fn: Popen may use vfork, so the agent's heap is never copied.
                self.zygote = subprocess.Popen([sys.executable, "-I", "-S", str(SHIM), "--zygote"],
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            try:
                self.zygote.stdin.write(json.dumps(spec).encode() + b"\n")
                self.zygote.stdin.flush()
                line = self.zygote.stdout.readline()
            except OSError:
                line = b""
            if line:
                break
            self.close()  # the zygote died under us: once more with a fresh one
        else:
            raise ExecError(f"cannot start the shim of job {spec['job_id']}: its zygote keeps dying")
        answer = json.loads(line)
        if "error" in answer:
            raise ExecError(answer["error"])
        return int(answer["shim"]), int(answer["pid"])

    def close(self) -> None:
        """End the zygote (its shims live on)."""
        if self.zygote is not None:
            for pipe in (self.zygote.stdin, self.zygote.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            try:
                self.zygote.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.zygote.kill()
                self.zygote.wait()
            self.zygote = None


class Started(_Held):
    """A job under its shim. The shim is the zygote's child (it reaps it) or, re-adopted from
    an earlier agent, init's: never ours, so its end is seen through its pidfd."""

    def __init__(self, running: RunningJob, slot, statedir: Path, shim_pid: int, run: int):
        self.running, self.slot, self.statedir = running, slot, statedir
        self.shim_pid, self.run = shim_pid, run
        self.ended_code: int | None = None
        self.cause: str | None = None  # why it ended, beyond its code (OUT_OF_MEMORY)
        self.usage: dict = {}  # what it consumed, as the shim measured it (recorded_usage)

    def _file(self, suffix: str) -> Path:
        return self.statedir / f"{self.running.job_id}.{suffix}"

    def tree(self) -> list[int]:
        return self.slot.tree(self.running.pid) if self.ended_code is None else []

    def set_cores(self, cores: Sequence[int]) -> None:
        try:
            self.slot.set_cpus(cores)
        except OSError as exc:
            raise ExecError(f"cannot set the cpuset of job {self.running.job_id}: {exc}") from exc
        super().set_cores(cores)

    def signal(self, sig: int) -> None:
        """Through the shim: it alone knows whether the job's PID is still the job."""
        dirfd = os.open(self.statedir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(2.0)
                conn.connect(f"/proc/self/fd/{dirfd}/{self.running.job_id}.sock")
                conn.sendall(json.dumps({"op": "signal", "sig": int(sig)}).encode() + b"\n")
                conn.recv(4096)  # its answer: the signal has been sent
        except OSError:
            pass  # the shim is gone or going: the job has ended
        finally:
            os.close(dirfd)

    def stop(self, grace: float, escalate: Callable[[], None]) -> bool:
        """SIGTERM now and `escalate` (to SIGKILL) after `grace` seconds; False: still listed."""
        if grace <= 0:  # no grace at all: do not let SIGTERM race the kill
            self.signal(signal.SIGKILL)
            return False
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)  # a suspended job could not act on its SIGTERM
        self.escalate_after(grace, escalate)
        return False

    def exit_code(self) -> int | None:
        """The job's exit code once its shim has ended (negative signal number if killed)."""
        if self.ended_code is not None:
            return self.ended_code
        if not self._gone():
            return None
        recorded = recorded_cause(self.statedir, self.running.job_id)
        self.usage = recorded_usage(self.statedir, self.running.job_id)
        self.ended_code = finish(self.statedir, self.running.job_id, self.running.pid, self.slot)
        # Read before the group goes: the kernel's count of kills for the memory limit.
        self.cause = recorded or (OUT_OF_MEMORY if self.ended_code != 0 and self.slot.oom_kills() > 0 else None)
        return self.ended_code

    def _gone(self) -> bool:
        return gone(self.running.pidfd, self.shim_pid)

    def detach(self) -> None:
        """Forget the job but leave it running under its shim (a new agent can recover it)."""
        self.slot = None
        self.close()


def _exit_record(statedir: Path, job_id: int) -> dict:
    try:
        record = json.loads((statedir / f"{job_id}.exit").read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def recorded_cause(statedir: Path, job_id: int) -> str | None:
    """Why the shim says the job ended, beyond its code (it stopped it: the lease ran out)."""
    return _exit_record(statedir, job_id).get("cause")


USAGE_LIMITS = {"cpu_seconds": MAX_CPU_SECONDS, "peak_memory_mb": MAX_MB}


def recorded_usage(statedir: Path, job_id: int) -> dict:
    """What the shim measured when the job ended ({"cpu_seconds", "peak_memory_mb"}), as the
    exit report carries it. Only values the controller takes (finite, within the wire's
    bounds): a bad one must not get the whole report refused. {} from an older shim."""
    record, usage = _exit_record(statedir, job_id), {}
    for name, limit in USAGE_LIMITS.items():
        value = record.get(name)
        if isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= limit:
            usage[name] = float(value)
    return usage


def finish(statedir: Path, job_id: int, pid: int, slot) -> int:
    """After the shim ended: its recorded exit code, and its files removed. A shim that
    died without recording one left the job unsupervised: kill what is left of it."""
    try:
        code = int(json.loads((statedir / f"{job_id}.exit").read_text())["exit_code"])
    except (OSError, ValueError, KeyError):
        log.warning("the shim of job %s died without an exit status; killing what is left of the job", job_id)
        try:
            if os.getpgid(pid) == pid:  # still a group leader: the job's group, not a recycled PID's
                os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for member in slot.members():
            affinity.kill_quietly(member, signal.SIGKILL)
        code = -signal.SIGKILL
    for suffix in ("exit", "json", "sock"):
        try:
            (statedir / f"{job_id}.{suffix}").unlink()
        except FileNotFoundError:
            pass
    return code


def renew_lease(path: Path, contact: float) -> None:
    """The agent reached the controller at ``contact`` (the time its request left, so the
    shims' count never starts later than the controller's)."""
    try:
        os.utime(path, (contact, contact))
    except FileNotFoundError:
        path.touch()
        os.utime(path, (contact, contact))


def _is_shim(pid: int) -> bool:
    try:
        return str(SHIM).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def records(statedir: Path) -> list[dict]:
    found = []
    for path in sorted(statedir.glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            log.warning("unreadable shim record %s", path)
    return found


def recover(statedir: Path, reopen: Callable[[dict | None], object]
            ) -> tuple[list[Started], list[tuple[int, int, int, str | None]], dict[int, dict]]:
    """Jobs an earlier agent started here: (live ones re-adopted, [(job, run, exit code, cause)]
    of ended ones, the cause the shim's, e.g. stopped while disconnected, {job: usage} of the
    ended ones the shim measured, see recorded_usage)."""
    live, ended, usages = [], [], {}
    for record in records(statedir):
        job_id, pid, shim_pid, run = record["job_id"], record["pid"], record["shim"], record.get("run", 0)
        slot = reopen(record.get("slot"))
        pidfd = pidfd_of(shim_pid) if _is_shim(shim_pid) else None
        if pidfd is not None and not gone(pidfd, shim_pid):
            running = RunningJob(job_id, pid, tuple(record["cores"]), False, pidfd,
                                 Path(record["out"]), Path(record["err"]), time.time())
            live.append(Started(running, slot, statedir, shim_pid, run))
            continue
        if pidfd is not None:
            os.close(pidfd)
        cause, usage = recorded_cause(statedir, job_id), recorded_usage(statedir, job_id)
        ended.append((job_id, run, finish(statedir, job_id, pid, slot), cause))
        if usage:
            usages[job_id] = usage
        slot.release(timeout=1.0)
    return live, ended, usages
