"""The agent's reconcile for suspended jobs (pure), and its runtime carrying a freeze and a thaw
out on a real process: same PID, /proc state T while frozen, pinned to the new cores on thaw."""
import os
import time

from heaven.agent.reconcile import Desired, Freeze, Held, Resize, Start, Thaw, reconcile
from heaven.agent.runtime import Agent
from heaven.config import AgentSettings

CPUS = sorted(os.sched_getaffinity(0))


def _want(suspended, cores=(0,)):
    return Desired(7, 1, "batch", ("sleep", "30"), cores, suspended=suspended)


def test_a_running_job_listed_as_suspended_is_frozen_once():
    assert reconcile([_want(True, ())], {7: Held(7, 1, (0,), False)}, set()) == [Freeze(7)]
    assert reconcile([_want(True, ())], {7: Held(7, 1, (0,), False, suspended=True)}, set()) == []


def test_a_frozen_job_listed_with_cores_again_is_thawed_onto_them():
    assert reconcile([_want(False, (1,))], {7: Held(7, 1, (0,), False, suspended=True)}, set()) == [Thaw(7, (1,))]
    # Not frozen and on other cores: an ordinary live resize.
    assert reconcile([_want(False, (1,))], {7: Held(7, 1, (0,), False)}, set()) == [Resize(7, (1,))]


def test_a_suspended_job_the_agent_does_not_hold_is_not_started_afresh():
    assert reconcile([_want(True, ())], {}, set()) == []
    assert reconcile([_want(False)], {}, set()) == [Start(_want(False))]


def _proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _wait(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_runtime_freezes_and_thaws_the_same_process_onto_its_new_cores(tmp_path):
    agent = Agent(AgentSettings(name="suspend-test", workdir=str(tmp_path), mode="affinity"))
    first, last = CPUS[0], CPUS[-1]
    try:
        [(_, running)] = agent._carry_out_all([_want(False, (first,))], {}, set())
        pid = running.pid
        _wait(lambda: _proc_state(pid) in ("S", "R"), "the job to run")
        [(step, _)] = agent._carry_out_all([_want(True, ())], {7: 1}, set())
        assert isinstance(step, Freeze)
        _wait(lambda: _proc_state(pid) == "T", "the job to stop")
        assert agent.held({7: 1})[7].suspended
        [(step, _)] = agent._carry_out_all([_want(False, (last,))], {7: 1}, set())
        assert isinstance(step, Thaw)
        _wait(lambda: _proc_state(pid) in ("S", "R"), "the job to continue")
        assert agent.executor.jobs()[7].pid == pid and os.sched_getaffinity(pid) == {last}
        assert not agent.held({7: 1})[7].suspended
    finally:
        agent.executor.shutdown()
