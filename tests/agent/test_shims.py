"""shims.py and shim.py on real processes: the shim is the job's parent, keeps its exit
status on disk, and a second executor in the same workdir takes the job over."""
import json
import os
import signal
import uuid

import pytest

from heaven.agent.executor import ExecError, Executor
from tests.agent.test_executor import ONE, gone, reaped, wait_for
from tests.agent.test_executor import state as state_of


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


@pytest.fixture(params=["cgroup", "affinity"])
def make(request, tmp_path):
    made = []

    def new():
        try:
            ex = Executor(tmp_path, f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}", mode=request.param)
        except ExecError as exc:
            pytest.skip(f"cgroup cpuset hierarchy not writable here: {exc}")
        made.append(ex)
        return ex
    yield new
    for ex in reversed(made):
        ex.shutdown(kill=True, grace=0.2)


def test_the_shim_is_the_parent_and_writes_its_record(make, tmp_path):
    ex = make()
    job = ex.start(1, ["sleep", "30"], [int(ONE)], run=3)
    shim = parent_of(job.pid)
    assert shim != os.getpid()
    record = json.loads((tmp_path / "shims" / "1.json").read_text())
    assert (record["pid"], record["shim"], record["run"]) == (job.pid, shim, 3)
    assert oct((tmp_path / "shims").stat().st_mode & 0o777) == "0o700", "only the agent's account may talk to shims"


def test_a_second_executor_takes_over_a_running_job_and_gets_its_real_code(make, tmp_path):
    first = make()
    go = tmp_path / "go"
    job = first.start(2, ["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.02; done; exit 5"], [int(ONE)], run=4)
    dirs = first.cgroup_dirs(2)
    first.shutdown(kill=False)  # the agent goes away; its jobs do not
    assert not gone(job.pid)

    second = make()
    live, ended = second.recover()
    assert live == {2: 4} and ended == []
    assert second.jobs()[2].pid == job.pid
    assert second.cgroup_dirs(2) == dirs, "the same group, found from the shim's record"
    second.set_cores(2, [int(ONE)])  # live changes work on a recovered job
    go.touch()
    assert reaped(second, 2) == 5
    assert not list((tmp_path / "shims").iterdir()), "the record goes once the exit is collected"
    assert not any(d.exists() for d in dirs)


def test_an_exit_while_no_executor_runs_is_kept_on_disk(make, tmp_path):
    first = make()
    job = first.start(3, ["sh", "-c", "sleep 0.2; exit 9"], [int(ONE)], run=1)
    shim = parent_of(job.pid)
    first.shutdown(kill=False)
    wait_for(lambda: gone(shim), "the job and its shim to end")
    assert (tmp_path / "shims" / "3.exit").exists()
    second = make()
    live, ended = second.recover()
    assert live == {} and ended == [(3, 1, 9, None)]
    usage = second.usage(3)
    assert set(usage) == {"cpu_seconds", "peak_memory_mb"}, "what it consumed is kept with the code"
    assert usage["cpu_seconds"] >= 0 and usage["peak_memory_mb"] > 0
    assert second.usage(3) == {}, "told once"


BURN = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
FILL = "b = bytearray(100 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"


def test_the_shim_measures_the_cpu_time_and_peak_memory_of_its_job(make, tmp_path):
    """Half a second of CPU burnt by an orphan (its shell left it behind) still counts: the
    job's group counts it, or, as a subreaper, the shim reaped it. Peak memory is the job's."""
    import sys
    ex = make()
    done = tmp_path / "burnt"
    ex.start(8, ["sh", "-c", f"({sys.executable} -c '{BURN}'; touch {done}) & "
                             f"while [ ! -e {done} ]; do sleep 0.02; done"], [int(ONE)])
    assert reaped(ex, 8, timeout=30) == 0
    usage = ex.usage(8)
    assert 0.4 < usage["cpu_seconds"] < 5, usage
    assert usage["peak_memory_mb"] > 0, usage
    assert ex.usage(8) == {}, "told once"
    ex.start(9, [sys.executable, "-c", FILL], [int(ONE)])
    assert reaped(ex, 9, timeout=30) == 0
    assert 95 < ex.usage(9)["peak_memory_mb"] < 1000, "it touched 100 MB"


def test_signals_go_through_the_shim(make):
    ex = make()
    job = ex.start(4, ["sleep", "30"], [int(ONE)])
    ex.stop(4, grace=0)
    assert reaped(ex, 4) == -signal.SIGKILL
    assert gone(job.pid)


HOG = "b = bytearray(256 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\n"


def test_a_job_killed_by_its_memory_limit_ends_out_of_memory(make):
    import sys
    ex = make()
    if ex.mode == "affinity":
        pytest.skip("memory limits exist only in cgroup mode")
    ex.start(5, [sys.executable, "-c", HOG], [int(ONE)], memory_mb=32)
    assert reaped(ex, 5, timeout=20) == -signal.SIGKILL
    assert ex.cause(5) == "out of memory"
    assert ex.cause(5) is None, "told once"
    ex.start(6, ["sh", "-c", "exit 3"], [int(ONE)], memory_mb=32)
    assert reaped(ex, 6) == 3 and ex.cause(6) is None, "a plain failure is no OOM"


def test_the_shim_stops_its_job_once_the_agent_s_lease_of_contact_runs_out(tmp_path):
    """While the lease is renewed the job runs; once it is older than the grace, the shim stops
    the job and records why, for whichever agent collects the exit."""
    import time

    from heaven.agent.shims import renew_lease
    from heaven.wire.agent import DISCONNECTED
    ex = Executor(tmp_path, f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}", mode="affinity")
    lease = tmp_path / "shims" / "lease"
    ex.lease = {"path": str(lease), "grace": 1.0, "stop_grace": 0.5, "cause": DISCONNECTED}
    try:
        renew_lease(lease, time.time())
        job = ex.start(7, ["sleep", "30"], [int(ONE)], run=2)
        until = time.monotonic() + 2.5
        while time.monotonic() < until:  # renewed more often than the grace: it keeps running
            renew_lease(lease, time.time())
            time.sleep(0.2)
        assert ex.reap(7) is None and not gone(job.pid)
        renew_lease(lease, time.time() - 5)  # the last contact, long ago
        assert reaped(ex, 7) == -signal.SIGTERM
        assert ex.cause(7) == DISCONNECTED
    finally:
        ex.shutdown(kill=True, grace=0.2)


def test_a_second_executor_knows_a_suspended_job_and_resumes_it_on_new_cores(make):
    first = make()
    job = first.start(4, ["sleep", "30"], [int(ONE)], run=1)
    wait_for(lambda: state_of(job.pid) == "S", "sleep to sleep")
    first.suspend(4)
    wait_for(lambda: state_of(job.pid) == "T", "the job to stop")
    first.shutdown(kill=False)
    second = make()
    assert second.recover()[0] == {4: 1}
    assert second.suspended() == {4}, "frozen under the first agent: still known as suspended"
    second.resume(4, [int(ONE)])
    wait_for(lambda: state_of(job.pid) in ("S", "R"), "the job to continue")
    assert second.suspended() == set() and second.jobs()[4].pid == job.pid
