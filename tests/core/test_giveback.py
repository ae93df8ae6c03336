"""Give-back (a shrunk donor whose use climbs gets its cores back) and the limits of stealing.

Every plan here goes through ``harness.run_cycle``: ``verify`` accepts all of
it, and applied to the snapshot it breaks no invariant.
"""
import pytest

from heaven.core.plan import Grow, Preempt, Shrink
from heaven.core.scheduler import SchedulerConfig
from tests.builders import borrowing, job, node, running, snapshot
from tests.core.harness import run_cycle

STEAL = SchedulerConfig(steal=True)


def donor(held=(0, 1), cores=4, recent=2.0, used=2.0, **kw):
    """Job 1 asked for 4 cores, was shrunk to ``held``, and its latest sample is ``recent`` cores."""
    return running(job(1, cores=cores, **kw), "n1", held, recent_cores=recent, used_cores=used)


def borrower(job_id=5, cores=(2, 3, 4, 5), lent=(2, 3), min_cores=1, priority=0, donor_id=1, **kw):
    """A job holding ``cores``, of which ``lent`` were stolen from the donor."""
    j = job(job_id, cores=len(cores), min_cores=min_cores, priority=priority)
    return borrowing(j, "n1", cores, {c: donor_id for c in lent}, used_cores=float(len(cores)), **kw)


# -- give-back ------------------------------------------------------------------------------------------
def test_a_busy_shrunk_job_gets_free_cores_first():
    # n1 has 8 cores: the donor holds 0-1, its borrower 2-3, cores 4-7 are free.
    snap = snapshot([node("n1", 8)], [], [donor(), borrower(cores=(2, 3))])
    plan = run_cycle(snap, STEAL)
    assert plan.grows == [Grow(1, "n1", (4, 5))]
    assert plan.shrinks == [] and plan.preemptions == []
    assert plan.counts.grown == 1


@pytest.mark.parametrize("recent, grows", [(1.7, True), (2.0, True), (1.69, False), (None, False)])
def test_busy_means_the_latest_sample_uses_85_percent_of_what_it_holds(recent, grows):
    snap = snapshot([node("n1", 8)], [], [donor(recent=recent)])
    assert bool(run_cycle(snap, STEAL).grows) is grows


def test_a_job_holding_its_whole_request_is_not_grown():
    snap = snapshot([node("n1", 8)], [], [donor(held=(0, 1, 2, 3), recent=4.0)])
    assert run_cycle(snap, STEAL).grows == []


def test_no_give_back_without_stealing():
    snap = snapshot([node("n1", 8)], [], [donor()])
    assert run_cycle(snap, SchedulerConfig()).grows == []


def test_takes_back_lent_cores_and_the_borrower_shrinks():
    # n1 has 6 cores, all held: the borrower (4 cores, min 2) gives back cores 2-3.
    snap = snapshot([node("n1", 6)], [], [donor(), borrower(min_cores=2)])
    plan = run_cycle(snap, STEAL)
    assert plan.shrinks == [Shrink(5, "n1", (2, 3))]
    assert plan.grows == [Grow(1, "n1", (2, 3))]
    assert plan.preemptions == [] and (plan.counts.shrunk, plan.counts.grown) == (1, 1)


def test_a_borrower_that_would_fall_below_its_minimum_is_preempted():
    snap = snapshot([node("n1", 6)], [], [donor(), borrower(min_cores=3)])
    plan = run_cycle(snap, STEAL)
    assert plan.preemptions == [Preempt(5, "n1", "job 1 took back the cores it lent")]
    assert plan.grows == [Grow(1, "n1", (2, 3))]  # only what it lent: cores 4-5 just become free
    assert plan.shrinks == [] and plan.counts.preempted == 1


def test_the_config_floor_counts_for_borrowers_too():
    snap = snapshot([node("n1", 6)], [], [donor(), borrower(min_cores=1)])
    plan = run_cycle(snap, SchedulerConfig(steal=True, min_cores=3))
    assert [p.job_id for p in plan.preemptions] == [5] and plan.shrinks == []


def test_whatever_the_borrowers_priority():
    snap = snapshot([node("n1", 6)], [], [donor(priority=0), borrower(priority=9, min_cores=3)])
    plan = run_cycle(snap, STEAL)
    assert [p.job_id for p in plan.preemptions] == [5] and plan.grows == [Grow(1, "n1", (2, 3))]


def test_free_cores_first_then_the_rest_from_the_borrower():
    # 7 cores: donor 0-1, borrower 2-5 (2-4 lent), core 6 free. The donor wants 2: core 6, then core 2.
    snap = snapshot([node("n1", 7)], [], [donor(), borrower(lent=(2, 3, 4))])
    plan = run_cycle(snap, STEAL)
    assert plan.shrinks == [Shrink(5, "n1", (2,))]
    assert plan.grows == [Grow(1, "n1", (2, 6))]


def test_only_cores_this_donor_lent_are_taken_back():
    # Cores 2-3 of job 5 were lent by job 7, not by the donor: nothing to take back from job 5.
    other = borrower(donor_id=7)
    snap = snapshot([node("n1", 6)], [], [donor(), other])
    plan = run_cycle(snap, STEAL)
    assert plan.grows == [] and plan.shrinks == [] and plan.preemptions == []


