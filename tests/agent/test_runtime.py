"""The agent's runtime against its real executor: a run that ended is never started again."""
import os
import time

from heaven.agent.reconcile import Desired, Start
from heaven.agent.runtime import Agent
from heaven.config import AgentSettings

CPU = sorted(os.sched_getaffinity(0))[-1]


def test_a_run_collected_before_the_loop_booked_its_exit_is_not_started_again(tmp_path):
    """The exit path collects a process on a worker thread, then books it in ``finished`` on the
    loop; an assignment list carried out in between still names the run. It must not start a
    second copy (bench/bench_chaos.py caught one beginning after its job had succeeded)."""
    agent = Agent(AgentSettings(name="runtime-test", workdir=str(tmp_path), mode="affinity"))
    try:
        wanted = [Desired(7, 1, "batch", ("true",), (CPU,))]
        [(step, running)] = agent._carry_out_all(wanted, {}, set())
        assert isinstance(step, Start) and running.pid > 0
        deadline = time.monotonic() + 10
        while agent.executor.reap(7) is None:  # what the exit path does, off the loop
            assert time.monotonic() < deadline, "the job did not end"
            time.sleep(0.02)
        assert 7 not in agent.executor.jobs()
        # The loop has not run _ended yet: its finished set lacks (7, 1).
        assert agent._carry_out_all(wanted, {7: 1}, set()) == []
        # A new run of the job (requeued and placed here again) does start.
        [(again, _)] = agent._carry_out_all([Desired(7, 2, "batch", ("true",), (CPU,))], {}, set())
        assert isinstance(again, Start) and again.job.run == 2
    finally:
        agent.executor.shutdown()
