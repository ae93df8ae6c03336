"""The agent's runtime: real processes pinned to their cores, changed live.

A started job is a process group (its own session, so the agent's terminal
signals never reach it) whose leader is pinned BEFORE exec, in the forked
child: it joins the job's cgroup and sets its affinity, so every child and
thread it ever creates inherits the placement. Modes:

- "cgroup-v1" / "cgroup-v2": a cpuset (and memory limit) per job, see
  cgroups.py. After each cpuset change we ALSO set the affinity of every
  thread, because v2 may keep a narrower user-requested mask.
- "affinity": sched_setaffinity on every thread of the tree (affinity.py).
  There is no memory limit in this mode: memory_mb is accepted and ignored.

Adopted jobs are processes we did not start (a program asking for cores for
its own PID). They are pinned by affinity only, in every mode: moving a foreign
process between cgroups would take it out of its own unit's accounting, and
forgetting it could not remove the group. `stop()` of an adopted job restores
the affinity it had when adopted and forgets it; the process keeps running.

Exit: the job ends when its leader exits. Whatever is left of its tree then
(background children, daemons in its cgroup) is killed, because the scheduler
hands the cores to someone else. The leader is killed/reaped only by us: the
caller must not waitpid(-1) (asyncio's default ThreadedChildWatcher waits for
specific PIDs only and is fine).

Thread safety: one lock around all state; the only other thread is the timer
that escalates a stop from SIGTERM to SIGKILL.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from heaven.agent import affinity
from heaven.agent.cgroups import JobCgroup, Layout, ScopeCgroups, stale_scopes, join_and_pin

log = logging.getLogger(__name__)

MODES = ("auto", "cgroup", "affinity")


class ExecError(Exception):
    """A job could not be started, found or changed; the message says why, for the user."""


@dataclass
class RunningJob:
    job_id: int
    pid: int                       # process-group leader, or the adopted PID
    local_cores: tuple[int, ...]   # updated in place by set_cores
    adopted: bool
    pidfd: int | None              # readable once the process exits; closed by reap()
    stdout_path: Path | None
    stderr_path: Path | None
    started_at: float              # wall clock, for display


@dataclass
class _Job:
    running: RunningJob
    popen: subprocess.Popen | None = None
    cgroup: JobCgroup | None = None
    create_time: float | None = None        # adopted: tells our PID from a recycled one
    original_cores: set[int] | None = None  # adopted: restored when we let go
    timer: threading.Timer | None = None


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # old kernel (< 5.3) or the process is gone
        return None


class Executor:
    def __init__(self, workdir: Path, scope: str, mode: str = "auto"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.workdir = Path(workdir)
        self.logdir = self.workdir / "jobs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.scope = scope
        self._lock = threading.RLock()
        self._jobs: dict[int, _Job] = {}
        self._cgroups: ScopeCgroups | None = None
        # Job groups the kernel still called busy when their job ended; retried by poll().
        self._unremoved: list[JobCgroup] = []
        self.mode = "affinity"
        if mode != "affinity":
            reason = self._try_cgroups()
            if reason is not None:
                if mode == "cgroup":
                    raise ExecError(f"cgroup mode is not available: {reason}")
                log.info("cgroups not usable (%s); pinning by affinity", reason)

    def _try_cgroups(self) -> str | None:
        """Use cgroups if we can actually write them (the only honest test); else say why not."""
        try:
            layout = Layout.detect()
        except OSError as exc:
            return f"cannot read the cgroup mounts: {exc}"
        if layout is None:
            return "no mounted cgroup hierarchy offers the cpuset controller"
        scope = ScopeCgroups(layout, self.scope)
        try:
            scope.prepare()
        except OSError as exc:
            scope.remove(timeout=0.2)
            return f"cannot configure {layout.cpuset / 'heaven'}: {exc.strerror or exc}"
        self._cgroups = scope
        self.mode = f"cgroup-v{layout.version}"
        return None

    def clear_stale(self, name: str) -> int:
        """Kill what earlier, dead runs of agent `name` left in their cgroups and remove
        those groups (cgroup mode only). Returns how many processes were killed."""
        if self._cgroups is None:
            return 0
        killed = 0
        for scope in stale_scopes(self._cgroups.layout, name):
            for base_dir in scope.dirs():
                for job_dir in (d for d in base_dir.iterdir() if d.is_dir()) if base_dir.is_dir() else ():
                    group = scope.job(int(job_dir.name.removeprefix("job-"))) if job_dir.name.startswith("job-") else None
                    if group is not None:
                        killed += len(group.pids())
                        group.kill_all(signal.SIGKILL)
            scope.remove(timeout=2.0)
        return killed

    # -- starting and adopting ------------------------------------------------

    def start(self, job_id: int, argv: list[str], local_cores: Sequence[int], memory_mb: int = 0,
              env: dict[str, str] | None = None, cwd: str | None = None) -> RunningJob:
        """Start argv pinned to local_cores. `env` is laid over the agent's environment,
        plus HEAVEN_JOB_ID. Output is appended to jobs/<id>.out and .err (a rerun keeps the old log)."""
        cores = self._check_cores(local_cores)
        if not argv:
            raise ExecError(f"job {job_id} has an empty command")
        with self._lock:
            if job_id in self._jobs:
                raise ExecError(f"job {job_id} is already running on this node")
            cgroup = self._cgroups.job(job_id) if self._cgroups else None
            if cgroup is not None:
                try:
                    cgroup.create(cores, memory_mb)
                except OSError as exc:
                    raise ExecError(f"cannot create the cgroup of job {job_id}: {exc}") from exc
            out_path, err_path = self.logdir / f"{job_id}.out", self.logdir / f"{job_id}.err"
            child_env = {**os.environ, **(env or {}), "HEAVEN_JOB_ID": str(job_id)}
            try:
                with open(out_path, "ab") as out, open(err_path, "ab") as err:
                    popen = subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=child_env,
                        start_new_session=True, close_fds=True,
                        preexec_fn=join_and_pin(cgroup.procs_files if cgroup else [], set(cores)))
            except (OSError, subprocess.SubprocessError) as exc:
                # The failed child has been reaped by Popen already, so the group is empty.
                if cgroup is not None:
                    cgroup.remove(timeout=1.0)
                if isinstance(exc, OSError):
                    where = f" ({exc.filename})" if exc.filename and exc.filename != argv[0] else ""
                    raise ExecError(f"cannot execute {argv[0]!r}: {exc.strerror or exc}{where}") from exc
                raise ExecError(f"cannot place job {job_id} on cores "
                                f"{affinity.format_cpu_list(cores)}: {exc}") from exc
            running = RunningJob(job_id, popen.pid, tuple(cores), False, _pidfd(popen.pid),
                                 out_path, err_path, time.time())
            self._jobs[job_id] = _Job(running, popen=popen, cgroup=cgroup)
            return running

    def adopt(self, job_id: int, pid: int, local_cores: Sequence[int]) -> RunningJob:
        """Pin a running process, its threads and its children (by affinity, in every mode)."""
        cores = self._check_cores(local_cores)
        with self._lock:
            if job_id in self._jobs:
                raise ExecError(f"job {job_id} is already running on this node")
            try:
                proc = psutil.Process(pid)
                if proc.status() == psutil.STATUS_ZOMBIE:
                    raise psutil.NoSuchProcess(pid)
                created, original = proc.create_time(), set(os.sched_getaffinity(pid))
            except (psutil.NoSuchProcess, ProcessLookupError) as exc:
                raise ExecError(f"no process {pid} to adopt") from exc
            job = _Job(RunningJob(job_id, pid, tuple(cores), True, _pidfd(pid), None, None, time.time()),
                       create_time=created, original_cores=original)
            self._pin(job, cores)
            self._jobs[job_id] = job
            return job.running

    # -- live changes and signals ---------------------------------------------

    def set_cores(self, job_id: int, local_cores: Sequence[int]) -> None:
        """Move a running job to other cores, live: same PIDs, grow or shrink."""
        cores = self._check_cores(local_cores)
        with self._lock:
            job = self._get(job_id)
            if job.cgroup is not None:
                try:
                    # cpuset first: on a grow the affinity below would be refused
                    # for cores the cpuset does not allow yet.
                    job.cgroup.set_cpus(cores)
                except OSError as exc:
                    raise ExecError(f"cannot set the cpuset of job {job_id}: {exc}") from exc
            self._pin(job, cores)
            job.running.local_cores = tuple(cores)

    def _pin(self, job: _Job, cores: Sequence[int]) -> None:
        try:
            affinity.pin_threads(lambda: self._tree(job), cores)
        except OSError as exc:
            raise ExecError(f"cannot pin job {job.running.job_id} to cores "
                            f"{affinity.format_cpu_list(cores)}: {exc}") from exc

    def stop(self, job_id: int, grace: float = 5.0) -> None:
        """SIGTERM now, SIGKILL after `grace` seconds (at once if grace <= 0). Returns at once;
        the job stays listed until reap()/poll() collects its exit code. Adopted jobs are let go."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.running.adopted:
                self._release_adopted(job)
                return
            if grace <= 0:  # no grace at all: do not let SIGTERM race the kill
                self._signal(job, signal.SIGKILL)
                return
            self._signal(job, signal.SIGTERM)
            self._signal(job, signal.SIGCONT)  # a suspended job could not act on its SIGTERM
            if job.timer is None:
                job.timer = threading.Timer(grace, self._escalate, (job_id, job))
                job.timer.daemon = True
                job.timer.start()

    def _escalate(self, job_id: int, job: _Job) -> None:
        with self._lock:
            # Identity check: the job may have been reaped and the id reused meanwhile.
            if self._jobs.get(job_id) is job:
                log.info("job %s ignored SIGTERM; killing it", job_id)
                self._signal(job, signal.SIGKILL)

    def suspend(self, job_id: int) -> None:
        with self._lock:
            self._signal(self._get(job_id), signal.SIGSTOP)

    def resume(self, job_id: int) -> None:
        with self._lock:
            self._signal(self._get(job_id), signal.SIGCONT)

    def _signal(self, job: _Job, sig: int) -> None:
        """Signal the whole job. Callers hold the lock, so a started leader is not reaped yet
        and its process-group id cannot have been recycled."""
        if job.running.adopted:
            if self._adopted_alive(job):
                for pid in self._tree(job):
                    affinity.kill_quietly(pid, sig)
            return
        try:
            os.killpg(job.running.pid, sig)
        except ProcessLookupError:
            pass
        for pid in self._tree(job):  # those that left the group: setsid'd children, cgroup members
            affinity.kill_quietly(pid, sig)

    # -- exit -----------------------------------------------------------------

    def reap(self, job_id: int) -> int | None:
        """Exit code if the job has ended (negative signal number if killed), else None.
        Collecting it kills leftovers, removes the cgroup and closes the pidfd (remove
        any add_reader() on it first). Unknown jobs give None."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.running.adopted:
                if self._adopted_alive(job):
                    return None
                self._forget(job)
                return 0  # not our child: its exit status is its parent's to collect
            pid = job.running.pid
            try:
                # WNOWAIT: look without reaping; while the leader is a zombie its
                # group id stays reserved, so killing the group below is safe.
                exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                exited = True  # already collected; Popen knows the code
            if not exited:
                return None
            self._signal(job, signal.SIGKILL)  # the job is over: leftovers must free its cores
            code = job.popen.wait()
            self._forget(job)
            return code

    def poll(self) -> list[tuple[int, int]]:
        """Collect every job that has ended: [(job_id, exit_code)]."""
        with self._lock:
            self._unremoved = [group for group in self._unremoved if not group.remove(timeout=0)]
            done = []
            for job_id in list(self._jobs):
                code = self.reap(job_id)
                if code is not None:
                    done.append((job_id, code))
            return done

    def _adopted_alive(self, job: _Job) -> bool:
        if job.running.pidfd is not None:
            try:
                signal.pidfd_send_signal(job.running.pidfd, 0)
            except ProcessLookupError:
                return False
        try:
            proc = psutil.Process(job.running.pid)
            return proc.create_time() == job.create_time and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def _release_adopted(self, job: _Job) -> None:
        if job.original_cores and self._adopted_alive(job):
            try:
                affinity.pin_threads(lambda: self._tree(job), sorted(job.original_cores))
            except OSError as exc:
                log.warning("cannot restore the affinity of pid %s: %s", job.running.pid, exc)
        self._forget(job)

    def _forget(self, job: _Job) -> None:
        if job.timer is not None:
            job.timer.cancel()
        if job.running.pidfd is not None:
            os.close(job.running.pidfd)
            job.running.pidfd = None
        if job.cgroup is not None and not job.cgroup.remove(timeout=0):
            # Right after the last process exits the kernel may still call the group busy:
            # never wait for it here (this runs on the exit path); poll() retries.
            self._unremoved.append(job.cgroup)
        self._jobs.pop(job.running.job_id, None)

    # -- views and teardown ---------------------------------------------------

    def jobs(self) -> dict[int, RunningJob]:
        with self._lock:
            return {job_id: job.running for job_id, job in self._jobs.items()}

    def pids(self, job_id: int) -> list[int]:
        """Every PID of the job's tree now (leader first); [] for an unknown job."""
        with self._lock:
            job = self._jobs.get(job_id)
            return self._tree(job) if job is not None else []

    def cgroup_dirs(self, job_id: int) -> list[Path]:
        """The job's cgroup directories ([] in affinity mode or for adopted jobs), for diagnostics."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job.cgroup.dirs if job is not None and job.cgroup is not None else []

    def _tree(self, job: _Job) -> list[int]:
        pid = job.running.pid
        if job.running.adopted:
            return affinity.process_tree(pid)
        if job.cgroup is None:
            return affinity.process_tree(pid, pgid=pid)
        # The cgroup already holds every descendant, orphans included, so the
        # costlier process-group scan of /proc is not needed here.
        tree = affinity.process_tree(pid)
        return tree + [p for p in job.cgroup.pids() if p not in tree]

    def shutdown(self, kill: bool = True, grace: float = 1.0) -> None:
        """kill=True: stop every job (SIGTERM, SIGKILL after `grace`), reap them, let adopted
        ones go and remove this scope's cgroups. kill=False: detach; started jobs keep
        running in their cgroups (pinned as they are) and are forgotten."""
        with self._lock:
            if not kill:
                for job in list(self._jobs.values()):
                    job.cgroup = None  # still populated: leave the group in place
                    self._forget(job)
                return
            for job in list(self._jobs.values()):
                self.stop(job.running.job_id, grace=0 if grace <= 0 else 3600)
            deadline = time.monotonic() + grace
            while self._jobs and time.monotonic() < deadline:
                self.poll()
                time.sleep(0.01)
            for job in list(self._jobs.values()):
                self._signal(job, signal.SIGKILL)
                try:
                    job.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:  # uninterruptible sleep (D state): give up on it
                    log.warning("job %s did not die; leaving it", job.running.job_id)
                self.reap(job.running.job_id)
            if self._cgroups is not None:
                self._cgroups.remove()

    def _get(self, job_id: int) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ExecError(f"no job {job_id} on this node")
        return job

    def _check_cores(self, local_cores: Sequence[int]) -> list[int]:
        cores = sorted({int(c) for c in local_cores})
        if not cores:
            raise ExecError("a job needs at least one core")
        missing = set(cores) - os.sched_getaffinity(0)
        if missing:
            raise ExecError(f"cores {affinity.format_cpu_list(missing)} are not available on this node "
                            f"(it has {affinity.format_cpu_list(os.sched_getaffinity(0))})")
        return cores
