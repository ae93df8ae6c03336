"""The container runtime: a job with an image runs as a container of the node's Docker engine.

The same shape as shims.py, with the engine in the shim's place: containerd's
shim is the container's parent and outlives the agent, the engine keeps the
exit code and the logs, and its labels are the record a new agent finds the
job by (heaven.home: the executor's work directory, heaven.job, heaven.run).

A container is started with the flags the product promises, always:
- `--cpuset-cpus` of exactly the granted cores (changed live by `docker update`
  on a steal or a grow: same PIDs, every thread follows) and `--memory`;
- `--init` (tini as PID 1, so SIGTERM ends it at once, not after 10 s);
- `--network host` (no bridge here; nothing is published anywhere);
- never a pull: a create with a missing image fails (the SDK's create does not pull,
  unlike its run()), and that is the job's failure reason.

Contained answers the executor's calls (tree, set_cores, signal, stop, exit_code,
kill, close, detach, sync_logs) like Started and Adopted, so nothing outside this
module knows a container from a process. Every call may block on the engine's API:
callers hold the executor's lock on the agent's worker thread.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from heaven.agent import affinity
from heaven.agent.processes import ExecError, RunningJob, _Held, gone, pidfd_of
from heaven.wire.agent import OUT_OF_MEMORY

log = logging.getLogger(__name__)

HOME, JOB, RUN = "heaven.home", "heaven.job", "heaven.run"
DEFAULT_SOCKET = Path("/var/run/docker.sock")
API_TIMEOUT = 30  # seconds for one engine call (a stop waits for the engine to record the exit)


def _cpuset(cores: Sequence[int]) -> str:
    return ",".join(str(c) for c in cores)


class Engine:
    """The node's Docker engine, through the Docker SDK (one HTTP connection, no CLI process per call)."""

    def __init__(self, client) -> None:
        self.client = client

    @classmethod
    def connect(cls) -> "Engine | str":
        """The engine named by DOCKER_HOST (else the default socket) if it answers, else why not."""
        if not os.environ.get("DOCKER_HOST") and not DEFAULT_SOCKET.exists():
            return f"no DOCKER_HOST and no {DEFAULT_SOCKET}"
        try:
            import docker
        except ImportError:
            return "the docker Python package is not installed"
        try:
            client = docker.from_env(timeout=API_TIMEOUT)
            client.ping()
        except Exception as exc:  # the SDK raises several kinds for an absent or refusing daemon
            return f"the Docker engine does not answer: {exc}"
        return cls(client)

    def start(self, home: str, job_id: int, run: int, image: str, argv: list[str], cores: list[int],
              memory_mb: int, env: dict[str, str], user: str | None, logs: tuple[Path, Path]) -> "Contained":
        import docker.errors

        limits = {"mem_limit": f"{memory_mb}m", "memswap_limit": f"{memory_mb}m"} if memory_mb else {}
        try:
            container = self.client.containers.create(
                image, argv or None, init=True, cpuset_cpus=_cpuset(cores), network_mode="host",
                environment=env, user=user, detach=True,
                labels={HOME: home, JOB: str(job_id), RUN: str(run)}, **limits)
        except docker.errors.ImageNotFound as exc:
            raise ExecError(f"container image {image} is not on this node; images are never pulled "
                            "(load it with docker import or docker load)") from exc
        except docker.errors.APIError as exc:
            raise ExecError(f"cannot create the container of job {job_id}: {exc.explanation or exc}") from exc
        try:
            container.start()
            container.reload()
        except docker.errors.APIError as exc:
            _remove(container)
            raise ExecError(f"cannot start the container of job {job_id}: {exc.explanation or exc}") from exc
        pid = container.attrs["State"]["Pid"]
        running = RunningJob(job_id, pid, tuple(cores), False, pidfd_of(pid) if pid else None, *logs, time.time())
        return Contained(running, container, run)

    def recover(self, home: str, logdir: Path) -> tuple[list["Contained"], list[tuple[int, int, int, str | None]]]:
        """Containers an earlier agent of this work directory started: (live ones re-adopted,
        [(job, run, exit code, cause)] of those that ended meanwhile, as the shims' recovery
        gives them, their logs kept and their containers removed)."""
        live, ended = [], []
        for container in self.client.containers.list(all=True, filters={"label": f"{HOME}={home}"}):
            labels, state = container.labels, container.attrs["State"]
            job_id, run = int(labels[JOB]), int(labels.get(RUN, 0))
            logs = (logdir / f"{job_id}.out", logdir / f"{job_id}.err")
            if state.get("Running") and state.get("Pid"):
                cores = affinity.parse_cpu_list(container.attrs["HostConfig"].get("CpusetCpus") or "")
                running = RunningJob(job_id, state["Pid"], tuple(cores), False, pidfd_of(state["Pid"]), *logs,
                                     time.time())
                live.append(Contained(running, container, run))
                continue
            job = Contained(RunningJob(job_id, 0, (), False, None, *logs, time.time()), container, run)
            code = job.collect()
            ended.append((job_id, run, code, job.cause))
        return live, ended


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except Exception as exc:  # already gone, or the engine went away: nothing left to hold
        log.warning("cannot remove container %s: %s", container.short_id, exc)


