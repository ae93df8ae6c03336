"""Backfilling stages: rl-backfill (the published variant) and true EASY."""
import random
from dataclasses import replace

from heaven.core.model import Reservation
from heaven.core.reasons import BLOCKED_BY_HEAD
from heaven.core.scheduler import SchedulerConfig, schedule
from tests.builders import job, node, running, snapshot

RNG = random.Random(0)
EASY = SchedulerConfig(policy="easy", order="fifo")
RL = SchedulerConfig(policy="rl-backfill", order="fifo")


def placed(plan):
    return sorted(p.job_id for p in plan.placements)


def busy_until_100():
    """8 cores: job 9 holds 6 until t=100 (started 0, walltime 100); 2 are free."""
    return running(job(9, cores=6, walltime=100.0), "n1", tuple(range(6)), started_at=0.0)


def test_easy_backfills_a_job_that_ends_before_the_reservation():
    snap = snapshot([node("n1", 8)], [job(1, cores=8, walltime=50.0, submitted_at=1),
                                      job(2, cores=2, walltime=60.0, submitted_at=2)], [busy_until_100()])
    plan = schedule(snap, 10.0, RNG, EASY)
    assert placed(plan) == [2]
    assert plan.reservation == Reservation(1, 100.0, "n1")


def test_easy_holds_back_a_long_job_that_would_delay_the_head():
    snap = snapshot([node("n1", 8)], [job(1, cores=7, walltime=50.0, submitted_at=1),
                                      job(2, cores=2, walltime=500.0, submitted_at=2)], [busy_until_100()])
    plan = schedule(snap, 10.0, RNG, EASY)
    # At t=100 the head needs 7 of 8 cores: one extra core, and job 2 needs two.
    assert placed(plan) == []
    assert plan.waiting[2].code == BLOCKED_BY_HEAD


def test_easy_lets_a_long_job_use_the_extra_cores():
    snap = snapshot([node("n1", 8)], [job(1, cores=6, walltime=50.0, submitted_at=1),
                                      job(2, cores=1, walltime=500.0, submitted_at=2),
                                      job(3, cores=1, walltime=500.0, submitted_at=3)], [busy_until_100()])
    plan = schedule(snap, 10.0, RNG, EASY)
    # Two cores are free now and two are extra at t=100: both long jobs may run.
    assert placed(plan) == [2, 3]


def test_rl_backfill_has_no_extra_cores_rule():
    snap = snapshot([node("n1", 8)], [job(1, cores=6, walltime=50.0, submitted_at=1),
                                      job(2, cores=1, walltime=500.0, submitted_at=2)], [busy_until_100()])
    assert placed(schedule(snap, 10.0, RNG, RL)) == []
    assert placed(schedule(snap, 10.0, RNG, EASY)) == [2]


def test_rl_backfill_needs_to_end_strictly_before_the_reservation():
    pending = [job(1, cores=8, walltime=50.0, submitted_at=1), job(2, cores=1, walltime=90.0, submitted_at=2)]
    snap = snapshot([node("n1", 8)], pending, [busy_until_100()])
    assert placed(schedule(snap, 10.0, RNG, RL)) == []  # 10 + 90 == 100: not strictly before
    assert placed(schedule(snap, 10.0, RNG, EASY)) == [2]  # EASY: ending at the reservation is fine


def test_rl_backfill_keeps_its_reservation_once_fixed():
    pending = [job(1, cores=8, walltime=50.0, submitted_at=1), job(2, cores=2, walltime=60.0, submitted_at=2)]
    snap = snapshot([node("n1", 8)], pending, [busy_until_100()])
    fixed = replace(snap, reservation=Reservation(1, 40.0, "n1"))  # promised earlier, when it looked sooner
    plan = schedule(fixed, 10.0, RNG, RL)
    assert placed(plan) == [] and plan.reservation == Reservation(1, 40.0, "n1")
    # EASY recomputes every cycle: the reservation is t=100 and job 2 fits before it.
    assert placed(schedule(fixed, 10.0, RNG, EASY)) == [2]
    # Fixed once: the first cycle computes it, the plan returns it.
    assert schedule(snap, 10.0, RNG, RL).reservation == Reservation(1, 100.0, "n1")


