"""The agent's runtime: real processes pinned to their cores, changed live.

The executor is a table of jobs and one lock. What differs between jobs lives
behind two small interfaces, so nothing here branches on a mode or a kind:
- the node's placement backend (placement.py: cgroup v1/v2 or affinity) gives
  every started job a slot that holds it to its cores;
- each job is Started (under a shim of its own, shims.py), Contained (a
  container of the node's Docker engine, containers.py, for a job with an
  image) or Adopted (processes.py).
After each cpuset change we ALSO set the affinity of every thread, because v2
may keep a narrower user-requested mask.

Exit: the job ends when its leader exits; its shim kills the leftovers, records
the exit code and exits. Shims are reaped only by us: the caller must not
waitpid(-1) (asyncio's default ThreadedChildWatcher waits for specific PIDs
only and is fine). A new executor in the same workdir recovers the jobs whose
shims outlived an earlier agent (recover()).

Thread safety: one lock around all state. Every call may block (fork, cgroup
writes, /proc walks): the agent calls it from a worker thread, never from its
event loop. The only other thread is the timer that escalates a stop.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from heaven.agent import affinity
from heaven.agent import containers, shims
from heaven.agent.accounts import Account
from heaven.agent.placement import open_placement
from heaven.agent.processes import Adopted, ExecError, RunningJob, pidfd_of

log = logging.getLogger(__name__)

MODES = ("auto", "cgroup", "affinity")
ENDED_RUNS_KEPT = 4096
__all__ = ["Executor", "ExecError", "RunningJob", "MODES"]
Held = shims.Started | containers.Contained | Adopted


class Executor:
    def __init__(self, workdir: Path, scope: str, mode: str = "auto", containers_wanted: bool = True):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.workdir = Path(workdir)
        self.logdir = self.workdir / "jobs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.statedir = self.workdir / "shims"  # the shims' records and sockets, the agent's alone
        self.statedir.mkdir(mode=0o700, exist_ok=True)
        self.scope = scope
        self._lock = threading.RLock()
        self._jobs: dict[int, Held] = {}
        self._frozen: set[int] = set()  # jobs suspended (SIGSTOP) until resume()
        # Slots the kernel still called busy when their job ended; retried by poll().
        self._unremoved: list = []
        self.spawner = shims.Spawner()
        self.causes: dict[int, str] = {}  # reaped job -> why it ended, until cause() reads it
        # (job, run) of processes collected here, newest last: a run that ended is never started
        # again, even before the agent's loop has booked its exit (see ended_runs).
        self._ended_runs: dict[tuple[int, int], None] = {}
        self.usages: dict[int, dict] = {}  # ended job -> what it consumed, until usage() reads it
        # The shims' lease (shim.py): {"path", "grace", "stop_grace", "cause"}, set by an agent
        # that has a disconnect grace; None: jobs never stop for lack of contact.
        self.lease: dict | None = None
        self.placement, reason = open_placement(mode, scope)
        if reason is not None:
            if mode == "cgroup":
                raise ExecError(f"cgroup mode is not available: {reason}")
            log.info("cgroups not usable (%s); pinning by affinity", reason)
        self.mode = self.placement.mode
        # The container runtime, if this machine has a Docker engine that answers.
        engine = containers.Engine.connect() if containers_wanted else "not wanted"
        self.engine, self.no_engine = (None, engine) if isinstance(engine, str) else (engine, None)
        if self.engine is None:
            log.info("no container runtime (%s)", self.no_engine)

    def clear_stale(self, name: str) -> int:
        """Kill what earlier, dead runs of agent `name` left in their cgroups and remove
        those groups (cgroup mode only). Returns how many processes were killed."""
        with self._lock:  # what re-adopted jobs hold is kept
            keep = {pid for job in self._jobs.values() for pid in job.tree()}
        return self.placement.clear_stale(name, keep)

    # -- starting and adopting ------------------------------------------------

    def start(self, job_id: int, argv: list[str], local_cores: Sequence[int], memory_mb: int = 0,
              env: dict[str, str] | None = None, cwd: str | None = None, run: int = 0,
              account: Account | None = None, image: str | None = None) -> RunningJob:
        """Start argv under a shim of its own, pinned to local_cores. `env` is laid over the
        agent's environment, plus HEAVEN_JOB_ID. Output is appended to jobs/<id>.out and .err
        (a rerun keeps the old log), readable by the job's account only. `run` is kept in the
        shim's record for a later agent. `account`: the job runs as it (accounts.py), in a
        working directory of its own (work/<id>, unless `cwd`); None: as the agent.
        `image`: the job runs in a container of that image (argv empty: its own command) if
        this node has a container engine; without one, argv runs as a process."""
        cores = self._check_cores(local_cores)
        if not argv and not (image and self.engine):
            raise ExecError(f"job {job_id} has an empty command" if not image else
                            f"container image {image} has no command to run, and this node has no container "
                            f"runtime ({self.no_engine})")
        with self._lock:
            if job_id in self._jobs:
                raise ExecError(f"job {job_id} is already running on this node")
            if image and self.engine:
                return self._start_container(job_id, image, argv, cores, memory_mb, env, run, account)
            try:
                slot = self.placement.slot(job_id, cores, memory_mb)
            except OSError as exc:
                raise ExecError(f"cannot create the cgroup of job {job_id}: {exc}") from exc
            out_path, err_path = self.logdir / f"{job_id}.out", self.logdir / f"{job_id}.err"
            if account is not None and cwd is None:
                cwd = str(self._workdir_for(job_id, account))
            spec = {"job_id": job_id, "run": run, "argv": list(argv), "cores": cores, "cwd": cwd,
                    "env": {**os.environ, **(account.env() if account else {}), **(env or {}),
                            "HEAVEN_JOB_ID": str(job_id)},
                    "account": account.spec() if account else None,
                    "join_files": slot.join_files, "slot": slot.record(), "state_dir": str(self.statedir),
                    "out": str(out_path), "err": str(err_path), "lease": self.lease}
            try:
                shim_pid, pid = self.spawner.spawn(spec)
            except (ExecError, OSError) as exc:
                slot.release(timeout=1.0)  # the failed child has been reaped by its shim: the group is empty
                raise exc if isinstance(exc, ExecError) else ExecError(f"cannot start the shim of job {job_id}: {exc}")
            running = RunningJob(job_id, pid, tuple(cores), False, pidfd_of(shim_pid), out_path, err_path, time.time())
            self._jobs[job_id] = shims.Started(running, slot, self.statedir, shim_pid, run)
            return running

    def _start_container(self, job_id: int, image: str, argv: list[str], cores: list[int], memory_mb: int,
                         env: dict[str, str] | None, run: int, account: Account | None) -> RunningJob:
        """The container holds the job to its cores itself: no placement slot, no shim."""
        job = self.engine.start(str(self.workdir), job_id, run, image, list(argv), cores, memory_mb,
                                {**(env or {}), "HEAVEN_JOB_ID": str(job_id)},
                                f"{account.uid}:{account.gid}" if account else None,
                                (self.logdir / f"{job_id}.out", self.logdir / f"{job_id}.err"))
        self._jobs[job_id] = job
        return job.running

    def _workdir_for(self, job_id: int, account: Account) -> Path:
        """work/<id>, owned by the job's account and closed to every other."""
        path = self.workdir / "work" / str(job_id)
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, account.uid, account.gid)
        path.chmod(0o700)
        return path

    def recover(self) -> tuple[dict[int, int], list[tuple[int, int, int, str | None]]]:
        """Take over the jobs an earlier agent started in this workdir: ({job: run} of live ones,
        now held as if started here, [(job, run, exit code, cause)] of those that ended meanwhile;
        what those consumed is usage()'s to tell)."""
        with self._lock:
            live, ended, usages = shims.recover(self.statedir, self.placement.reopen)
            self.usages.update(usages)
            if self.engine is not None:
                in_containers, ended_there = self.engine.recover(str(self.workdir), self.logdir)
                live, ended = [*live, *in_containers], [*ended, *ended_there]
            for job in live:
                self._jobs[job.running.job_id] = job
                # Suspended under an earlier agent: known as such, so a resume thaws it.
                if (affinity.status_field(job.running.pid, "State") or "").startswith("T"):
                    self._frozen.add(job.running.job_id)
            return {job.running.job_id: job.run for job in live}, ended

    def adopt(self, job_id: int, pid: int, local_cores: Sequence[int]) -> RunningJob:
        """Pin a running process, its threads and its children (by affinity, in every mode)."""
        cores = self._check_cores(local_cores)
        with self._lock:
            if job_id in self._jobs:
                raise ExecError(f"job {job_id} is already running on this node")
            job = Adopted(job_id, pid, cores)
            job.pin(cores)
            self._jobs[job_id] = job
            return job.running

    # -- live changes and signals ---------------------------------------------

    def set_cores(self, job_id: int, local_cores: Sequence[int]) -> None:
        """Move a running job to other cores, live: same PIDs, grow or shrink."""
        cores = self._check_cores(local_cores)
        with self._lock:
            self._get(job_id).set_cores(cores)

    def stop(self, job_id: int, grace: float = 5.0) -> None:
        """SIGTERM now, SIGKILL after `grace` seconds (at once if grace <= 0). Returns at once;
        the job stays listed until reap()/poll() collects its exit code. Adopted jobs are let go."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.stop(grace, lambda: self._escalate(job_id, job)):
                self._forget(job)

    def enforce_lease(self, now: float) -> list[int]:
        """What the shims do for their jobs, done here for containers (no shim is their parent):
        once the lease is older than its grace, stop them, with the lease's cause. Only while
        this agent runs: a container outliving a dead agent is not stopped (docs/containers.md).
        Returns the jobs stopped now."""
        if self.lease is None:
            return []
        try:
            age = now - Path(self.lease["path"]).stat().st_mtime
        except FileNotFoundError:
            return []  # no contact yet: nothing to count from
        if age <= self.lease["grace"]:
            return []
        stopped = []
        with self._lock:
            for job_id, job in list(self._jobs.items()):
                if isinstance(job, containers.Contained) and job.stopped_for is None and job.ended_code is None:
                    job.stopped_for = self.lease["cause"]
                    job.stop(self.lease["stop_grace"], lambda j=job_id, h=job: self._escalate(j, h))
                    stopped.append(job_id)
        return stopped

    def _escalate(self, job_id: int, job: Held) -> None:
        with self._lock:
            # Identity check: the job may have been reaped and the id reused meanwhile.
            if self._jobs.get(job_id) is job:
                log.info("job %s ignored SIGTERM; killing it", job_id)
                job.signal(signal.SIGKILL)

    def suspend(self, job_id: int) -> None:
        """Stop every process of the job (SIGSTOP, through its shim: the whole tree); same PIDs.
        A container is paused by its engine. Its cores may be granted to others meanwhile."""
        with self._lock:
            self._get(job_id).signal(signal.SIGSTOP)
            self._frozen.add(job_id)

    def resume(self, job_id: int, local_cores: Sequence[int] | None = None) -> None:
        """Let a suspended job run again, first pinned to ``local_cores`` when given (the cores
        it was granted back, which need not be the ones it had)."""
        with self._lock:
            if local_cores is not None:
                self._get(job_id).set_cores(self._check_cores(local_cores))
            self._get(job_id).signal(signal.SIGCONT)
            self._frozen.discard(job_id)

    def suspended(self) -> set[int]:
        """The jobs suspend() stopped and resume() has not let run again."""
        with self._lock:
            return set(self._frozen)

    # -- exit -----------------------------------------------------------------

    def reap(self, job_id: int) -> int | None:
        """Exit code if the job has ended (negative signal number if killed), else None.
        Collecting it kills leftovers, removes the cgroup and closes the pidfd (remove
        any add_reader() on it first). Unknown jobs give None."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            code = job.exit_code()
            if code is not None:
                if getattr(job, "cause", None):
                    self.causes[job_id] = job.cause
                if getattr(job, "usage", None):
                    self.usages[job_id] = job.usage
                self._forget(job)
            return code

    def cause(self, job_id: int) -> str | None:
        """Why a job just reaped ended, beyond its exit code ("out of memory"), once."""
        with self._lock:
            return self.causes.pop(job_id, None)

    def usage(self, job_id: int) -> dict:
        """What a job that just ended consumed, once: {"cpu_seconds", "peak_memory_mb"} as its
        shim measured them (shims.recorded_usage); {} when nothing was measured (a container,
        an adopted process, a shim that died without a record)."""
        with self._lock:
            return self.usages.pop(job_id, {})

    def poll(self, without_pidfd: bool = False) -> list[tuple[int, int]]:
        """Collect every job that has ended: [(job_id, exit_code)]. `without_pidfd`: only
        those nobody can watch, for a caller that reaps the others when their pidfd fires
        (collecting those here would close an fd its event loop may be about to watch)."""
        with self._lock:
            self._unremoved = [slot for slot in self._unremoved if not slot.release(timeout=0)]
            done = []
            for job_id in [j for j, job in self._jobs.items() if not without_pidfd or job.running.pidfd is None]:
                code = self.reap(job_id)
                if code is not None:
                    done.append((job_id, code))
            return done

    def _forget(self, job: Held) -> None:
        job.close()
        slot = getattr(job, "slot", None)
        if slot is not None and not slot.release(timeout=0):
            # Right after the last process exits the kernel may still call the group busy:
            # never wait for it here (this runs on the exit path); poll() retries.
            self._unremoved.append(slot)
        self._jobs.pop(job.running.job_id, None)
        self._frozen.discard(job.running.job_id)
        self._ended_runs[(job.running.job_id, getattr(job, "run", 0))] = None
        while len(self._ended_runs) > ENDED_RUNS_KEPT:
            del self._ended_runs[next(iter(self._ended_runs))]

    def ended_runs(self) -> set[tuple[int, int]]:
        """(job, run) of the processes that ended and were collected (the newest ENDED_RUNS_KEPT)."""
        with self._lock:
            return set(self._ended_runs)

    # -- views and teardown ---------------------------------------------------

    def jobs(self) -> dict[int, RunningJob]:
        with self._lock:
            return {job_id: job.running for job_id, job in self._jobs.items()}

    def pids(self, job_id: int) -> list[int]:
        """Every PID of the job's tree now (leader first); [] for an unknown job."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job.tree() if job is not None else []

    def log_file(self, job_id: int, stream: str) -> Path:
        """jobs/<id>.out or .err ("stdout", "stderr"), brought up to date first (a container's
        logs are the engine's)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.sync_logs()
        return self.logdir / f"{job_id}.{'out' if stream == 'stdout' else 'err'}"

    def cgroup_dirs(self, job_id: int) -> list[Path]:
        """The job's cgroup directories ([] in affinity mode or for adopted jobs), for diagnostics."""
        with self._lock:
            slot = getattr(self._jobs.get(job_id), "slot", None)
            return list(slot.dirs) if slot is not None else []

    def shutdown(self, kill: bool = True, grace: float = 1.0) -> None:
        """kill=True: stop every job (SIGTERM, SIGKILL after `grace`), reap them, let adopted
        ones go and remove this scope's cgroups. kill=False: detach; started jobs keep
        running in their cgroups (pinned as they are) and are forgotten."""
        with self._lock:
            if not kill:
                for job in list(self._jobs.values()):
                    job.detach()
                    self._jobs.pop(job.running.job_id, None)
                self.spawner.close()
                return
            for job_id in list(self._jobs):
                self.stop(job_id, grace=0 if grace <= 0 else 3600)
            deadline = time.monotonic() + grace
            while self._jobs and time.monotonic() < deadline:
                self.poll()
                time.sleep(0.01)
            for job in list(self._jobs.values()):
                job.kill()
                self.reap(job.running.job_id)
            self.spawner.close()
            self.placement.remove()

    def _get(self, job_id: int) -> Held:
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
