"""The container runtime on a real Docker engine (the suite's own dockerd, tests/docker_engine.py):
a job with an image is a container pinned to its cores, changed live, its code, cause and logs
the engine's, found again by a new executor; and what happens on a node without an engine.

Every pinning assertion reads /proc/<pid>/status of the container's processes."""
import os
import signal
import uuid
from pathlib import Path

import pytest

from heaven.agent.affinity import format_cpu_list, status_field
from heaven.agent.executor import ExecError, Executor
from heaven.wire.agent import OUT_OF_MEMORY
from tests.docker_engine import BUSYBOX_IMAGE
from tests.live import wait_for

CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="needs at least two usable cores")


def cpus(pid: int) -> str:
    return status_field(pid, "Cpus_allowed_list")


def in_container(pid: int, name: str) -> Path:
    """A file in the container's own filesystem, seen from the host (we are root)."""
    return Path(f"/proc/{pid}/root/tmp/{name}")


def until_flag(code: int) -> list[str]:
    return ["sh", "-c", f"echo out-$HEAVEN_JOB_ID; echo err >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done; exit {code}"]


@pytest.fixture
def executor(docker_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)  # where the executor finds its engine
    made = []

    def make() -> Executor:
        made.append(Executor(tmp_path / "agent", f"t-{uuid.uuid4().hex[:8]}", "affinity"))
        assert made[-1].engine is not None, made[-1].no_engine
        return made[-1]

    yield make
    for ex in made:
        ex.shutdown(kill=True, grace=0.5)
    left = docker_engine.client.containers.list(all=True, filters={"label": f"heaven.home={tmp_path / 'agent'}"})
    for container in left:
        container.remove(force=True)
    assert not left, "the executor left containers behind"


def test_a_container_job_is_pinned_changed_live_and_reports_the_engines_code_and_logs(executor):
    ex = executor()
    job = ex.start(7, until_flag(5), [CPUS[0]], memory_mb=64, image=BUSYBOX_IMAGE)
    assert cpus(job.pid) == str(CPUS[0])
    wait_for(lambda: "out-7" in ex.log_file(7, "stdout").read_text(), what="the engine's logs")
    assert ex.log_file(7, "stderr").read_text() == "err\n"
    ex.set_cores(7, CPUS[:2])  # a grow: same PID, the cpuset widened live
    assert ex.pids(7)[0] == job.pid and cpus(job.pid) == format_cpu_list(CPUS[:2])
    ex.set_cores(7, [CPUS[1]])  # a shrink onto the other core
    assert cpus(job.pid) == str(CPUS[1])
    seen = {pid: cpus(pid) for pid in ex.pids(7)}
    alive = {pid: c for pid, c in seen.items() if c is not None}  # a `sleep` of the loop may end between the two reads
    assert job.pid in alive and set(alive.values()) == {str(CPUS[1])}, seen  # tini and the shell alike
    in_container(job.pid, "go").touch()
    assert wait_for(lambda: ex.reap(7), what="the container to end") == 5
    assert ex.log_file(7, "stdout").read_text() == "out-7\n"  # kept after the container went


def test_stop_ends_a_container_at_once_through_its_init(executor):
    ex = executor()
    job = ex.start(8, ["sleep", "60"], [CPUS[0]], image=BUSYBOX_IMAGE)
    ex.stop(8, grace=5)
    # --init: tini passes SIGTERM on, so it ends now, not after the engine's 10 s.
    code = wait_for(lambda: ex.reap(8), timeout=4, what="the stopped container to end")
    assert code == 128 + signal.SIGTERM and not Path(f"/proc/{job.pid}").exists()


def test_a_missing_image_is_a_clear_failure_and_never_a_pull(executor, docker_engine):
    ex = executor()
    with pytest.raises(ExecError, match="heaven-test/absent:1 is not on this node; images are never pulled"):
        ex.start(9, ["true"], [CPUS[0]], image="heaven-test/absent:1")
    assert ex.jobs() == {}
    assert not docker_engine.client.images.list(name="heaven-test/absent")  # nothing was fetched


def test_the_memory_limit_kills_and_says_out_of_memory(executor):
    ex = executor()
    # dd's 64 MB block is written to before it is copied: beyond a 16 MB limit.
    ex.start(10, ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], [CPUS[0]], memory_mb=16,
             image=BUSYBOX_IMAGE)
    assert wait_for(lambda: ex.reap(10), what="the container to be killed") == 137
    assert ex.cause(10) == OUT_OF_MEMORY


def test_a_new_executor_re_adopts_running_containers_and_reports_ended_ones(executor):
    first = executor()
    running = first.start(11, until_flag(3), [CPUS[0]], image=BUSYBOX_IMAGE, run=2)
    ended = first.start(12, ["sh", "-c", "exit 4"], [CPUS[1]], image=BUSYBOX_IMAGE, run=1)
    first.shutdown(kill=False)  # the agent goes away; its containers do not
    wait_for(lambda: not Path(f"/proc/{ended.pid}").exists(), what="job 12 to end while no agent runs")

    second = executor()
    live, away = second.recover()
    assert live == {11: 2} and away == [(12, 1, 4, None)]
    assert second.jobs()[11].pid == running.pid and second.jobs()[11].local_cores == (CPUS[0],)
    second.set_cores(11, [CPUS[1]])  # still ours to change
    assert cpus(running.pid) == str(CPUS[1])
    in_container(running.pid, "go").touch()
    assert wait_for(lambda: second.reap(11), what="the re-adopted container to end") == 3


def test_an_image_without_a_command_runs_its_own(executor):
    ex = executor()
    ex.start(13, [], [CPUS[0]], image=BUSYBOX_IMAGE)
    assert wait_for(lambda: ex.reap(13), what="the container to end") == 9
    assert ex.log_file(13, "stdout").read_text() == "the image default command\n"


def test_without_an_engine_an_image_needs_a_command(tmp_path):
    ex = Executor(tmp_path / "agent", f"t-{uuid.uuid4().hex[:8]}", "affinity", containers_wanted=False)
    try:
        with pytest.raises(ExecError, match="image local/x:1 has no command to run, and this node has no container"):
            ex.start(1, [], [CPUS[0]], image="local/x:1")
        job = ex.start(2, ["sh", "-c", "exit 6"], [CPUS[0]], image="local/x:1")  # its command, as a process
        assert wait_for(lambda: ex.reap(2), what="the process to end") == 6 and job.pid > 0
    finally:
        ex.shutdown(kill=True, grace=0.5)


def test_a_container_is_stopped_once_the_lease_is_older_than_its_grace(executor, tmp_path):
    # No shim is a container's parent, so the executor keeps the shims' promise for it:
    # without contact for the grace, the job stops, and says why (the controller requeues it).
    from heaven.wire.agent import DISCONNECTED

    ex = executor()
    lease = tmp_path / "lease"
    lease.touch()
    ex.lease = {"path": str(lease), "grace": 30.0, "stop_grace": 1.0, "cause": DISCONNECTED}
    job = ex.start(21, ["sleep", "300"], [CPUS[0]], image=BUSYBOX_IMAGE)
    contact = lease.stat().st_mtime
    assert ex.enforce_lease(contact + 29) == [] and Path(f"/proc/{job.pid}").exists()
    assert ex.enforce_lease(contact + 31) == [21]
    assert ex.enforce_lease(contact + 32) == []  # stopped once
    code = wait_for(lambda: ex.reap(21), what="the container to stop")
    assert code == 128 + signal.SIGTERM and ex.cause(21) == DISCONNECTED