def test_the_lowest_priority_borrower_gives_back_first():
    # 6 cores: the donor holds 0-1 and lent 2 to job 5 (priority 3) and 3 to job 6 (priority 0).
    # Cores 4-5 are held by a job that lent nothing. The donor wants 2 back: its cores in both.
    b5 = borrowing(job(5, cores=1, priority=3), "n1", (2,), {2: 1}, used_cores=1.0)
    b6 = borrowing(job(6, cores=1, priority=0), "n1", (3,), {3: 1}, used_cores=1.0)
    busy = running(job(8, cores=2), "n1", (4, 5), used_cores=2.0)
    plan = run_cycle(snapshot([node("n1", 6)], [], [donor(), b5, b6, busy]), STEAL)
    assert [p.job_id for p in plan.preemptions] == [6, 5]  # both fall below their one core
    assert plan.grows == [Grow(1, "n1", (2, 3))]
    # Wanting one core only, the donor takes it from the lower-priority borrower.
    one = run_cycle(snapshot([node("n1", 6)], [], [donor(cores=3), b5, b6, busy]), STEAL)
    assert [p.job_id for p in one.preemptions] == [6] and one.grows == [Grow(1, "n1", (3,))]


def test_give_back_comes_before_anyone_waiting():
    # Two free cores: the waiting job (priority 9) would fit, but the busy donor is served first.
    snap = snapshot([node("n1", 8)], [job(2, cores=2, priority=9)], [donor(), borrower()])
    plan = run_cycle(snap, STEAL)
    assert plan.grows == [Grow(1, "n1", (6, 7))] and plan.placements == []


def test_give_back_ignores_the_cooldown():
    snap = snapshot([node("n1", 6)], [], [running(job(1, cores=4), "n1", (0, 1), recent_cores=2.0, used_cores=2.0,
                                                  resized_at=99.0), borrower(min_cores=2)])
    plan = run_cycle(snap, SchedulerConfig(steal=True, cooldown=10.0), now=100.0)
    assert plan.grows == [Grow(1, "n1", (2, 3))]


# -- stealing: cool-down, floor, samples ------------------------------------------------------------------
def idle(resized_at=None, used=1.0, min_cores=1, cores=8):
    """Job 9 holds all 8 cores of n1 and keeps about one busy."""
    return running(job(9, cores=cores, min_cores=min_cores), "n1", tuple(range(cores)), used_cores=used,
                   resized_at=resized_at)


@pytest.mark.parametrize("now, steals", [(100.0, False), (109.9, False), (110.0, True), (200.0, True)])
def test_a_job_resized_within_the_cooldown_is_not_shrunk(now, steals):
    snap = snapshot([node("n1", 8)], [job(1, cores=4)], [idle(resized_at=100.0)])
    plan = run_cycle(snap, SchedulerConfig(steal=True, cooldown=10.0), now=now)
    assert bool(plan.shrinks) is steals and bool(plan.placements) is steals


def test_a_job_never_resized_is_outside_any_cooldown():
    plan = run_cycle(snapshot([node("n1", 8)], [job(1, cores=4)], [idle()]),
                     SchedulerConfig(steal=True, cooldown=1e9), now=0.0)
    assert plan.shrinks == [Shrink(9, "n1", (4, 5, 6, 7))]


@pytest.mark.parametrize("need, steals", [(5, True), (6, False)])
def test_the_config_floor_keeps_cores_even_for_an_idle_job(need, steals):
    # Idle (used 0): without the floor it would keep 1 core; min_cores=3 keeps 3, so 5 are spare.
    snap = snapshot([node("n1", 8)], [job(1, cores=need)], [idle(used=0.0)])
    plan = run_cycle(snap, SchedulerConfig(steal=True, min_cores=3))
    assert bool(plan.placements) is steals
    if steals:
        assert plan.shrinks == [Shrink(9, "n1", (3, 4, 5, 6, 7))]


@pytest.mark.parametrize("need, steals", [(4, True), (5, False)])
def test_the_jobs_own_min_cores_is_a_floor(need, steals):
    snap = snapshot([node("n1", 8)], [job(1, cores=need)], [idle(used=0.0, min_cores=4)])
    assert bool(run_cycle(snap, STEAL).placements) is steals


def test_jobs_without_usage_samples_are_never_touched():
    snap = snapshot([node("n1", 8)], [job(1, cores=4)],
                    [running(job(9, cores=8), "n1", tuple(range(8)), used_cores=None, recent_cores=0.0)])
    plan = run_cycle(snap, SchedulerConfig(steal=True, preempt=True))
    assert plan.shrinks == [] and plan.placements == [] and plan.preemptions == []


def test_a_stolen_placement_records_what_it_borrowed():
    plan = run_cycle(snapshot([node("n1", 8)], [job(1, cores=4)], [idle()]), STEAL)
    assert plan.placements[0].lent == ((4, 9), (5, 9), (6, 9), (7, 9))
