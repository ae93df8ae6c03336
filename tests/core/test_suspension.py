"""Suspend instead of requeue (giveback=suspend): victims freeze on their node and resume there.

Every plan goes through ``harness.run_cycle`` (``verify`` accepts all of it; applied, it breaks
no invariant); the histories go through ``harness.Model`` as the store applies them.
"""
from dataclasses import replace

import pytest

from heaven.core.cluster import ClusterState
from heaven.core.plan import Plan, Resume, Suspend
from heaven.core.scheduler import SchedulerConfig
from heaven.core.states import JobState
from heaven.core.verify import verify
from tests.builders import job, node, running, snapshot
from tests.core.harness import Model, run_cycle

SUSPEND = SchedulerConfig(preempt=True, giveback="suspend")


def suspended(j, node_name):
    return replace(j, state=JobState.SUSPENDED, suspended_on=node_name)


def test_giveback_must_be_requeue_or_suspend():
    assert SchedulerConfig().giveback == "requeue"
    with pytest.raises(ValueError, match="giveback"):
        SchedulerConfig(giveback="pause")


def test_a_running_victim_is_suspended_not_requeued():
    snap = snapshot([node("n1", 1)], [job(1, priority=5)], [running(job(10), "n1", (0,), started_at=1.0)])
    plan = run_cycle(snap, SUSPEND, now=5.0)
    assert plan.preemptions == []
    assert plan.suspensions == [Suspend(10, "n1", "evicted for job 1 (priority 5 > 0)")]
    assert [(p.job_id, p.cores) for p in plan.placements] == [(1, (0,))]
    assert (plan.counts.suspended, plan.counts.preempted, plan.counts.scheduled) == (1, 0, 1)


def test_under_requeue_the_same_victim_is_preempted():
    snap = snapshot([node("n1", 1)], [job(1, priority=5)], [running(job(10), "n1", (0,), started_at=1.0)])
    plan = run_cycle(snap, SchedulerConfig(preempt=True), now=5.0)
    assert [p.job_id for p in plan.preemptions] == [10] and plan.suspensions == []


def test_an_assigned_victim_has_no_process_to_freeze_and_is_preempted():
    victim, alloc = running(job(10), "n1", (0,), started_at=1.0)
    snap = snapshot([node("n1", 1)], [job(1, priority=5)], [(replace(victim, state=JobState.ASSIGNED), alloc)])
    plan = run_cycle(snap, SUSPEND, now=5.0)
    assert [p.job_id for p in plan.preemptions] == [10] and plan.suspensions == []


def test_a_suspended_job_resumes_on_its_node_before_new_jobs_start_there():
    # Job 10 waits frozen on n1; n1 is free again. A pending job of the same priority that fits
    # only there waits: the suspended one was admitted first.
    snap = snapshot([node("n1", 2), node("n2", 2, offset=2)], [suspended(job(10, cores=2), "n1"), job(3, cores=2)])
    plan = run_cycle(snap, SUSPEND, now=5.0)
    assert plan.resumes == [Resume(10, "n1", (0, 1))]
    assert [(p.job_id, p.node) for p in plan.placements] == [(3, "n2")]
    assert plan.counts.resumed == 1


def test_a_suspended_job_never_resumes_elsewhere_nor_with_fewer_cores():
    # n1 (its node) has one free core of the two it asks; n2 is empty: it keeps waiting.
    snap = snapshot([node("n1", 2), node("n2", 2, offset=2)], [suspended(job(10, cores=2), "n1")],
                    [running(job(11), "n1", (0,), started_at=1.0)])
    plan = run_cycle(snap, SUSPEND, now=5.0)
    assert plan.resumes == [] and plan.placements == []


def test_a_suspended_job_on_a_node_that_is_not_up_waits():
    from heaven.core.states import NodeState
    snap = snapshot([node("n1", 1, state=NodeState.DRAIN)], [suspended(job(10), "n1")])
    assert run_cycle(snap, SUSPEND, now=5.0).resumes == []


def test_the_highest_priority_suspended_job_resumes_first():
    snap = snapshot([node("n1", 1)], [suspended(job(10, priority=1), "n1"), suspended(job(11, priority=2), "n1")])
    assert [r.job_id for r in run_cycle(snap, SUSPEND, now=5.0).resumes] == [11]


def test_suspend_then_resume_through_the_model_keeps_one_event_per_transition():
    m = Model.of(snapshot([node("n1", 1)], [job(1, priority=5)], [running(job(10), "n1", (0,), started_at=1.0)]))
    m.apply(run_cycle(m.snapshot(), SUSPEND, now=1.0))
    assert m.jobs[10].state == JobState.SUSPENDED and m.jobs[10].suspended_on == "n1" and 10 not in m.allocs
    assert m.complete(1)
    m.apply(run_cycle(m.snapshot(), SUSPEND, now=2.0))
    assert m.jobs[10].state == JobState.RUNNING and m.allocs[10][0].cores == (0,)
    m.check()
    assert [(e.old, e.new) for e in m.events if e.job == 10] == [("running", "suspended"), ("suspended", "running")]


def test_the_applier_frees_a_suspended_jobs_cores_and_gives_them_back_on_resume():
    snap = snapshot([node("n1", 2)], [], [running(job(10, cores=2), "n1", (0, 1), started_at=1.0)])
    state = ClusterState.of_snapshot(snap).apply(Plan(suspensions=[Suspend(10, "n1", "x")]), now=2.0)
    assert 10 not in state.parts
    state = state.apply(Plan(resumes=[Resume(10, "n1", (1, 0))]), now=3.0)
    assert state.parts[10][0].cores == (0, 1) and state.parts[10][0].started_at == 3.0


def test_verify_rejects_a_resume_elsewhere_or_of_a_job_not_suspended():
    snap = snapshot([node("n1", 1), node("n2", 1, offset=1)], [suspended(job(10), "n1"), job(11)])
    done = verify(snap, Plan(resumes=[Resume(10, "n2", (1,)), Resume(11, "n1", (0,))]))
    assert done.resumes == []
    assert [why for _, why in done.rejected] == ["job 10 is not suspended on n2", "job 11 is not suspended on n1"]


def test_verify_rejects_a_suspension_of_a_job_not_running():
    snap = snapshot([node("n1", 1)], [suspended(job(10), "n1")])
    done = verify(snap, Plan(suspensions=[Suspend(10, "n1", "x")]))
    assert done.suspensions == [] and len(done.rejected) == 1


def test_verify_rejects_a_resume_onto_cores_taken_meanwhile():
    snap = snapshot([node("n1", 1)], [suspended(job(10), "n1")], [running(job(11), "n1", (0,))])
    done = verify(snap, Plan(resumes=[Resume(10, "n1", (0,))]))
    assert done.resumes == [] and "not all free" in done.rejected[0][1]


def test_a_pending_job_of_higher_priority_that_fits_the_node_goes_first_instead_of_a_thaw_then_freeze():
    snap = snapshot([node("n1", 1)], [suspended(job(10, priority=0), "n1"), job(2, priority=5)])
    plan = run_cycle(snap, SUSPEND, now=5.0)
    assert plan.resumes == [] and [(p.job_id, p.node) for p in plan.placements] == [(2, "n1")]


def test_a_higher_priority_job_too_big_for_the_node_does_not_keep_it_frozen():
    snap = snapshot([node("n1", 1)], [suspended(job(10, priority=0), "n1"), job(2, cores=4, priority=5)])
    assert [r.job_id for r in run_cycle(snap, SUSPEND, now=5.0).resumes] == [10]