def test_rl_backfill_counts_an_overrun_job_at_its_estimated_end_easy_at_now():
    late = running(job(9, cores=6, walltime=100.0), "n1", tuple(range(6)), started_at=0.0)
    pending = [job(1, cores=8, walltime=50.0, submitted_at=1), job(2, cores=2, walltime=5.0, submitted_at=2)]
    snap = snapshot([node("n1", 8)], pending, [late])
    rl = schedule(snap, 150.0, RNG, RL)  # job 9 should have ended at t=100
    assert rl.reservation.start == 100.0 and placed(rl) == []
    easy = schedule(snap, 150.0, RNG, EASY)
    assert easy.reservation.start == 150.0 and placed(easy) == []


def test_a_job_without_walltime_never_ends_so_nothing_is_held_back():
    forever = running(job(9, cores=6), "n1", tuple(range(6)), started_at=0.0)
    pending = [job(1, cores=8, walltime=50.0, submitted_at=1), job(2, cores=2, submitted_at=2)]
    snap = snapshot([node("n1", 8)], pending, [forever])
    for config in (EASY, RL):
        plan = schedule(snap, 10.0, RNG, config)
        assert plan.reservation == Reservation(1) and placed(plan) == ([2] if config is EASY else [])


def test_running_jobs_placed_in_this_cycle_count_for_the_reservation():
    pending = [job(1, cores=4, walltime=30.0, submitted_at=1), job(2, cores=8, walltime=10.0, submitted_at=2),
               job(3, cores=4, walltime=20.0, submitted_at=3), job(4, cores=4, walltime=40.0, submitted_at=4)]
    plan = schedule(snapshot([node("n1", 8)], pending), 0.0, RNG, EASY)
    # Job 1 starts; job 2 waits for t=30; job 3 (ends at 20) backfills, job 4 (ends at 40) may not.
    assert placed(plan) == [1, 3]
    assert plan.reservation == Reservation(2, 30.0, "n1")


def test_easy_puts_a_long_job_on_another_node_than_the_reserved_one():
    busy = running(job(9, cores=4, walltime=100.0), "n1", (0, 1, 2, 3), started_at=0.0)
    other = running(job(8, cores=2, walltime=1000.0), "n2", (8, 9), started_at=0.0)
    pending = [job(1, cores=8, walltime=50.0, submitted_at=1), job(2, cores=4, walltime=500.0, submitted_at=2)]
    snap = snapshot([node("n1", 8), node("n2", 8, offset=8)], pending, [busy, other])
    plan = schedule(snap, 10.0, RNG, EASY)
    assert plan.reservation == Reservation(1, 100.0, "n1")
    assert [(p.job_id, p.node) for p in plan.placements] == [(2, "n2")]


def test_hold_head_keeps_the_blocked_head_first_whatever_the_ordering():
    busy = running(job(9, cores=8, walltime=100.0), "n1", tuple(range(8)), started_at=0.0)
    pending = [job(1, cores=4, walltime=500.0, submitted_at=1), job(2, cores=4, walltime=5.0, submitted_at=2)]
    snap = replace(snapshot([node("n1", 8)], pending, [busy]), reservation=Reservation(1))
    sjf = SchedulerConfig(policy="fcfs", order="sjf")
    assert schedule(snap, 10.0, RNG, sjf).reservation == Reservation(2)
    held = schedule(snap, 10.0, RNG, replace(sjf, hold_head=True))
    assert held.reservation == Reservation(1) and held.positions == {1: 1, 2: 2}


def test_without_explain_a_strict_cycle_stops_at_the_head():
    pending = [job(1, cores=2, submitted_at=1), job(2, cores=8, submitted_at=2)] + [
        job(i, cores=1, submitted_at=i) for i in range(3, 50)]
    snap = snapshot([node("n1", 4)], pending)
    quiet = schedule(snap, 0.0, RNG, SchedulerConfig(policy="fcfs", order="fifo", explain=False))
    assert placed(quiet) == [1] and quiet.waiting == {} and quiet.positions == {}
    assert quiet.counts.unschedulable == 1
    loud = schedule(snap, 0.0, RNG, SchedulerConfig(policy="fcfs", order="fifo"))
    assert placed(loud) == [1] and len(loud.waiting) == 48 and loud.positions[49] == 49


def test_explain_says_why_a_backfill_candidate_waits():
    snap = snapshot([node("n1", 8)], [job(1, cores=8, walltime=50.0, submitted_at=1),
                                      job(2, cores=2, walltime=500.0, submitted_at=2)], [busy_until_100()])
    plan = schedule(snap, 10.0, RNG, RL)
    assert "t=100" in str(plan.waiting[2]) and plan.waiting[1].code == "insufficient_cpu"