class Contained(_Held):
    """A job in a container. Its init's PID is the job's PID; its pidfd turns readable when the
    container ends, and the code is then the engine's."""

    def __init__(self, running: RunningJob, container, run: int):
        self.running, self.container, self.run = running, container, run
        self.ended_code: int | None = None
        self.cause: str | None = None
        self.stopped_for: str | None = None  # why the agent stopped it itself (its lease ran out)

    def tree(self) -> list[int]:
        if self.ended_code is not None or not self.running.pid:
            return []
        # Every process of the container descends from its init (orphans are re-parented to it).
        return affinity.process_tree(self.running.pid)

    def set_cores(self, cores: Sequence[int]) -> None:
        import docker.errors

        try:
            self.container.update(cpuset_cpus=_cpuset(cores))
        except docker.errors.APIError as exc:
            raise ExecError(f"cannot change the cpuset of job {self.running.job_id}'s container: "
                            f"{exc.explanation or exc}") from exc
        super().set_cores(cores)

    def signal(self, sig: int) -> None:
        """Through the engine: SIGSTOP and SIGCONT freeze and thaw the whole container."""
        import docker.errors

        try:
            if sig == signal.SIGSTOP:
                self.container.pause()
            elif sig == signal.SIGCONT:
                self.container.reload()
                if self.container.attrs["State"].get("Paused"):
                    self.container.unpause()
            else:
                self.container.kill(signal=int(sig))
        except docker.errors.APIError:
            pass  # it is not running any more: the job has ended

    def stop(self, grace: float, escalate: Callable[[], None]) -> bool:
        if grace <= 0:
            self.signal(signal.SIGKILL)
            return False
        self.signal(signal.SIGCONT)  # a paused container takes no signal
        self.signal(signal.SIGTERM)
        self.escalate_after(grace, escalate)
        return False

    def _gone(self) -> bool:
        return not self.running.pid or gone(self.running.pidfd, self.running.pid)

    def exit_code(self) -> int | None:
        if self.ended_code is None and self._gone():
            self.ended_code = self.collect()
        return self.ended_code

    def collect(self) -> int:
        """Once the container's init has exited: the engine's exit code (it may record it a moment
        after the process ends, hence the wait), the cause, the logs; then the container goes."""
        try:
            code = int(self.container.wait(timeout=API_TIMEOUT)["StatusCode"])
            self.container.reload()
            self.cause = OUT_OF_MEMORY if self.container.attrs["State"].get("OOMKilled") else self.stopped_for
            self.sync_logs()
        except Exception as exc:  # the engine lost it: the job is over, with no code to tell
            log.warning("job %s: the engine gave no exit code (%s)", self.running.job_id, exc)
            code = -signal.SIGKILL
        _remove(self.container)
        return code

    def sync_logs(self) -> None:
        """The engine's logs of this container into the job's log files, which the agent serves."""
        try:
            out = self.container.logs(stdout=True, stderr=False)
            err = self.container.logs(stdout=False, stderr=True)
        except Exception as exc:
            log.warning("job %s: cannot read the container's logs: %s", self.running.job_id, exc)
            return
        for path, data in ((self.running.stdout_path, out), (self.running.stderr_path, err)):
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)

    def detach(self) -> None:
        """Forget the job and leave the container running (a new agent re-adopts it by its labels)."""
        self.close()
