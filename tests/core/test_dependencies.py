"""Dependencies: afterok / afterany, waiting while a dependency is active, cancelling when one failed."""
import pytest

from heaven.core.dependencies import blocker
from heaven.core.plan import Cancel
from heaven.core.scheduler import SchedulerConfig
from heaven.core.states import JobState
from tests.builders import job, node, running, snapshot_with
from tests.core.harness import run_cycle

GREEDY = SchedulerConfig()
S, F, C = JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED


def after(dep_id, kind="afterok", job_id=2, **kw):
    return job(job_id, depends_on=((dep_id, kind),), **kw)


def placed(plan):
    return [p.job_id for p in plan.placements]


def test_waits_while_the_dependency_is_pending():
    snap = snapshot_with([node("n1", 1)], [job(1, cores=2), after(1)])  # job 1 can never start here
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [] and plan.cancellations == []
    reason = plan.waiting[2]
    assert (reason.code, reason.field) == ("dependency", "after")
    assert str(reason) == "waiting for job 1 to end"


@pytest.mark.parametrize("kind", ["afterok", "afterany"])
def test_waits_while_the_dependency_is_running(kind):
    snap = snapshot_with([node("n1", 4)], [after(1, kind)], [running(job(1), "n1", (0,))])
    plan = run_cycle(snap, GREEDY)
    assert placed(plan) == [] and plan.waiting[2].code == "dependency"


def test_a_job_and_its_dependency_submitted_together_do_not_start_in_the_same_cycle():
    plan = run_cycle(snapshot_with([node("n1", 4)], [job(1), after(1)]), GREEDY)
    assert placed(plan) == [1]


@pytest.mark.parametrize("kind", ["afterok", "afterany"])
def test_starts_after_the_dependency_succeeded(kind):
    plan = run_cycle(snapshot_with([node("n1", 4)], [after(1, kind)], ended={1: S}), GREEDY)
    assert placed(plan) == [2] and plan.cancellations == []


@pytest.mark.parametrize("state", [F, C])
def test_afterok_with_a_failed_dependency_is_cancelled(state):
    plan = run_cycle(snapshot_with([node("n1", 4)], [after(1)], ended={1: state}), GREEDY)
    assert placed(plan) == []
    assert plan.cancellations == [Cancel(2, f"dependency 1 ended {state}, and this job runs only after it succeeds")]
    assert 2 not in plan.waiting and plan.counts.unschedulable == 0


@pytest.mark.parametrize("state", [F, C])
def test_afterany_starts_after_a_failure(state):
    plan = run_cycle(snapshot_with([node("n1", 4)], [after(1, "afterany")], ended={1: state}), GREEDY)
    assert placed(plan) == [2] and plan.cancellations == []


def test_all_dependencies_must_be_met():
    two = job(3, depends_on=((1, "afterok"), (2, "afterany")))
    assert placed(run_cycle(snapshot_with([node("n1", 4)], [two], ended={1: S}), GREEDY)) == []
    assert placed(run_cycle(snapshot_with([node("n1", 4)], [two], ended={1: S, 2: F}), GREEDY)) == [3]
    waiting = run_cycle(snapshot_with([node("n1", 4)], [job(3, depends_on=((1, "afterok"), (2, "afterok")))]),
                        GREEDY)
    assert str(waiting.waiting[3]) == "waiting for jobs 1, 2 to end"


def test_one_failed_afterok_cancels_even_while_another_dependency_is_active():
    j = job(3, depends_on=((1, "afterany"), (2, "afterok")))
    plan = run_cycle(snapshot_with([node("n1", 4)], [j], [running(job(1), "n1", (0,))], ended={2: F}), GREEDY)
    assert [c.job_id for c in plan.cancellations] == [3]


def test_an_unknown_dependency_is_waited_for_not_cancelled():
    assert blocker(after(404), {}).code == "dependency"
    plan = run_cycle(snapshot_with([node("n1", 4)], [after(404)]), GREEDY)
    assert plan.cancellations == [] and plan.waiting[2].code == "dependency"


def test_a_job_waiting_for_its_dependency_does_not_block_a_strict_queue():
    pending = [after(1, job_id=2, submitted_at=1.0), job(3, submitted_at=2.0)]
    plan = run_cycle(snapshot_with([node("n1", 4)], pending, [running(job(1), "n1", (0,))]),
                     SchedulerConfig(policy="fcfs"))
    assert placed(plan) == [3]


def test_a_cancelled_chain_goes_one_link_per_cycle():
    # 3 needs 2 needs 1, which failed: 2 is cancelled now; 3 keeps waiting until 2 has ended.
    pending = [after(1, job_id=2), after(2, job_id=3)]
    plan = run_cycle(snapshot_with([node("n1", 4)], pending, ended={1: F}), GREEDY)
    assert [c.job_id for c in plan.cancellations] == [2] and plan.waiting[3].code == "dependency"
    then = run_cycle(snapshot_with([node("n1", 4)], [after(2, job_id=3)], ended={2: C}), GREEDY)
    assert [c.job_id for c in then.cancellations] == [3]


def test_a_job_waiting_for_a_dependency_neither_steals_nor_evicts():
    donor = running(job(9, cores=4), "n1", (0, 1, 2, 3), used_cores=0.5)
    snap = snapshot_with([node("n1", 4)], [after(1, cores=2, priority=9)], [donor])
    plan = run_cycle(snap, SchedulerConfig(steal=True, preempt=True))
    assert plan.shrinks == [] and plan.preemptions == [] and plan.placements == []


@pytest.mark.parametrize("policy", ["easy", "rl-backfill"])
@pytest.mark.parametrize("ended", [{}, {9: F}], ids=["dependency-running", "dependency-failed"])
def test_backfill_respects_dependencies(policy, ended):
    # Head job 1 needs all 8 cores, reserved at t=100 when job 9 ends. Job 2 (2 cores, 10 s) would be a
    # perfect backfill, but it runs only after job 9 succeeds: it must wait (or be cancelled once 9 failed).
    busy = [] if ended else [running(job(9, cores=6, walltime=100.0), "n1", tuple(range(6)))]
    holder = [running(job(8, cores=6, walltime=100.0), "n1", tuple(range(6)))] if ended else []
    pending = [job(1, cores=8, walltime=50.0, submitted_at=1.0),
               job(2, cores=2, walltime=10.0, submitted_at=2.0, depends_on=((9, "afterok"),))]
    snap = snapshot_with([node("n1", 8)], pending, busy + holder, ended=ended)
    plan = run_cycle(snap, SchedulerConfig(policy=policy, order="fifo"))  # raises DependencyBroken today
    assert placed(plan) == []
