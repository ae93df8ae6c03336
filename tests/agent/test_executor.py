"""The executor on real processes, in both runtimes (cgroup and affinity).

Every assertion reads what the kernel says (/proc/<pid>/status, /proc/<pid>/stat,
cgroup files), never the executor's own bookkeeping. Waiting is by polling
with a deadline. The fixture shuts the executor down and checks that no
process and no cgroup of the test is left.
"""
import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from heaven.agent.affinity import format_cpu_list, pin_threads, status_field, task_ids
from heaven.agent.cgroups import ScopeCgroups
from heaven.agent.mounts import Layout
from heaven.agent.executor import ExecError, Executor

CPUS = sorted(os.sched_getaffinity(0))
ONE, OTHER = str(CPUS[-1]), str(CPUS[0])          # "1" and "0" on a two-core machine
BOTH = format_cpu_list(CPUS)                      # "0-1"
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="needs at least two usable cores")

THREADS = ("import threading, time\n"
           "for _ in range(4): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
           "print('ready', flush=True)\n"
           "time.sleep(30)\n")


def wait_for(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def cpus(tid):
    return status_field(tid, "Cpus_allowed_list")


def state(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def reaped(executor, job_id, timeout=5.0):
    return wait_for(lambda: (lambda c: (c,) if c is not None else None)(executor.reap(job_id)),
                    f"job {job_id} to exit", timeout)[0]


def log_has(path, text):
    return path.exists() and text in path.read_text()


def scope_dirs(scope):
    layout = Layout.detect()
    return ScopeCgroups(layout, scope).dirs() if layout else []


@pytest.fixture(params=["cgroup", "affinity"])
def executor(request, tmp_path):
    scope = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        ex = Executor(tmp_path, scope, mode=request.param)
    except ExecError as exc:
        pytest.skip(f"cgroup cpuset hierarchy not writable here: {exc}")
    seen: set[int] = set()
    original_pids = ex.pids

    def recording_pids(job_id):  # remember every PID a test saw, to check the teardown
        found = original_pids(job_id)
        seen.update(found)
        return found
    ex.pids = recording_pids
    try:
        yield ex
    finally:
        for job_id in list(ex.jobs()):
            if not ex.jobs()[job_id].adopted:
                recording_pids(job_id)
        ex.shutdown(kill=True, grace=0.2)
        assert ex.jobs() == {}
        assert all(gone(pid) for pid in seen), "a job process survived shutdown"
        leftover = [d for d in scope_dirs(scope) if d.exists()]
        assert not leftover, f"cgroups left behind: {leftover}"


def test_mode_is_reported(executor):
    assert executor.mode in ("cgroup-v1", "cgroup-v2", "affinity")


def test_tree_is_pinned_before_exec_and_moves_live(executor):
    job = executor.start(1, ["sh", "-c", "sleep 30 & sleep 30 & wait"], [int(ONE)])
    pids = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(executor.pids(1)), "sh and two sleeps")
    assert pids[0] == job.pid
    assert [cpus(p) for p in pids] == [ONE] * 3

    executor.set_cores(1, CPUS)           # grow
    assert sorted(executor.pids(1)) == sorted(pids), "a live change must keep the same processes"
    assert [cpus(p) for p in pids] == [BOTH] * 3

    executor.set_cores(1, [int(OTHER)])   # shrink
    assert sorted(executor.pids(1)) == sorted(pids)
    assert [cpus(p) for p in pids] == [OTHER] * 3
    assert executor.jobs()[1].local_cores == (int(OTHER),)
    if executor.mode != "affinity":
        cpuset = executor.cgroup_dirs(1)[0] / "cpuset.cpus"
        assert cpuset.read_text().strip() == OTHER


def test_every_thread_follows_a_live_change(executor):
    job = executor.start(2, [sys.executable, "-c", THREADS], [int(ONE)])
    wait_for(lambda: log_has(job.stdout_path, "ready"), "the threads to start")
    tids = task_ids(job.pid)
    assert len(tids) == 5
    assert {cpus(t) for t in tids} == {ONE}
    executor.set_cores(2, CPUS)
    assert {cpus(t) for t in tids} == {BOTH}
    executor.set_cores(2, [int(OTHER)])
    assert {cpus(t) for t in tids} == {OTHER}
    assert task_ids(job.pid) == tids


def test_exit_code_is_reported_once(executor):
    executor.start(3, ["sh", "-c", "exit 3"], [int(ONE)])
    done = wait_for(lambda: executor.poll(), "the job to exit")
    assert done == [(3, 3)]
    assert executor.jobs() == {}
    assert executor.reap(3) is None


def test_stop_terminates_with_a_negative_signal(executor):
    job = executor.start(4, ["sleep", "30"], [int(ONE)])
    executor.stop(4, grace=5.0)
    assert reaped(executor, 4) == -signal.SIGTERM
    assert gone(job.pid)


def test_stop_escalates_to_kill_after_the_grace(executor):
    job = executor.start(5, ["sh", "-c", "trap '' TERM; echo ready; exec sleep 30"], [int(ONE)])
    wait_for(lambda: log_has(job.stdout_path, "ready"), "the TERM trap to be set")
    started = time.monotonic()
    executor.stop(5, grace=0.5)
    time.sleep(0.2)
    assert executor.reap(5) is None, "the job ignores SIGTERM, so it must still run within the grace"
    assert reaped(executor, 5) == -signal.SIGKILL
    assert time.monotonic() - started >= 0.5


def test_output_and_environment(executor, tmp_path):
    job = executor.start(6, ["sh", "-c", 'echo "out $HEAVEN_JOB_ID $GREETING"; echo err >&2; pwd'], [int(ONE)],
                         env={"GREETING": "hi"}, cwd=str(tmp_path))
    assert reaped(executor, 6) == 0
    assert job.stdout_path.read_text() == f"out 6 hi\n{tmp_path}\n"
    assert job.stderr_path.read_text() == "err\n"


def test_suspend_and_resume(executor):
    job = executor.start(7, ["sleep", "30"], [int(ONE)])
    wait_for(lambda: state(job.pid) == "S", "sleep to sleep")
    executor.suspend(7)
    wait_for(lambda: state(job.pid) == "T", "the job to stop")
    executor.resume(7)
    wait_for(lambda: state(job.pid) in ("S", "R"), "the job to continue")


def test_leftovers_die_when_the_leader_exits(executor):
    job = executor.start(8, ["sh", "-c", "sleep 30 & echo $!"], [int(ONE)])
    child = int(wait_for(lambda: job.stdout_path.read_text().strip(), "the background pid"))
    assert reaped(executor, 8) == 0
    wait_for(lambda: gone(child), "the orphaned sleep to be killed")


def test_pidfd_becomes_readable_on_exit(executor):
    import select
    job = executor.start(9, ["sh", "-c", "exit 0"], [int(ONE)])
    assert job.pidfd is not None
    assert select.select([job.pidfd], [], [], 5.0)[0] == [job.pidfd]
    assert executor.reap(9) == 0
    assert job.pidfd is None


def test_a_missing_command_raises_and_leaves_nothing(executor):
    with pytest.raises(ExecError, match="no-such-command-xyz"):
        executor.start(10, ["no-such-command-xyz", "arg"], [int(ONE)])
    assert executor.jobs() == {}
    for scope_dir in scope_dirs(executor.scope) if executor.mode != "affinity" else []:
        assert not (scope_dir / "job-10").exists()


def test_bad_requests_are_refused(executor):
    with pytest.raises(ExecError, match="not available"):
        executor.start(11, ["true"], [4096])
    with pytest.raises(ExecError, match="at least one core"):
        executor.start(11, ["true"], [])
    executor.start(11, ["sleep", "30"], [int(ONE)])
    with pytest.raises(ExecError, match="already running"):
        executor.start(11, ["sleep", "30"], [int(ONE)])
    with pytest.raises(ExecError, match="no job"):
        executor.set_cores(99, [int(ONE)])


def test_adopt_pins_a_foreign_process_and_lets_it_go(executor):
    proc = subprocess.Popen([sys.executable, "-c", THREADS], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        job = executor.adopt(12, proc.pid, [int(ONE)])
        assert job.adopted and job.pid == proc.pid
        tids = task_ids(proc.pid)
        assert len(tids) == 5 and {cpus(t) for t in tids} == {ONE}
        executor.set_cores(12, [int(OTHER)])
        assert {cpus(t) for t in tids} == {OTHER}
        executor.stop(12)
        assert proc.poll() is None, "stopping an adopted job must not kill it"
        assert {cpus(t) for t in tids} == {BOTH}, "the affinity it had is restored"
        assert 12 not in executor.jobs()

        executor.adopt(13, proc.pid, [int(ONE)])
        assert executor.poll() == []
        proc.kill()
        proc.wait()
        assert wait_for(lambda: executor.poll(), "the adopted pid to vanish") == [(13, 0)]
    finally:
        proc.kill()
        proc.wait()


def test_adopt_of_a_missing_pid_raises(executor):
    proc = subprocess.Popen(["true"])
    proc.wait()
    with pytest.raises(ExecError, match="no process"):
        executor.adopt(14, proc.pid, [int(ONE)])


def test_memory_limit_and_cgroup_lifecycle(executor):
    if executor.mode == "affinity":
        pytest.skip("memory limits exist only in cgroup mode")
    job = executor.start(15, ["sleep", "30"], [int(ONE)], memory_mb=64)
    dirs = executor.cgroup_dirs(15)
    assert dirs and all(d.is_dir() for d in dirs)
    limit_file = next(d / name for d in dirs for name in ("memory.limit_in_bytes", "memory.max")
                      if (d / name).exists())
    assert int(limit_file.read_text()) == 64 * 1024 * 1024
    membership = open(f"/proc/{job.pid}/cgroup").read()
    assert f"heaven/{executor.scope}/job-15" in membership
    executor.stop(15, grace=0)
    assert reaped(executor, 15) == -signal.SIGKILL
    assert not any(d.exists() for d in dirs), "the job's cgroup must go with the job"


def test_pin_threads_tolerates_vanished_processes():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert pin_threads([proc.pid], [int(ONE)]) == 0
